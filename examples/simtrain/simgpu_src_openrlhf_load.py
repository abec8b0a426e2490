"""The simulated OpenRLHF SFT trainer's machinery: OpenRLHF's argparse flags in their three generations,
what OpenRLHF gets from DeepSpeed, torch.distributed, datasets, tqdm, W&B and TensorBoard, and the session on
the simulated GPU. It compiles simgpu_src_openrlhf's modules and runs `python -m openrlhf.cli.train_sft`
(examples/simtrain/pkgs/openrlhf/cli/train_sft.py calls main()). Frames of this file are hidden from printed
tracebacks.

The generation is told from the flags as OpenRLHF's releases differ in them: a --fsdp.* flag is the FSDP2
release, any other dotted flag the dotted DeepSpeed release (--ds.*), none the older names (<= 0.9.x). An
unknown flag fails as that release's argparse does. The job, in the sim's terms (see README.md, "OpenRLHF
SFT"): micro-batch the micro-batch flag, accumulation train batch // micro // world (DeepSpeed then checks
train_batch_size == micro x accumulation x world: its AssertionError), or max(1, train batch // (micro x
world)) with FSDP2; precision bf16 (--bf16, or param_dtype bf16) or fp16, fp32 without --bf16 in the older
release; ZeRO stage --zero_stage/--ds.zero_stage (2), FSDP2 fully sharded; optimizer state offloaded with
--adam_offload, --ds.adam_offload or --fsdp.cpu_offload.
"""

import argparse
import datetime
import importlib
import json
import math
import os
import shutil
import sys
import time
from abc import ABC
from datetime import timedelta
from types import SimpleNamespace as NS

import simgpu
import simgpu_run
import simgpu_speed
import simgpu_speed_more
import simgpu_src_hf_args
import simgpu_src_openrlhf
from simgpu_frames import load_source
from simgpu_model import LAYERS

SCRIPT = "train_sft.py"
# The simulated dataset: train batch x STEPS_PER_EPOCH samples (fewer with a smaller max_samples).
STEPS_PER_EPOCH = 5
EVAL_BATCHES = 2
LEGACY, DOTTED, FSDP = "legacy", "ds", "fsdp"


class _State:
    sim = None
    session = None
    strategy = None
    generation = None
    backend = None  # precision, zero_stage, offload, liger
    max_steps = 0
    steps = None  # the driver's steps() generator, shared by the epochs
    postfix = ""


STATE = _State()


# --- the flags ------------------------------------------------------------------------------------------

_STORE_TRUE = "store_true"
_RUN_NAME = "sft_%s" % datetime.datetime.now().strftime("%m%dT%H:%M")

