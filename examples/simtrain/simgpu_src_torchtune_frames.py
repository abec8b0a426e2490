"""The fake torchtune: loads simgpu_src_torchtune's modules and does what torchtune's dependencies do.

`tune` (bin/tune) calls tune_main(); the recipes torchrun starts (torchtune_recipes/*.py) call run_recipe_file().
Like simgpu_frames.py, this file's frames are left out of printed tracebacks; it supplies OmegaConf (a small
DictConfig with dotted overrides, `~key`, ${...} interpolation and to_yaml), the registry of recipes and configs,
the components configs name (models, tokenizer, datasets, optimizers, losses, checkpointer, metric logger,
profiler), torch's pieces the recipes call, and the simulated job: the session opens when the recipe builds its
model, from the merged config. The helpers at the top (compile_source, the stub-frame filter, the torch extras,
open_session) are shared with simgpu_src_torchtitan_frames.
"""

import __future__

import abc
import argparse
import builtins
import contextlib
import copy
import enum
import functools
import importlib
import importlib.machinery
import importlib.util
import linecache
import os
import pathlib
import runpy
import shutil
import sys
import textwrap
import time
import typing
import warnings
from fractions import Fraction
from types import ModuleType
from types import SimpleNamespace as NS

import simgpu
import simgpu_model
import simgpu_run
import simgpu_speed
import simgpu_src_torchtune
import simgpu_src_torchtune_torch
import simgpu_yaml
from simgpu_frames import SITE
from simgpu_model import LAYERS, SIM_DIR

TORCHRUN = os.path.join(SIM_DIR, "bin", "torchrun")
CONFIG_DIR = os.path.join(SIM_DIR, "pkgs", "recipes", "configs")  # the registry configs, as installed
STUB_DIR = os.path.join(SIM_DIR, "torchtune_recipes")
STEPS_PER_EPOCH = 20  # the sim's dataset: this many optimizer steps per epoch, at any batch size
SEQ_REFERENCE = 2048  # SIMGPU_ACT is per sample of this many tokens
LORA_TRAINABLE = Fraction(1, 100)  # share of the weights LoRA trains (gradients, optimizer state)
# loss._component_ values that never hold the whole logits tensor (simgpu.Job's fused_loss)
FUSED_LOSSES = ("torchtune.modules.loss.LinearCrossEntropyLoss", "torchtune.modules.loss.CEWithChunkedOutputLoss")
TYPING = {name: getattr(typing, name) for name in ("Any", "Callable", "Dict", "Generic", "Iterable", "List",
                                                   "Optional", "Tuple", "Type", "TypeVar", "Union", "Generator",
                                                   "ContextManager", "Literal")}


# --- shared helpers ------------------------------------------------------------------------------------

def compile_source(relpath, source, lazy_annotations=True):
    """Compile site-packages/<relpath> (lines to linecache for tracebacks); annotations are not evaluated unless
    lazy_annotations is false (a dataclass's need their module in sys.modules otherwise)."""
    filename = os.path.join(SITE, relpath)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    flags = __future__.annotations.compiler_flag if lazy_annotations else 0
    return compile(source, filename, "exec", flags=flags, dont_inherit=True)


def module_name(relpath):
    module = relpath[:-3].replace("/", ".")
    return module[: -len(".__init__")] if module.endswith(".__init__") else module


def load(sources, relpath, names, run_name=None, lazy_annotations=True):
    """Run site-packages/<relpath> from `sources` in a namespace holding `names`; returns the namespace."""
    code = compile_source(relpath, sources[relpath], lazy_annotations)
    namespace = {k: v for k, v in names.items() if not k.startswith("__")}
    namespace.update(__name__=run_name or module_name(relpath), __file__=os.path.join(SITE, relpath),
                     __builtins__=builtins)
    exec(code, namespace)
    return namespace


def drop_frames(codes):
    """Wrap sys.excepthook (the sim's) so that the frames of these code objects (the on-disk stubs that start
    a framework's in-memory module) are left out of the printed traceback."""
    inner = sys.excepthook

    def hook(exc_type, exc, tb):
        head, prev, cur = tb, None, tb
        while cur is not None:
            following = cur.tb_next
            if cur.tb_frame.f_code in codes:
                if prev is None:
                    head = following
                else:
                    prev.tb_next = following
            else:
                prev = cur
            cur = following
        inner(exc_type, exc.with_traceback(head), head)

    sys.excepthook = hook


def quiet_excepthook():
    """Before the sim starts: print tracebacks without the sim's frames, as the sim does."""
    def hook(exc_type, exc, tb):
        sys.stdout.flush()
        simgpu_run.print_exception(exc)
        sys.stderr.flush()
    sys.excepthook = hook


class DType:
    """A torch.dtype: compared by identity, printed as torch.bfloat16."""

    def __init__(self, name, itemsize):
        self.name = name
        self.itemsize = itemsize

    def __repr__(self):
        return "torch." + self.name

    __str__ = __repr__


class Device:
    """torch.device: usable as a context manager (torchtune builds its model under one)."""

    def __init__(self, spec="cuda", index=None):
        spec = str(spec)
        kind, _, number = spec.partition(":")
        self.type = kind
        self.index = int(number) if number else index

    def __str__(self):
        return self.type if self.index is None else "%s:%d" % (self.type, self.index)

    def __repr__(self):
        return "device(type='%s'%s)" % (self.type, "" if self.index is None else ", index=%d" % self.index)

    def __eq__(self, other):
        return str(self) == str(other) or (isinstance(other, Device) and self.type == other.type
                                          and (self.index is None or other.index is None))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Identity:
    """nn.Identity, SiLU, RMSNorm, embeddings and attention in the sim: pass the first input through."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, x, *args, **kwargs):
        return x


def _identity_fn(x, *args, **kwargs):
    return x


def world_and_rank():
    env = os.environ
    return int(env.get("WORLD_SIZE", "1") or 1), int(env.get("RANK", "0") or 0)


def local_rank():
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def patch_torch(fw):
    """The tensor methods and module helpers the recipes call, on this process's fake torch classes."""
    torch = fw.torch
    Tensor = torch.Tensor
    if getattr(Tensor, "_torchtune_patched", False):
        return
    Tensor._torchtune_patched = True
    methods = {
        "reshape": lambda t, *a: t, "view": lambda t, *a: t, "flatten": lambda t, *a, **k: t, "float": lambda t: t,
        "size": lambda t, *a: 1, "sum": lambda t, *a, **k: t, "__getitem__": lambda t, i: t,
        "__setitem__": lambda t, i, v: None, "__ne__": lambda t, o: t, "__eq__": lambda t, o: t is o,
        "__gt__": lambda t, o: True, "__lt__": lambda t, o: False, "__ge__": lambda t, o: True,
        "__rtruediv__": lambda t, o: t, "__rmul__": lambda t, o: t, "__sub__": lambda t, o: t,
        "tensor_split": lambda t, n, dim=0: [t] * n, "full_tensor": lambda t: t, "to_local": lambda t: t,
        "requires_grad": True,
    }
    for name, value in methods.items():
        setattr(Tensor, name, value)
    Module = torch.nn.Module

    def named_parameters(self, prefix="", recurse=True):
        for index, param in enumerate(self.parameters()):
            yield "layers.%d.mlp.w1.weight" % index, param

    def modules(self):
        yield self
        for child in self.children():
            yield from child.modules()

    Module.named_parameters = named_parameters
    Module.modules = modules
    Module.load_state_dict = lambda self, *a, **k: NS(missing_keys=[], unexpected_keys=[])
    Module.requires_grad_ = lambda self, *a, **k: self


