"""Loads the simulated TRL (simgpu_src_trl*.py) and supplies what its modules take from the outside.

Two entry points: main() is bin/trl (the CLI: it parses the command line with the script's
TrlParser, then runs accelerate's launch command in-process, reusing the fake bin/accelerate's option
parsing and settings), and run_script(name) is what trl_<name>.py runs in each rank (the training
script on the simulated GPU). This module's frames are hidden from printed tracebacks (its name
starts with simgpu), so a traceback goes from the scripts' own frames into trl's, transformers' and
torch's, as a real one does.
"""

import argparse
import builtins
import contextlib
import dataclasses
import importlib
import importlib.machinery
import importlib.util
import linecache
import logging
import math
import os
import pathlib
import subprocess
import sys
import typing
from collections import defaultdict
from collections.abc import Iterable
from types import SimpleNamespace as NS

import simgpu
import simgpu_frames
import simgpu_memfixes
import simgpu_proc
import simgpu_run
import simgpu_src_trl
import simgpu_yaml
import simlaunch
from simgpu_model import SIM_DIR

SITE = simgpu_frames.SITE
COMMANDS = ("sft", "dpo", "grpo")
ACCELERATE_CONFIGS = os.path.join(SIM_DIR, "pkgs", "trl", "accelerate_configs")


class _State:
    sim = None
    fw = None
    session = None
    sim_flags = []
    models = []


STATE = _State()


# --- compiling the modules ---------------------------------------------------------------------------

def _register(relpath):
    filename = os.path.join(SITE, relpath)
    source = simgpu_src_trl.SOURCES[relpath]
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename, source


def load(relpath, names, module_name=None):
    """Compile and run SOURCES[relpath] as site-packages/<relpath> in a namespace seeded with `names`."""
    filename, source = _register(relpath)
    if module_name is None:
        module_name = relpath[:-3].replace("/", ".")
    namespace = {k: v for k, v in names.items() if not k.startswith("__")}
    package = module_name.rpartition(".")[0] if module_name != "__main__" else ""
    namespace.update(__name__=module_name, __file__=filename, __builtins__=builtins, __package__=package)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


class _Yaml:
    """PyYAML's safe_load, by simtrain's YAML reader."""

    @staticmethod
    def safe_load(stream):
        text = stream.read() if hasattr(stream, "read") else stream
        return simgpu_yaml.loads(text, getattr(stream, "name", "<string>"))


class _Traversable:
    """importlib.resources.files() of trl's packages: its scripts are simtrain's trl_<name>.py."""

    def __init__(self, package):
        self.package = package

    def joinpath(self, name):
        if self.package == "trl.scripts":
            return pathlib.Path(SIM_DIR, "trl_" + name)
        if self.package == "trl.accelerate_configs":
            return pathlib.Path(ACCELERATE_CONFIGS, name)
        return pathlib.Path(SIM_DIR, name)


class _Dataset(dict):
    """load_dataset's DatasetDict: a train and a test split (indexing another split is a KeyError)."""


def _load_dataset(path, name=None, streaming=False, **kwargs):
    return _Dataset(train=[{"text": path}], test=[{"text": path}])


class _ModelCard:
    def __init__(self, text):
        self.text = text

    def save(self, filepath):
        os.makedirs(os.path.dirname(filepath) or ".", exist_ok=True)
        with open(filepath, "w", encoding="utf-8", newline="") as f:
            f.write(self.text)


def _generate_model_card(base_model=None, model_name=None, hub_model_id=None, dataset_name=None, tags=None,
                         trainer_name=None, **kwargs):
    tags = ", ".join(tags or [])
    return _ModelCard("---\nlibrary_name: transformers\nmodel_name: %s\ntags: [%s]\n---\n\n# Model Card for %s\n\n"
                      "This model was trained with %s.\n" % (model_name, tags, model_name, trainer_name))


def _peft_available():
    try:
        importlib.import_module("peft")
    except ImportError:
        return False
    return True


def _main_print(*args, **kwargs):
    """Accelerator.print: the main process prints (stdout, UTF-8 whatever the locale)."""
    if STATE.session is not None and not STATE.session.main:
        return
    if STATE.session is None and os.environ.get("RANK", "0") not in ("", "0"):
        return
    sys.stdout.flush()
    text = " ".join(str(a) for a in args) + kwargs.get("end", "\n")
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def _entropy_from_logits(logits, chunk_size=128):
    return logits


def _reward(*args, **kwargs):
    return [0.0]


