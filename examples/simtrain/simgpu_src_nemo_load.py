"""The simulated NeMo 2 CLI's machinery (bin/nemo: `nemo llm finetune|pretrain --factory NAME [-y]
[key=value ...]`): NeMo-Run's typer command line and confirmation, the recipe factories the sim knows,
the configs (fiddle-like: an unknown parameter is refused), the dry-run print, what NeMo gets from
Lightning, Megatron-Core and torch.distributed, and the session on the simulated GPU. It compiles
simgpu_src_nemo's modules. Frames of this file are hidden from printed tracebacks.

The job, in the sim's terms (see README.md, "NeMo 2"): micro-batch data.micro_batch_size, accumulation
data.global_batch_size / (micro x dp) (Megatron's number of microbatches; dp = WORLD_SIZE / (tensor x
pipeline x context parallel sizes), all 1 in the sim), effective batch data.global_batch_size,
evaluation batch the micro-batch, precision from trainer.plugins (bf16_mixed -> bf16, fp16_mixed ->
fp16) or trainer.precision, checkpointing model.config.recompute_granularity=full, optimizer state
divided by dp with optim.config.use_distributed_optimizer (true) and offloaded with
optim.config.optimizer_cpu_offload, and model.config.cpu_offloading with cpu_offloading_num_layers=K
(of num_layers L) keeping (L-K)/L of the activations on the GPU.
"""

import ast
import contextlib
import functools
import logging
import os
import re
import sys
from collections import OrderedDict
from types import SimpleNamespace as NS

import simgpu
import simgpu_oom
import simgpu_proc
import simgpu_run
import simgpu_speed_more
import simgpu_src_megatron_load as megatron
import simgpu_src_nemo
import simgpu_src_nemo_outputs
from simgpu_frames import load_source
from simgpu_model import LAYERS
from simgpu_src_megatron_load import (MisconfigurationException, _DataLoaderIterDataFetcher, _Loop, _TrainerState,
                                      init_trainer_flags)

SCRIPT = "nemo"
NEMO_RUN_VERSION = "0.5.0"


class _State:
    sim = None
    fw = None
    session = None
    modules = None
    trainer = None
    calculator = None
    outputs = None
    eval_count = 0  # the micro-batches of the validation_step running


STATE = _State()


# --- typer / click, as NeMo-Run's command sees them ------------------------------------------------------

class TyperExit(Exception):
    def __init__(self, code=0):
        super().__init__(code)
        self.exit_code = code


TyperExit.__module__ = "click.exceptions"
TyperExit.__name__ = TyperExit.__qualname__ = "Exit"


class Abort(RuntimeError):
    pass


Abort.__module__ = "click.exceptions"


def _cleanup():
    if STATE.sim is not None:
        for cleanup in STATE.sim.before_traceback:
            cleanup()


def _echo(message=None, file=None, nl=True, err=False, color=None):
    stream = sys.stderr if err else sys.stdout
    if err:
        _cleanup()
        sys.stdout.flush()
    stream.write((message or "") + ("\n" if nl else ""))
    stream.flush()


def _confirm(text, default=False, abort=False, prompt_suffix=": ", show_default=True, err=False):
    sys.stdout.write("%s [y/N]%s" % (text, prompt_suffix))
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        sys.stdout.write("\n")
        raise Abort()
    answer = line.strip().lower()
    if answer in ("y", "yes"):
        return True
    if answer in ("", "n", "no"):
        return False
    return _confirm(text, default, abort, prompt_suffix, show_default, err)


TYPER = NS(echo=_echo, confirm=_confirm, Exit=TyperExit)


class Console:
    """rich's Console.print without the markup."""

    def print(self, *objects, **kwargs):
        text = " ".join(str(o) for o in objects)
        sys.stdout.write(re.sub(r"\[/?[a-z ]+\]", "", text) + "\n")
        sys.stdout.flush()


def _usage_error(usage, message):
    sys.stderr.write("Usage: %s\nTry '%s --help' for help.\n\nError: %s\n" % (usage, usage.split(" [")[0], message))
    sys.exit(2)


HELP = """\
Usage: nemo llm %s [OPTIONS]

  [Entrypoint] %s (simtrain's NeMo 2: see examples/simtrain/README.md, "NeMo 2")

Options:
  -n, --name TEXT      Name of the run
  --direct / --no-direct  Execute the run directly
  --dryrun             Print the scheduler request without submitting
  -f, --factory TEXT   Predefined factory to use
  -y, --yes, --no-confirm  Skip confirmation before execution
  -v, --verbose        Enable verbose logging
  --help               Show this message and exit.
"""

VALUED = {"--name": "run_name", "-n": "run_name", "--factory": "factory", "-f": "factory", "--load": "load",
          "-l": "load", "--yaml": "yaml", "--rich-theme": "rich_theme", "--to-yaml": "to_yaml",
          "--to-toml": "to_toml", "--to-json": "to_json"}
FLAGS = {"--direct": ("direct", True), "--no-direct": ("direct", False), "--dryrun": ("dryrun", True),
         "--repl": ("repl", True), "-r": ("repl", True), "--detach": ("detach", True),
         "--yes": ("skip_confirmation", True), "-y": ("skip_confirmation", True),
         "--no-confirm": ("skip_confirmation", True), "--tail-logs": ("tail_logs", True),
         "--no-tail-logs": ("tail_logs", False), "-v": ("verbose", True), "--verbose": ("verbose", True),
         "--rich-exceptions": ("rich_exceptions", True), "--no-rich-exceptions": ("rich_exceptions", False),
         "--rich-traceback-short": ("rich_traceback", True), "--rich-traceback-full": ("rich_traceback", False),
         "--rich-show-locals": ("rich_locals", True), "--rich-hide-locals": ("rich_locals", False)}