# (flag, type or store_true, default) of openrlhf/cli/train_sft.py before the dotted rename (f2afba47).
LEGACY_FLAGS = [
    ("--save_path", str, "./ckpt"), ("--save_steps", int, -1), ("--save_hf_ckpt", _STORE_TRUE, False),
    ("--disable_ds_ckpt", _STORE_TRUE, False), ("--logging_steps", int, 1), ("--eval_steps", int, -1),
    ("--ckpt_path", str, "./ckpt/checkpoints_sft"), ("--max_ckpt_num", int, 3), ("--max_ckpt_mem", int, int(1e8)),
    ("--load_checkpoint", _STORE_TRUE, False), ("--use_ds_universal_ckpt", _STORE_TRUE, False),
    ("--micro_train_batch_size", int, 8), ("--train_batch_size", int, 128), ("--max_norm", float, 1.0),
    ("--gradient_checkpointing", _STORE_TRUE, False), ("--torch_compile", _STORE_TRUE, False), ("--seed", int, 42),
    ("--full_determinism", _STORE_TRUE, False), ("--local_rank", int, -1), ("--zero_stage", int, 2),
    ("--bf16", _STORE_TRUE, False), ("--zpg", int, 1), ("--adam_offload", _STORE_TRUE, False),
    ("--flash_attn", _STORE_TRUE, False), ("--use_liger_kernel", _STORE_TRUE, False), ("--grad_accum_dtype", str, None),
    ("--overlap_comm", _STORE_TRUE, False), ("--gradient_checkpointing_use_reentrant", _STORE_TRUE, False),
    ("--disable_fast_tokenizer", _STORE_TRUE, False), ("--max_epochs", int, 2), ("--aux_loss_coef", float, 0),
    ("--pretrain", str, None), ("--learning_rate", float, 5e-6), ("--lr_warmup_ratio", float, 0.03),
    ("--pretrain_mode", _STORE_TRUE, False), ("--lr_scheduler", str, "cosine_with_min_lr"), ("--l2", float, 0),
    ("--ring_attn_size", int, 1), ("--ring_head_stride", int, 1), ("--load_in_4bit", _STORE_TRUE, False),
    ("--lora_rank", int, 0), ("--lora_alpha", int, 16), ("--lora_dropout", float, 0),
    ("--packing_samples", _STORE_TRUE, False), ("--dataset", str, None), ("--dataset_probs", str, None),
    ("--eval_dataset", str, None), ("--max_samples", int, 1000000), ("--train_split", str, "train"),
    ("--eval_split", str, "test"), ("--multiturn", _STORE_TRUE, False), ("--input_key", str, "input"),
    ("--output_key", str, None), ("--input_template", str, "User: {}\nAssistant: "),
    ("--apply_chat_template", _STORE_TRUE, False), ("--tokenizer_chat_template", str, None), ("--max_len", int, 2048),
    ("--use_wandb", str, None), ("--wandb_org", str, None), ("--wandb_group", str, None),
    ("--wandb_project", str, "openrlhf_train_sft"), ("--wandb_run_name", str, _RUN_NAME),
    ("--use_tensorboard", str, None), ("--use_ms", _STORE_TRUE, False),
]

# The dotted releases' flags outside the backend section (openrlhf/cli/train_sft.py, FSDP2 text).
DOTTED_FLAGS = [
    ("--ckpt.output_dir", str, "./ckpt"), ("--ckpt.save_steps", int, -1), ("--ckpt.save_hf", _STORE_TRUE, False),
    ("--ckpt.disable_ds", _STORE_TRUE, False), ("--logger.logging_steps", int, 1), ("--eval.steps", int, -1),
    ("--ckpt.path", str, "./ckpt/checkpoints_sft"), ("--ckpt.max_num", int, 3), ("--ckpt.max_mem", int, int(1e8)),
    ("--ckpt.load_enable", _STORE_TRUE, False), ("--train.micro_batch_size", int, 8), ("--train.batch_size", int, 128),
    ("--train.seed", int, 42), ("--train.full_determinism_enable", _STORE_TRUE, False), ("--local_rank", int, -1),
    ("--model.model_name_or_path", str, None), ("--model.gradient_checkpointing_enable", _STORE_TRUE, False),
    ("--model.gradient_checkpointing_reentrant", _STORE_TRUE, False), ("--model.pretrain_mode_enable", _STORE_TRUE, False),
    ("--model.aux_loss_coef", float, 0), ("--data.disable_fast_tokenizer", _STORE_TRUE, False),
    ("--data.dataloader_num_workers", int, 0), ("--train.max_epochs", int, 2), ("--optim", ("adam", "muon"), "adam"),
    ("--muon.lr", float, 0.02), ("--muon.momentum", float, 0.95), ("--muon.ns_steps", int, 5),
    ("--adam.lr", float, 5e-6), ("--adam.eps", float, 1e-8), ("--adam.weight_decay", float, 0.0),
    ("--lr_scheduler", str, "cosine_with_min_lr"), ("--lr_warmup_ratio", float, 0.03), ("--min_lr_ratio", float, 0.1),
    ("--max_norm", float, 1.0), ("--data.dataset", str, None), ("--data.dataset_probs", str, None),
    ("--eval.dataset", str, None), ("--data.dataset_split", str, "train"), ("--eval.split", str, "train"),
    ("--data.max_samples", int, 1000000), ("--data.multiturn", _STORE_TRUE, False), ("--data.input_key", str, "input"),
    ("--data.output_key", str, None), ("--data.input_template", str, "User: {}\nAssistant: "),
    ("--data.apply_chat_template", _STORE_TRUE, False), ("--data.tokenizer_chat_template", str, None),
    ("--data.max_len", int, 2048), ("--logger.wandb.key", str, None), ("--logger.wandb.org", str, None),
    ("--logger.wandb.group", str, None), ("--logger.wandb.project", str, "openrlhf_train_sft"),
    ("--logger.wandb.run_name", str, _RUN_NAME), ("--logger.tensorboard_dir", str, None),
    ("--use_ms", _STORE_TRUE, False),
]

