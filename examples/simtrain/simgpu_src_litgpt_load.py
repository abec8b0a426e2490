"""Loads the simulated litgpt (simgpu_src_litgpt*.py) and supplies what its modules take from outside.

main() is bin/litgpt: jsonargparse's CLI over the subcommands' setup functions (defaults and types
read from their signatures, --config files and --a.b flags applied left to right), then setup runs
on the simulated GPU. The Fabric strategies are here: the model placement that opens the job on the
simulated GPU, FSDP sharding and activation checkpointing for more than one device, the other ranks
(started the way Fabric's subprocess launcher starts them: the same command line with LOCAL_RANK,
NODE_RANK, WORLD_SIZE, MASTER_ADDR/PORT set; RANK too, which the sim reads), their watcher, and the
checkpoints. This module's frames are hidden from printed tracebacks (its name starts with simgpu).
"""

import builtins
import contextlib
import dataclasses
import datetime
import functools
import inspect
import logging
import math
import os
import pathlib
import pprint
import shutil
import sys
import time
import types
import typing
import warnings
from types import SimpleNamespace as NS

import simgpu
import simgpu_frames
import simgpu_ranks
import simgpu_run
import simgpu_src_litgpt
import simgpu_yaml
from simgpu_model import LAYERS

SITE = simgpu_frames.SITE
STEPS_PER_EPOCH = 20  # the simulated data set: 20 optimizer steps per epoch, whatever the batch
BLOCK_SIZE = 2048
LONGEST_SEQUENCE = 512
SUBCOMMANDS = ("finetune", "finetune_lora", "finetune_full", "pretrain")
LITGPT_COMMANDS = ("download", "chat", "finetune", "finetune_lora", "finetune_full", "finetune_adapter",
                   "finetune_adapter_v2", "pretrain", "generate", "generate_full", "generate_adapter",
                   "generate_adapter_v2", "generate_sequentially", "generate_speculatively", "generate_tp",
                   "convert_to_litgpt", "convert_from_litgpt", "convert_pretrained_checkpoint", "merge_lora",
                   "evaluate", "serve", "validate")
FABRIC_PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true",
                     "bf16-mixed", "32-true", "64-true", 64, 32, 16, "64", "32", "16", "bf16")
SIM_PRECISION = {"16-true": "fp16-true", "16-mixed": "fp16", "16": "fp16", 16: "fp16", "bf16-true": "bf16-true",
                 "bf16-mixed": "bf16", "bf16": "bf16", "32-true": "fp32", "32": "fp32", 32: "fp32",
                 "64-true": "fp64-true", "64": "fp64-true", 64: "fp64-true", "transformer-engine": "bf16",
                 "transformer-engine-float16": "fp16", "bfloat16": "bf16-true", "float16": "fp16-true",
                 "float32": "fp32"}
_log = logging.getLogger("lightning.fabric")


class _State:
    sim = None
    fw = None
    session = None
    argv = []
    subcommand = None
    kwargs = None  # the subcommand's arguments, as parsed (before instantiation)
    train = None
    devices = 1
    num_nodes = 1
    ranks = simgpu_ranks.Ranks()
    optimizer = "AdamW"
    resume_iter = 0
    resume_step = 0
    user_keys = set()
    current_step = 0


STATE = _State()


def _rank():
    return int(os.environ.get("RANK", "0") or 0)


def _info(message):
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# --- jsonargparse ---------------------------------------------------------------------------------------

USAGE = ("usage: litgpt [-h] [--config CONFIG] [--print_config[=flags]] {%s} ..." % ",".join(LITGPT_COMMANDS))


def _fail(message, subcommand=None):
    usage = USAGE if subcommand is None else (
        "usage: litgpt [options] %s [-h] [--config CONFIG] [--print_config[=flags]] ..." % subcommand)
    sys.stderr.write("%s\nerror: %s\n" % (usage, message))
    sys.exit(2)


def _type_name(annotation):
    return repr(annotation) if isinstance(annotation, type) else str(annotation).replace("typing.", "typing.")


class _Bad(Exception):
    pass


