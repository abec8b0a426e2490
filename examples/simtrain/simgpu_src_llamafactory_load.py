"""The simulated LLaMA-Factory's machinery: it compiles simgpu_src_llamafactory's modules over the
simulated transformers (simgpu_frames), supplies what real LLaMA-Factory gets from torch and pip
(the GPU count, installed packages), opens the job's session on the simulated GPU once the
arguments are parsed, and holds the two entry points: console_main (bin/llamafactory-cli) and
rank_main (llamafactory_launcher.py, what torchrun runs per rank). Frames of this file are hidden
from printed tracebacks.

The job, in the sim's terms (see README.md, "llamafactory-cli"): micro-batch
per_device_train_batch_size, accumulation gradient_accumulation_steps, evaluation batch
per_device_eval_batch_size, precision bf16-true with pure_bf16 else bf16/fp16/fp32 from the
TrainingArguments (and accelerate's ACCELERATE_MIXED_PRECISION), gradient checkpointing on unless
disable_gradient_checkpointing (or on again with gradient_checkpointing), optimizer optim, ZeRO
stage and optimizer offload from deepspeed, fused loss with enable_liger_kernel (or the Trainer's
use_liger_kernel), activation offload with use_unsloth_gc (LLaMA-Factory's gradient checkpointing on),
eval_accumulation_steps (0 when unset). stage, finetuning_type, lora_*, quantization_bit, cutoff_len,
packing and flash_attn do not change memory.
"""

import collections
import copy
import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import io
import json
import math
import operator
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import types
import typing
from types import SimpleNamespace as NS

import simgpu
import simgpu_frames
import simgpu_memfixes
import simgpu_proc
import simgpu_run
import simgpu_src_hf
import simgpu_src_llamafactory
import simgpu_yaml
from simgpu_frames import LibraryLogger, load_source
from simgpu_model import SIM_UUID

HERE = os.path.dirname(os.path.abspath(__file__))
# What torchrun runs on each rank: LLaMA-Factory passes its launcher.py's __file__.
LAUNCHER_FILE = os.path.join(HERE, "llamafactory_launcher.py")
SCRIPT = "llamafactory-cli"
# pip distribution -> module name, for the sim's "is it installed" (an importable module will do)
MODULE_OF = {"liger-kernel": "liger_kernel", "adam-mini": "adam_mini", "galore_torch": "galore_torch",
             "apollo_torch": "apollo_torch"}
SIMULATED_STAGES = ("sft", "pt")


class _State:
    sim = None
    session = None
    modules = None


STATE = _State()


# --- what real LLaMA-Factory gets from torch and pip -------------------------------------------

def device_count(env=None):
    """torch.cuda.device_count() on the simulated machine: the entries of CUDA_VISIBLE_DEVICES (indices
    or simulated UUIDs, up to the first other entry) when it is set, else SIMGPU_COUNT (default 1)."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        prefix = SIM_UUID[: SIM_UUID.index("%")]
        count = 0
        for entry in visible.split(","):
            entry = entry.strip()
            if not (entry.isdigit() or entry.startswith(prefix)):
                break
            count += 1
        return count
    text = env.get("SIMGPU_COUNT", "1").strip() or "1"
    if not text.isdigit():
        simgpu_run.fail_usage("SIMGPU_COUNT: expected a non-negative integer, got %r" % text)
    return int(text)


def distribution_version(name):
    """importlib.metadata.version as the sim sees it: a distribution with metadata, or else an
    importable module of that name counts as installed (version 0)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    module = MODULE_OF.get(name, name.replace("-", "_"))
    try:
        if importlib.util.find_spec(module) is not None:
            return "0"
    except (ImportError, ValueError):
        pass
    raise importlib.metadata.PackageNotFoundError(name)


def is_deepspeed_zero3_enabled(training_args):
    config = training_args.hf_deepspeed_config
    return config is not None and config.get_value("zero_optimization.stage", 0) == 3