class ModuleList:
    """Built on first use (it subclasses this process's fake nn.Sequential): nn.ModuleList / nn.ModuleDict."""

    @staticmethod
    def make(fw):
        Sequential = fw.torch.nn.Sequential

        class _ModuleList(Sequential):
            def __getitem__(self, index):
                return list(self._modules.values())[index]

            def __setitem__(self, index, module):
                key = list(self._modules)[index] if isinstance(index, int) else index
                self._modules[key] = module

            def values(self):
                return iter(list(self._modules.values()))

            def keys(self):
                return iter(list(self._modules))

        _ModuleList.__name__ = "ModuleList"
        return _ModuleList


def torch_extras(fw):
    """The torch modules of simgpu_src_torchtune_torch: record, checkpoint_wrapper, checkpoint, dynamo's disable."""
    if getattr(fw, "_torch_extras", None) is not None:
        return fw._torch_extras
    patch_torch(fw)
    torch = fw.torch
    src = simgpu_src_torchtune_torch.SOURCES
    base = dict(TYPING, torch=torch, functools=functools, warnings=warnings, partial=functools.partial)

    class _TorchDynamoContext:
        def __init__(self, callback=None, **kwargs):
            self.callback = callback

    eval_frame = load(src, "torch/_dynamo/eval_frame.py", dict(
        base, _TorchDynamoContext=_TorchDynamoContext, innermost_fn=lambda fn: fn,
        set_eval_frame=lambda callback: None, _maybe_set_eval_frame=lambda callback: None,
        _callback_from_stance=lambda callback: callback))
    DisableContext = eval_frame["DisableContext"]
    dynamo = NS(disable=lambda fn, recursive=True, wrapping=True: DisableContext(wrapping=wrapping)(fn))
    torch_view = NS(**vars(torch))
    torch_view._dynamo = dynamo
    compile_ns = load(src, "torch/_compile.py", dict(base, torch=torch_view, _P=NS(args=None, kwargs=None), _T=None))
    torch_view._disable_dynamo = compile_ns["_disable_dynamo"]

    def _without_reentrant(*args, **kwargs):
        yield
    checkpoint = load(src, "torch/utils/checkpoint.py", dict(
        base, torch=torch_view, noop_context_fn=lambda: (contextlib.nullcontext(), contextlib.nullcontext()),
        _DEFAULT_DETERMINISM_MODE="default", _checkpoint_without_reentrant_generator=_without_reentrant,
        CheckpointFunction=None))["checkpoint"]
    wrapper = load(src, "torch/distributed/algorithms/_checkpoint/checkpoint_wrapper.py", dict(
        base, Enum=enum.Enum, auto=enum.auto, ABC=abc.ABC, abstractmethod=abc.abstractmethod,
        torch_utils_checkpoint=checkpoint, _pack_kwargs=None, _unpack_kwargs=None))

    handler = NS(initialize=lambda: None, record_exception=lambda e: None, dump_error_file=lambda *a: None)

    class ChildFailedError(Exception):
        pass

    record = load(src, "torch/distributed/elastic/multiprocessing/errors/__init__.py", dict(
        base, wraps=functools.wraps, get_error_handler=lambda: handler, ChildFailedError=ChildFailedError,
        _NOT_AVAILABLE="<N/A>", logger=NS(info=lambda *a: None), T=None, ErrorHandler=None))["record"]
    fw._torch_extras = NS(checkpoint=checkpoint, CheckpointWrapper=wrapper["CheckpointWrapper"],
                          CheckpointImpl=wrapper["CheckpointImpl"], checkpoint_wrapper=wrapper["checkpoint_wrapper"],
                          record=record, disable_dynamo=compile_ns["_disable_dynamo"], dynamo=dynamo,
                          ModuleList=ModuleList.make(fw))
    return fw._torch_extras


class TrainablePlan(simgpu_model.Plan):
    """A plan where only a share of the weights trains (LoRA): gradients and optimizer state for that share."""

    share = Fraction(1)

    def __init__(self, job, spec, act_scale=1):
        super().__init__(job, spec, act_scale)
        self.grads = [int(g * self.share) for g in self.grads]

    def state_bytes(self, layer, dtype_bytes=None):
        return int(super().state_bytes(layer, dtype_bytes) * self.share)


def open_session(sim, job, act_factor=Fraction(1), eval_factor=Fraction(1), trainable=None):
    """Open the simulated GPU for `job`. act_factor scales the training activations per sample (the sim's
    SIMGPU_ACT; on top of the job's checkpointing factor), eval_factor the evaluation's (SIMGPU_EVAL_ACT);
    trainable < 1 trains that share of the weights only (LoRA)."""
    env = dict(sim.env)
    try:
        act = simgpu.parse_size(env.get("SIMGPU_ACT", simgpu.DEFAULT_ACT), "SIMGPU_ACT")
        eval_act = simgpu.parse_size(env.get("SIMGPU_EVAL_ACT", simgpu.DEFAULT_EVAL_ACT), "SIMGPU_EVAL_ACT")
    except simgpu.UsageError as err:
        simgpu_run.fail_usage(str(err))
    env["SIMGPU_ACT"] = str(int(act * Fraction(act_factor)))
    env["SIMGPU_EVAL_ACT"] = str(int(eval_act * Fraction(eval_factor)))
    sim.env = env
    session = sim.session(job)
    if trainable is not None and trainable < 1:
        plan_class = type("TrainablePlan", (TrainablePlan,), {"share": Fraction(trainable)})
        session.plan = plan_class(job, session.spec)

        def step_plan():
            long_batch = session.options.long_batch
            if long_batch is None or session.driver.step != long_batch[0]:
                return session.plan
            if session.long_plan is None:
                session.long_plan = plan_class(job, session.spec, act_scale=long_batch[1])
            return session.long_plan

        session.step_plan = step_plan
    return session