def _trainer_class(fw):
    """transformers.Trainer as TRL's trainers subclass it; opening it puts the job on the simulated GPU."""
    hf = fw.transformers

    class Trainer(hf.Trainer):
        def __init__(self, model=None, args=None, **kwargs):
            _open_session(args, model)
            super().__init__(model=model, args=args, **kwargs)
            self.accelerator.print = _main_print
            self.accelerator.is_main_process = STATE.session.main
            self.hub_model_id = getattr(args, "hub_model_id", None)

    Trainer.__module__ = "transformers.trainer"
    Trainer.__qualname__ = "Trainer"
    return Trainer


def load_trl(fw):
    """The trl modules, compiled over the sim's transformers, torch and accelerate."""
    hf = fw.transformers
    torch = fw.torch
    base = {
        "os": os, "sys": sys, "argparse": argparse, "dataclass": dataclasses.dataclass, "field": dataclasses.field,
        "Optional": typing.Optional, "List": typing.List, "Union": typing.Union, "Iterable": Iterable,
        "Path": pathlib.Path, "contextlib": contextlib, "defaultdict": defaultdict, "math": math,
        "torch": torch, "nn": torch.nn, "yaml": _Yaml, "HfArgumentParser": hf.HfArgumentParser,
        "TrainingArguments": hf.TrainingArguments,
    }
    names = dict(base)
    utils = load("trl/scripts/utils.py", dict(names, DatasetDict=_Dataset))
    for name in ("TrlParser", "ScriptArguments", "DatasetMixtureConfig", "get_dataset"):
        names[name] = utils[name]
    names["_BaseConfig"] = load("trl/trainer/base_config.py", names)["_BaseConfig"]
    _add_hub_fields(names["_BaseConfig"])
    for relpath, name in (("trl/trainer/sft_config.py", "SFTConfig"), ("trl/trainer/dpo_config.py", "DPOConfig"),
                          ("trl/trainer/grpo_config.py", "GRPOConfig")):
        names[name] = load(relpath, names)[name]
    model_config = load("trl/trainer/model_config.py", dict(
        names, BitsAndBytesConfig=lambda **kw: NS(**kw), PartialState=_PartialState, is_peft_available=_peft_available,
        LoraConfig=lambda **kw: NS(**kw), torch=NS(cuda=NS(is_available=lambda: True))))
    for name in ("ModelConfig", "get_quantization_config", "get_kbit_device_map", "get_peft_config"):
        names[name] = model_config[name]
    names["Trainer"] = _trainer_class(fw)
    names["_BaseTrainer"] = load("trl/trainer/base_trainer.py", dict(
        names, generate_model_card=_generate_model_card))["_BaseTrainer"]
    trainer_names = dict(names, get_peft_model=lambda model, config: model, entropy_from_logits=_entropy_from_logits,
                         get_act_offloading_ctx_manager=lambda model: contextlib.nullcontext())
    for relpath, name in (("trl/trainer/sft_trainer.py", "SFTTrainer"), ("trl/trainer/dpo_trainer.py", "DPOTrainer"),
                          ("trl/trainer/grpo_trainer.py", "GRPOTrainer")):
        names[name] = load(relpath, trainer_names)[name]
    names.update(
        logging=NS(get_logger=lambda name: simgpu_frames.LibraryLogger(fw, name)), load_dataset=_load_dataset,
        AutoModelForCausalLM=NS(from_pretrained=_from_pretrained),
        AutoModelForSequenceClassification=NS(from_pretrained=lambda *a, **k: NS(config=NS(_name_or_path=a[0] if a else ""))),
        accuracy_reward=_reward, reasoning_accuracy_reward=_reward, think_format_reward=_reward, importlib=importlib,
    )
    return names


def _add_hub_fields(config_class):
    """TrainingArguments' hub_model_id, which TRL's trainers read (the sim's TrainingArguments lacks it)."""
    if "hub_model_id" not in config_class.__dataclass_fields__:
        config_class.hub_model_id = None


class _PartialState:
    @property
    def local_process_index(self):
        return int(os.environ.get("LOCAL_RANK", "0") or 0)