def parse_command_line(argv):
    """(command, options for RunContext.cli_command's command(), ctx.args) from `nemo llm CMD ...`."""
    if not argv or argv[0] in ("--help", "-h"):
        sys.stdout.write("Usage: nemo [OPTIONS] COMMAND [ARGS]...\n\nCommands:\n  llm  [Module] llm\n")
        sys.exit(0 if argv else 2)
    if argv[0] != "llm":
        _usage_error("nemo [OPTIONS] COMMAND [ARGS]...", "No such command '%s'." % argv[0])
    if len(argv) < 2 or argv[1] in ("--help", "-h"):
        sys.stdout.write("Usage: nemo llm [OPTIONS] COMMAND [ARGS]...\n\nCommands:\n  finetune  [Entrypoint] "
                         "finetune\n  pretrain  [Entrypoint] pretrain\n")
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in ("finetune", "pretrain"):
        _usage_error("nemo llm [OPTIONS] COMMAND [ARGS]...", "No such command '%s'." % command)
    options, extra = {}, []
    rest = argv[2:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        flag, eq, inline = arg.partition("=")
        if arg in ("--help", "-h"):
            sys.stdout.write(HELP % (command, command))
            sys.exit(0)
        if flag in VALUED and flag.startswith("-"):
            if eq:
                options[VALUED[flag]] = inline
            elif i + 1 < len(rest):
                options[VALUED[flag]] = rest[i + 1]
                i += 1
            else:
                _usage_error("nemo llm %s [OPTIONS]" % command, "Option '%s' requires an argument." % flag)
        elif arg in FLAGS:
            name, value = FLAGS[arg]
            options[name] = value
        else:
            extra.append(arg)  # allow_extra_args / ignore_unknown_options: NeMo-Run parses these
        i += 1
    return command, options, extra


# --- configs, factories and NeMo-Run's argument syntax ----------------------------------------------------

class Cfg:
    """A fiddle Config: the object's class name, its parameters; strict ones refuse unknown names."""

    def __init__(self, target, params, strict=True, module=None):
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "module", module or "")
        object.__setattr__(self, "params", OrderedDict(params))
        object.__setattr__(self, "strict", strict)

    def describe(self):
        return "<class '%s.%s'>" % (self.module, self.target) if self.module else "<function %s>" % self.target

    def set(self, name, value):
        if self.strict and name not in self.params:
            raise AttributeError("No parameter named '%s' exists for %s; valid parameter names: %s."
                                 % (name, self.describe(), ", ".join(self.params)))
        self.params[name] = value

    def get(self, name, default=None):
        return self.params.get(name, default)

    def __repr__(self):
        return "<Config[%s(...)]>" % self.target


TRAINER_KEYS = ["accelerator", "accumulate_grad_batches", "devices", "limit_test_batches", "limit_val_batches",
                "limit_train_batches", "log_every_n_steps", "max_steps", "max_epochs", "min_steps", "num_nodes",
                "num_sanity_val_steps", "plugins", "precision", "strategy", "callbacks", "logger",
                "use_distributed_sampler", "val_check_interval", "enable_checkpointing", "gradient_clip_val",
                "enable_progress_bar", "benchmark", "deterministic"]
STRATEGY_KEYS = ["tensor_model_parallel_size", "pipeline_model_parallel_size", "pipeline_dtype",
                 "virtual_pipeline_model_parallel_size", "context_parallel_size", "sequence_parallel",
                 "expert_model_parallel_size", "gradient_as_bucket_view", "ckpt_async_save", "ckpt_parallel_load",
                 "ckpt_load_optimizer", "ckpt_save_optimizer", "ddp"]
PRECISION_KEYS = ["precision", "params_dtype", "pipeline_dtype", "autocast_enabled", "grad_reduce_in_fp32", "fp8"]
DATA_KEYS = ["seq_length", "tokenizer", "micro_batch_size", "global_batch_size", "rampup_batch_size", "num_workers",
             "pin_memory", "persistent_workers", "seed", "dataset_root", "packed_sequence_specs", "dataset_kwargs",
             "num_train_samples", "num_val_samples", "num_test_samples", "create_attention_mask"]
MODEL_CONFIG_KEYS = ["num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads", "num_query_groups",
                     "seq_length", "max_position_embeddings", "rotary_base", "init_method_std", "normalization",
                     "recompute_granularity", "recompute_method", "recompute_num_layers", "distribute_saved_activations",
                     "cpu_offloading", "cpu_offloading_num_layers", "cpu_offloading_activations",
                     "cpu_offloading_weights", "bf16", "fp16", "params_dtype", "cross_entropy_loss_fusion",
                     "apply_rope_fusion", "bias_activation_fusion", "masked_softmax_fusion", "gradient_accumulation_fusion",
                     "share_embeddings_and_output_weights", "vocab_size", "make_vocab_size_divisible_by"]
OPTIMIZER_CONFIG_KEYS = ["optimizer", "lr", "min_lr", "weight_decay", "bf16", "fp16", "params_dtype", "adam_beta1",
                         "adam_beta2", "adam_eps", "use_distributed_optimizer", "clip_grad", "optimizer_cpu_offload",
                         "optimizer_offload_fraction", "overlap_cpu_optimizer_d2h_h2d", "use_precision_aware_optimizer",
                         "main_grads_dtype", "main_params_dtype", "exp_avg_dtype", "exp_avg_sq_dtype"]
ENTRYPOINT_PARAMS = {"finetune": ["model", "data", "trainer", "log", "resume", "optim", "peft", "tokenizer"],
                     "pretrain": ["model", "data", "trainer", "log", "resume", "optim"]}

# factory -> (model class, model config class, num_layers, hidden, ffn, heads, query groups, seq, hf id)
MODELS = {
    "llama3_8b": ("LlamaModel", "Llama3Config8B", 32, 4096, 14336, 32, 8, 8192, "meta-llama/Meta-Llama-3-8B"),
    "llama31_8b": ("LlamaModel", "Llama31Config8B", 32, 4096, 14336, 32, 8, 8192, "meta-llama/Meta-Llama-3.1-8B"),
    "llama32_1b": ("LlamaModel", "Llama32Config1B", 16, 2048, 8192, 32, 8, 8192, "meta-llama/Llama-3.2-1B"),
    "qwen25_7b": ("Qwen2Model", "Qwen25Config7B", 28, 3584, 18944, 28, 4, 32768, "Qwen/Qwen2.5-7B"),
}
# The sim's step counts: the recipes' trainer.max_steps (finetune 1000, pretrain 1168251) are too long.
SIM_MAX_STEPS = 20


def plugin_factory(name):
    if name == "bf16_mixed":
        return Cfg("MegatronMixedPrecision", [("precision", "bf16-mixed"), ("params_dtype", "torch.bfloat16"),
                                              ("pipeline_dtype", "torch.bfloat16"), ("autocast_enabled", False),
                                              ("grad_reduce_in_fp32", True), ("fp8", None)],
                   module="nemo.lightning.pytorch.plugins.mixed_precision")
    if name == "fp16_mixed":
        return Cfg("MegatronMixedPrecision", [("precision", "16-mixed"), ("params_dtype", "torch.half"),
                                              ("pipeline_dtype", "torch.half"), ("autocast_enabled", False),
                                              ("grad_reduce_in_fp32", False), ("fp8", None)],
                   module="nemo.lightning.pytorch.plugins.mixed_precision")
    raise ValueError("No matching factory found for: %s (the sim knows bf16_mixed, fp16_mixed)" % name)


def peft_factory(name):
    if name in ("lora", "dora"):
        return Cfg("LoRA" if name == "lora" else "DoRA", [("target_modules", ["linear_qkv", "linear_proj",
                                                                               "linear_fc1", "linear_fc2"]),
                                                          ("dim", 32), ("alpha", 32), ("dropout", 0.0)],
                   strict=False, module="nemo.collections.llm.peft.lora")
    raise ValueError("No matching factory found for: %s (the sim knows lora, dora)" % name)