# The backend sections: DeepSpeed (--ds.*, as the reference notes list them) and FSDP2 (--fsdp.*).
DS_FLAGS = [
    ("--ds.zero_stage", int, 2), ("--ds.param_dtype", ("bf16", "fp16"), "bf16"), ("--ds.zpg", int, 1),
    ("--ds.adam_offload", _STORE_TRUE, False), ("--ds.attn_implementation", str, "flash_attention_2"),
    ("--ds.use_liger_kernel", _STORE_TRUE, False), ("--ds.grad_accum_dtype", str, None),
    ("--ds.overlap_comm", _STORE_TRUE, False), ("--ds.ring_attn_size", int, 1), ("--ds.ring_attn_head_stride", int, 1),
    ("--ds.packing_samples", _STORE_TRUE, False), ("--ds.tensor_parallel_size", int, 1),
    ("--ds.use_universal_ckpt", _STORE_TRUE, False), ("--ds.load_in_4bit", _STORE_TRUE, False),
    ("--ds.lora.rank", int, 0), ("--ds.lora.alpha", int, 16), ("--ds.lora.dropout", float, 0),
]
FSDP_FLAGS = [
    ("--fsdp.tp_size", int, 1), ("--fsdp.cp_size", int, 1), ("--fsdp.ep_size", int, 1), ("--fsdp.pp_size", int, 1),
    ("--fsdp.cpu_offload", _STORE_TRUE, False), ("--fsdp.param_dtype", ("bf16", "fp16"), "bf16"),
    ("--fsdp.attn_implementation", str, "flash_attention_2"), ("--fsdp.use_liger_kernel", _STORE_TRUE, False),
    ("--fsdp.packing_samples", _STORE_TRUE, False), ("--fsdp.load_in_4bit", _STORE_TRUE, False),
    ("--fsdp.lora.rank", int, 0), ("--fsdp.lora.alpha", int, 16), ("--fsdp.lora.dropout", float, 0),
]


def generation(argv):
    """Which release's flags the command uses (see the module's docstring)."""
    dots = False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if not name.startswith("--") or "." not in name:
            continue
        if name.startswith("--fsdp."):
            return FSDP
        dots = True
    return DOTTED if dots else LEGACY


def make_parser(gen):
    parser = argparse.ArgumentParser(prog=SCRIPT)
    flags = LEGACY_FLAGS if gen == LEGACY else DOTTED_FLAGS + (FSDP_FLAGS if gen == FSDP else DS_FLAGS)
    for name, kind, default in flags:
        if kind == _STORE_TRUE:
            parser.add_argument(name, action="store_true", default=default)
        elif isinstance(kind, tuple):
            parser.add_argument(name, type=str, default=default, choices=list(kind))
        else:
            parser.add_argument(name, type=kind, default=default)
    if gen == LEGACY:
        parser.add_argument("--adam_betas", type=float, nargs=2, default=(0.9, 0.95))
        parser.add_argument("--target_modules", type=str, nargs="*", default="all-linear")
    else:
        parser.add_argument("--adam.betas", type=float, nargs=2, default=(0.9, 0.95))
        parser.add_argument("--muon.nesterov", action="store_true", default=True)
        parser.add_argument("--muon.no_nesterov", dest="muon.nesterov", action="store_false")
        section = "fsdp" if gen == FSDP else "ds"
        parser.add_argument("--%s.lora.target_modules" % section, type=str, nargs="*", default="all-linear")
    return parser


def hierarchize(flat):
    """openrlhf.utils.config.hierarchize: dotted dest names become nested namespaces."""
    root = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def build(x):
        return NS(**{k: build(v) for k, v in x.items()}) if isinstance(x, dict) else x

    return build(root)