def gib(nbytes):
    return nbytes / 1024 ** 3


# --- OmegaConf ------------------------------------------------------------------------------------------

class ConfigAttributeError(AttributeError):
    pass


class InterpolationKeyError(KeyError):
    def __str__(self):
        return self.args[0] if self.args else ""


ConfigAttributeError.__module__ = InterpolationKeyError.__module__ = "omegaconf.errors"


class DictConfig(dict):
    """omegaconf.DictConfig: a dict with attribute access; a missing key raises as OmegaConf 2.1+ does."""

    def __init__(self, content=None, **kwargs):
        super().__init__()
        for key, value in dict(content or {}, **kwargs).items():
            self[key] = _wrap(value)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self:
            return self[name]
        raise ConfigAttributeError("Missing key %s\n    full_key: %s\n    object_type=dict" % (name, name))

    def __setattr__(self, name, value):
        self[name] = _wrap(value)

    def __delattr__(self, name):
        del self[name]


class ListConfig(list):
    pass


DictConfig.__module__ = ListConfig.__module__ = "omegaconf.dictconfig"


def _wrap(value):
    if isinstance(value, dict) and not isinstance(value, DictConfig):
        return DictConfig(value)
    if isinstance(value, list) and not isinstance(value, ListConfig):
        return ListConfig(_wrap(v) for v in value)
    return value


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _lookup(root, dotted):
    node = root
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def _resolve_value(root, value, full_key, seen):
    if not isinstance(value, str) or "${" not in value:
        return value
    out, i, whole = [], 0, None
    while i < len(value):
        start = value.find("${", i)
        if start < 0:
            out.append(value[i:])
            break
        end = value.find("}", start)
        if end < 0:
            out.append(value[i:])
            break
        out.append(value[i:start])
        key = value[start + 2:end].strip()
        if ":" in key:
            raise ValueError("Unsupported interpolation type %s\n    full_key: %s\n    object_type=dict"
                             % (key.partition(":")[0], full_key))
        if key in seen:
            raise ValueError("Recursive interpolation detected\n    full_key: %s\n    object_type=dict" % full_key)
        try:
            target = _lookup(root, key)
        except KeyError:
            raise InterpolationKeyError("Interpolation key '%s' not found\n    full_key: %s\n    object_type=dict"
                                        % (key, full_key)) from None
        target = _resolve_value(root, target, key, seen | {key})
        if start == 0 and end == len(value) - 1:
            whole = target
        out.append(str(target))
        i = end + 1
    return whole if whole is not None else "".join(out)


def _resolve(root, node=None, prefix=""):
    node = root if node is None else node
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        full = "%s%s" % (prefix + "." if prefix else "", key)
        if isinstance(value, (dict, list)):
            _resolve(root, value, full)
        else:
            node[key] = _wrap(_resolve_value(root, value, full, {full}))


def _merge_into(base, other):
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        else:
            base[key] = _wrap(copy.deepcopy(value))


def _parse_cli_value(text):
    if text.startswith("!!str "):
        return text[len("!!str "):]
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return simgpu_yaml.loads("v: " + stripped)["v"]
        except simgpu_yaml.YAMLError:
            return text
    return simgpu_yaml.parse_scalar(text)