def _yaml_value(text):
    """An OmegaConf dotlist value: a YAML scalar, or a flow list/mapping."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return simgpu_yaml.loads("v: " + stripped)["v"]
        except simgpu_yaml.YAMLError:
            pass
    return simgpu_yaml.parse_scalar(text)


def _not_simulated(what):
    def run(*args, **kwargs):
        sys.stdout.flush()
        sys.stderr.write("%s (simtrain): %s is not simulated (train, version and help are)\n" % (SCRIPT, what))
        sys.stderr.flush()
        sys.exit(2)
    return run


def _stage_not_simulated(name):
    def run(*args, **kwargs):
        sys.stdout.flush()
        sys.stderr.write("%s (simtrain): stage %r is not simulated (sft and pt are)\n" % (SCRIPT, name))
        sys.stderr.flush()
        sys.exit(2)
    return run


def _nothing(*args, **kwargs):
    return None


class _Tokenizer:
    eos_token_id = 2
    pad_token_id = 0
    additional_special_tokens_ids = []
    padding_side = "right"

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return cls()


class _Config:
    use_cache = True
    _attn_implementation = "sdpa"

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return cls()


_TrainOutput = collections.namedtuple("TrainOutput", ["global_step", "training_loss", "metrics"])


def TrainOutput(global_step, training_loss, metrics):
    """transformers' TrainOutput, with the one metric the sim knows: the epoch (its data is one epoch)."""
    metrics = dict(metrics or {})
    if STATE.session is not None:
        metrics.setdefault("epoch", round(global_step / STATE.session.job.steps, 4))
    return _TrainOutput(global_step, training_loss, metrics)


# --- the session on the simulated GPU ------------------------------------------------------------

def deepspeed_settings(training_args):
    """(ZeRO stage, optimizer state offloaded?) from the DeepSpeed config, as run_clm.py reads it."""
    stage, device = 0, None
    ds = training_args.hf_deepspeed_config
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


def eval_schedule(training_args):
    """(evaluate every N steps, evaluate at the end) from eval_strategy; 'epoch' is the end of the run."""
    if training_args.eval_strategy == "steps":
        steps = training_args.eval_steps
        every = math.ceil(training_args.max_steps * steps) if steps < 1 else int(steps)
        return max(1, every), False
    return 0, training_args.eval_strategy == "epoch"


def precision_of(training_args, finetuning_args):
    if finetuning_args.pure_bf16:
        return "bf16-true"
    return {"fp16": "fp16", "bf16": "bf16"}.get(training_args.mixed_precision, "fp32")