def _convert(annotation, value):
    """A value for a parameter of that type, as jsonargparse accepts it (CLI values are strings)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return simgpu_yaml.parse_scalar(value) if isinstance(value, str) else value
    if origin is typing.Union:
        if value is None or (isinstance(value, str) and value.strip() in ("null", "None", "~")):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value)
            except _Bad:
                pass
        raise _Bad()
    if origin is typing.Literal:
        for choice in args:
            if choice is None and (value is None or value in ("null", "None")):
                return None
            if choice is not None and (value == choice or (isinstance(value, str) and str(choice) == value)):
                return choice
        raise _Bad()
    if annotation is type(None):
        if value is None or value in ("null", "None"):
            return None
        raise _Bad()
    if annotation is bool:
        scalar = simgpu_yaml.parse_scalar(value) if isinstance(value, str) else value
        if isinstance(scalar, bool):
            return scalar
        raise _Bad()
    if annotation is int:
        scalar = simgpu_yaml.parse_scalar(value) if isinstance(value, str) else value
        if isinstance(scalar, int) and not isinstance(scalar, bool):
            return scalar
        raise _Bad()
    if annotation is float:
        scalar = simgpu_yaml.parse_scalar(value) if isinstance(value, str) else value
        if isinstance(scalar, (int, float)) and not isinstance(scalar, bool):
            return float(scalar)
        raise _Bad()
    if annotation is str:
        if isinstance(value, (dict, list)) or value is None:
            raise _Bad()
        return str(value)
    if annotation is pathlib.Path:
        if isinstance(value, (dict, list, bool)) or value is None:
            raise _Bad()
        return pathlib.Path(str(value))
    if origin in (dict, typing.Dict) or annotation in (dict, typing.Dict):
        if isinstance(value, dict):
            return value
        raise _Bad()
    # classes (DataModule, Config): a class name, a class_path mapping, or null
    if value is None or isinstance(value, (dict, str)):
        return value
    raise _Bad()


class _Signature:
    """A setup function's parameters: (name -> annotation), (name -> default), the nested dataclasses."""

    def __init__(self, function):
        self.function = function
        self.params = inspect.signature(function).parameters
        self.positional = [n for n, p in self.params.items() if p.default is inspect.Parameter.empty]

    def defaults(self):
        values = {}
        for name, param in self.params.items():
            default = None if param.default is inspect.Parameter.empty else param.default
            if dataclasses.is_dataclass(default):
                default = dataclasses.asdict(default)
            values[name] = default
        return values

    def nested(self, name):
        default = self.params[name].default
        return default if dataclasses.is_dataclass(default) else None


def _set_key(sig, values, dotted, value, source, subcommand):
    STATE.user_keys.add(dotted)
    top, _, rest = dotted.partition(".")
    if top not in sig.params:
        _fail('Unrecognized arguments: %s' % source, subcommand)
    nested = sig.nested(top)
    if nested is not None:
        if not rest:
            if not isinstance(value, dict):
                _fail('Parser key "%s":\n  Expected a %s. Got value: %s' % (top, type(nested).__name__, value), subcommand)
            for key, sub in value.items():
                _set_key(sig, values, "%s.%s" % (top, key), sub, source, subcommand)
            return
        fields = {f.name: f for f in dataclasses.fields(nested)}
        if rest not in fields:
            _fail('Unrecognized arguments: %s' % source, subcommand)
        try:
            values[top][rest] = _convert(fields[rest].type, value)
        except _Bad:
            _fail('Parser key "%s":\n  Expected a %s. Got value: %s' % (dotted, _type_name(fields[rest].type), value),
                  subcommand)
        return
    if top in ("optimizer", "data", "model_config") and rest:
        # --optimizer.class_path X, --optimizer.init_args.lr 0.1, --data.mask_prompt false
        current = values.get(top)
        if not isinstance(current, dict):
            current = {"class_path": current} if isinstance(current, str) else {}
        key = rest[len("init_args."):] if rest.startswith("init_args.") else rest
        if key == "class_path":
            current["class_path"] = value
        else:
            current.setdefault("init_args", {})[key] = simgpu_yaml.parse_scalar(value) if isinstance(value, str) else value
        values[top] = current
        return
    if rest:
        _fail('Unrecognized arguments: %s' % source, subcommand)
    try:
        values[top] = _convert(sig.params[top].annotation, value)
    except _Bad:
        _fail('Parser key "%s":\n  Expected a %s. Got value: %s' % (top, _type_name(sig.params[top].annotation), value),
              subcommand)


def _load_config(sig, values, path, subcommand):
    try:
        loaded = simgpu_yaml.load_file(path)
    except OSError as err:
        _fail('Parser key "config":\n  Unable to load config %r: %s' % (path, err.strerror), subcommand)
    except simgpu_yaml.YAMLError as err:
        _fail('Parser key "config":\n  %s' % err, subcommand)
    if loaded is None:
        return
    if not isinstance(loaded, dict):
        _fail('Parser key "config":\n  Expected a config file with a mapping, got %r' % (loaded,), subcommand)
    for key, value in loaded.items():
        if key in ("data", "optimizer", "model_config") and isinstance(value, dict):
            values[key] = value
            continue
        if key not in sig.params:
            _fail('Parser key "config":\n  Problem in config file %r: Key "%s" is not expected' % (path, key), subcommand)
        _set_key(sig, values, key, value, key, subcommand)