def _yaml_scalar(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(text, text)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if (text == "" or simgpu_yaml.parse_scalar(text) != text or text != text.strip() or ": " in text
            or " #" in text or text[0] in "!&*[]{}|>'\"%@`#,?:-" and text != "-"):
        return "'%s'" % text.replace("'", "''")
    return text


def _yaml_lines(node, indent, sort_keys):
    pad = " " * indent
    lines = []
    keys = sorted(node, key=str) if sort_keys else list(node)
    for key in keys:
        value = node[key]
        if isinstance(value, dict):
            if value:
                lines.append("%s%s:" % (pad, key))
                lines.extend(_yaml_lines(value, indent + 2, sort_keys))
            else:
                lines.append("%s%s: {}" % (pad, key))
        elif isinstance(value, list):
            if value:
                lines.append("%s%s:" % (pad, key))
                for item in value:
                    if isinstance(item, dict) and item:
                        sub = _yaml_lines(item, indent + 2, sort_keys)
                        lines.append("%s- %s" % (pad, sub[0].strip()))
                        lines.extend(sub[1:])
                    else:
                        lines.append("%s- %s" % (pad, _yaml_scalar(item)))
            else:
                lines.append("%s%s: []" % (pad, key))
        else:
            lines.append("%s%s: %s" % (pad, key, _yaml_scalar(value)))
    return lines


class OmegaConf:
    """The OmegaConf calls torchtune makes."""

    @staticmethod
    def load(path):
        data = simgpu_yaml.load_file(config_on_disk(str(path)))
        return DictConfig(data if isinstance(data, dict) else {})

    @staticmethod
    def create(obj=None):
        return DictConfig(copy.deepcopy(dict(obj or {})))

    @staticmethod
    def from_dotlist(dotlist):
        conf = DictConfig()
        for item in dotlist:
            key, _, text = item.partition("=")
            node = conf
            parts = key.split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = DictConfig()
                node = node[part]
            node[parts[-1]] = _wrap(_parse_cli_value(text))
        return conf

    @staticmethod
    def merge(*configs):
        merged = DictConfig()
        for conf in configs:
            _merge_into(merged, conf)
        _resolve(merged)
        if STATE.cfg is None:
            STATE.cfg = merged
        return merged

    @staticmethod
    def is_dict(obj):
        return isinstance(obj, dict)

    @staticmethod
    def resolve(cfg):
        _resolve(cfg)

    @staticmethod
    def to_object(cfg):
        return _plain(cfg)

    @staticmethod
    def to_yaml(cfg, resolve=False, sort_keys=False):
        if resolve:
            cfg = copy.deepcopy(cfg)
            _resolve(cfg)
        return "\n".join(_yaml_lines(cfg, 0, sort_keys)) + "\n"


# --- the registry -----------------------------------------------------------------------------------------

class Config(NS):
    pass


class Recipe(NS):
    pass


RECIPES = [
    Recipe(name="full_finetune_single_device", file_path="full_finetune_single_device.py",
           configs=[Config(name="llama3_1/8B_full_single_device", file_path="llama3_1/8B_full_single_device.yaml")],
           supports_distributed=False),
    Recipe(name="full_finetune_distributed", file_path="full_finetune_distributed.py",
           configs=[Config(name="llama3_1/8B_full", file_path="llama3_1/8B_full.yaml")], supports_distributed=True),
    Recipe(name="lora_finetune_single_device", file_path="lora_finetune_single_device.py",
           configs=[Config(name="llama3_1/8B_lora_single_device", file_path="llama3_1/8B_lora_single_device.yaml")],
           supports_distributed=False),
    Recipe(name="lora_finetune_distributed", file_path="lora_finetune_distributed.py",
           configs=[Config(name="llama3_1/8B_lora", file_path="llama3_1/8B_lora.yaml")], supports_distributed=True),
]


def get_all_recipes():
    return list(RECIPES)


def config_on_disk(path):
    """site-packages/recipes/configs/X (the installed config, as torchtune names it) -> the sim's copy."""
    prefix = os.path.join(SITE, "recipes", "configs") + os.sep
    return os.path.join(CONFIG_DIR, path[len(prefix):]) if path.startswith(prefix) else path


def _copy(src, dst):
    """shutil.copy for `tune cp`: a config from the sim's copies, a recipe from its in-memory text."""
    src = str(src)
    dst = str(dst)
    if os.path.isdir(dst):
        dst = os.path.join(dst, os.path.basename(src))
    rel = os.path.relpath(src, SITE)
    if rel.startswith("recipes" + os.sep) and not rel.startswith(os.path.join("recipes", "configs")):
        with open(dst, "w") as f:
            f.write(simgpu_src_torchtune.SOURCES[rel.replace(os.sep, "/")])
        return dst
    return shutil.copy(config_on_disk(src), dst)


# --- process state and the session ------------------------------------------------------------------------

class _State:
    def __init__(self):
        self.fw = None
        self.sim = None
        self.session = None
        self.cfg = None
        self.recipe = None
        self.lib = None
        self.steps = None
        self.loaders = 0


STATE = _State()


def _cfg_get(cfg, dotted, default=None):
    try:
        return _lookup(cfg, dotted)
    except KeyError:
        return default


def _positive(cfg, key, default=None, what=None):
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(what % value if what else "%s should be a positive integer, got %r" % (key, value))
    return value


def _ac_factor(cfg, distributed):
    """(activation share kept by checkpointing, is checkpointing on) per torchtune's AC settings."""
    if cfg.get("enable_activation_checkpointing", False):
        if not distributed or cfg.get("ac_mode", None) is None:
            return simgpu_model.CHECKPOINT_FACTOR, True
    mode = cfg.get("ac_mode", None) if distributed else None
    if mode == "full":
        return simgpu_model.CHECKPOINT_FACTOR, True
    if mode == "selective":
        try:
            every = int(cfg.get("ac_option", None))
        except (TypeError, ValueError):
            every = 1  # the recipe raises int()'s error itself
        wrapped = LAYERS if every <= 0 else LAYERS // every
        if wrapped == 0:
            return Fraction(1), False
        share = Fraction(wrapped, LAYERS)
        return 1 - (1 - simgpu_model.CHECKPOINT_FACTOR) * share, True
    return Fraction(1), False


def torchtune_job(cfg, recipe, lora):
    """The simulated job the merged config describes."""
    distributed = recipe.endswith("_distributed")
    micro = _positive(cfg, "batch_size", what="batch_size should be a positive integer value, but got batch_size=%r")
    accumulation = _positive(cfg, "gradient_accumulation_steps", 1)
    epochs = _positive(cfg, "epochs", 1)
    max_steps = cfg.get("max_steps_per_epoch", None)
    if max_steps is not None:
        max_steps = _positive(cfg, "max_steps_per_epoch")
    per_epoch = min(STEPS_PER_EPOCH, max_steps) if max_steps else STEPS_PER_EPOCH
    precision = {"bf16": "bf16-true", "fp32": "fp32", "fp64": "fp64-true", None: "fp32"}.get(cfg.get("dtype"), "fp32")
    ac_share, checkpointing = _ac_factor(cfg, distributed)
    act = ac_share / simgpu_model.CHECKPOINT_FACTOR if checkpointing else Fraction(1)
    # activation offloading (simgpu.Job's activation_offload) works on the checkpointed model only
    offloading = bool(cfg.get("enable_activation_offloading", False)) and checkpointing
    fused_loss = str(_cfg_get(cfg, "loss._component_", "")) in FUSED_LOSSES
    seq_len = _cfg_get(cfg, "tokenizer.max_seq_len")
    seq = Fraction(seq_len, SEQ_REFERENCE) if isinstance(seq_len, int) and seq_len > 0 else Fraction(1)
    optimizer = str(_cfg_get(cfg, "optimizer._component_", "torch.optim.AdamW"))
    last = optimizer.rsplit(".", 1)[-1].lower()
    kind = "8bit" if "8bit" in last else ("adafactor" if "adafactor" in last else "adam")
    offload = last == "cpuoffloadoptimizer" or bool(distributed and cfg.get("fsdp_cpu_offload", False))
    eval_every, eval_batch, eval_batches = 0, micro, 2
    if cfg.get("dataset_val") is not None and cfg.get("run_val_every_n_steps") is not None:
        eval_every = cfg.get("run_val_every_n_steps")
        eval_batch = cfg.get("batch_size_val", micro)
        if cfg.get("max_validation_steps") is not None:
            eval_batches = max(1, min(eval_batches, int(cfg.get("max_validation_steps"))))
    job = simgpu.Job(recipe + ".py", micro_batch=micro, accumulation=accumulation, eval_batch=eval_batch,
                     precision=precision, checkpointing=checkpointing, optimizer=optimizer, optimizer_kind=kind,
                     offload=offload, zero_stage=3 if distributed else 0, steps=epochs * per_epoch,
                     eval_every=eval_every if isinstance(eval_every, int) else 0, eval_batches=eval_batches,
                     fused_loss=fused_loss, activation_offload=offloading)
    return job, act * seq, seq, (LORA_TRAINABLE if lora else None)


def ensure_session(lora=False):
    if STATE.session is None:
        job, act, seq, trainable = torchtune_job(STATE.cfg, STATE.recipe, lora)
        STATE.session = open_session(STATE.sim, job, act, seq, trainable)
    return STATE.session


# --- components -------------------------------------------------------------------------------------------

def _logger_write(level, msg):
    sys.stdout.flush()
    sys.stderr.write("%s:torchtune.utils._logging:%s\n" % (level, msg))
    sys.stderr.flush()


class Logger:
    def __init__(self, level=None):
        self.quiet = str(level or "INFO").upper() in ("WARN", "WARNING", "ERROR", "CRITICAL")

    def info(self, msg="", *args, **kwargs):
        if not self.quiet:
            _logger_write("INFO", msg % args if args else msg)

    def warning(self, msg="", *args, **kwargs):
        _logger_write("WARNING", msg % args if args else msg)

    debug = lambda self, *a, **k: None  # noqa: E731


def get_logger(level=None):
    return Logger(level)


def log_rank_zero(logger, msg, level=None):
    if world_and_rank()[1] == 0:
        logger.info(msg)


def build_model(lora=False, **kwargs):
    """A torchtune model builder: the sim's 16 layers (a TransformerDecoder of TransformerSelfAttentionLayers)."""
    session = ensure_session(lora)
    fw = STATE.fw
    lib = STATE.lib
    torch = fw.torch
    layers = [lib.TransformerSelfAttentionLayer(
        attn=Identity(), mlp=lib.FeedForward(gate_proj=torch.nn.Linear(fw.parameter(i)), down_proj=Identity(),
                                              activation=Identity()),
        sa_norm=Identity(), mlp_norm=Identity()) for i in range(LAYERS)]
    model = lib.TransformerDecoder(tok_embeddings=Identity(), layers=lib.ModuleList(*layers), max_seq_len=131072,
                                   num_heads=32, head_dim=128, norm=Identity(), output=Identity(), num_layers=32)
    model.to(session.device_name)
    fw.model = model
    return model


class Tokenizer:
    def __init__(self, path=None, max_seq_len=None, **kwargs):
        self.path = path
        self.max_seq_len = max_seq_len
        self.pad_id = 0
        self.vocab_size = 128256


class Dataset:
    def __init__(self, tokenizer=None, **kwargs):
        self.packed = kwargs.get("packed", False)


class Loader:
    """StatefulDataLoader: the first one a recipe builds trains (the driver's steps and micro-batches), a later
    one validates (the driver's evaluation batches)."""

    def __init__(self, dataset=None, batch_size=1, **kwargs):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got batch_size=%r" % (batch_size,))
        STATE.loaders += 1
        self.train = STATE.loaders == 1
        self.sampler = kwargs.get("sampler") or NS(set_epoch=lambda epoch: None)

    def __len__(self):
        session = STATE.session
        if self.train:
            return STEPS_PER_EPOCH * session.job.accumulation
        return session.job.eval_batches

    def __iter__(self):
        driver = STATE.session.driver
        if not self.train:
            for inputs, labels in driver.eval_batches():
                yield {"tokens": inputs, "labels": labels}
            return
        if STATE.steps is None:
            STATE.steps = driver.steps()
        max_steps = STATE.cfg.get("max_steps_per_epoch", None)
        per_epoch = min(STEPS_PER_EPOCH, max_steps) if max_steps else STEPS_PER_EPOCH
        for _ in range(per_epoch):
            if next(STATE.steps, None) is None:
                return
            for inputs, labels in driver.micro_batches():
                yield {"tokens": inputs, "labels": labels}


class Tqdm:
    """tqdm: its update(1) after an optimizer step ends the sim's step (frees it, prints `step i/N`)."""

    def __init__(self, total=None, disable=False, **kwargs):
        self.total = total

    def update(self, n=1):
        session = STATE.session
        if session is not None:
            session.driver.end_step(session.driver.step)

    def set_description(self, *args, **kwargs):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


class Checkpointer:
    """The checkpointers: nothing is read or written (the sim has no weights to save)."""

    def __init__(self, checkpoint_dir=None, checkpoint_files=None, model_type=None, output_dir=None, **kwargs):
        self.model_type = model_type

    def load_checkpoint(self, *args, **kwargs):
        return {"model": {}}

    def save_checkpoint(self, *args, **kwargs):
        pass


class MetricLogger:
    def __init__(self, *args, **kwargs):
        pass

    def log_config(self, cfg):
        pass

    def log_dict(self, payload, step=None):
        pass

    def log(self, *args, **kwargs):
        pass

    def close(self):
        if STATE.session is not None:
            STATE.session.finish()


class StdoutLogger(MetricLogger):
    """StdoutLogger: each log_dict as a stdout line, its numbers from the simulated clock (simgpu_speed)."""

    def log_dict(self, payload, step=None):
        session, cfg = STATE.session, STATE.cfg
        if session is None or not session.main:
            return
        seq_len, lr = _cfg_get(cfg, "tokenizer.max_seq_len"), _cfg_get(cfg, "optimizer.lr")
        payload = simgpu_speed.torchtune_payload(session.driver, payload, seq_len, lr)
        sys.stdout.write(simgpu_speed.torchtune_line(step, payload))
        sys.stdout.flush()


class DummyProfiler:
    def start(self):
        pass

    def stop(self):
        pass

    def step(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def setup_torch_profiler(enabled=False, **kwargs):
    return DummyProfiler(), DictConfig({"enabled": bool(enabled)})


class LRScheduler:
    def __init__(self, optimizer=None, *args, **kwargs):
        self.optimizer = optimizer

    def step(self, *args):
        pass

    def get_last_lr(self):
        return [0.0]


# The keyword arguments the 8-bit optimizers' constructors take, and no more (no **kwargs): bitsandbytes'
# (bitsandbytes/optim/adamw.py, adam.py) and torchao's (torchao/optim/adam.py: _AdamBase's, keyword-only after
# amsgrad). torchtune's config.instantiate passes every key under optimizer:, so torch.optim.AdamW's fused: True
# fails there as in Python: "PagedAdamW8bit.__init__() got an unexpected keyword argument 'fused'".
BNB_8BIT_ARGS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "optim_bits", "args", "min_8bit_size",
                 "percentile_clipping", "block_wise")
TORCHAO_LOW_BIT_ARGS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "block_size", "bf16_stochastic_round")