SLOT_FACTORIES = {"trainer.plugins": plugin_factory, "peft": peft_factory}


def recipe(entrypoint, factory, num_nodes=1, num_gpus_per_node=1, peft_scheme="lora", seq_length=None,
           packed_sequence=False, performance_mode=False, dir=None, name="default"):
    model_cls, config_cls, layers, hidden, ffn, heads, groups, max_seq, hf_id = MODELS[factory]
    finetune = entrypoint == "finetune"
    model_config = Cfg(config_cls, [
        ("num_layers", layers), ("hidden_size", hidden), ("ffn_hidden_size", ffn), ("num_attention_heads", heads),
        ("num_query_groups", groups), ("seq_length", max_seq), ("max_position_embeddings", max_seq),
        ("rotary_base", 500000), ("init_method_std", 0.01), ("normalization", "RMSNorm"),
        ("recompute_granularity", None), ("recompute_method", None), ("recompute_num_layers", None),
        ("distribute_saved_activations", None), ("cpu_offloading", False), ("cpu_offloading_num_layers", 0),
        ("cpu_offloading_activations", True), ("cpu_offloading_weights", True), ("bf16", True), ("fp16", False),
        ("params_dtype", "torch.bfloat16"), ("cross_entropy_loss_fusion", False), ("apply_rope_fusion", True),
        ("bias_activation_fusion", True), ("masked_softmax_fusion", True), ("gradient_accumulation_fusion", True),
        ("share_embeddings_and_output_weights", False), ("vocab_size", None), ("make_vocab_size_divisible_by", 128)],
        module="nemo.collections.llm.gpt.model.llama")
    model = Cfg(model_cls, [("config", model_config), ("optim", None), ("tokenizer", None), ("model_transform", None)],
                module="nemo.collections.llm.gpt.model.llama")
    data_seq = seq_length or (2048 if finetune else 8192)
    data = Cfg("SquadDataModule" if finetune else "MockDataModule", [
        ("seq_length", data_seq), ("tokenizer", None), ("micro_batch_size", 1),
        ("global_batch_size", 128 if finetune else 512), ("rampup_batch_size", None), ("num_workers", 8),
        ("pin_memory", True), ("persistent_workers", False), ("seed", 1234), ("dataset_root", None),
        ("packed_sequence_specs", None), ("dataset_kwargs", None), ("num_train_samples", 10000000),
        ("num_val_samples", 10000), ("num_test_samples", 10000), ("create_attention_mask", False)],
        module="nemo.collections.llm.gpt.data.squad" if finetune else "nemo.collections.llm.gpt.data.mock")
    strategy = Cfg("MegatronStrategy", [
        ("tensor_model_parallel_size", 1), ("pipeline_model_parallel_size", 1), ("pipeline_dtype", "torch.bfloat16"),
        ("virtual_pipeline_model_parallel_size", None), ("context_parallel_size", 1 if finetune else 2),
        ("sequence_parallel", False), ("expert_model_parallel_size", 1), ("gradient_as_bucket_view", True),
        ("ckpt_async_save", True), ("ckpt_parallel_load", True), ("ckpt_load_optimizer", True),
        ("ckpt_save_optimizer", True), ("ddp", "megatron")], module="nemo.lightning.pytorch.strategies.megatron_strategy")
    if finetune:
        strategy.params["context_parallel_size"] = 1
    else:
        # the recipe's context parallelism needs two GPUs; the sim's single-GPU default keeps it at 1
        strategy.params["context_parallel_size"] = 1
    # The pretrain recipes' trainer has TimingCallback (its train_step_timing is the printer's speed); the finetune
    # recipes add it with performance_mode (finetune_performance_optimizations; its other callbacks are not simulated).
    callbacks = [Cfg("TimingCallback", [], strict=False, module="nemo.utils.exp_manager")] \
        if not finetune or performance_mode else None
    trainer = Cfg("Trainer", [
        ("accelerator", "gpu"), ("accumulate_grad_batches", 1), ("devices", num_gpus_per_node),
        ("limit_test_batches", None if finetune else 50), ("limit_val_batches", None if finetune else 32),
        ("limit_train_batches", None), ("log_every_n_steps", 10), ("max_steps", SIM_MAX_STEPS), ("max_epochs", None),
        ("min_steps", None), ("num_nodes", num_nodes), ("num_sanity_val_steps", None), ("plugins", plugin_factory("bf16_mixed")),
        ("precision", None), ("strategy", strategy), ("callbacks", callbacks), ("logger", None),
        ("use_distributed_sampler", False), ("val_check_interval", 30 if finetune else 2000),
        ("enable_checkpointing", True), ("gradient_clip_val", None), ("enable_progress_bar", True),
        ("benchmark", None), ("deterministic", None)], module="nemo.lightning.pytorch.trainer")
    optim = Cfg("MegatronOptimizerModule", [
        ("config", Cfg("OptimizerConfig", [
            ("optimizer", "adam"), ("lr", 1e-4 if finetune else 3e-4), ("min_lr", None), ("weight_decay", 0.1),
            ("bf16", True), ("fp16", False), ("params_dtype", "torch.float32"), ("adam_beta1", 0.9),
            ("adam_beta2", 0.98 if finetune else 0.95), ("adam_eps", 1e-5), ("use_distributed_optimizer", True),
            ("clip_grad", 1.0), ("optimizer_cpu_offload", False), ("optimizer_offload_fraction", 0.0),
            ("overlap_cpu_optimizer_d2h_h2d", False), ("use_precision_aware_optimizer", False),
            ("main_grads_dtype", "torch.float32"), ("main_params_dtype", "torch.float32"),
            ("exp_avg_dtype", "torch.float32"), ("exp_avg_sq_dtype", "torch.float32")],
            module="megatron.core.optimizer.optimizer_config")),
        ("lr_scheduler", Cfg("CosineAnnealingScheduler", [], strict=False, module="nemo.lightning.pytorch.optim"))],
        module="nemo.lightning.pytorch.optim.megatron")
    params = [("model", model), ("data", data), ("trainer", trainer), ("log", default_log(dir, name)),
              ("resume", auto_resume(restore_config="nemo://" + hf_id) if finetune else
               auto_resume(resume_if_exists=True, resume_ignore_no_checkpoint=True)), ("optim", optim)]
    if finetune:
        scheme = None if peft_scheme is None or str(peft_scheme).lower() == "none" else str(peft_scheme).lower()
        params += [("peft", peft_factory(scheme) if scheme else None), ("tokenizer", "model")]
    return Cfg(entrypoint, params, module=None)