def _from_pretrained(name=None, *args, **kwargs):
    """AutoModelForCausalLM.from_pretrained over the sim's GPT-2, remembering the dtype it loads in."""
    quantization = kwargs.get("quantization_config")
    if quantization is not None and not simgpu_frames.bitsandbytes_importable():
        bits = "4-bit" if getattr(quantization, "load_in_4bit", False) else "8-bit"
        raise ImportError(
            f"Using `bitsandbytes` {bits} quantization requires the latest version of bitsandbytes: "
            "`pip install -U bitsandbytes`"
        )
    fw = STATE.fw
    model = fw.transformers.AutoModelForCausalLM.from_pretrained(name)
    model._sim_dtype = kwargs.get("dtype")
    model.config = NS(_name_or_path=name or "", model_type="gpt2")
    STATE.models.append(model)
    fw.model = STATE.models[0]  # the trained model (DPO's reference model comes second)
    return model


# --- the job on the simulated GPU (the script side) -----------------------------------------------------

def _deepspeed_settings(args):
    """(ZeRO stage, optimizer state offloaded?) from the DeepSpeed config (--deepspeed, or accelerate's)."""
    stage, device = 0, None
    ds = args.hf_deepspeed_config
    if ds is not None:
        stage = ds.get_value("zero_optimization.stage", 0)
        device = ds.get_value("zero_optimization.offload_optimizer.device")
    if not isinstance(stage, int) or isinstance(stage, bool) or not 0 <= stage <= 3:
        raise ValueError("zero_optimization.stage must be 0, 1, 2 or 3, got %r" % (stage,))
    offload = device in ("cpu", "nvme")
    if offload and stage == 0:
        sys.stderr.write("[WARNING] [config.py:760:__init__] offload_optimizer needs ZeRO stage 1, 2 or 3; ignored at stage 0\n")
        offload = False
    return stage, offload


def _eval_schedule(args):
    """(evaluate every N steps, evaluate at the end) from eval_strategy; 'epoch' is the end of the run."""
    if args.eval_strategy == "steps":
        steps = args.eval_steps
        every = math.ceil(args.max_steps * steps) if steps < 1 else int(steps)
        return max(1, every), False
    return 0, args.eval_strategy == "epoch"


def precision_of(args, dtype):
    """The sim's precision: the Trainer's mixed precision over weights loaded in `dtype` (ModelConfig.dtype)."""
    if dtype == "bfloat16":
        return "bf16-true"
    if dtype == "float16":
        return "fp16-true"
    return {"fp16": "fp16", "bf16": "bf16"}.get(args.mixed_precision, "fp32")


def _open_session(args, model):
    if STATE.session is not None:
        return
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError("batch_size should be a positive integer value, but got batch_size=%d" % getattr(args, name))
    for name in ("gradient_accumulation_steps", "max_steps"):
        if getattr(args, name) < 1:
            raise ValueError("%s must be at least 1, got %r" % (name, getattr(args, name)))
    stage, offload = _deepspeed_settings(args)
    every, at_end = _eval_schedule(args)
    # Liger's fused losses (all trainers), SFT's chunked_nll loss and activation_offloading (SFTConfig fields)
    fused_loss = bool(args.use_liger_kernel) or getattr(args, "loss_type", None) == "chunked_nll"
    job = simgpu.Job(
        "trl", micro_batch=args.per_device_train_batch_size, accumulation=args.gradient_accumulation_steps,
        eval_batch=args.per_device_eval_batch_size, precision=precision_of(args, getattr(model, "_sim_dtype", None)),
        checkpointing=args.gradient_checkpointing, optimizer=args.optim,
        optimizer_kind=simgpu.optimizer_kind(args.optim), offload=offload, zero_stage=stage, steps=args.max_steps,
        eval_every=every, eval_at_end=at_end, fused_loss=fused_loss,
        activation_offload=bool(getattr(args, "activation_offloading", False)),
        eval_accumulation=simgpu_memfixes.hf_eval_accumulation(args.eval_accumulation_steps),
    )
    STATE.session = STATE.sim.session(job)


def run_script(name):
    """trl_<name>.py: TRL's trl/scripts/<name>.py, run as __main__ on the simulated GPU."""
    sim = simgpu.start(default_format="pytorch")
    STATE.sim, STATE.fw = sim, sim.frameworks
    names = load_trl(STATE.fw)
    sys.argv = [sys.argv[0]] + list(sim.argv)
    load("trl/scripts/%s.py" % name, names, module_name="__main__")
    if STATE.session is not None:
        STATE.session.finish()


# --- the CLI (bin/trl) ------------------------------------------------------------------------------------

class Command:
    def __init__(self, name, help_text):
        self.name = name
        self.help_text = help_text

    def register(self, subparsers):
        raise NotImplementedError

    def run(self, args, context):
        raise NotImplementedError