def _low_bit(name, allowed):
    def build(params, *args, **kwargs):
        for key in kwargs:
            if key not in allowed:
                raise TypeError("%s.__init__() got an unexpected keyword argument '%s'" % (name, key))
        return STATE.fw.torch.bnb_optim.AdamW8bit(list(params), **{k: v for k, v in kwargs.items() if k == "lr"})
    return build


def _adamw():
    def build(params, *args, **kwargs):
        torch = STATE.fw.torch
        params = list(params)
        kwargs = {k: v for k, v in kwargs.items() if k in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
                                                           "foreach", "capturable", "differentiable", "fused")}
        return torch.optim.AdamW(params, **kwargs)
    return build


class FakeModule:
    """A module of the fake libraries; a missing attribute fails as a real module's does."""

    def __init__(self, name, **attrs):
        object.__setattr__(self, "__name__", name)
        for key, value in attrs.items():
            if isinstance(value, FakeModule):
                object.__setattr__(value, "__name__", name + "." + key)
            object.__setattr__(self, key, value)

    def __getattr__(self, attr):
        raise AttributeError("module '%s' has no attribute '%s'" % (self.__name__, attr))

    def __repr__(self):
        return "<module '%s'>" % self.__name__


def _modules(lib):
    model = functools.partial(build_model, lora=False)
    lora = functools.partial(build_model, lora=True)
    metric = FakeModule("", DiskLogger=MetricLogger, StdoutLogger=StdoutLogger, WandBLogger=MetricLogger,
                        TensorBoardLogger=MetricLogger, CometLogger=MetricLogger, MLFlowLogger=MetricLogger)
    checkpointers = dict(FullModelHFCheckpointer=Checkpointer, FullModelMetaCheckpointer=Checkpointer,
                         FullModelTorchTuneCheckpointer=Checkpointer, DistributedCheckpointer=Checkpointer)
    datasets = {name: Dataset for name in ("alpaca_dataset", "alpaca_cleaned_dataset", "slimorca_dataset",
                                           "chat_dataset", "instruct_dataset", "text_completion_dataset",
                                           "samsum_dataset", "grammar_dataset")}
    collate = lambda batch, *a, **k: batch  # noqa: E731
    torchtune = FakeModule(
        "torchtune",
        models=FakeModule("", llama3=FakeModule("", llama3_tokenizer=Tokenizer, llama3_8b=model, lora_llama3_8b=lora),
                          llama3_1=FakeModule("", llama3_1_8b=model, llama3_1_70b=model, lora_llama3_1_8b=lora,
                                              lora_llama3_1_70b=lora, qlora_llama3_1_8b=lora),
                          llama3_2=FakeModule("", llama3_2_1b=model, llama3_2_3b=model, lora_llama3_2_1b=lora,
                                              lora_llama3_2_3b=lora)),
        datasets=FakeModule("", **datasets),
        data=FakeModule("", padded_collate_sft=collate, padded_collate_packed=collate, padded_collate=collate),
        modules=FakeModule("", loss=FakeModule("", LinearCrossEntropyLoss=lib.LinearCrossEntropyLoss,
                                               CEWithChunkedOutputLoss=lib.LinearCrossEntropyLoss)),
        training=FakeModule("", setup_torch_profiler=setup_torch_profiler, metric_logging=metric,
                            lr_schedulers=FakeModule("", get_cosine_schedule_with_warmup=LRScheduler,
                                                     get_linear_schedule_with_warmup=LRScheduler),
                            **checkpointers),
        utils=FakeModule("", metric_logging=metric, **checkpointers),
    )
    adamw = _adamw()

    def bnb8(name):
        return _low_bit(name, BNB_8BIT_ARGS)

    def ao(name):
        return _low_bit(name, TORCHAO_LOW_BIT_ARGS)
    torch = FakeModule("torch", optim=FakeModule("", AdamW=adamw, Adam=adamw, SGD=adamw),
                       nn=FakeModule("", CrossEntropyLoss=lambda *a, **k: STATE.fw.torch.nn.CrossEntropyLoss(*a, **k)))
    low_bit = FakeModule("", AdamW8bit=ao("AdamW8bit"), AdamW4bit=ao("AdamW4bit"), AdamWFp8=ao("AdamWFp8"),
                         CPUOffloadOptimizer=adamw)
    torchao = FakeModule("torchao", optim=low_bit, prototype=FakeModule("", low_bit_optim=low_bit))
    bnb = FakeModule("bitsandbytes", optim=FakeModule("", AdamW8bit=bnb8("AdamW8bit"), PagedAdamW8bit=bnb8("PagedAdamW8bit"),
                                                      Adam8bit=bnb8("Adam8bit"), PagedAdam8bit=bnb8("PagedAdam8bit"),
                                                      PagedAdamW=adamw, PagedAdamW32bit=adamw, AdamW=adamw, Adam=adamw))
    index = {}

    def walk(module, name):
        index[name] = module
        for key, value in vars(module).items():
            if isinstance(value, FakeModule) and key != "__name__":
                object.__setattr__(value, "__name__", name + "." + key)
                walk(value, name + "." + key)

    for top in (torchtune, torch, torchao, bnb):
        walk(top, top.__name__)
    return index