def open_session(model_args, data_args, training_args, finetuning_args):
    """The job on the simulated GPU, once LLaMA-Factory has parsed and checked its arguments."""
    if finetuning_args.stage not in SIMULATED_STAGES or STATE.session is not None:
        return
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                 "max_steps"):
        value = getattr(training_args, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            simgpu_run.fail_usage("%s: must be an integer of at least 1, got %r" % (name, value))
    stage, offload = deepspeed_settings(training_args)
    every, at_end = eval_schedule(training_args)
    checkpointing = bool(training_args.do_train and (not model_args.disable_gradient_checkpointing
                                                     or training_args.gradient_checkpointing))
    # apply_liger_kernel (sft and pt: the fused linear cross-entropy) and the Trainer's own use_liger_kernel;
    # use_unsloth_gc is LLaMA-Factory's checkpointing function, so only with its gradient checkpointing
    fused_loss = bool(training_args.do_train and (model_args.enable_liger_kernel or training_args.use_liger_kernel))
    activation_offload = bool(training_args.do_train and model_args.use_unsloth_gc
                              and not model_args.disable_gradient_checkpointing)
    job = simgpu.Job(
        SCRIPT, micro_batch=training_args.per_device_train_batch_size,
        accumulation=training_args.gradient_accumulation_steps,
        eval_batch=training_args.per_device_eval_batch_size, precision=precision_of(training_args, finetuning_args),
        checkpointing=checkpointing, optimizer=training_args.optim,
        optimizer_kind=simgpu.optimizer_kind(training_args.optim), offload=offload, zero_stage=stage,
        steps=training_args.max_steps, eval_every=every if training_args.do_train else 0,
        eval_at_end=at_end and training_args.do_train, fused_loss=fused_loss, activation_offload=activation_offload,
        eval_accumulation=simgpu_memfixes.hf_eval_accumulation(training_args.eval_accumulation_steps),
    )
    STATE.session = STATE.sim.session(job)


# --- compiling the modules -----------------------------------------------------------------------

def _compile(relpath, names):
    return NS(**load_source(relpath, simgpu_src_llamafactory.SOURCES[relpath], names))


def load(fw):
    """Compile the simulated LLaMA-Factory over fw's transformers; returns its modules by short name."""
    hf, torch = fw.transformers, fw.torch
    src = simgpu_src_hf.SOURCES
    typing_names = {"Optional": typing.Optional, "List": typing.List, "Dict": typing.Dict, "Union": typing.Union}
    base = dict(typing_names, os=os, sys=sys, json=json, re=re, math=math, time=time, io=io,
                dataclass=dataclasses.dataclass, field=dataclasses.field, asdict=dataclasses.asdict,
                dataclasses=dataclasses, deepcopy=copy.deepcopy, Path=pathlib.Path)
    tf_logging = NS(get_logger=lambda name: LibraryLogger(fw, name))

    # transformers' trainer_utils and callbacks again, for get_last_checkpoint and TrainerCallback
    utils = load_source("transformers/trainer_utils.py", src["transformers/trainer_utils.py"], base)
    callback = load_source("transformers/trainer_callback.py", src["transformers/trainer_callback.py"],
                           dict(base, SaveStrategy=utils["SaveStrategy"]))
    TrainerCallback = callback["TrainerCallback"]

    class EarlyStoppingCallback(TrainerCallback):
        def __init__(self, early_stopping_patience=1, early_stopping_threshold=0.0):
            self.early_stopping_patience = early_stopping_patience

    metadata = NS(version=distribution_version, PackageNotFoundError=importlib.metadata.PackageNotFoundError)
    versions = _compile("transformers/utils/versions.py", dict(base, operator=operator,
                                                                importlib=NS(metadata=metadata)))
    lf_logging = _compile("llamafactory/extras/logging.py", base)
    constants = _compile("llamafactory/extras/constants.py", base)
    cuda = NS(device_count=device_count)
    misc = _compile("llamafactory/extras/misc.py", dict(base, logging=lf_logging, socket=socket,
                                                        require_version=versions.require_version,
                                                        torch=NS(cuda=cuda)))
    env = _compile("llamafactory/extras/env.py", base)
    omegaconf = _compile("omegaconf/omegaconf.py", dict(
        base, yaml=NS(load=simgpu_yaml.loads, parse_scalar=_yaml_value)))

    # hparams
    seq2seq_args = _compile("transformers/training_args_seq2seq.py", dict(
        base, TrainingArguments=hf.TrainingArguments, logging=tf_logging))
    data_args = _compile("llamafactory/hparams/data_args.py", base)
    model_args = _compile("llamafactory/hparams/model_args.py", base)
    finetuning_args = _compile("llamafactory/hparams/finetuning_args.py", base)
    generating_args = _compile("llamafactory/hparams/generating_args.py", base)
    training_args = _compile("llamafactory/hparams/training_args.py", dict(
        base, use_ray=misc.use_ray, BaseTrainingArguments=seq2seq_args.Seq2SeqTrainingArguments))
    parser = _compile("llamafactory/hparams/parser.py", dict(
        base, logging=lf_logging, OmegaConf=omegaconf.OmegaConf, HfArgumentParser=hf.HfArgumentParser,
        ModelArguments=model_args.ModelArguments, DataArguments=data_args.DataArguments,
        TrainingArguments=training_args.TrainingArguments, FinetuningArguments=finetuning_args.FinetuningArguments,
        GeneratingArguments=generating_args.GeneratingArguments, RayArguments=training_args.RayArguments,
        ParallelMode=seq2seq_args.ParallelMode, EngineName=constants.EngineName,
        CHECKPOINT_NAMES=constants.CHECKPOINT_NAMES, get_last_checkpoint=utils["get_last_checkpoint"],
        get_current_device=misc.get_current_device, is_env_enabled=misc.is_env_enabled,
        check_version=misc.check_version, check_dependencies=misc.check_dependencies,
        is_deepspeed_zero3_enabled=is_deepspeed_zero3_enabled))

    def get_train_args(args=None):
        parsed = parser.get_train_args(args)
        open_session(*parsed[:4])
        return parsed

    # the Trainer's companions
    pt_utils = _compile("transformers/trainer_pt_utils.py", dict(base, logger=LibraryLogger(fw, "transformers.trainer")))
    Trainer = hf.Trainer
    for name in ("log_metrics", "save_metrics", "save_state", "metrics_format"):
        if not hasattr(Trainer, name):
            setattr(Trainer, name, getattr(pt_utils, name))
    Trainer._inner_training_loop.__globals__["TrainOutput"] = TrainOutput
    seq2seq = _compile("transformers/trainer_seq2seq.py", dict(base, Trainer=Trainer))

    # training
    callbacks = _compile("llamafactory/train/callbacks.py", dict(base, logging=lf_logging,
                                                                 TrainerCallback=TrainerCallback))
    trainer_utils = _compile("llamafactory/train/trainer_utils.py", dict(base, logging=lf_logging))
    sft_trainer = _compile("llamafactory/train/sft/trainer.py", dict(
        base, logging=lf_logging, Seq2SeqTrainer=seq2seq.Seq2SeqTrainer,
        create_custom_optimizer=trainer_utils.create_custom_optimizer,
        create_custom_scheduler=trainer_utils.create_custom_scheduler, SaveProcessorCallback=_nothing))
    pt_trainer = _compile("llamafactory/train/pt/trainer.py", dict(
        base, Trainer=Trainer, create_custom_optimizer=trainer_utils.create_custom_optimizer))
    checkpointing = _compile("llamafactory/model/model_utils/checkpointing.py", dict(
        base, logging=lf_logging, partial=functools.partial, MethodType=types.MethodType))
    quantization = _compile("llamafactory/model/model_utils/quantization.py", dict(
        base, logging=lf_logging, check_version=misc.check_version,
        QuantizationMethod=NS(BNB="bnb", GPTQ="gptq", AWQ="awq")))
    adapter = _compile("llamafactory/model/adapter.py", dict(base, logging=lf_logging))

    def from_pretrained(pretrained_model_name_or_path=None, config=None, **kwargs):
        model = hf.AutoModelForCausalLM.from_pretrained(pretrained_model_name_or_path)
        model.config = config if config is not None else _Config()
        model.supports_gradient_checkpointing = True
        model.requires_grad_ = lambda requires_grad=True: model
        return model

    auto_model = NS(from_pretrained=from_pretrained,
                    from_config=lambda config, **kwargs: from_pretrained(None, config=config))
    loader = _compile("llamafactory/model/loader.py", dict(
        base, logging=lf_logging, AutoTokenizer=_Tokenizer, AutoConfig=_Config, AutoModelForCausalLM=auto_model,
        configure_quantization=quantization.configure_quantization,
        prepare_model_for_training=checkpointing.prepare_model_for_training, init_adapter=adapter.init_adapter))
    template = _compile("llamafactory/data/template.py", dict(base, logging=lf_logging))
    data_loader = _compile("llamafactory/data/loader.py", dict(base, logging=lf_logging))
    workflow_names = dict(
        base, load_tokenizer=loader.load_tokenizer, load_model=loader.load_model,
        get_template_and_fix_tokenizer=template.get_template_and_fix_tokenizer, get_dataset=data_loader.get_dataset,
        SFTDataCollatorWith4DAttentionMask=_nothing, DataCollatorForLanguageModeling=_nothing,
        IGNORE_INDEX=constants.IGNORE_INDEX, plot_loss=_nothing,
        create_modelcard_and_push=trainer_utils.create_modelcard_and_push, get_logger=lf_logging.get_logger)
    sft = _compile("llamafactory/train/sft/workflow.py", dict(
        workflow_names, CustomSeq2SeqTrainer=sft_trainer.CustomSeq2SeqTrainer))
    pt = _compile("llamafactory/train/pt/workflow.py", dict(workflow_names, CustomTrainer=pt_trainer.CustomTrainer))
    tuner = _compile("llamafactory/train/tuner.py", dict(
        base, logging=lf_logging, get_train_args=get_train_args, get_ray_args=parser.get_ray_args,
        read_args=parser.read_args, LogCallback=callbacks.LogCallback, ReporterCallback=callbacks.ReporterCallback,
        EarlyStoppingCallback=EarlyStoppingCallback, run_pt=pt.run_pt, run_sft=sft.run_sft,
        run_rm=_stage_not_simulated("rm"), run_ppo=_stage_not_simulated("ppo"), run_dpo=_stage_not_simulated("dpo"),
        run_kto=_stage_not_simulated("kto"), _ray_training_function=_not_simulated("USE_RAY (Ray training)"),
        dist=NS(is_initialized=lambda: False)))

    # the command line
    launcher_names = dict(
        base, logging=lf_logging, VERSION=env.VERSION, print_env=_not_simulated("env"),
        find_available_port=misc.find_available_port, get_device_count=misc.get_device_count,
        is_env_enabled=misc.is_env_enabled, use_kt=misc.use_kt, use_ray=misc.use_ray, subprocess=subprocess,
        run_exp=tuner.run_exp, run_api=_not_simulated("api"), run_chat=_not_simulated("chat"),
        export_model=_not_simulated("export"), run_web_demo=_not_simulated("webchat"),
        run_web_ui=_not_simulated("webui"))
    launcher_ns = load_source("llamafactory/launcher.py", simgpu_src_llamafactory.SOURCES["llamafactory/launcher.py"],
                              launcher_names)
    launcher_ns["__file__"] = LAUNCHER_FILE  # torchrun runs this file on each rank
    launcher = NS(**launcher_ns)
    cli = _compile("llamafactory/cli.py", dict(base, launcher=launcher))
    return NS(cli=cli, launcher=launcher, tuner=tuner, parser=parser, misc=misc)


# --- entry points --------------------------------------------------------------------------------

def _sim_tokens(argv):
    """Take --sim-* tokens (and --step-time) out of argv: (the rest, {SIMTRAIN_ variable: raw value})."""
    rest, exported = [], {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, eq, inline = arg.partition("=")
        name = simgpu_proc.ALIASES.get(flag)
        if name is None and flag.startswith("--sim-"):
            name = flag[len("--sim-"):]
        if name is None or name not in simgpu_proc.OPTIONS:
            rest.append(arg)
            i += 1
            continue
        kind, var, _ = simgpu_proc.OPTIONS[name]
        if not eq and kind == "bool":
            inline = "1"
        elif not eq and i + 1 < len(argv):
            inline = argv[i + 1]
            i += 1
        exported[var] = inline
        i += 1
    return rest, exported


def _start(argv):
    """Take the sim's options out of argv (checking them) and pass them on through the environment,
    so that the ranks torchrun starts see them too; returns the argv LLaMA-Factory reads."""
    sim = simgpu.start(argv=list(argv), script=SCRIPT)
    rest, exported = _sim_tokens(argv)
    os.environ.update(exported)
    STATE.sim = sim
    STATE.modules = load(sim.frameworks)
    return rest


def console_main():
    """The llamafactory-cli console script: `from llamafactory.cli import main; sys.exit(main())`."""
    sys.argv[1:] = _start(sys.argv[1:])
    result = STATE.modules.cli.main()
    if STATE.session is not None:
        STATE.session.finish()
    return result


def rank_main():
    """launcher.py under torchrun: `from llamafactory.train.tuner import run_exp; run_exp()`."""
    sys.argv[1:] = _start(sys.argv[1:])
    STATE.modules.tuner.run_exp()
    if STATE.session is not None:
        STATE.session.finish()