def parse_command(subparsers, argv):
    """jsonargparse's view of `litgpt SUBCOMMAND [POSITIONAL] [--config F] [--a.b V | --a.b=V ...]`."""
    if not argv:
        _fail('expected "subcommand" to be one of {%s}, but it was not provided.' % ",".join(LITGPT_COMMANDS))
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE + "\n")
        sys.exit(0)
    subcommand = argv[0]
    if subcommand not in subparsers:
        if subcommand in LITGPT_COMMANDS:
            _fail("the simulated litgpt runs only %s, not %r" % (", ".join(SUBCOMMANDS), subcommand))
        _fail('expected "subcommand" to be one of {%s}, but got "%s".' % (",".join(LITGPT_COMMANDS), subcommand))
    sig = _Signature(subparsers[subcommand].function)
    values = sig.defaults()
    positional = list(sig.positional)
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            sys.stdout.write("usage: litgpt [options] %s [-h] [--config CONFIG] ...\n" % subcommand)
            sys.exit(0)
        if not arg.startswith("--"):
            if not positional:
                _fail("Unrecognized arguments: %s" % " ".join(args[i:]), subcommand)
            name = positional.pop(0)
            _set_key(sig, values, name, arg, arg, subcommand)
            i += 1
            continue
        flag, eq, value = arg.partition("=")
        if not eq:
            if i + 1 >= len(args):
                _fail("argument %s: expected one argument" % flag, subcommand)
            value = args[i + 1]
            i += 1
        i += 1
        if flag == "--config":
            _load_config(sig, values, value, subcommand)
            continue
        if flag == "--print_config":
            _fail("--print_config is not simulated", subcommand)
        _set_key(sig, values, flag[2:], value, "%s %s" % (flag, value) if not eq else arg, subcommand)
    for name in sig.positional:
        if values.get(name) is None:
            _fail('Key "%s" is required but not included in config object or its value is None.' % name, subcommand)
    return {"subcommand": subcommand, subcommand: values}


class ArgumentParser:
    """jsonargparse.ArgumentParser as litgpt's CLI uses it (subcommands of functions)."""

    def __init__(self, **kwargs):
        self.subcommands = {}
        self.function = None

    def add_function_arguments(self, function, as_positional=True):
        self.function = function

    def add_subcommand(self, name, parser):
        self.subcommands[name] = parser

    def parse_args(self, args=None):
        return parse_command(self.subcommands, STATE.argv if args is None else list(args))

    def instantiate_classes(self, cfg):
        subcommand = cfg["subcommand"]
        sig = _Signature(self.subcommands[subcommand].function)
        kwargs = dict(cfg[subcommand])
        STATE.subcommand, STATE.kwargs = subcommand, dict(kwargs)
        for name in sig.params:
            nested = sig.nested(name)
            if nested is not None:
                with warnings.catch_warnings():
                    if name == "train" and "train.max_steps" not in STATE.user_keys:
                        # (the sim's default max_steps is below litgpt's default warmup: no warning for it)
                        warnings.simplefilter("ignore", UserWarning)
                    kwargs[name] = type(nested)(**kwargs[name])
        if kwargs.get("data") is not None:
            kwargs["data"] = _TinyLlama() if subcommand == "pretrain" else _DataModule()
        if isinstance(kwargs.get("model_config"), dict):
            init = kwargs["model_config"].get("init_args", kwargs["model_config"])
            kwargs["model_config"] = Config(str(init.get("name", "custom")))
        STATE.train = kwargs.get("train")
        return {"subcommand": subcommand, subcommand: kwargs}


class _CapturedParser:
    """capture_parser(lambda: CLI(setup)): the parsed arguments, saved as hyperparameters.yaml."""

    def parse_args(self):
        return dict(STATE.kwargs or {})

    def save(self, config, path, overwrite=True):
        with open(path, "w", encoding="utf-8") as f:
            f.write(_yaml_dump(config))