def make_import_module(index):
    def import_module(name):
        top = name.split(".")[0]
        if top == "bitsandbytes":
            importlib.import_module("bitsandbytes")  # the real one must import, as in torchtune
        if name in index:
            return index[name]
        if top in ("torch", "torchtune", "torchao", "bitsandbytes"):
            raise ModuleNotFoundError("No module named '%s'" % name, name=name)
        return importlib.import_module(name)
    return import_module


# --- loading the library ------------------------------------------------------------------------------------

def library(fw):
    """Load the fake torchtune (once per process): returns a namespace of its modules' objects."""
    if STATE.lib is not None:
        return STATE.lib
    extras = torch_extras(fw)
    torch = fw.torch
    src = simgpu_src_torchtune.SOURCES
    lib = NS()
    dtypes = {name: DType(name, size) for name, size in (("float16", 2), ("bfloat16", 2), ("float32", 4),
                                                           ("float64", 8))}
    nn = NS(Module=torch.nn.Module, Linear=torch.nn.Linear, ModuleList=extras.ModuleList, Identity=Identity,
            SiLU=Identity, Embedding=Identity, utils=NS(clip_grad_norm_=lambda *a, **k: torch.tensor()))
    tt = NS(**vars(torch))
    tt.__dict__.update(dtypes)
    tt.dtype = DType
    tt.Tensor = torch.Tensor
    tt.device = Device
    tt.nn = nn
    tt.no_grad = torch.no_grad
    tt.compile = lambda fn, *a, **k: fn
    tt.distributed = NS(barrier=lambda *a, **k: None, all_reduce=lambda *a, **k: None)
    tt.tensor = lambda *a, **k: fw.tensor()
    lib.torch = tt
    lib.ModuleList = extras.ModuleList
    base = dict(TYPING, torch=tt, nn=nn, os=os, sys=sys, warnings=warnings, argparse=argparse, copy=copy,
                functools=functools, textwrap=textwrap, Path=pathlib.Path, Namespace=argparse.Namespace,
                DictConfig=DictConfig, ListConfig=ListConfig, OmegaConf=OmegaConf, F=torch.nn.functional,
                get_logger=get_logger, log_rank_zero=log_rank_zero)
    load(src, "torchtune/__init__.py", base)
    lib.torchtune = NS(__file__=os.path.join(SITE, "torchtune", "__init__.py"))
    errors = load(src, "torchtune/config/_errors.py", base)
    lib.InstantiationError = errors["InstantiationError"]
    index_holder = {}
    utils_ns = load(src, "torchtune/config/_utils.py", dict(
        base, InstantiationError=lib.InstantiationError, ModuleType=(ModuleType, FakeModule),
        import_module=lambda name: index_holder["import"](name)))
    instantiate = load(src, "torchtune/config/_instantiate.py", dict(
        base, _has_component=utils_ns["_has_component"], _get_component_from_path=utils_ns["_get_component_from_path"],
        InstantiationError=lib.InstantiationError))["instantiate"]
    parse = load(src, "torchtune/config/_parse.py", dict(
        base, _merge_yaml_and_cli_args=utils_ns["_merge_yaml_and_cli_args"]))["parse"]
    lib.config = NS(parse=parse, instantiate=instantiate, log_config=utils_ns["log_config"])
    lib._get_component_from_path = utils_ns["_get_component_from_path"]
    get_dtype = load(src, "torchtune/training/precision.py", dict(base, verify_bf16_support=lambda: True))["get_dtype"]
    offloading = load(src, "torchtune/training/_activation_offloading.py", dict(
        base, saved_tensors_hooks=SavedTensorsHooks, pack_tensor=None, unpack_tensor=None))
    OffloadActivations = offloading["OffloadActivations"]
    activations = load(src, "torchtune/training/activations.py", dict(
        base, ptd_checkpoint_wrapper=extras.checkpoint_wrapper, CheckpointImpl=extras.CheckpointImpl,
        checkpoint=extras.checkpoint))
    lib.apply_selective_activation_checkpointing = activations["apply_selective_activation_checkpointing"]
    ff = load(src, "torchtune/modules/feed_forward.py", base)
    lib.FeedForward = ff["FeedForward"]
    tf = load(src, "torchtune/modules/transformer.py", dict(base, MultiHeadAttention=None, _MaskType=None))
    lib.TransformerSelfAttentionLayer = tf["TransformerSelfAttentionLayer"]
    lib.TransformerDecoder = tf["TransformerDecoder"]

    class SFTLoss:
        pass

    class DTensor:
        pass

    lib.SFTLoss, lib.DTensor = SFTLoss, DTensor
    lib.LinearCrossEntropyLoss = load(src, "torchtune/modules/loss/cross_entropy_loss.py", dict(
        base, SFTLoss=SFTLoss, DTensor=DTensor))["LinearCrossEntropyLoss"]
    index_holder["import"] = make_import_module(_modules(lib))

    def set_activation_checkpointing(model, auto_wrap_policy=None, **kwargs):
        for index, layer in enumerate(list(model.layers)):
            model.layers[index] = extras.CheckpointWrapper(layer, extras.CheckpointImpl.NO_REENTRANT)

    def get_memory_stats(device=None, reset_stats=True):
        dev = STATE.session.device
        return {"peak_memory_active": gib(dev.peak_allocated), "peak_memory_alloc": gib(dev.peak_allocated),
                "peak_memory_reserved": gib(dev.peak)}

    def log_memory_stats(stats, message="Memory stats after model init:"):
        Logger().info("%s\n\tGPU peak memory active: %.2f GiB\n\tGPU peak memory alloc: %.2f GiB"
                      "\n\tGPU peak memory reserved: %.2f GiB" % (message, stats["peak_memory_active"],
                                                                    stats["peak_memory_alloc"],
                                                                    stats["peak_memory_reserved"]))

    def compile_model(model, verbose=True):
        if verbose and world_and_rank()[1] == 0:
            Logger().info("Compiling model layers with torch.compile...")

    def compile_loss(loss, verbose=True):
        if verbose and world_and_rank()[1] == 0:
            Logger().info("Compiling loss with torch.compile...")

    def register_optim_in_bwd_hooks(model, optim_dict):
        # the per-parameter optimizers step in the backward pass: their state is on the GPU from then on
        for optimizer in optim_dict.values():
            optimizer.step()

    noop = lambda *a, **k: None  # noqa: E731
    lib.training = NS(
        get_dtype=get_dtype, set_default_dtype=lambda dtype: contextlib.nullcontext(),
        set_seed=lambda seed=None, debug_mode=None: 0 if seed is None else seed, MODEL_KEY="model",
        OPT_KEY="optimizer", set_activation_checkpointing=set_activation_checkpointing,
        validate_expected_param_dtype=noop,
        get_act_offloading_ctx_manager=lambda model, enable, **k: OffloadActivations() if enable
        else contextlib.nullcontext(),
        get_memory_stats=get_memory_stats, log_memory_stats=log_memory_stats, compile_model=compile_model,
        compile_loss=compile_loss, scale_grads=noop, register_optim_in_bwd_hooks=register_optim_in_bwd_hooks,
        get_distributed_backend=lambda device_type, offload_ops_to_cpu=False: (
            "cuda:nccl,cpu:gloo" if offload_ops_to_cpu else "nccl"),
        set_torch_num_threads=noop, get_shard_conditions=lambda *a, **k: False, shard_model=noop,
        load_from_full_model_state_dict=noop, load_from_full_optimizer_state_dict=noop,
        validate_no_params_on_meta_device=noop, cleanup_before_training=noop)
    lib.utils = NS(get_logger=get_logger, log_rank_zero=log_rank_zero,
                   get_device=lambda device=None: Device(device or "cuda", local_rank()),
                   batch_to_device=noop, get_world_size_and_rank=world_and_rank)
    lib.modules = NS(TransformerSelfAttentionLayer=lib.TransformerSelfAttentionLayer)
    lib.record = extras.record
    STATE.lib = lib
    return lib