def _legacy_as_dotted(a):
    """The older release's arguments under the dotted names the sim's trainer reads."""
    return hierarchize({
        "ckpt.output_dir": a.save_path, "ckpt.save_steps": a.save_steps, "ckpt.path": a.ckpt_path,
        "ckpt.max_num": a.max_ckpt_num, "ckpt.max_mem": a.max_ckpt_mem, "ckpt.load_enable": a.load_checkpoint,
        "eval.steps": a.eval_steps, "eval.dataset": a.eval_dataset, "logger.logging_steps": a.logging_steps,
        "logger.wandb.key": a.use_wandb, "logger.wandb.run_name": a.wandb_run_name,
        "logger.tensorboard_dir": a.use_tensorboard, "train.micro_batch_size": a.micro_train_batch_size,
        "train.batch_size": a.train_batch_size, "train.max_epochs": a.max_epochs, "train.seed": a.seed,
        "model.model_name_or_path": a.pretrain, "model.gradient_checkpointing_enable": a.gradient_checkpointing,
        "model.gradient_checkpointing_reentrant": a.gradient_checkpointing_use_reentrant,
        "adam.lr": a.learning_rate, "adam.betas": a.adam_betas, "adam.weight_decay": a.l2,
        "data.dataset": a.dataset, "data.max_samples": a.max_samples, "lr_scheduler": a.lr_scheduler,
        "lr_warmup_ratio": a.lr_warmup_ratio, "max_norm": a.max_norm, "local_rank": a.local_rank,
    })


def parse_args(argv):
    gen = generation(argv)
    flat = vars(make_parser(gen).parse_args(argv))
    if gen == LEGACY:
        a = NS(**flat)
        STATE.backend = dict(precision="bf16" if a.bf16 else "fp32", zero_stage=a.zero_stage,
                             adam_offload=a.adam_offload, cpu_offload=False, use_liger_kernel=a.use_liger_kernel)
        return gen, _legacy_as_dotted(a)
    args = hierarchize(flat)
    section = args.fsdp if gen == FSDP else args.ds
    STATE.backend = dict(precision=section.param_dtype, zero_stage=3 if gen == FSDP else section.zero_stage,
                         adam_offload=getattr(section, "adam_offload", False),
                         cpu_offload=getattr(section, "cpu_offload", False), use_liger_kernel=section.use_liger_kernel)
    return gen, args


def backend_flag(args, name):
    return STATE.backend[name]


# --- torch.distributed, datasets, tqdm, loggers -------------------------------------------------------

def _env_int(name, default):
    text = os.environ.get(name, "")
    return int(text) if text.strip().isdigit() else default


DIST = NS(get_world_size=lambda group=None: _env_int("WORLD_SIZE", 1), get_rank=lambda group=None: _env_int("RANK", 0),
          barrier=lambda group=None: None, init_process_group=lambda backend=None, timeout=None, **k: None)


class _Sampler:
    def __init__(self, dataset, num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True):
        self.epoch = 0
        self.consumed_samples = 0

    def set_epoch(self, epoch, consumed_samples=0):
        self.epoch, self.consumed_samples = epoch, consumed_samples


class _Dataset:
    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size


def blending_datasets(path, strategy, max_count=None, **kwargs):
    return path


def SFTDataset(data, strategy, eval=False):
    """The simulated dataset: train batch x STEPS_PER_EPOCH samples (at most max_samples), or EVAL_BATCHES
    micro-batches per rank for evaluation."""
    args = strategy.args
    if eval:
        return _Dataset(EVAL_BATCHES * args.train.micro_batch_size * strategy.world_size)
    return _Dataset(min(args.train.batch_size * STEPS_PER_EPOCH, args.data.max_samples))