@dataclasses.dataclass
class CommandContext:
    argv: list
    remaining_args: list

    def argv_after(self, command_name):
        index = self.argv.index(command_name)
        return self.argv[index + 1:]


def split_sim_flags(argv):
    """(the --sim-* options and their values, the rest): they go to the training script."""
    flags, rest = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, eq, _ = arg.partition("=")
        name = simgpu_proc.ALIASES.get(flag) or (flag[len("--sim-"):] if flag.startswith("--sim-") else None)
        if name is None:
            rest.append(arg)
            i += 1
            continue
        flags.append(arg)
        kind = simgpu_proc.OPTIONS.get(name, ("str",))[0]
        if not eq and kind != "bool" and i + 1 < len(argv):
            flags.append(argv[i + 1])
            i += 1
        i += 1
    simgpu_proc.parse(flags, {}, "pytorch")  # refuse bad ones here, as the script would
    return flags, rest


def _fake_accelerate():
    """The fake bin/accelerate as a module: its option parsing, config reading and exported settings."""
    path = os.path.join(SIM_DIR, "bin", "accelerate")
    loader = importlib.machinery.SourceFileLoader("simtrain_fake_accelerate", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    usage = "usage: Accelerate launch command [-h] [--config_file CONFIG_FILE] [--quiet] [--cpu] [--multi_gpu] ... training_script ..."

    def fail(message):
        sys.stderr.write("%s\nAccelerate launch command: error: %s\n" % (usage, message))
        sys.exit(2)

    module.fail = fail
    return module


class CustomArgumentParser:
    """accelerate launch's parser (allow_abbrev=False), by the fake bin/accelerate's parse()."""

    def __init__(self, prog=None, **kwargs):
        self.accelerate = _fake_accelerate()

    def parse_args(self, argv):
        acc = self.accelerate
        options, script, script_args = acc.parse(list(argv))
        args = argparse.Namespace(
            config_file=options.get("config_file"), cpu=bool(options.get("cpu")), multi_gpu=bool(options.get("multi_gpu")),
            use_deepspeed=bool(options.get("use_deepspeed")), use_fsdp=bool(options.get("use_fsdp")),
            num_processes=None, num_machines=None, mixed_precision=options.get("mixed_precision"),
            dynamo_backend=options.get("dynamo_backend"), quiet=bool(options.get("quiet")), debug=bool(options.get("debug")),
            module=bool(options.get("module")), no_python=bool(options.get("no_python")), training_script=script,
            training_script_args=list(script_args) + list(STATE.sim_flags), _options=options, _accelerate=acc,
        )
        for key in ("num_processes", "num_machines"):
            if key in options:
                try:
                    setattr(args, key, int(options[key]))
                except ValueError:
                    acc.fail("argument --%s/--%s: invalid int value: %r" % (key, key.replace("_", "-"), options[key]))
        return args


def _default_config_file():
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "accelerate", "default_config.yaml")


def _load_config_from_file(config_file):
    acc = _fake_accelerate()
    config = acc.load_config({"config_file": config_file} if config_file else {})
    return NS(distributed_type=str(config.get("distributed_type", "NO")).upper(),
              num_processes=int(config.get("num_processes", 1) or 1),
              mixed_precision=str(config.get("mixed_precision", "no")).lower(),
              deepspeed_config=config.get("deepspeed_config") or {})


def _settings(args):
    """(processes, exported environment, master port) as the fake accelerate computes them."""
    options = dict(args._options)
    options["num_processes"] = str(args.num_processes or 1)
    if args.mixed_precision is not None:
        options["mixed_precision"] = str(args.mixed_precision)
    if args.use_deepspeed:
        options["use_deepspeed"] = True
    return args._accelerate.settings(options)


def _command(args):
    if args.no_python:
        return [args.training_script] + list(args.training_script_args)
    return [sys.executable] + (["-m"] if args.module else []) + [args.training_script] + list(args.training_script_args)


def _prepare_simple_launcher_cmd_env(args):
    processes, extra, port = _settings(args)
    env = simlaunch.rank_env(os.environ, 0, 0, 1, 1, "127.0.0.1", port, extra)
    return _command(args), env


def _prepare_multi_gpu_env(args):
    processes, extra, port = _settings(args)
    args._port = port
    return extra


def _prepare_deepspeed_cmd_env(args):
    extra = _prepare_multi_gpu_env(args)
    return _command(args), extra