class SavedTensorsHooks:
    """torch.autograd.graph.saved_tensors_hooks (OffloadActivations' base): a context manager."""

    def __init__(self, pack_hook=None, unpack_hook=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def recipe_names(lib):
    """What a recipe module imports."""
    return dict(
        TYPING, sys=sys, time=time, partial=functools.partial, warn=warnings.warn, torch=lib.torch, nn=lib.torch.nn,
        DictConfig=DictConfig, ListConfig=ListConfig, Optimizer=object, StatefulDataLoader=Loader,
        StatefulDistributedSampler=lambda *a, **k: NS(set_epoch=lambda epoch: None), config=lib.config,
        modules=lib.modules, training=lib.training, utils=lib.utils, _get_component_from_path=lib._get_component_from_path,
        padded_collate_packed=None, ConcatDataset=lambda datasets: Dataset(), FTRecipeInterface=object,
        DummyProfiler=DummyProfiler, PROFILER_KEY="profiler", get_lr=lambda optimizer: 0.0, tqdm=Tqdm,
        SFTLoss=lib.SFTLoss, DTensor=lib.DTensor, init_process_group=lambda *a, **k: None,
        destroy_process_group=lambda *a, **k: None,
        apply_selective_activation_checkpointing=lib.apply_selective_activation_checkpointing)


def start_recipe(recipe_path):
    """In the recipe's process: start the sim (taking out the --sim-* options), note the recipe."""
    relpath = os.path.relpath(recipe_path, SITE).replace(os.sep, "/")
    STATE.recipe = os.path.basename(relpath)[:-3]
    STATE.sim = simgpu.start(sys.argv[1:], default_format="pytorch", frameworks=STATE.fw,
                             script=os.path.basename(relpath))
    sys.argv = [recipe_path] + STATE.sim.argv
    return relpath


def recipe_code(relpath):
    return compile_source(relpath, simgpu_src_torchtune.SOURCES[relpath])


def recipe_globals(relpath, run_name="__main__"):
    names = recipe_names(STATE.lib)
    names.update(__name__=run_name, __file__=os.path.join(SITE, relpath), __builtins__=builtins)
    return names


def torchrun(args):
    """torch.distributed.run.run(args) for `tune run`: become the fake torchrun, with tune's torchrun options, the
    recipe (its on-disk stub for a built-in one, -m for a custom one) and the recipe's arguments."""
    argv = sys.argv
    options = argv[2:len(argv) - (len(args.training_script_args) + 1)]
    script = args.training_script
    if args.module:
        script_part = ["-m", script]
    else:
        script_part = [os.path.join(STUB_DIR, os.path.basename(script))]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, TORCHRUN] + options + script_part + list(args.training_script_args))