class DataLoader:
    """A rank's micro-batches. Training: the epoch's optimizer steps, each the driver's micro-batches
    (inputs, attention mask, loss mask); evaluation: the driver's evaluation batches."""

    def __init__(self, dataset, batch_size=1, sampler=None, drop_last=True):
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = sampler
        self.eval = not sampler_shuffles(sampler)

    def _epoch_steps(self):
        """The optimizer steps of the sampler's epoch this process trains (a resumed epoch: the rest)."""
        first = self.sampler.epoch * STEPS_PER_EPOCH
        last = min(first + STEPS_PER_EPOCH, STATE.max_steps)
        return range(max(first, STATE.session.driver.start) + 1, last + 1)

    def __len__(self):
        if self.eval:
            return EVAL_BATCHES
        if STATE.session is None:
            return len(self.dataset) // max(1, DIST.get_world_size()) // self.batch_size
        return len(self._epoch_steps()) * STATE.session.job.accumulation

    def __iter__(self):
        driver = STATE.session.driver
        if self.eval:
            for inputs, targets in driver.eval_batches():
                yield inputs, targets, targets
            return
        for _ in self._epoch_steps():
            next(STATE.steps)
            for inputs, targets in driver.micro_batches():
                yield inputs, targets, targets


def sampler_shuffles(sampler):
    return sampler is not None and sampler.shuffle


class _DistributedSampler(_Sampler):
    def __init__(self, dataset, num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True):
        super().__init__(dataset)
        self.shuffle = shuffle


def format_num(n):
    """tqdm.format_num: '{0:.3g}' without exponent zeros when that is shorter."""
    f = "{0:.3g}".format(n).replace("+0", "+").replace("-0", "-")
    n = str(n)
    return f if len(f) < len(n) else n


def postfix_text(logs):
    """tqdm.set_postfix's text: key=value, numbers through format_num."""
    return ", ".join("%s=%s" % (k, format_num(v) if isinstance(v, (int, float)) else str(v).strip())
                     for k, v in logs.items())


class _Bar:
    """A tqdm of OpenRLHF's on the simulated clock. The training bar is the driver's (it ticks once a
    micro-batch as the driver runs them); the epoch and evaluation bars draw on update()."""

    def __init__(self, progress=None, driven=False):
        self.progress = progress
        self.driven = driven
        self.n = 0

    def update(self, n=1):
        if self.driven or self.progress is None:
            return
        self.n += n
        self.progress.show(self.n, postfix=self.postfix)
        if self.n >= self.progress.total:
            self.progress.close()

    postfix = ""

    def set_postfix(self, logs=None, refresh=True, **kwargs):
        text = postfix_text(dict(logs or {}, **kwargs))
        if self.driven:
            STATE.postfix = text
        else:
            self.postfix = text
            if self.progress is not None and self.n:
                self.progress.show(self.n, postfix=text)


def tqdm(iterable=None, desc=None, disable=False, total=None, **kwargs):
    total = len(iterable) if total is None else total
    driver = STATE.session.driver
    enabled = driver.session.main and not disable
    if desc.startswith("Train step of epoch"):
        return _train_bar(driver, desc, total, enabled)
    if desc.startswith("Eval stage"):
        # The step it follows is over: its report and the training bar's last draw come first.
        if driver.step > driver.ended:
            driver.end_step(driver.step)
        if driver.progress.shown and not driver.progress.closed and enabled:
            sys.stderr.write("\n")
    bar = simgpu_speed.Progress(total, desc, sys.stderr, enabled, clock=lambda: driver.clock,
                                charset=simgpu_speed.UNICODE)
    driver.session.sim.before_traceback.append(bar.close)
    if desc == "Train epoch":
        return _EpochBar(bar)
    bar.show(0)
    return _Bar(bar)


class _EpochBar(_Bar):
    """The "Train epoch" bar, drawn on a line of its own at the start and after each epoch (the training
    bar's after it)."""

    def __init__(self, progress):
        super().__init__(progress)
        progress.show(0)
        self._end_line()

    def _end_line(self):
        if self.progress.enabled:
            self.progress.stream.write("\n")

    def update(self, n=1):
        driver = STATE.session.driver
        if driver.step > driver.ended:
            driver.end_step(driver.step)
        driver.progress.close()
        self.n += n
        self.progress.show(self.n)
        self._end_line()