@contextlib.contextmanager
def _patch_environment(**kwargs):
    saved = {key: os.environ.get(key) for key in kwargs}
    os.environ.update({key: str(value) for key, value in kwargs.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _RunResult:
    def __init__(self, failed):
        self.failures = failed
        self.return_values = {} if failed else {0: None}

    def is_failed(self):
        return bool(self.failures)


class LocalElasticAgent:
    """torchrun's agent: the ranks, their failures (simlaunch's rank handling, as the fake torchrun's)."""

    def __init__(self, spec):
        self.spec = spec

    def run(self):
        config = self.spec.config
        n = config.nproc_per_node
        command = list(self.spec.entrypoint) + list(self.spec.args)
        port = config.port
        envs = [simlaunch.rank_env(os.environ, r, r, n, n, "127.0.0.1", port) for r in range(n)]
        ranks = simlaunch.start_ranks([command] * n, envs)
        return _RunResult(simlaunch.wait_ranks(ranks))


def _child_failed_error(name, failures):
    try:
        simlaunch.child_failed(name, failures)
    except simlaunch.ChildFailedError as err:
        return err.with_traceback(None)
    return simlaunch.ChildFailedError(name)


def _load_cli(names):
    cli = dict(names)
    cli.update(Command=Command, CommandContext=CommandContext, resources=NS(files=_Traversable), subprocess=subprocess)
    torch_run = {}
    api = load("torch/distributed/launcher/api.py", dict(
        cli, logging=logging, LocalElasticAgent=LocalElasticAgent, ChildFailedError=_child_failed_error,
        WorkerSpec=lambda **kw: NS(**kw)))

    def launch_config(**kw):
        return NS(port=torch_run.get("port", 29500), **kw)

    run = load("torch/distributed/run.py", dict(cli, logging=logging, elastic_launch=api["elastic_launch"],
                                                LaunchConfig=launch_config))

    def distrib_run_run(args):
        torch_run["port"] = getattr(args, "_port", 29500)
        return run["run"](args)

    distrib_run = NS(run=distrib_run_run)
    launch = load("accelerate/commands/launch.py", dict(
        cli, logging=logging, CustomArgumentParser=CustomArgumentParser, CustomHelpFormatter=None,
        prepare_simple_launcher_cmd_env=_prepare_simple_launcher_cmd_env, prepare_multi_gpu_env=_prepare_multi_gpu_env,
        prepare_deepspeed_cmd_env=_prepare_deepspeed_cmd_env, patch_environment=_patch_environment,
        is_rich_available=lambda: False, get_console=None, distrib_run=distrib_run,
        default_config_file=_default_config_file(), load_config_from_file=_load_config_from_file,
        DistributedType=NS(MULTI_GPU="MULTI_GPU", DEEPSPEED="DEEPSPEED", FSDP="FSDP"),
        torch=NS(cuda=NS(device_count=_device_count))))
    config = load("trl/cli/accelerate_config.py", cli)
    launcher = load("trl/cli/accelerate_launcher.py", dict(
        cli, launch_command=launch["launch_command"], launch_command_parser=launch["launch_command_parser"]))
    scripts = {}

    def import_module(name, package=None):
        command = name.rpartition(".")[2]
        if command not in scripts:
            scripts[command] = NS(**{k: v for k, v in load("trl/scripts/%s.py" % command, names).items()
                                     if not k.startswith("__")})
        return scripts[command]

    training = load("trl/cli/commands/training.py", dict(
        cli, importlib=NS(import_module=import_module),
        resolve_accelerate_config_argument=config["resolve_accelerate_config_argument"],
        launch_training_script=launcher["launch_training_script"]))
    commands = [training["TrainingCommand"](name) for name in COMMANDS]
    return load("trl/cli/main.py", dict(cli, get_commands=lambda: commands))


def _device_count():
    # torch.cuda.device_count(): the simulated GPUs CUDA_VISIBLE_DEVICES leaves the job.
    return simlaunch.visible_gpus()


def _cli_excepthook(exc_type, exc, tb):
    sys.stdout.flush()
    simgpu_run.print_exception(exc)
    sys.stderr.flush()


def main(argv=None):
    """bin/trl: `trl sft|dpo|grpo [--config f.yaml] [--key value ...] [accelerate launch options]`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        STATE.sim_flags, argv = split_sim_flags(argv)
    except simgpu_proc.UsageError as err:
        simgpu_run.fail_usage(str(err))
    sys.excepthook = _cli_excepthook
    fw = simgpu_frames.Frameworks()
    STATE.fw = fw
    cli = _load_cli(load_trl(fw))
    return cli["main"](argv)