def _torchrun_parser():
    loader = importlib.machinery.SourceFileLoader("simtrain_torchrun", TORCHRUN)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.get_args_parser


def _not_simulated(name):
    class Subcommand:
        def __init__(self, subparsers):
            parser = subparsers.add_parser(name, prog="tune " + name, help="(not simulated)")
            parser.add_argument("rest", nargs=argparse.REMAINDER)
            parser.set_defaults(func=self.run)

        @classmethod
        def create(cls, subparsers):
            return cls(subparsers)

        def run(self, args):
            sys.stderr.write("tune %s: not simulated (simtrain's tune has run, ls and cp)\n" % name)
            sys.exit(2)
    return Subcommand


def tune_main():
    """bin/tune: torchtune's console script (torchtune._cli.tune.main)."""
    quiet_excepthook()
    fw = STATE.fw = simgpu.Frameworks()
    lib = library(fw)
    src = simgpu_src_torchtune.SOURCES
    base = dict(TYPING, argparse=argparse, os=os, sys=sys, textwrap=textwrap, Path=pathlib.Path, torchtune=lib.torchtune,
                shutil=NS(copy=_copy), get_all_recipes=get_all_recipes, Config=Config, Recipe=Recipe)
    Subcommand = load(src, "torchtune/_cli/subcommand.py", base)["Subcommand"]
    base["Subcommand"] = Subcommand

    def get_code(path):
        if path.endswith("_distributed.py"):
            # the sim runs a distributed recipe through torchrun even without torchrun options
            print("Running with torchrun...")
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, TORCHRUN, os.path.join(STUB_DIR, os.path.basename(path))]
                     + sys.argv[1:])
        return recipe_code(start_recipe(path))

    frozen = {"_get_code_from_file": get_code,
              "_module_globals": lambda path, run_name: recipe_globals(
                  os.path.relpath(path, SITE).replace(os.sep, "/"), run_name or "__main__"),
              "__name__": "runpy", "__builtins__": builtins}
    exec(compile(simgpu_src_torchtune_torch.FROZEN_RUNPY, "<frozen runpy>", "exec"), frozen)
    fake_runpy = NS(run_path=frozen["run_path"], run_module=runpy.run_module)
    run_ns = load(src, "torchtune/_cli/run.py", dict(base, runpy=fake_runpy, record=lib.record,
                                                      get_torchrun_args_parser=_torchrun_parser(), run=torchrun))
    ls_ns = load(src, "torchtune/_cli/ls.py", base)
    cp_ns = load(src, "torchtune/_cli/cp.py", base)
    tune = load(src, "torchtune/_cli/tune.py", dict(base, Run=run_ns["Run"], List=ls_ns["List"], Copy=cp_ns["Copy"],
                                                     Download=_not_simulated("download"),
                                                     Validate=_not_simulated("validate"), Cat=_not_simulated("cat")))
    return tune["main"]()


def run_recipe_file(stub_code):
    """A recipe as torchrun starts it (torchtune_recipes/<recipe>.py): the in-memory recipe as __main__."""
    quiet_excepthook()
    fw = STATE.fw = simgpu.Frameworks()
    library(fw)
    name = os.path.basename(stub_code.co_filename)
    path = os.path.join(SITE, "recipes", name)
    relpath = start_recipe(path)
    drop_frames({stub_code})
    exec(recipe_code(relpath), recipe_globals(relpath))