def _yaml_scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if text == "" or text != text.strip() or text[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in text or " #" in text \
            or simgpu_yaml.parse_scalar(text) != text:
        return "'" + text.replace("'", "''") + "'"
    return text


def _yaml_dump(value, indent=0):
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append("%s%s:\n%s" % (pad, key, _yaml_dump(item, indent + 2)))
            elif isinstance(item, list):
                lines.append("%s%s: [%s]\n" % (pad, key, ", ".join(_yaml_scalar(v) for v in item)))
            else:
                lines.append("%s%s: %s\n" % (pad, key, _yaml_scalar(item if not isinstance(item, dict) else None)))
        return "".join(lines)
    return pad + _yaml_scalar(value) + "\n"


# --- the model, data and helpers litgpt imports ---------------------------------------------------------

class Config:
    """litgpt.Config of the sim's model: 16 layers holding SIMGPU_MODEL of fp32 weights."""

    def __init__(self, name, **kwargs):
        self.name = name
        self.n_layer = LAYERS
        self.block_size = BLOCK_SIZE
        self.padded_vocab_size = 32000
        self.n_embd = 4096
        self.__dict__.update(kwargs)

    @classmethod
    def from_file(cls, path, **kwargs):
        return cls(pathlib.Path(path).parent.name, **kwargs)

    @classmethod
    def from_name(cls, name, **kwargs):
        return cls(str(name).rpartition("/")[2], **kwargs)

    def layer_weight(self, index):
        fw = STATE.fw
        weight = fw.parameter(index)
        elements = STATE.sim_spec_weights // 4 // LAYERS
        weight.numel = lambda: elements
        weight.requires_grad = True
        return weight


class _Losses:
    def __init__(self, n=0):
        self.values = []

    def __setitem__(self, index, value):
        self.values.append(value)

    def append(self, value):
        self.values.append(value)

    def mean(self):
        session = STATE.session
        step = session.driver.step if session is not None else 0
        return _Scalar(simgpu.eval_loss_at(step))


class _Scalar(float):
    """A 0-dim tensor's value (val_loss): formats and exp()s as a float, has .item()."""

    def item(self):
        return float(self)


class _RunningMean:
    def __init__(self, window=1, sync_on_compute=False):
        self.window = window

    def to(self, device):
        return self

    def update(self, value):
        pass

    def compute(self):
        session = STATE.session
        return _Scalar(simgpu.loss_at(max(1, session.driver.step if session else 1)))


class _Scheduler:
    def __init__(self, optimizer, *args, **kwargs):
        self.optimizer = optimizer

    def step(self):
        pass

    def get_last_lr(self):
        return [0.0003]


class _Tokenizer:
    eos_id = 2

    def __init__(self, checkpoint_dir=None):
        self.checkpoint_dir = checkpoint_dir

    def encode(self, text, device=None):
        return list(range(len(str(text).split())))

    def decode(self, tokens):
        return "(the simulated model does not generate text)"


class _PromptStyle:
    def apply(self, prompt, **kwargs):
        return prompt


class _DataModule:
    """The data module (Alpaca, TinyLlama, or the --data given): the sim's train and validation loaders."""

    prompt_style = _PromptStyle()

    def __init__(self, *args, **kwargs):
        self.pretrain = False

    def connect(self, tokenizer=None, batch_size=1, max_seq_length=None):
        pass

    def prepare_data(self):
        pass

    def setup(self, stage=""):
        pass

    def train_dataloader(self):
        return _TrainLoader(self.pretrain)

    def val_dataloader(self):
        return _ValLoader(self.pretrain)


class _TinyLlama(_DataModule):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.pretrain = True


class _TrainLoader:
    """The training DataLoader: epochs of STEPS_PER_EPOCH x accumulation micro-batches over the driver's steps.
    A resumed run first yields the batches it fast-forwards through (no compute); batches past the scheduled
    steps (litgpt's loops fetch one more) are spare ones."""

    def __init__(self, pretrain):
        self.pretrain = pretrain
        self.dataset = [{"input_ids": [0] * LONGEST_SEQUENCE}]
        self._items = None

    def _accumulation(self):
        return STATE.train.gradient_accumulation_iters(STATE.devices, STATE.num_nodes)

    def __len__(self):
        return STEPS_PER_EPOCH * self._accumulation()

    def _wrap(self, inputs, labels):
        return inputs if self.pretrain else {"input_ids": inputs, "labels": labels}

    def _generate(self):
        session = STATE.session
        driver = session.driver
        for _ in range(STATE.resume_iter):
            yield self._wrap(*session.frameworks.batch(None))
        if STATE.resume_iter:
            driver.resume(STATE.resume_step)
        step = driver.start
        while True:
            step += 1
            if step > session.job.steps:
                while True:
                    yield self._wrap(*session.batch("train"))
            STATE.current_step = step
            driver.begin_step(step)
            for inputs, labels in driver.micro_batches():
                yield self._wrap(inputs, labels)

    def __iter__(self):
        if self._items is None:
            self._items = self._generate()
        for _ in range(len(self)):
            yield next(self._items)


class _ValLoader:
    def __init__(self, pretrain):
        self.pretrain = pretrain

    def __len__(self):
        return STATE.session.job.eval_batches

    def __iter__(self):
        session = STATE.session
        batches = session.driver.eval_batches() if session.driver.step else _sanity_batches(session)
        for inputs, labels in batches:
            yield inputs if self.pretrain else {"input_ids": inputs, "labels": labels}


def _sanity_batches(session):
    """The check before training (litgpt's 'Verifying settings ...'): evaluation batches, no eval line."""
    device = session.device
    session.free_activations()
    saved, session.phase = device.allocated, "eval"
    device.allocated = sum(session.plan.weights)
    for _ in range(session.job.eval_batches):
        session.free_activations()
        yield session.batch("eval")
    session.free_activations()
    device.allocated, session.phase = saved, "train"


def _save_prompt_style(style, checkpoint_dir):
    with open(os.path.join(checkpoint_dir, "prompt_style.yaml"), "w", encoding="utf-8") as f:
        f.write("class_path: litgpt.prompts.Alpaca\n")


def _save_config(config, checkpoint_dir):
    with open(os.path.join(checkpoint_dir, "model_config.yaml"), "w", encoding="utf-8") as f:
        f.write(_yaml_dump({"name": config.name, "block_size": config.block_size, "n_layer": config.n_layer,
                            "n_embd": config.n_embd, "padded_vocab_size": config.padded_vocab_size}))


def _merge_lora(checkpoint_dir, pretrained_checkpoint_dir=None, precision=None):
    if _rank() != 0:
        return
    STATE.fw.torch.save({"model": {}, "merged": True}, os.path.join(str(checkpoint_dir), "lit_model.pth"))


def _bnb_available():
    return simgpu_frames.bitsandbytes_importable()


class _RequirementCache:
    def __init__(self, requirement):
        self.requirement = requirement

    def __bool__(self):
        return _bnb_available()

    def __str__(self):
        return ("Requirement %r not met. HINT: Try running `pip install -U %r`" % (self.requirement, self.requirement))


class BitsandbytesPrecision:
    def __init__(self, mode, dtype=None, ignore_modules=None):
        if not _bnb_available():
            raise ModuleNotFoundError(str(_RequirementCache("bitsandbytes>=0.45.2")))
        self.mode = mode
        self.dtype = dtype
        self.precision = "bnb-" + str(mode)


class FSDPStrategy:
    """Lightning's FSDPStrategy as the scripts configure it (the sim acts on the sharding and the AC policy)."""

    def __init__(self, auto_wrap_policy=None, activation_checkpointing_policy=None, sharding_strategy="FULL_SHARD",
                 state_dict_type="sharded", cpu_offload=None, **kwargs):
        self.activation_checkpointing_policy = activation_checkpointing_policy
        self.sharding_strategy = sharding_strategy
        self.cpu_offload = cpu_offload


# --- the fake imports (torch.optim, bitsandbytes) ----------------------------------------------------------

def _optimizer_class(name, base, module):
    cls = type(name, (base,), {"__module__": module})
    cls.__qualname__ = name
    return cls


def _fake_modules():
    torch = STATE.fw.torch
    AdamW, AdamW8bit = torch.optim.AdamW, torch.bnb_optim.AdamW8bit
    optim = types.ModuleType("torch.optim")
    for name in ("AdamW", "Adam", "SGD", "RMSprop", "Adagrad"):
        setattr(optim, name, _optimizer_class(name, AdamW, "torch.optim"))
    bnb = types.ModuleType("bitsandbytes")
    bnb_optim = types.ModuleType("bitsandbytes.optim")
    for name in ("AdamW8bit", "PagedAdamW8bit", "Adam8bit", "PagedAdam8bit", "Lion8bit", "PagedLion8bit"):
        setattr(bnb_optim, name, _optimizer_class(name, AdamW8bit, "bitsandbytes.optim"))
    for name in ("AdamW", "PagedAdamW", "PagedAdamW32bit", "AdamW32bit", "Adam"):
        setattr(bnb_optim, name, _optimizer_class(name, AdamW, "bitsandbytes.optim"))
    bnb.optim = bnb_optim
    return {"torch.optim": optim, "torch": NS(optim=optim), "bitsandbytes": bnb, "bitsandbytes.optim": bnb_optim}


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    fakes = STATE.fake_modules
    if name in fakes:
        if name.startswith("bitsandbytes") and not _bnb_available():
            raise ModuleNotFoundError("No module named 'bitsandbytes'", name="bitsandbytes")
        return fakes[name] if fromlist or "." not in name else fakes[name.partition(".")[0]]
    return builtins.__import__(name, globals, locals, fromlist, level)


# --- Fabric: connector, strategies, ranks -----------------------------------------------------------------

class _Launcher(simgpu_ranks.Launcher):
    """Fabric's _SubprocessScriptLauncher: this process is rank 0, the others run the same command line."""

    def __init__(self, devices, num_nodes):
        super().__init__(devices, num_nodes, STATE.ranks, argv=sys.argv)


def _collective():
    """An all-reduce: with a peer gone, it never completes (NCCL waits; Lightning's observer ends rank 0)."""
    STATE.ranks.collective()


class _Callback:
    """The sim's Fabric callback: an optimizer step ends the driver's step."""

    def on_after_optimizer_step(self, strategy, optimizer):
        _collective()
        session = STATE.session
        if session is not None and STATE.current_step and STATE.current_step <= session.job.steps:
            session.driver.end_step(STATE.current_step)


def _strategy_class(fw, Strategy, Precision):
    class _SimPrecision(Precision):
        def __init__(self, precision):
            self.precision = precision

    class _SimBnbPrecision(_SimPrecision, BitsandbytesPrecision):
        pass

    _SimBnbPrecision.__name__ = _SimBnbPrecision.__qualname__ = "BitsandbytesPrecision"

    class _SimStrategy(Strategy):
        def __init__(self, precision, sharded, checkpointing, devices, num_nodes, bnb=False):
            super().__init__(precision=(_SimBnbPrecision if bnb else _SimPrecision)(precision))
            self.sharded = sharded
            self.checkpointing = checkpointing
            self.world_size = int(os.environ.get("WORLD_SIZE", "") or devices * num_nodes)
            external = "LOCAL_RANK" in os.environ
            if self.world_size > 1 and not external:
                self._launcher = _Launcher(devices, num_nodes)
            self.devices = devices

        @property
        def global_rank(self):
            return _rank()

        @property
        def local_rank(self):
            return int(os.environ.get("LOCAL_RANK", "0") or 0)

        @property
        def node_rank(self):
            return int(os.environ.get("NODE_RANK", "0") or 0)

        @property
        def is_global_zero(self):
            return self.global_rank == 0

        @property
        def root_device(self):
            return NS(type="cuda", index=self.local_rank)

        def setup_environment(self):
            STATE.ranks.joined(self.global_rank, self.world_size)

        def setup_module(self, module):
            return module

        def setup_module_and_optimizers(self, module, optimizers):
            return module, optimizers

        def model_to_device(self, model):
            _open_session(self)
            model.module.to("cuda:%d" % self.local_rank)

        def setup_optimizer(self, optimizer):
            _record_optimizer(optimizer)
            return optimizer

        def module_init_context(self, empty_init=None):
            return contextlib.nullcontext()

        def barrier(self, name=None):
            _collective()

        def clip_gradients_norm(self, module, optimizer, max_norm, norm_type=2.0):
            return None

        def save_checkpoint(self, path, state, storage_options=None, filter=None):
            if self.global_rank != 0:
                return
            fw.torch.save(_checkpoint_content(state), str(path))

        def load_checkpoint(self, path, state=None, strict=True):
            checkpoint = fw.torch.load(str(path))
            if not isinstance(checkpoint, dict):
                raise RuntimeError("Error(s) in loading state_dict: the checkpoint at %s is not a mapping" % path)
            step = int(checkpoint.get("step_count", 0))
            iter_num = int(checkpoint.get("iter_num", 0))
            accumulation = STATE.session.job.accumulation
            if iter_num % accumulation:
                # litgpt would go on with a short first step; the sim realigns on the new accumulation
                iter_num = step * accumulation
            STATE.resume_step = step
            STATE.resume_iter = iter_num
            if state is not None:
                for key, value in (("iter_num", iter_num), ("step_count", step)):
                    if key in state:
                        state[key] = value
            return {}

    return _SimStrategy


def _checkpoint_content(state):
    content = {}
    for key, value in state.items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            content[key] = value
        elif key == "optimizer":
            content[key] = {"name": STATE.optimizer}
        else:
            content[key] = {}
    return content


def _connector_class(Strategy):
    class _Connector:
        def __init__(self, accelerator="auto", strategy="auto", devices="auto", num_nodes=1, precision=None,
                     plugins=None):
            if precision is not None and precision not in FABRIC_PRECISIONS:
                raise ValueError(
                    f"Precision {repr(precision)} is invalid. Allowed precision values: {FABRIC_PRECISIONS}"
                )
            if isinstance(plugins, BitsandbytesPrecision):
                label = SIM_PRECISION.get(str(plugins.dtype), "fp32")
            else:
                precision = "32-true" if precision is None else precision
                label = SIM_PRECISION[precision]
                if precision in ("16-mixed", "16", 16):
                    _rank0_info("Using 16-bit Automatic Mixed Precision (AMP)")
                elif precision in ("bf16-mixed", "bf16"):
                    _rank0_info("Using bfloat16 Automatic Mixed Precision (AMP)")
            STATE.devices, STATE.num_nodes = int(devices), int(num_nodes)
            sharded = isinstance(strategy, FSDPStrategy)
            checkpointing = sharded and bool(strategy.activation_checkpointing_policy)
            self.strategy = STATE.strategy_class(label, sharded, checkpointing, int(devices), int(num_nodes),
                                                 bnb=isinstance(plugins, BitsandbytesPrecision))
            self.accelerator = NS(setup_device=lambda device: None)

    return _Connector


def _rank0_info(message):
    if _rank() == 0:
        _info(message)


def _seed_everything(seed=None, workers=None, verbose=True):
    seed = 0 if seed is None else seed
    if verbose:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        _info(("[rank: %d] " % _rank() if world > 1 else "") + "Seed set to %d" % seed)
    return seed


def _scheduled_steps(strategy):
    """The optimizer steps the run takes: max_steps, or as many as epochs (or pretrain's max_tokens) allow."""
    train = STATE.train
    accumulation = train.gradient_accumulation_iters(STATE.devices, STATE.num_nodes)
    limits = []
    if train.max_steps:
        limits.append(train.max_steps)
    if STATE.subcommand == "pretrain":
        if train.max_tokens is not None:
            seq = train.max_seq_length or BLOCK_SIZE
            iters = max(1, train.max_tokens // strategy.world_size // (train.micro_batch_size * seq))
            limits.append(max(1, iters // accumulation))
    elif train.epochs:
        limits.append(train.epochs * STEPS_PER_EPOCH)
    return max(1, min(limits)) if limits else 1


def _open_session(strategy):
    if STATE.session is not None:
        return
    train = STATE.train
    accumulation = train.gradient_accumulation_iters(STATE.devices, STATE.num_nodes)
    optimizer = STATE.kwargs.get("optimizer", "AdamW")
    job = simgpu.Job(
        "litgpt", micro_batch=train.micro_batch_size, accumulation=accumulation, eval_batch=train.micro_batch_size,
        precision=strategy.precision.precision, checkpointing=strategy.checkpointing,
        optimizer=_optimizer_label(optimizer), optimizer_kind="8bit" if "8bit" in _optimizer_label(optimizer) else "adam",
        zero_stage=3 if strategy.sharded else 0, steps=_scheduled_steps(strategy),
    )
    STATE.session = STATE.sim.session(job)


def _optimizer_label(optimizer):
    if isinstance(optimizer, dict):
        return str(optimizer.get("class_path", "AdamW"))
    return str(optimizer)


def _record_optimizer(optimizer):
    name = type(optimizer).__name__
    module = type(optimizer).__module__
    label = name if module == "torch.optim" else "%s.%s" % (module, name)
    STATE.optimizer = label
    session = STATE.session
    if session is not None:
        session.job.optimizer = label
        session.job.optimizer_kind = "8bit" if "8bit" in name else "adam"


def _max_memory_allocated(device=None):
    return STATE.session.device.peak_allocated if STATE.session is not None else 0


def _bf16_supported():
    text = os.environ.get("SIMGPU_BF16", "1").strip().lower()
    if text in ("1", "true", "yes", "on", ""):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    simgpu_run.fail_usage("SIMGPU_BF16: expected true or false, got %r" % text)


def _device_count():
    text = os.environ.get("SIMGPU_COUNT", "1").strip() or "1"
    return int(text) if text.isdigit() and int(text) > 0 else 1


# --- loading ------------------------------------------------------------------------------------------------

def load(relpath, names, builtins_dict):
    filename = os.path.join(SITE, relpath)
    source = simgpu_src_litgpt.SOURCES[relpath]
    import linecache

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {k: v for k, v in names.items() if not k.startswith("__")}
    module = relpath[:-3].replace("/", ".")
    namespace.update(__name__=module, __file__=filename, __builtins__=builtins_dict)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def load_litgpt(fw):
    torch = fw.torch
    Tensor = torch.Tensor
    for name, method in {"__getitem__": lambda t, key: t, "__setitem__": lambda t, key, value: None,
                         "size": lambda t, dim=None: 1 if dim is not None else (1, 1),
                         "contiguous": lambda t: t, "long": lambda t: t}.items():
        setattr(Tensor, name, method)
    STATE.fake_modules = _fake_modules()
    fake_builtins = dict(vars(builtins), __import__=_import)
    ltorch = NS(
        nn=torch.nn, Tensor=(Tensor, _Scalar), float16="float16", bfloat16="bfloat16", float32="float32",
        cuda=NS(is_available=lambda: True, is_bf16_supported=_bf16_supported, device_count=_device_count,
                max_memory_allocated=_max_memory_allocated),
        no_grad=simgpu_frames.GradMode, zeros=lambda n: _Losses(n), tensor=lambda *a, **k: fw.tensor(),
        stack=lambda values: _Losses(), set_float32_matmul_precision=lambda precision: None, compile=lambda m: m,
        optim=NS(lr_scheduler=NS(LambdaLR=_Scheduler, CosineAnnealingLR=_Scheduler, SequentialLR=_Scheduler)),
    )
    names = {
        "os": os, "sys": sys, "math": math, "time": time, "warnings": warnings, "inspect": inspect, "shutil": shutil,
        "dataclasses": dataclasses, "dataclass": dataclasses.dataclass, "partial": functools.partial,
        "Path": pathlib.Path, "Optional": typing.Optional, "Union": typing.Union, "Dict": typing.Dict,
        "List": typing.List, "Literal": typing.Literal, "Tuple": typing.Tuple, "torch": ltorch, "nn": torch.nn,
        "pprint": _PPrint, "timedelta": datetime.timedelta, "contextmanager": contextlib.contextmanager,
        "nullcontext": contextlib.nullcontext,
    }
    args = load("litgpt/args.py", names, fake_builtins)
    names.update(TrainArgs=args["TrainArgs"], EvalArgs=args["EvalArgs"])
    utils = load("litgpt/utils.py", dict(
        names, MPSAccelerator=NS(is_available=lambda: False), capture_parser=lambda fn: _CapturedParser(),
        CLI=None), fake_builtins)
    for name in ("init_out_dir", "find_resume_path", "num_parameters", "CycleIterator", "chunked_cross_entropy",
                 "get_default_supported_precision", "parse_devices", "instantiate_torch_optimizer",
                 "instantiate_bnb_optimizer", "copy_config_files", "save_hyperparameters",
                 "check_valid_checkpoint_dir"):
        names[name] = utils[name]
    model = load("litgpt/model.py", names, fake_builtins)
    names.update(GPT=model["GPT"], Block=model["Block"])
    fabric_names = dict(names)
    strategy_ns = load("lightning/fabric/strategies/strategy.py", dict(fabric_names, ABC=object), fake_builtins)
    precision_ns = load("lightning/fabric/plugins/precision/precision.py", fabric_names, fake_builtins)
    STATE.strategy_class = _strategy_class(fw, strategy_ns["Strategy"], precision_ns["Precision"])
    wrappers_ns = load("lightning/fabric/wrappers.py", dict(
        fabric_names, DeepSpeedEngine=type("DeepSpeedEngine", (), {}), _DeviceDtypeModuleMixin=torch.nn.Module),
        fake_builtins)
    wrappers = NS()

    def unwrap_objects(collection):
        if not isinstance(collection, dict):
            return collection
        out = {}
        for key, value in collection.items():
            if isinstance(value, wrappers_ns["_FabricModule"]):
                value = value._original_module
            elif isinstance(value, wrappers_ns["_FabricOptimizer"]):
                value = value.optimizer
            out[key] = value
        return out

    fabric_ns = load("lightning/fabric/fabric.py", dict(
        fabric_names, _Connector=_connector_class(strategy_ns["Strategy"]), _FabricModule=wrappers_ns["_FabricModule"],
        _FabricOptimizer=wrappers_ns["_FabricOptimizer"], _FabricDataLoader=type("_FabricDataLoader", (), {}),
        _unwrap_compiled=lambda m: (m, None), _unwrap_objects=unwrap_objects, _do_nothing=lambda *a, **k: None,
        _is_using_cli=lambda: False, DeepSpeedStrategy=type("DeepSpeedStrategy", (), {}),
        SingleDeviceStrategy=STATE.strategy_class, DataParallelStrategy=type("DataParallelStrategy", (), {}),
        lightning=NS(fabric=NS(wrappers=wrappers)), rank_zero_warn=lambda *a, **k: None, PossibleUserWarning=Warning,
        convert_tensors_to_scalars=lambda metrics: metrics, seed_everything=_seed_everything), fake_builtins)
    Fabric = fabric_ns["Fabric"]
    Fabric._configure_callbacks = lambda self, callbacks: list(callbacks or []) + [_Callback()]
    Fabric.load_raw = lambda self, path, obj, strict=True: None
    script_names = dict(
        names, L=NS(Fabric=Fabric), FSDPStrategy=FSDPStrategy, BitsandbytesPrecision=BitsandbytesPrecision,
        RequirementCache=_RequirementCache, Config=Config, DataModule=_DataModule, Alpaca=_DataModule,
        TinyLlama=_TinyLlama, Tokenizer=_Tokenizer, ThroughputMonitor=lambda fabric, window_size=50: NS(
            update=lambda **k: None, compute_and_log=lambda **k: None, compute=lambda: {}),
        RunningMean=_RunningMean, auto_download_checkpoint=lambda model_name, access_token=None, ignore_tokenizer_files=False: pathlib.Path(model_name),
        choose_logger=lambda *a, **k: NS(log_metrics=lambda metrics, step=None: None, log_hyperparams=lambda p: None),
        check_nvlink_connectivity=lambda fabric: None, mark_only_lora_as_trainable=lambda model: None,
        lora_filter=lambda key, value: "lora_" in key, load_checkpoint=lambda fabric, model, path, strict=True: None,
        save_prompt_style=_save_prompt_style, merge_lora=_merge_lora, generate=lambda model, prompt, **k: prompt,
        capture_hparams=lambda: dict(STATE.kwargs or {}), save_config=_save_config,
    )
    lora = load("litgpt/finetune/lora.py", script_names, fake_builtins)
    full = load("litgpt/finetune/full.py", dict(script_names, validate_args=lora["validate_args"],
                                                generate_example=lora["generate_example"],
                                                get_lr_scheduler=lora["get_lr_scheduler"],
                                                get_dataloaders=lora["get_dataloaders"],
                                                get_longest_seq_length=lora["get_longest_seq_length"],
                                                validate=lora["validate"]), fake_builtins)
    pretrain = load("litgpt/pretrain.py", script_names, fake_builtins)
    cli = load("jsonargparse/_cli.py", dict(names, ArgumentParser=ArgumentParser), fake_builtins)
    return load("litgpt/__main__.py", dict(
        names, finetune_lora_fn=lora["setup"], finetune_full_fn=full["setup"], pretrain_fn=pretrain["setup"],
        set_docstring_parse_options=lambda **k: None, set_config_read_mode=lambda **k: None, CLI=cli["CLI"]),
        fake_builtins)


class _PPrint:
    """pprint as the scripts call it: pprint(locals()) and pprint.pformat(hparams)."""

    def __new__(cls, obj):
        sys.stdout.write(pprint.pformat(obj) + "\n")
        sys.stdout.flush()

    pformat = staticmethod(pprint.pformat)


def _finish():
    """The end of the run: rank 0 waits for the other ranks (a collective), then the done line."""
    STATE.ranks.wait()
    if STATE.session is not None:
        STATE.session.finish()


def main(argv=None):
    """bin/litgpt."""
    sim = simgpu.start(default_format="pytorch")
    STATE.sim, STATE.fw = sim, sim.frameworks
    STATE.argv = list(sim.argv if argv is None else argv)
    STATE.sim_spec_weights = simgpu.parse_size(os.environ.get("SIMGPU_MODEL", simgpu.DEFAULT_MODEL), "SIMGPU_MODEL")
    fw = STATE.fw
    fw.torch  # noqa: B018  (the fake torch first, its classes are shared)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entry = load_litgpt(fw)
    entry["main"]()
    _finish()
    return 0