def _train_bar(driver, desc, total, enabled):
    """A new epoch's bar in place of the driver's: the step before it is reported first, on the bar of the
    epoch it ends; the new bar ticks once a micro-batch from 0 of this epoch's micro-batches."""
    if driver.step > driver.ended:
        driver.end_step(driver.step)
    driver.progress.close()
    STATE.postfix = ""
    driver.bar_style = simgpu_speed.BarStyle(desc=desc, charset=simgpu_speed.UNICODE, per_micro=True,
                                             postfix=lambda step: STATE.postfix)
    offset = driver.bar_n(driver.ended)
    bar = simgpu_speed_more.EpochBar(offset, total, desc, sys.stderr, enabled, clock=lambda: driver.clock,
                                     charset=simgpu_speed.UNICODE)
    driver.session.sim.before_traceback.append(bar.close)
    driver.progress = bar
    bar.show(offset, postfix="")
    return _Bar(bar, driven=True)


class _Wandb:
    def __init__(self, args):
        os.makedirs(os.path.join("wandb", "offline-run-sim"), exist_ok=True)

    def log(self, data, **kwargs):
        pass

    def finish(self):
        pass


class SummaryWriter:
    """torch.utils.tensorboard's writer: the log folder and an events file in it."""

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "events.out.tfevents.%d.sim" % int(time.time())), "w") as f:
            f.write("simulated TensorBoard events\n")

    def add_scalar(self, tag, value, step):
        pass

    def close(self):
        pass


class _Scheduler:
    """transformers' cosine_with_min_lr with linear warm-up, as OpenRLHF asks for it."""

    def __init__(self, name, optimizer, num_warmup_steps=0, num_training_steps=1, scheduler_specific_kwargs=None):
        self.lr = optimizer.kwargs.get("lr", 5e-6)
        self.min_lr = (scheduler_specific_kwargs or {}).get("min_lr", 0.0)
        self.warmup, self.total, self.current = num_warmup_steps, max(1, num_training_steps), 0
        STATE.max_steps = num_training_steps

    def step(self, **kwargs):
        self.current += 1

    def get_last_lr(self):
        s = self.current
        if s < self.warmup:
            return [self.lr * s / max(1, self.warmup)]
        progress = (s - self.warmup) / max(1, self.total - self.warmup)
        rate = self.min_lr / self.lr
        return [self.lr * max(0.0, rate + (1 - rate) * 0.5 * (1.0 + math.cos(math.pi * progress)))]


class _AdamPlaceholder:
    """FusedAdam / DeepSpeedCPUAdam before deepspeed.initialize: the simulated optimizer is made there."""

    def __init__(self, params, **kwargs):
        self.kwargs = kwargs


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _tokenizer(path, model, padding_side, strategy, **kwargs):
    def save_pretrained(output_dir):
        _write(os.path.join(output_dir, "tokenizer_config.json"), json.dumps({"padding_side": padding_side}) + "\n")
        _write(os.path.join(output_dir, "tokenizer.json"), "{}\n")
    return NS(save_pretrained=save_pretrained)


# --- the session on the simulated GPU ---------------------------------------------------------------------

def open_session(strategy):
    """The job on the simulated GPU, when DeepSpeed (or FSDP2) takes the model."""
    args, b = strategy.args, STATE.backend
    job = simgpu.Job(
        SCRIPT, micro_batch=strategy.micro_train_batch_size, accumulation=strategy.accumulated_gradient,
        precision=b["precision"], checkpointing=bool(args.model.gradient_checkpointing_enable), optimizer="adamw",
        offload=bool(b["adam_offload"] or b["cpu_offload"]), zero_stage=b["zero_stage"], steps=STATE.max_steps,
        eval_batches=EVAL_BATCHES, fused_loss=bool(b["use_liger_kernel"]),
    )
    STATE.session = STATE.sim.session(job)
    STATE.steps = STATE.session.driver.steps()
    return STATE.session


def _model_class(fw):
    torch = fw.torch

    class CausalLM(torch.nn.Module):
        """A causal LM: the sim's 16 layers, logits out."""

        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(*[torch.nn.Linear(fw.parameter(i)) for i in range(LAYERS)])
            fw.model = self

        def forward(self, input_ids, attention_mask=None, **kwargs):
            return NS(logits=self.layers(input_ids))

        def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
            pass

        def save_pretrained(self, output_dir, **kwargs):
            _write(os.path.join(output_dir, "config.json"), json.dumps({"model_type": "qwen2"}) + "\n")
            _write(os.path.join(output_dir, "model.safetensors"), "simulated weights\n")

    CausalLM.__module__ = "transformers.models.qwen2.modeling_qwen2"
    return CausalLM