def default_log(dir, name):
    """recipes/log/default.py's default_log with the recipes' tensorboard_logger(name): NeMoLogger's fields
    (nemo/lightning/nemo_logger.py), its ModelCheckpoint every 200 steps and at the end."""
    ckpt = Cfg("ModelCheckpoint", [("save_best_model", False), ("save_last", True), ("save_top_k", 10),
                                   ("every_n_train_steps", 200),
                                   ("filename", "{model_name}--{val_loss:.2f}-{step}-{consumed_samples}"),
                                   ("dirpath", None)], strict=False, module="nemo.lightning.pytorch.callbacks")
    tensorboard = Cfg("TensorBoardLogger", [("save_dir", "tb_logs"), ("name", name)], strict=False,
                      module="lightning.pytorch.loggers.tensorboard")
    return Cfg("NeMoLogger", [("name", name), ("dir", dir), ("explicit_log_dir", None), ("version", None),
                              ("use_datetime_version", True), ("log_local_rank_0_only", False),
                              ("log_global_rank_0_only", False), ("files_to_copy", None),
                              ("update_logger_directory", True), ("ckpt", ckpt), ("tensorboard", tensorboard),
                              ("wandb", None), ("extra_loggers", [])], module="nemo.lightning.nemo_logger")


def auto_resume(**kwargs):
    """nemo/lightning/resume.py's AutoResume fields (finetune: nemo_resume's restore_config; pretrain:
    default_resume's resume_if_exists and resume_ignore_no_checkpoint)."""
    params = OrderedDict([("restore_config", None), ("resume_from_directory", None), ("resume_from_path", None),
                          ("adapter_path", None), ("resume_if_exists", False), ("resume_past_end", False),
                          ("resume_ignore_no_checkpoint", False)])
    params.update(kwargs)
    return Cfg("AutoResume", list(params.items()), module="nemo.lightning.resume")


def parse_value(text, key=None):
    """NeMo-Run's CLI value: None/null, true/false, numbers, Python literals, factory names, else a string."""
    stripped = text.strip()
    low = stripped.lower()
    if low in ("none", "null"):
        return None
    if low == "true":
        return True
    if low == "false":
        return False
    if key in SLOT_FACTORIES and re.match(r"^[A-Za-z_]\w*$", stripped):
        return SLOT_FACTORIES[key](stripped)
    try:
        value = ast.literal_eval(stripped)
        if isinstance(value, (int, float, str, list, tuple, dict)) and not isinstance(value, bool):
            return value
    except (ValueError, SyntaxError):
        pass
    return stripped