def _deepspeed(fw, engine_cls, config_cls):
    """deepspeed.initialize: the config's batch check, then the engine over the model on the GPU."""

    def initialize(model=None, optimizer=None, lr_scheduler=None, config=None, args=None, dist_init_required=True):
        world = DIST.get_world_size()
        config_cls(dict(config, gradient_accumulation_steps=config["train_batch_size"]
                        // config["train_micro_batch_size_per_gpu"] // world))
        return _engine(fw, engine_cls, model, optimizer, lr_scheduler, config)

    return NS(initialize=initialize, init_distributed=lambda timeout=None, **k: None)


def _engine(fw, engine_cls, model, optimizer, lr_scheduler, config):
    session = open_session(STATE.strategy)
    model.to(session.device_name)
    sim_optimizer = fw.optimizer(model)
    return engine_cls(model, sim_optimizer, lr_scheduler, config, session.job.accumulation), sim_optimizer, None, \
        lr_scheduler


def write_checkpoint(engine, save_dir, tag, client_state, save_latest):
    """DeepSpeed's save_checkpoint (ZeRO): save_dir/tag/ with rank 0's mp_rank_00_model_states.pt (the client
    state in it) and each rank's optimizer shard, then `latest`; FSDP2 writes a distributed-checkpoint folder."""
    rank = DIST.get_rank()
    folder = os.path.join(save_dir, tag)
    os.makedirs(folder, exist_ok=True)
    if STATE.generation == FSDP:
        _write(os.path.join(folder, "__%d_0.distcp" % rank), "simulated shard\n")
        names = [".metadata"] if rank == 0 else []
    else:
        _write(os.path.join(folder, "zero_pp_rank_%d_mp_rank_00_optim_states.pt" % rank), "simulated shard\n")
        names = ["mp_rank_00_model_states.pt"] if rank == 0 else []
    for name in names:
        _write(os.path.join(folder, name), json.dumps(dict(client_state, global_steps=engine.global_steps)) + "\n")
    if save_latest and rank == 0:
        _write(os.path.join(save_dir, "latest"), tag)
    return True


def read_checkpoint(engine, load_dir, tag):
    """load_checkpoint: the tag in `latest` (none: DeepSpeed's warning, nothing loaded), its client state; the
    driver resumes after the optimizer step it holds."""
    latest = os.path.join(load_dir, "latest")
    if tag is None:
        if not os.path.isfile(latest):
            sys.stderr.write("Unable to find latest file at %s, if trying to load latest checkpoint please ensure "
                             "this file exists or pass an explicit checkpoint tag when loading a checkpoint.\n"
                             % latest)
            return None, None
        with open(latest) as f:
            tag = f.read().strip()
    name = ".metadata" if STATE.generation == FSDP else "mp_rank_00_model_states.pt"
    path = os.path.join(load_dir, tag)
    with open(os.path.join(path, name)) as f:
        states = json.load(f)
    STATE.session.driver.resume(states["consumed_samples"] // STATE.strategy.train_batch_size)
    return path, states


class GPTLMLoss:
    """The loss on the logits; its item() is the sim's loss curve at the current step."""

    def __init__(self):
        self.loss = STATE.sim.frameworks.torch.nn.CrossEntropyLoss()

    def __call__(self, logits, labels):
        t = self.loss(logits, labels)
        step = STATE.session.driver.step
        loss = simgpu_run.eval_loss_at(step) if STATE.session.phase == "eval" else simgpu_run.loss_at(step)
        t.item = lambda: round(loss, 4)
        return t


def _liger_model(cls):
    """liger_kernel.transformers.AutoLigerKernelForCausalLM, when a module named liger_kernel imports (else the
    Actor's import fails as it does without Liger)."""
    try:
        importlib.import_module("liger_kernel")
    except ImportError:
        return
    module = type(sys)("liger_kernel.transformers")
    module.AutoLigerKernelForCausalLM = NS(from_pretrained=lambda path, torch_dtype=None, **k: cls())
    sys.modules["liger_kernel.transformers"] = module


def _folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


# --- compiling the modules -----------------------------------------------------------------------------

def _compile(relpath, names):
    return NS(**load_source(relpath, simgpu_src_openrlhf.SOURCES[relpath], names))


def load(fw):
    """Compile the simulated OpenRLHF over fw's torch; returns the train_sft module."""
    torch = fw.torch
    torch.cuda = NS(empty_cache=lambda: None, current_device=lambda: _env_int("LOCAL_RANK", 0))
    causal_lm = _model_class(fw)
    ds_config = load_source("deepspeed/runtime/config.py", simgpu_src_hf_args.SOURCES["deepspeed/runtime/config.py"],
                            dict(os=os))["DeepSpeedConfig"]
    engine = _compile("deepspeed/runtime/engine.py", dict(Module=torch.nn.Module, write_checkpoint=write_checkpoint,
                                                          read_checkpoint=read_checkpoint)).DeepSpeedEngine
    _liger_model(causal_lm)
    actor = _compile("openrlhf/models/actor.py", dict(
        nn=torch.nn, AutoModelForCausalLM=NS(from_pretrained=lambda path, torch_dtype=None, **k: causal_lm())))
    names = dict(os=os, shutil=shutil, ABC=ABC, timedelta=timedelta, dist=DIST, Actor=actor.Actor,
                 deepspeed=_deepspeed(fw, engine, ds_config), DeepSpeedCPUAdam=_AdamPlaceholder,
                 FusedAdam=_AdamPlaceholder, DistributedSampler=_DistributedSampler, DataLoader=DataLoader,
                 backend_flag=backend_flag, folder_size=_folder_size,
                 get_train_ds_config=lambda **kwargs: {"zero_optimization": {"stage": kwargs["stage"]}})
    ds = _compile("openrlhf/utils/deepspeed/deepspeed.py", names)
    fsdp = _compile("openrlhf/utils/fsdp/strategy.py", dict(
        names, DeepspeedStrategy=ds.DeepspeedStrategy,
        fully_shard=lambda model, accumulation, optim, sched: _engine(fw, engine, model, optim, sched, {})[0]))
    trainer = _compile("openrlhf/trainer/sft_trainer.py", dict(
        os=os, ABC=ABC, torch=torch, tqdm=tqdm, GPTLMLoss=GPTLMLoss, wandb_init=_Wandb, SummaryWriter=SummaryWriter))
    _finish_steps(trainer.SFTTrainer)

    def get_strategy(args):
        cls = fsdp.FSDPStrategy if STATE.generation == FSDP else ds.DeepspeedStrategy
        STATE.strategy = cls(seed=args.train.seed, max_norm=args.max_norm,
                             micro_train_batch_size=args.train.micro_batch_size,
                             train_batch_size=args.train.batch_size, zero_stage=STATE.backend["zero_stage"],
                             param_dtype=STATE.backend["precision"], args=args)
        return STATE.strategy

    return _compile("openrlhf/cli/train_sft.py", dict(
        os=os, math=math, get_strategy=get_strategy, Actor=actor.Actor, get_tokenizer=_tokenizer,
        SFTDataset=SFTDataset, blending_datasets=blending_datasets, get_scheduler=_Scheduler,
        SFTTrainer=trainer.SFTTrainer))


def _finish_steps(cls):
    """After fit, the last step ends (the driver's steps() run out) before the model is saved."""
    fit = cls.fit

    def fit_all(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        for _ in STATE.steps:
            pass

    cls.fit = fit_all


# --- entry point ------------------------------------------------------------------------------------------

def main():
    """`python -m openrlhf.cli.train_sft [flags]` (also under deepspeed --module or torchrun -m), one rank."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=SCRIPT)
    STATE.sim = sim
    module = load(sim.frameworks)
    STATE.generation, args = parse_args(sim.argv)
    module.train(args)
    if STATE.session is not None:
        STATE.session.finish()