def parse_factory(text):
    """'llama3_8b' or 'llama3_8b(num_gpus_per_node=1, peft_scheme=none)' -> (name, kwargs)."""
    match = re.match(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", text or "", re.S)
    if match is None:
        raise ValueError("Invalid factory: %r" % text)
    kwargs = {}
    if match.group(2):
        for part in match.group(2).split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError("Invalid factory argument %r in %r" % (part.strip(), text))
            kwargs[key.strip()] = parse_value(value)
    return match.group(1), kwargs


class LazyEntrypoint:
    """NeMo-Run's LazyEntrypoint: the factory's recipe, then the key=value overwrites, in order."""

    def __init__(self, fn, factory=None, yaml=None, overwrites=None):
        self.fn = fn
        self.factory = factory
        self.yaml = yaml
        self.overwrites = overwrites or []

    def resolve(self, ctx=None):
        entrypoint = self.fn.__name__
        if self.yaml:
            raise NotImplementedError("simtrain: --yaml is not simulated")
        if not self.factory:
            raise ValueError("simtrain: %s needs --factory NAME (the sim knows: %s)" % (entrypoint, ", ".join(MODELS)))
        name, kwargs = parse_factory(self.factory)
        if name not in MODELS:
            raise ValueError("No matching factory found for: %s (the sim knows: %s)" % (name, ", ".join(MODELS)))
        try:
            task = recipe(entrypoint, name, **kwargs)
        except TypeError as err:
            raise ValueError("Invalid arguments for factory %s: %s" % (name, err)) from None
        task.params["__fn__"] = self.fn
        for arg in self.overwrites:
            apply_overwrite(task, arg, entrypoint)
        return task


def apply_overwrite(task, arg, entrypoint):
    match = re.match(r"^([A-Za-z_][\w.]*)(\+=|-=|\*=|/=|\|=|&=|=)(.*)$", arg, re.S)
    if match is None:
        raise ValueError("Invalid argument: %r (expected key=value)" % arg)
    key, op, text = match.groups()
    if op != "=":
        raise NotImplementedError("simtrain: the %s operation is not simulated (use key=value)" % op)
    parts = key.split(".")
    node = task
    for index, part in enumerate(parts[:-1]):
        value = node.params.get(part) if isinstance(node, Cfg) else None
        if not isinstance(value, Cfg):
            if isinstance(node, Cfg) and node.strict and part not in node.params and node.target != entrypoint:
                node.set(part, None)  # raises fiddle's error
            if node is task and part not in ENTRYPOINT_PARAMS[entrypoint]:
                raise AttributeError("No parameter named '%s' exists for <function %s>; valid parameter names: %s."
                                     % (part, entrypoint, ", ".join(ENTRYPOINT_PARAMS[entrypoint])))
            raise AttributeError("Cannot set '%s': '%s' is %r, not a config" % (key, ".".join(parts[: index + 1]),
                                                                                  value))
        node = value
    last = parts[-1]
    value = parse_value(text, key)
    if node is task:
        if last not in ENTRYPOINT_PARAMS[entrypoint]:
            raise AttributeError("No parameter named '%s' exists for <function %s>; valid parameter names: %s."
                                 % (last, entrypoint, ", ".join(ENTRYPOINT_PARAMS[entrypoint])))
        if last == "peft" and isinstance(value, str):
            value = peft_factory(value)
        node.params[last] = value
        return
    node.set(last, value)


def _rows(cfg, prefix=""):
    for key, value in cfg.params.items():
        if key == "__fn__":
            continue
        path = prefix + key
        if isinstance(value, Cfg):
            yield path, "Config[%s]" % value.target
            yield from _rows(value, path + ".")
        else:
            yield path, repr(value)


def dryrun_fn(task, executor=None, name=None):
    fn = task.params["__fn__"]
    console = Console()
    console.print("[bold cyan]Dry run for task %s:%s[/bold cyan]" % (fn.__module__, fn.__name__))
    console.print("[bold cyan]Resolved Arguments[/bold cyan]")
    rows = list(_rows(task))
    width = max(len(k) for k, _ in rows) if rows else 10
    for key, value in rows:
        sys.stdout.write("  %s  %s\n" % (key.ljust(width), value))
    sys.stdout.flush()


# --- building the objects (fdl.build) ---------------------------------------------------------------------

def _is_torchrun():
    return "WORLD_SIZE" in os.environ and int(os.environ.get("WORLD_SIZE") or 0) > 1


_env_int, _gpu_count = megatron.env_int, megatron.gpu_count


def _build_transformer_config(modules, cfg):
    TransformerConfig = modules.transformer_config.TransformerConfig
    config = object.__new__(TransformerConfig)
    defaults = dict(tensor_model_parallel_size=1, pipeline_model_parallel_size=1, kv_channels=None,
                    sequence_parallel=False, timers=None, bias_dropout_fusion=True, wgrad_deferral_limit=0,
                    no_sync_func=None, enable_autocast=False, autocast_dtype=None, grad_scale_func=None,
                    deallocate_pipeline_outputs=False, finalize_model_grads_func=None, calculate_per_token_loss=False,
                    barrier_with_L1_time=False)
    for key, value in dict(defaults, **cfg.params).items():
        setattr(config, key, value)
    config.__post_init__()
    return config


def build(task):
    """fdl.build(task): the entrypoint with its arguments built (configs checked as their classes do)."""
    modules = STATE.modules
    fn = task.params["__fn__"]
    model_cfg = task.params["model"]
    data_cfg = task.params["data"]
    trainer_cfg = task.params["trainer"]
    config = _build_transformer_config(modules, model_cfg.params["config"])
    model = NS(config=config, cfg=model_cfg)
    data = NS(**data_cfg.params)
    trainer = modules.make_trainer(trainer_cfg, task)
    optim = task.params.get("optim")
    log = task.params.get("log")
    resume = task.params.get("resume")
    STATE.outputs = outputs = simgpu_src_nemo_outputs.Outputs(task)
    kwargs = dict(model=model, data=data, trainer=trainer,
                  log=NS(setup=outputs.setup) if log else None,
                  resume=NS(setup=outputs.resume_setup, resume_if_exists=resume.get("resume_if_exists"),
                            restore_config=resume.get("restore_config")) if isinstance(resume, Cfg) else None,
                  optim=NS(connect=lambda model: None, config=optim.get("config")) if isinstance(optim, Cfg) else None)
    if "peft" in task.params:
        kwargs["peft"] = task.params.get("peft")
    STATE.task = task
    return functools.partial(fn, **kwargs)


def precision_of(trainer_cfg):
    plugins = trainer_cfg.get("plugins")
    precision = trainer_cfg.get("precision")
    if isinstance(plugins, Cfg) and precision is not None:
        raise ValueError("Received both `precision=%s` and `plugins=<%s.%s object at 0x%x>`. Choose one."
                         % (precision, plugins.module, plugins.target, id(plugins)))
    if isinstance(plugins, Cfg):
        precision = plugins.get("precision")
    if precision is None:
        precision = "32-true"
    table = {"bf16-mixed": "bf16", "bf16": "bf16", "16-mixed": "fp16", "16": "fp16", "32": "fp32", "32-true": "fp32",
             32: "fp32", 16: "fp16", "bf16-true": "bf16-true", "16-true": "fp16-true", "64-true": "fp64-true"}
    if precision not in table:
        raise ValueError("Precision %r is invalid. Allowed precision values: ('transformer-engine', "
                         "'transformer-engine-float16', '16-true', '16-mixed', 'bf16-true', 'bf16-mixed', '32-true', "
                         "'64-true', 64, 32, 16, '64', '32', '16', 'bf16')" % (precision,))
    return table[precision]


def _check_int(value, key, least=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        simgpu_run.fail_usage("%s: must be an integer of at least %d, got %r" % (key, least, value))
    return value


def check_devices(trainer_cfg):
    devices = _check_int(trainer_cfg.get("devices"), "trainer.devices")
    num_nodes = _check_int(trainer_cfg.get("num_nodes"), "trainer.num_nodes")
    strategy = trainer_cfg.get("strategy")
    for key in ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size"):
        if strategy.get(key) != 1:
            simgpu_run.fail_usage("trainer.strategy.%s=%r: model parallelism is not simulated (use 1)"
                                  % (key, strategy.get(key)))
    if "WORLD_SIZE" in os.environ:
        local = _env_int("LOCAL_WORLD_SIZE", _env_int("WORLD_SIZE", 1))
        if devices != local:
            simgpu_run.fail_usage("trainer.devices=%d but torchrun started %d processes per node (set "
                                  "trainer.devices=%d)" % (devices, local, local))
    elif devices * num_nodes > 1:
        if devices > _gpu_count():
            raise MisconfigurationException("You requested gpu: %s\n But your machine only has: %s"
                                            % (list(range(devices)), list(range(_gpu_count()))))
        if num_nodes > 1:
            simgpu_run.fail_usage("trainer.num_nodes=%d: the sim runs on one node" % num_nodes)
    return devices, num_nodes


def _launcher(devices, num_nodes):
    """Lightning's _SubprocessScriptLauncher (NeMo 1's sim's): the other ranks run the same command. They take
    rank 0's resume decision, made before they started, where a real run's ranks decide at the same moment."""
    import simgpu_src_nemo1_load as lightning_launch

    class Launcher(lightning_launch._Launcher):
        def launch(self, function, *args, **kwargs):
            os.environ["SIMTRAIN_RESUME_FROM"] = STATE.outputs.resume_from or ""
            return super().launch(function, *args, **kwargs)

    return Launcher(devices, num_nodes)


# --- the session on the simulated GPU ---------------------------------------------------------------------

def open_session(task):
    """The job on the simulated GPU, when Lightning configures the model (after NeMo's config checks)."""
    sim = STATE.sim
    trainer_cfg = task.params["trainer"]
    data = task.params["data"]
    model_config = task.params["model"].params["config"]
    optim = task.params.get("optim")
    optim_config = optim.params.get("config") if isinstance(optim, Cfg) else None
    world = _env_int("WORLD_SIZE", 1)
    micro = _check_int(data.get("micro_batch_size"), "data.micro_batch_size")
    global_batch = _check_int(data.get("global_batch_size"), "data.global_batch_size")
    steps = _check_int(trainer_cfg.get("max_steps"), "trainer.max_steps")
    accumulation = global_batch // (micro * world)
    distributed = bool(optim_config.get("use_distributed_optimizer")) if optim_config is not None else False
    offload = bool(optim_config.get("optimizer_cpu_offload")) if optim_config is not None else False
    limit = trainer_cfg.get("limit_val_batches")
    eval_batches = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 2
    if model_config.get("cpu_offloading") and model_config.get("cpu_offloading_activations", True):
        layers = model_config.get("num_layers") or 1
        kept = max(0, layers - (model_config.get("cpu_offloading_num_layers") or 0))
        act = simgpu.parse_size(sim.env.get("SIMGPU_ACT", simgpu.DEFAULT_ACT), "SIMGPU_ACT")
        sim.env = dict(sim.env, SIMGPU_ACT=str(act * kept // layers))
    job = simgpu.Job(
        SCRIPT, micro_batch=micro, accumulation=accumulation, eval_batch=micro, precision=precision_of(trainer_cfg),
        checkpointing=model_config.get("recompute_granularity") == "full", optimizer="adam", optimizer_kind="adam",
        offload=offload, zero_stage=1 if distributed else 0, steps=steps,
        eval_batches=min(eval_batches, 2), env=sim.env)
    STATE.session = sim.session(job)
    STATE.outputs.global_batch = global_batch
    STATE.session.driver.step_end_hooks.append(STATE.outputs.on_train_step_end)
    resumed = STATE.outputs.resume_step()
    if resumed:
        STATE.session.driver.resume(resumed)
    timing = any(isinstance(c, Cfg) and c.target == "TimingCallback" for c in trainer_cfg.get("callbacks") or ())
    lr = optim_config.get("lr") if optim_config is not None else None
    simgpu_speed_more.NeMoProgressPrinter(STATE.session.driver, global_batch, lr if lr is not None else 1e-4, timing)
    return STATE.session


# --- compiling the modules -------------------------------------------------------------------------------

def _compile(relpath, names):
    return NS(**load_source(relpath, simgpu_src_nemo.SOURCES[relpath], names))


def load(fw):
    """Compile the simulated NeMo-Run, NeMo, Lightning and Megatron-Core modules over fw's torch."""
    stack = megatron.compile_stack(fw)
    base, torch = stack.base, fw.torch
    LightningModule, TrainerFn, transformer_config, calculator = (
        stack.LightningModule, stack.TrainerFn, stack.transformer_config, stack.calculator)

    # NeMo-Run
    def _parse_prefixed_args(args, prefix):
        name, prefixed, rest = None, [], []
        for arg in args:
            if arg.startswith(prefix + "="):
                name = arg.split("=", 1)[1]
            elif arg.startswith(prefix + "."):
                prefixed.append(arg[len(prefix) + 1:])
            else:
                rest.append(arg)
        return name, prefixed, rest

    def parse_executor(self, name, *args):
        raise ValueError("Executor %s not found (simtrain: only direct runs are simulated)" % name)

    run_api = _compile("nemo_run/run/api.py", dict(base, Partial=_CfgType, Script=_CfgType,
                                                   fdl=NS(build=build), CONSOLE=Console()))
    cli = _compile("nemo_run/cli/api.py", dict(
        base, sys=sys, typer=TYPER, Console=Console, RunContextError=type("RunContextError", (Exception,), {}),
        run=NS(dryrun_fn=dryrun_fn, run=run_api.run), _configure_global_options=lambda *a, **k: None,
        _load_entrypoints=lambda: None, _load_workspace=lambda: None, _parse_prefixed_args=_parse_prefixed_args,
        _serialize_configuration=_not_simulated("--to-yaml/--to-toml/--to-json"), _is_torchrun=_is_torchrun,
        LazyEntrypoint=LazyEntrypoint, logger=logging.getLogger("nemo_run.cli.api")))
    cli.RunContext.parse_executor = parse_executor

    # NeMo
    io = NS(IOMixin=type("IOMixin", (), {}), ConnectorMixin=type("ConnectorMixin", (), {}))
    strategy_mod = _compile("nemo/lightning/pytorch/strategies/megatron_strategy.py", dict(
        base, DDPStrategy=megatron._Base, io=io, TrainerFn=TrainerFn, CPUAccelerator=type("CPUAccelerator", (), {}),
        _MegatronAutomaticOptimization=None, MegatronParallel=None, McoreDistributedOptimizer=None))
    parallel_mod = _compile("nemo/lightning/megatron_parallel.py", dict(base, TrainerFn=TrainerFn))
    gpt_base = _compile("nemo/collections/llm/gpt/model/base.py", dict(
        base, L=NS(LightningModule=LightningModule), io=io, fn=NS(FNMixin=type("FNMixin", (), {})), HAVE_TE=True,
        get_batch_on_this_context_parallel_rank=lambda batch: batch, get_packed_seq_params=lambda batch: None))
    modules = NS(cli=cli, run_api=run_api, transformer_config=transformer_config, calculator=calculator)
    _nemo_classes(fw, modules, dict(vars(stack), **locals()))
    nl = NS(MegatronStrategy=modules.MegatronStrategy)
    api_names = dict(base, run=NS(cli=NS(entrypoint=lambda fn=None, **kw: (lambda f: f) if fn is None else fn)),
                     nl=nl, NeMoLogger=lambda **k: NS(setup=STATE.outputs.setup),
                     PEFT=type("PEFT", (), {}), configure_no_restart_validation_training_loop=lambda trainer: None,
                     _use_tokenizer=lambda model, data, tokenizer: None,
                     _set_with_io=lambda obj, attr, value: None)
    modules.api = _compile("nemo/collections/llm/api.py", api_names)
    return modules


# isinstance(task, (Partial, Script)) in nemo_run/run/api.py: the resolved task is a Cfg.
_CfgType = Cfg


def _not_simulated(what):
    def fail(*args, **kwargs):
        raise NotImplementedError("simtrain: %s is not simulated" % what)
    return fail


class _SizedLoader:
    """A train dataloader Lightning can size: NeMo's Megatron sampler counts micro-batches."""

    def __init__(self, length):
        self.length = length

    def __len__(self):
        return self.length


def _train_dataloader(trainer):
    """The data module's train dataloader as Lightning's fit loop sizes it: MockDataModule's num_train_samples
    (data.num_train_samples, 10M in the recipes) in global batches of micro-batches; the finetune data modules'
    the sim does not size (an unsized loader: Lightning takes it as endless)."""
    data = STATE.task.params["data"]
    samples = data.get("num_train_samples") if data.target == "MockDataModule" else None
    if not isinstance(samples, int) or isinstance(samples, bool):
        return object()
    return _SizedLoader(samples // data.get("global_batch_size") * STATE.calculator.get())


def _nemo_classes(fw, modules, names):
    """The classes tying the compiled modules to the sim: trainer, strategy, model, data, loops."""
    torch = fw.torch
    Module = torch.nn.Module
    ns = NS(**names)
    driver = lambda: STATE.session.driver  # noqa: E731

    class DataFetcher(_DataLoaderIterDataFetcher):
        def __init__(self, length):
            super().__init__(length)
            self._steps = None
            self._batch = None
            self._batch_idx = -1

        def __next__(self):
            if self._steps is None:
                self._steps = driver().steps()
            next(self._steps)  # StopIteration ends the epoch (and the fit)
            self._batch_idx += 1
            self._batch = self._micro_batches()
            return self._batch

        def _micro_batches(self):
            for inputs, targets in driver().micro_batches():
                self.fetched += 1
                yield dict(tokens=inputs, position_ids=fw.tensor(), labels=targets, loss_mask=fw.tensor(),
                           attention_mask=fw.tensor())

    class MegatronAutomaticOptimization(megatron.automatic_optimization(ns.automatic._AutomaticOptimization)):
        def _build_kwargs(self, kwargs, batch, batch_idx):
            kwargs["batch"] = batch
            return kwargs

    class EvaluationLoop(_Loop):
        """The sim's validation: the job's evaluation batches in one validation_step (at most
        num_sanity_val_steps of them in Lightning's sanity check, whose results are discarded)."""

        def run(self):
            sanity = self.trainer.sanity_checking
            count = driver().job.eval_batches
            if sanity:
                count = min(self.trainer.num_sanity_val_steps, count)
            STATE.eval_count = count
            batches = iter(dict(tokens=inputs, position_ids=fw.tensor(), labels=targets, loss_mask=fw.tensor(),
                                attention_mask=fw.tensor()) for inputs, targets in driver().eval_batches(count, sanity))
            ns.call._call_strategy_hook(self.trainer, "validation_step", batches)
            for _ in batches:  # the driver ends the evaluation (and reports it) when its batches run out
                pass
            if not sanity:
                STATE.outputs.on_validation_end(driver().step)

    class TrainingEpochLoop(ns.epoch_mod._TrainingEpochLoop):
        def __init__(self, trainer):
            super().__init__(trainer)
            self.automatic_optimization = None
            self.val_loop = EvaluationLoop(trainer)

        def _build_kwargs(self, kwargs, batch, batch_idx):
            kwargs["dataloader_iter"] = batch
            return kwargs

        # Lightning's batch counters: the sim's fit is one epoch, and a resumed one carries on the count.
        batch_idx = property(lambda self: driver().step - 1)
        total_batch_idx = batch_idx

        def on_iteration_done(self):
            pass

    class FitLoop(ns.fit_mod._FitLoop):
        def __init__(self, trainer):
            _Loop.__init__(self, trainer)
            self.epoch_loop = TrainingEpochLoop(trainer)
            self._combined_loader = None
            self._data_source = NS(dataloader=lambda: _train_dataloader(trainer))
            self._data_fetcher = None
            self.min_epochs = self.max_epochs = None

        def on_run_start(self):
            self._data_fetcher = DataFetcher(None if self.max_batches == float("inf") else self.max_batches)

        def on_advance_end(self):
            self.done = True  # the sim's data is one epoch

        def on_run_end(self):
            STATE.outputs.on_train_end(driver().step)

        def _should_accumulate(self):
            return False

    class McoreDistributedOptimizer:
        def __init__(self, optimizer):
            self.optimizer = optimizer
            self.param_groups = optimizer.param_groups

        def step(self, closure=None):
            if closure is not None:
                closure()
            self.optimizer.step()
            return True, None, None

        def zero_grad(self, set_to_none=True):
            self.optimizer.zero_grad()

    class Strategy(ns.strategy_mod.MegatronStrategy):
        handles_gradient_accumulation = True
        launcher = None

        def __init__(self, cfg, precision_cfg, trainer_cfg):
            self.cfg = cfg
            self.precision_cfg = precision_cfg
            self.trainer_cfg = trainer_cfg
            for key, value in cfg.params.items():
                setattr(self, key, value)
            self.accelerator = NS(setup=lambda trainer: None)
            self._lightning_module = None
            self._layer_sync = None
            self.data_sampler = None
            self.precision_plugin = NS(train_step_context=contextlib.nullcontext, val_step_context=contextlib.nullcontext)
            self.ddp_config = None
            self._fsdp = None
            self._init_model_parallel = False
            self._setup_optimizers = False
            self.cluster_environment = NS(global_rank=lambda: _env_int("RANK", 0))
            self.optimizers = []
            self._lightning_optimizers = []

        @property
        def lightning_module(self):
            return self._lightning_module

        @property
        def model(self):
            return getattr(self, "_model", None) or self._lightning_module

        @model.setter
        def model(self, value):
            self._model = value

        def connect(self, model):
            self._lightning_module = model

        def setup_environment(self):
            pass

        def barrier(self, name=None):
            pass

        def _fix_progress_bar(self, trainer):
            pass

        def setup_precision_plugin(self):
            pass

        def configure_ddp(self):
            pass

        def setup_optimizers(self, trainer):
            if self.optimizers:
                return
            inner = torch.optim.AdamW(self._lightning_module.parameters())
            optimizer = McoreDistributedOptimizer(inner)
            wrapped = ns.LightningOptimizer(optimizer)
            wrapped._strategy = self
            self.optimizers = [optimizer]
            self._lightning_optimizers = [wrapped]
            trainer.optimizers = [optimizer]

        def post_training_step(self):
            pass

        def _base_optimizer_step(self, optimizer, closure=None, model=None, **kwargs):
            return optimizer.step(closure=closure)

    ns.strategy_mod.DDPStrategy.optimizer_step = Strategy._base_optimizer_step
    names["strategy_mod"].MegatronStrategy.optimizer_step.__globals__.update(
        _MegatronAutomaticOptimization=MegatronAutomaticOptimization, McoreDistributedOptimizer=McoreDistributedOptimizer)

    class DataSampler:
        def __init__(self, data):
            self.data = data

        def setup(self, global_rank):
            world = _env_int("WORLD_SIZE", 1)
            STATE.calculator = modules.calculator.build_num_microbatches_calculator(
                rank=global_rank, rampup_batch_size=self.data.rampup_batch_size,
                global_batch_size=self.data.global_batch_size, micro_batch_size=self.data.micro_batch_size,
                data_parallel_size=world)

        def connect(self, trainer):
            pass

    class DataModule(ns.LightningDataModule):
        def __init__(self, data):
            self.data = data
            self.data_sampler = DataSampler(data)

    class Step(ns.parallel_mod.MegatronStep):
        @classmethod
        def infer(cls, pipeline, data, forward_only, micro_batch_size, num_microbatches, seq_length, step_i):
            step = cls()
            step.pipeline = pipeline
            step.data_iterator = data
            step.model = [pipeline.module]
            session = STATE.session
            step.num_microbatches = STATE.eval_count if forward_only else STATE.calculator.get()
            step.micro_batch_size = session.job.micro_batch
            step.seq_length = STATE.task.params["data"].get("seq_length")
            step.forward_only = forward_only
            step.adjust_tensor_shapes_fn = None
            step.forward_backward_func = ns.schedules.forward_backward_no_pipelining
            return step

    ns.parallel_mod.MegatronStep.infer = Step.infer

    class Parallel(ns.parallel_mod.MegatronParallel):
        def __init__(self, module, **kwargs):
            Module.__init__(self)
            self.add_module("0", module)
            self.module = module
            self.trainer = None
            self.callbacks = NS(add=lambda *a: None, event=lambda *a, **k: None)
            self.data_step = module.data_step
            self.forward_step = lambda model, batch: (
                model.validation_step(batch) if STATE.session.phase == "eval" else model.training_step(batch))
            self.loss_reduction = None

        def wrapped_forward_step(self, forward_step, loss_reduction, data_step, context):
            def wrapped(dataloader_iter, model):
                batch = data_step(dataloader_iter)
                output_tensor = forward_step(model, batch)
                return output_tensor, lambda output: (output, fw.tensor(), fw.tensor())
            return wrapped

        def _reduce_microbatches(self, step, microbatch_outputs):
            return fw.tensor()

    ns.strategy_mod.MegatronStrategy.setup_megatron_parallel.__globals__["MegatronParallel"] = Parallel

    core = megatron.mcore_classes(fw, ns)
    TransformerLayer, MLP, ColumnParallelLinear = core.TransformerLayer, core.MLP, core.ColumnParallelLinear
    CoreGPTModel, TransformerBlock = core.CoreGPTModel, core.TransformerBlock

    class NeMoGPTModel(ns.gpt_base.GPTModel):
        def __init__(self, config):
            Module.__init__(self)
            config.data_step_fn = ns.gpt_base.gpt_data_step
            config.forward_step_fn = ns.gpt_base.gpt_forward_step
            self.config = config
            self._current_fx_name = None
            self.module = None
            self.optim = NS(lr_scheduler=NS(max_steps=None))

        def configure_model(self):
            if self.module is not None:
                return
            open_session(STATE.task)
            core = self.config
            layers = [TransformerLayer(core, MLP(core, ColumnParallelLinear(fw.parameter(i), core)))
                      for i in range(LAYERS)]
            self.module = CoreGPTModel(core, TransformerBlock(core, layers))
            fw.model = self
            self.to(_env_int("LOCAL_RANK", 0))

        def configure_optimizers(self, megatron_parallel=None):
            return None

        def zero_grad_buffer(self):
            pass

        def log(self, *args, **kwargs):
            pass

        def forward(self, input_ids=None, position_ids=None, attention_mask=None, labels=None, **kwargs):
            return ns.gpt_base.GPTModel.forward(self, input_ids, position_ids, attention_mask, labels=labels, **kwargs)

    class Trainer(ns.trainer_mod.Trainer):
        def __init__(self, cfg, task):
            self.cfg = cfg
            self.accumulate_grad_batches = cfg.get("accumulate_grad_batches")
            precision_of(cfg)  # Lightning's accelerator connector: precision vs plugins
            self.num_devices, self.num_nodes = check_devices(cfg)
            self.strategy = Strategy(cfg.get("strategy"), cfg.get("plugins"), cfg)
            if self.num_devices * self.num_nodes > 1 and "WORLD_SIZE" not in os.environ:
                # MegatronStrategy is Lightning's DDPStrategy: without torchrun its launcher starts the other
                # ranks with the same command (NeMo 1's sim has Lightning's launcher).
                self.strategy.launcher = _launcher(self.num_devices, self.num_nodes)
            self.state = _TrainerState()
            self.max_steps = cfg.get("max_steps")
            self.min_steps = cfg.get("min_steps")
            self.max_epochs = cfg.get("max_epochs")
            self.min_epochs = None
            init_trainer_flags(ns, self, cfg.params)
            self.fit_loop = FitLoop(self)
            self.profiler = NS(profile=lambda name: contextlib.nullcontext())
            self._data_connector = NS(attach_data=self._attach_data, prepare_data=lambda: None)
            self._checkpoint_connector = NS(_select_ckpt_path=lambda fn, ckpt_path, **k: ckpt_path)
            self._callback_connector = NS(_attach_model_callbacks=lambda: None,
                                          _attach_model_logging_functions=lambda: None)
            self._detect_anomaly = False
            self.optimizers = []
            self.current_epoch = 0
            self.global_step = 0
            self.callbacks = []
            self.datamodule = None
            self.accelerator = NS()
            if _env_int("RANK", 0) == 0:
                sys.stdout.flush()
                sys.stderr.write("GPU available: True (cuda), used: True\nTPU available: False, using: 0 TPU cores\n"
                                 "HPU available: False, using: 0 HPUs\n")
                sys.stderr.flush()

        @property
        def lightning_module(self):
            return self.strategy.lightning_module

        def _attach_data(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None):
            self.datamodule = datamodule

        def _Trainer__setup_profiler(self):
            pass

        def _teardown(self):
            pass

        def fit(self, model, datamodule=None, **kwargs):
            if self.accumulate_grad_batches != 1:
                raise ValueError("Gradient accumulation is done within training_step. "
                                 "trainer.accumulate_grad_batches must equal 1")
            if not isinstance(model, NeMoGPTModel):
                model = NeMoGPTModel(model.config)
            data = DataModule(datamodule)
            return ns.trainer_mod.Trainer.fit(self, model, data)

    modules.make_trainer = lambda cfg, task: Trainer(cfg, task)
    modules.MegatronStrategy = ns.strategy_mod.MegatronStrategy


# --- entry point ------------------------------------------------------------------------------------------

def _sim_tokens(argv):
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag = arg.partition("=")[0]
        name = simgpu_proc.ALIASES.get(flag) or (flag[len("--sim-"):] if flag.startswith("--sim-") else None)
        if name in simgpu_proc.OPTIONS:
            if "=" not in arg and simgpu_proc.OPTIONS[name][0] != "bool":
                i += 1
            i += 1
            continue
        rest.append(arg)
        i += 1
    return rest


def console_main():
    """bin/nemo: NeMo-Run's typer app (`nemo_run.__main__:app`), with NeMo's llm entrypoints."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=SCRIPT)
    STATE.sim = sim
    STATE.fw = sim.frameworks
    command_name, options, extra = parse_command_line(sim.argv)
    modules = load(sim.frameworks)
    STATE.modules = modules
    fn = getattr(modules.api, command_name)
    command = modules.cli.RunContext.cli_command(None, command_name, fn)
    try:
        command(ctx=NS(args=extra), **options)
    except TyperExit as ex:
        if isinstance(ex.__context__, simgpu_oom.SimulatedOOM) and sim.options.hang_after_oom:
            simgpu_proc.hang_forever()
        sys.stdout.flush()
        return ex.exit_code
    launched = sys.modules.get("simgpu_src_nemo1_load")
    if launched is not None:
        launched.finish()  # the other ranks end first (a collective), as under Lightning's launcher
    if STATE.session is not None:
        STATE.session.finish()
    return 0
