"""The simulated verl SFT trainer's machinery: Hydra's config composition (the shipped
sft_trainer.yaml, --config-path/--config-name/--config-dir, key=value overrides with Hydra's rules and
error texts), a small OmegaConf DictConfig, what verl gets from torch.distributed, datasets and FSDP,
and the session on the simulated GPU. It compiles simgpu_src_verl's modules and runs
`python -m verl.trainer.fsdp_sft_trainer` (examples/simtrain/pkgs/verl/trainer/fsdp_sft_trainer.py
calls main()). Frames of this file are hidden from printed tracebacks.

The job, in the sim's terms (see README.md, "verl SFT"): micro-batch data.micro_batch_size_per_gpu,
accumulation data.train_batch_size / dp / micro (dp = WORLD_SIZE / ulysses_sequence_parallel_size),
effective batch data.train_batch_size, evaluation batch the micro-batch, precision bf16 (FSDP mixed
precision over fp32 params) or bf16-true/fp16-true with model.fsdp_config.model_dtype bf16/fp16,
checkpointing model.enable_gradient_checkpointing, FSDP full sharding over the world (weights,
gradients and optimizer state divided by WORLD_SIZE), optimizer state offloaded with
model.fsdp_config.cpu_offload and offload_params both true.
"""

import argparse
import contextlib
import copy
import datetime
import enum
import functools
import importlib
import inspect
import logging
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from textwrap import dedent
from types import SimpleNamespace as NS

import simgpu
import simgpu_oom
import simgpu_proc
import simgpu_run
import simgpu_speed_more
import simgpu_src_verl
import simgpu_yaml
from simgpu_frames import load_source
from simgpu_model import LAYERS

SCRIPT = "fsdp_sft_trainer.py"
TASK_NAME = "fsdp_sft_trainer"
MODULE = "verl.trainer.fsdp_sft_trainer"
HYDRA_VERSION = "1.3.2"
# The simulated dataset: data.train_batch_size x STEPS_PER_EPOCH samples, so an epoch is this many steps.
STEPS_PER_EPOCH = 5
GRAMMAR_URL = "https://hydra.cc/docs/1.2/advanced/override_grammar/basic"
# verl/trainer/config/: the primary configs verl ships, by name (the PPO sim adds ppo_trainer).
SHIPPED = {"sft_trainer": simgpu_src_verl.SFT_TRAINER_YAML}


class _State:
    sim = None
    session = None
    config = None  # the composed config (before the trainer divides train_batch_size by dp)
    fw = None
    driver_steps = None
    datasets = 0


STATE = _State()


# --- OmegaConf: the errors and a DictConfig ---------------------------------------------------------

class OmegaConfBaseException(Exception):
    pass


class ConfigAttributeError(OmegaConfBaseException, AttributeError):
    pass


class ConfigKeyError(OmegaConfBaseException, KeyError):
    def __str__(self):
        return str(self.args[0]) if self.args else ""


for _cls in (OmegaConfBaseException, ConfigAttributeError, ConfigKeyError):
    _cls.__module__ = "omegaconf.errors"


class HydraException(Exception):
    pass


class CompactHydraException(HydraException):
    pass


class ConfigCompositionException(CompactHydraException):
    pass


class OverrideParseException(CompactHydraException):
    pass


class MissingConfigException(IOError, ConfigCompositionException):
    pass


class SearchPathException(CompactHydraException):
    pass


for _cls in (HydraException, CompactHydraException, ConfigCompositionException, OverrideParseException,
             MissingConfigException, SearchPathException):
    _cls.__module__ = "hydra.errors"


def _struct_error(key, path):
    full = "%s.%s" % (path, key) if path else key
    return "Key '%s' is not in struct\n    full_key: %s\n    object_type=dict" % (key, full)


class DictConfig:
    """OmegaConf's DictConfig as verl uses it: attribute and item access, struct mode (a key that is
    not there cannot be read as an attribute or set), get() with a default, str() as a dict."""

    def __init__(self, content=None, path="", struct=False):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_struct", struct)
        object.__setattr__(self, "_content", {})
        for key, value in (content or {}).items():
            self._content[str(key)] = _wrap(value, self._child_path(str(key)))

    def _child_path(self, key):
        return "%s.%s" % (self._path, key) if self._path else key

    def _set_struct(self, flag):
        object.__setattr__(self, "_struct", flag)
        for value in self._content.values():
            if isinstance(value, DictConfig):
                value._set_struct(flag)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        content = object.__getattribute__(self, "_content")
        if name in content:
            return _interpolated(content[name])
        if self._struct:
            raise ConfigAttributeError(_struct_error(name, self._path))
        return None

    def __setattr__(self, name, value):
        if name not in self._content and self._struct:
            raise ConfigAttributeError(_struct_error(name, self._path))
        self._content[name] = _wrap(value, self._child_path(name), self._struct)

    def __getitem__(self, key):
        if key in self._content:
            return _interpolated(self._content[key])
        if self._struct:
            raise ConfigKeyError(_struct_error(key, self._path))
        return None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __delitem__(self, key):
        if key not in self._content:
            raise ConfigKeyError(_struct_error(key, self._path))
        del self._content[key]

    def __delattr__(self, name):
        self.__delitem__(name)

    def __contains__(self, key):
        return key in self._content

    def __iter__(self):
        return iter(self._content)

    def __len__(self):
        return len(self._content)

    def keys(self):
        return self._content.keys()

    def items(self):
        return self._content.items()

    def values(self):
        return self._content.values()

    def get(self, key, default_value=None):
        return _interpolated(self._content.get(key, default_value))

    def __eq__(self, other):
        if isinstance(other, DictConfig):
            return self._content == other._content
        return isinstance(other, dict) and _plain(self) == other

    __hash__ = object.__hash__

    def __repr__(self):
        return repr(self._content)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        return DictConfig(copy.deepcopy(_plain(self), memo), self._path, self._struct)


DictConfig.__module__ = "omegaconf.dictconfig"


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def _interpolated(value):
    """A string value with absolute interpolations (${trainer.project_name}) as OmegaConf gives it on access,
    resolved against the job's config; a string that is one interpolation is the value itself. Relative ones
    and resolvers (${now:...}) are not simulated and stay as they are."""
    root = STATE.config
    if root is None or not isinstance(value, str) or "${" not in value:
        return value
    whole = _INTERPOLATION.fullmatch(value)
    if whole:
        found = _select(root, whole.group(1))
        return value if found is None else _interpolated(found)

    def one(match):
        found = _select(root, match.group(1))
        return match.group(0) if found is None else str(_interpolated(found))
    return _INTERPOLATION.sub(one, value)


def _wrap(value, path="", struct=False):
    if isinstance(value, DictConfig):
        value = _plain(value)
    if isinstance(value, dict):
        return DictConfig(value, path, struct)
    if isinstance(value, (list, tuple)):
        return [_wrap(v, path, struct) for v in value]
    return value


def _plain(value):
    if isinstance(value, DictConfig):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _yaml_scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if text == "" or text != text.strip() or text[0] in "!&*[]{}#|>@`'\",%?:-" or ": " in text or " #" in text \
            or simgpu_yaml.parse_scalar(text) != text:
        return "'%s'" % text.replace("'", "''")
    return text


def to_yaml(value, indent=0):
    """OmegaConf.to_yaml: block style, two-space indentation."""
    value = _plain(value)
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = ""
        for key, item in value.items():
            if isinstance(item, dict) and item:
                out += "%s%s:\n%s" % (pad, key, to_yaml(item, indent + 2))
            elif isinstance(item, list) and item:
                out += "%s%s:\n%s" % (pad, key, to_yaml(item, indent))
            else:
                out += "%s%s: %s\n" % (pad, key, "{}" if item == {} else "[]" if item == [] else _yaml_scalar(item))
        return out
    if isinstance(value, list):
        out = ""
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = to_yaml(item, indent + 2)
                out += "%s- %s" % (pad, inner.lstrip(" "))
            else:
                out += "%s- %s\n" % (pad, _yaml_scalar(item))
        return out
    return pad + _yaml_scalar(value) + "\n"


def _select(cfg, key):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node._content[part]
    return node


class OmegaConf:
    @staticmethod
    def select(cfg, key, default=None, throw_on_missing=False):
        value = _select(cfg, key)
        return default if value is None else value

    @staticmethod
    def to_container(cfg, resolve=False, **kwargs):
        return _plain(cfg)

    @staticmethod
    def to_yaml(cfg, **kwargs):
        return to_yaml(cfg)

    @staticmethod
    def set_readonly(cfg, flag):
        pass

    @staticmethod
    def set_struct(cfg, flag):
        cfg._set_struct(flag)

    @staticmethod
    def resolve(cfg):
        pass


OmegaConf.__module__ = "omegaconf.omegaconf"


@contextlib.contextmanager
def open_dict(cfg):
    previous = cfg._struct
    cfg._set_struct(False)
    try:
        yield cfg
    finally:
        cfg._set_struct(previous)


def read_write(cfg):
    return contextlib.nullcontext(cfg)


# --- Hydra's override grammar and config composition --------------------------------------------------

_OVERRIDE = re.compile(r"^(?P<prefix>~|\+\+|\+)?(?P<key>[A-Za-z_0-9][\w\-./@]*)(?:(?P<eq>=)(?P<value>.*))?$", re.S)
_INT = re.compile(r"^[-+]?\d+(?:_\d+)*$")
_FLOAT = re.compile(r"^[-+]?(?:(?:\d+(?:_\d+)*)?\.\d+|\d+(?:_\d+)*\.?)(?:[eE][-+]?\d+)?$")


class Override:
    def __init__(self, line, prefix, key, value, has_value):
        self.input_line = line
        self.prefix = prefix or ""
        self.key_or_group = key
        self.value = value
        self.has_value = has_value

    def is_delete(self):
        return self.prefix == "~"

    def is_add(self):
        return self.prefix == "+"

    def is_force_add(self):
        return self.prefix == "++"

    def is_hydra_override(self):
        return self.key_or_group == "hydra" or self.key_or_group.startswith(("hydra.", "hydra/"))


def _split_top(text):
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for c in text:
        if quote:
            current += c
            if c == quote:
                quote = None
            continue
        if c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += c
    parts.append(current)
    return parts


def _parse_element(text, line):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].replace("\\" + text[0], text[0])
    if text.startswith("["):
        if not text.endswith("]"):
            _parse_error(line, "mismatched input '<EOF>' expecting {',', ']'}")
        inner = text[1:-1].strip()
        return [] if not inner else [_parse_element(p, line) for p in _split_top(inner)]
    if text.startswith("{"):
        if not text.endswith("}"):
            _parse_error(line, "mismatched input '<EOF>' expecting {',', '}'}")
        inner = text[1:-1].strip()
        out = {}
        for part in (_split_top(inner) if inner else []):
            key, sep, value = part.partition(":")
            if not sep:
                _parse_error(line, "missing ':' at '%s'" % part.strip())
            out[key.strip()] = _parse_element(value, line)
        return out
    low = text.lower()
    if low == "null":
        return None
    if low == "true":
        return True
    if low == "false":
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if low in ("inf", "+inf", "-inf", "nan"):
        return float(low)
    return text


def _parse_error(line, what):
    raise OverrideParseException("Error parsing override '%s'\n%s\nSee %s for details" % (line, what, GRAMMAR_URL))


def parse_override(line):
    match = _OVERRIDE.match(line)
    if match is None:
        _parse_error(line, "mismatched input '%s' expecting ID" % line[:1])
    prefix, key, has_value = match.group("prefix"), match.group("key"), bool(match.group("eq"))
    if not has_value and prefix != "~":
        _parse_error(line, "missing EQUAL at '<EOF>'")
    raw = match.group("value") if has_value else None
    value = None
    if has_value:
        stripped = raw.strip()
        if stripped[:1] not in ("[", "{", "'", '"') and len(_split_top(stripped)) > 1:
            raise ConfigCompositionException(
                "Ambiguous value for argument '%s'\n"
                "1. To use it as a list, use key=[value1,value2]\n"
                "2. To use it as string, quote the value: key=\\'value1,value2\\'\n"
                "3. To sweep over it, add --multirun to your command line" % line)
        value = _parse_element(raw, line) if stripped else ""
    return Override(line, prefix, key, value, has_value)


def _update(cfg, key, value, force_add):
    """OmegaConf.update(cfg, key, value, merge=True[, force_add])."""
    parts = key.split(".")
    root = cfg
    for part in parts[:-1]:
        child = root._content.get(part)
        if not isinstance(child, DictConfig):
            if part not in root._content and root._struct and not force_add:
                raise ConfigAttributeError(_struct_error(part, root._path))
            root._content[part] = DictConfig({}, root._child_path(part), root._struct)
        root = root._content[part]
    last = parts[-1]
    if last not in root._content and root._struct and not force_add:
        raise ConfigAttributeError(_struct_error(last, root._path))
    existing = root._content.get(last)
    if isinstance(value, dict) and isinstance(existing, DictConfig):
        merged = _merge(_plain(existing), value)
        root._content[last] = _wrap(merged, root._child_path(last), root._struct)
    else:
        root._content[last] = _wrap(value, root._child_path(last), root._struct)


def _merge(base, other):
    out = dict(base)
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(cfg, overrides):
    """Hydra's ConfigLoaderImpl._apply_overrides_to_config."""
    for override in overrides:
        key = override.key_or_group
        value = override.value
        try:
            if override.is_delete():
                parent_key, _, last = key.rpartition(".")
                parent = _select(cfg, parent_key) if parent_key else cfg
                if not isinstance(parent, DictConfig) or last not in parent:
                    raise ConfigCompositionException(
                        "Could not delete from config. '%s' does not exist." % key)
                if override.has_value and _plain(parent[last]) != value:
                    raise ConfigCompositionException(
                        "Could not delete from config. The value of '%s' is %s and not %s."
                        % (key, _plain(parent[last]), value))
                del parent._content[last]
            elif override.is_add():
                if _select(cfg, key) is None or isinstance(value, (dict, list)):
                    _update(cfg, key, value, force_add=True)
                else:
                    raise ConfigCompositionException(dedent(
                        """\
                        Could not append to config. An item is already at '%s'.
                        Either remove + prefix: '%s'
                        Or add a second + to add or override '%s': '+%s'
                        """ % (key, override.input_line[1:], key, override.input_line)))
            elif override.is_force_add():
                _update(cfg, key, value, force_add=True)
            else:
                try:
                    _update(cfg, key, value, force_add=False)
                except (ConfigAttributeError, ConfigKeyError) as ex:
                    raise ConfigCompositionException(
                        "Could not override '%s'.\nTo append to your config use +%s"
                        % (key, override.input_line)) from ex
        except OmegaConfBaseException as ex:
            raise ConfigCompositionException("Error merging override %s" % override.input_line) from ex


class RunMode(enum.Enum):
    RUN = 1
    MULTIRUN = 2


RunMode.__module__ = "hydra.types"


class SearchPath:
    """The config search path: command-line folders (--config-path, --config-dir), then verl's package."""

    def __init__(self, config_path):
        self.entries = []
        self.dirs = []
        if config_path is not None and config_path != "config":
            self.dirs.append(os.path.abspath(os.path.expanduser(config_path)))

    def prepend(self, provider, path, anchor=None):
        self.dirs.insert(0, path[len("file://"):] if path.startswith("file://") else path)

    def describe(self):
        lines = ["\tprovider=hydra, path=pkg://hydra.conf"]
        lines += ["\tprovider=command-line, path=file://%s" % d for d in self.dirs]
        lines += ["\tprovider=main, path=pkg://verl.trainer.config", "\tprovider=schema, path=structured://"]
        return "\n".join(lines)

    def find(self, name):
        """The config's content (a dict), or None."""
        stem = name[:-5] if name.endswith(".yaml") else name
        for folder in self.dirs:
            for candidate in (stem + ".yaml", stem + ".yml"):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path):
                    try:
                        data = simgpu_yaml.load_file(path)
                    except simgpu_yaml.YAMLError as err:
                        raise ConfigCompositionException("Error loading '%s': %s" % (path, err)) from None
                    return data if isinstance(data, dict) else {}
        if stem in SHIPPED:
            return simgpu_yaml.loads(SHIPPED[stem])
        return None


def create_automatic_config_search_path(calling_file, calling_module, config_path):
    return SearchPath(config_path)


def SearchPathQuery(provider=None, path=None):
    return NS(provider=provider, path=path)


def _primary(search_path, name, seen=()):
    data = search_path.find(name)
    if data is None:
        if seen:
            raise MissingConfigException(
                "In '%s': Could not load '%s'.\n\nConfig search path:\n%s" % (seen[-1], name, search_path.describe()))
        raise MissingConfigException(
            "Cannot find primary config '%s'. Check that it's in your config search path.\n\n"
            "Config search path:\n%s" % (name, search_path.describe()))
    data = dict(data)
    defaults = data.pop("defaults", None)
    if defaults is None:
        return data
    if not isinstance(defaults, list):
        raise ConfigCompositionException("Defaults list must be a list, got %s" % type(defaults).__name__)
    if "_self_" not in defaults:
        defaults = list(defaults) + ["_self_"]
    out = {}
    for item in defaults:
        if item == "_self_":
            out = _merge(out, data)
        elif isinstance(item, str):
            if item in seen or item == name:
                raise ConfigCompositionException("Circular reference in the defaults list of '%s'" % name)
            out = _merge(out, _primary(search_path, item, tuple(seen) + (name,)))
        else:
            raise ConfigCompositionException(
                "simtrain: config groups in a defaults list are not simulated (in '%s': %r)" % (name, item))
    return out


# Hydra's hydra/job_logging options (hydra/conf/hydra/job_logging/*.yaml), cut to their handlers: the default
# one also logs to <output_dir>/<job name>.log; NeMo's hydra_runner picks stdout, which writes no file.
JOB_LOGGING = {
    "default": {"version": 1, "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
                                            "file": {"class": "logging.FileHandler",
                                                     "filename": "${hydra.runtime.output_dir}/${hydra.job.name}.log"}}},
    "stdout": {"version": 1, "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}}},
    "disabled": {"version": 1, "handlers": {}},
    "none": {"version": 1, "handlers": {}},
}
HYDRA_GROUPS = {"hydra/job_logging": JOB_LOGGING, "hydra/hydra_logging": {"default": {}, "disabled": {}, "none": {}}}


def _choose_group(cfg, override):
    """A choice of one of Hydra's own config groups (hydra/job_logging=stdout)."""
    group, options = override.key_or_group, HYDRA_GROUPS.get(override.key_or_group)
    if options is None or override.value not in options:
        available = "".join("\n\t%s" % name for name in sorted(options or ()))
        raise MissingConfigException("Could not find '%s/%s'\nAvailable options in '%s':%s"
                                     % (group, override.value, group, available))
    if group == "hydra/job_logging":
        cfg.hydra._content["job_logging"] = _wrap(copy.deepcopy(options[override.value]), "hydra.job_logging")


def _hydra_node(overrides):
    now = datetime.datetime.now()
    return {
        "mode": None,
        "run": {"dir": "outputs/%s/%s" % (now.strftime("%Y-%m-%d"), now.strftime("%H-%M-%S"))},
        "output_subdir": ".hydra",
        "job": {"name": TASK_NAME, "chdir": None, "env_set": {}},
        "runtime": {"output_dir": None},
        "overrides": {"task": [o.input_line for o in overrides if not o.is_hydra_override()],
                      "hydra": [o.input_line for o in overrides if o.is_hydra_override()]},
        "job_logging": copy.deepcopy(JOB_LOGGING["default"]), "verbose": False,
        "help": {"app_name": TASK_NAME},
    }


class ConfigLoaderImpl:
    def __init__(self, config_search_path):
        self.search_path = config_search_path

    def load_configuration(self, config_name, overrides, run_mode, from_shell=True, validate_sweep_overrides=True):
        parsed = [parse_override(line) for line in overrides]
        content = _primary(self.search_path, config_name or "sft_trainer")
        content["hydra"] = _hydra_node(parsed)
        cfg = DictConfig(content)
        for override in parsed:
            if override.is_hydra_override():
                value = override.value
                if override.key_or_group == "hydra.mode" and isinstance(value, str) and value in RunMode.__members__:
                    value = RunMode[value]
                if override.is_delete():
                    apply_overrides(cfg, [override])
                elif "/" in override.key_or_group:
                    _choose_group(cfg, override)
                else:
                    _update(cfg, override.key_or_group, value, force_add=True)
        cfg._set_struct(True)
        apply_overrides(cfg, [o for o in parsed if not o.is_hydra_override()])
        STATE.config = cfg
        return cfg


class _Singleton:
    _instance = None

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


class GlobalHydra(_Singleton):
    def initialize(self, hydra):
        self.hydra = hydra

    def clear(self):
        self.hydra = None


class HydraConfig(_Singleton):
    cfg = None

    def set_config(self, cfg):
        self.cfg = DictConfig({"hydra": _plain(cfg["hydra"])}) if "hydra" in cfg else cfg


class JobRuntime(_Singleton):
    _values = {}

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def set(self, key, value):
        JobRuntime._values[key] = value

    def get(self, key):
        return JobRuntime._values.get(key)


class Callbacks:
    def __init__(self, config=None):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _save_config(cfg, filename, output_dir):
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(str(output_dir / filename), "w") as f:
        f.write(to_yaml(cfg))


def configure_log(log_config, verbose_config=False):
    """Hydra's default job logging writes <output_dir>/<job name>.log (the sim's stays empty)."""
    runtime = HydraConfig.instance().cfg
    output_dir = _select(runtime, "hydra.runtime.output_dir") if runtime is not None else None
    handlers = _select(log_config, "handlers") if isinstance(log_config, DictConfig) else None
    if output_dir and isinstance(handlers, DictConfig) and "file" in handlers:
        open(os.path.join(output_dir, TASK_NAME + ".log"), "a").close()


def _flush_loggers():
    # Python logging does not have an official API to flush all loggers; the sim also ends its bar.
    if STATE.session is not None:
        STATE.session.driver.progress.close()
    sys.stdout.flush()
    sys.stderr.flush()


def _app_help(self, config_name, args_parser, args):
    cfg = self.compose_config(config_name=config_name, overrides=args.overrides, run_mode=RunMode.RUN)
    job = _plain(cfg)
    job.pop("hydra", None)
    print("%s is powered by Hydra.\n\n== Configuration groups ==\nCompose your configuration from those groups "
          "(group=option)\n\n\n\n== Config ==\nOverride anything in the config (foo.bar=value)\n\n%s\n"
          "Powered by Hydra (https://hydra.cc)\nUse --hydra-help to view Hydra specific help\n"
          % (TASK_NAME, to_yaml(job)))


class _SysShim:
    """sys for the compiled Hydra modules: sys.exit honours --sim-hang-after-oom first."""

    pending_hang = False

    @property
    def stdout(self):
        return sys.stdout

    @property
    def stderr(self):
        return sys.stderr

    @property
    def argv(self):
        return sys.argv

    def exit(self, code=0):
        sys.stdout.flush()
        sys.stderr.flush()
        if self.pending_hang:
            simgpu_proc.hang_forever()
        sys.exit(code)


SYS = _SysShim()


def _print_exception(exc_type=None, value=None, tb=None, **kwargs):
    """traceback.print_exception as Hydra calls it, without the sim's own frames."""
    for cleanup in STATE.sim.before_traceback if STATE.sim else ():
        cleanup()
    sys.stdout.flush()
    te = traceback.TracebackException(type(value), value, tb)
    simgpu_run._filter(te, set())
    sys.stderr.write("".join(te.format()))
    sys.stderr.flush()
    # A Ray task's error (the PPO trainer's) carries the OOM as its cause.
    cause = getattr(value, "cause", value)
    if STATE.sim is not None and STATE.sim.options.hang_after_oom and isinstance(cause, simgpu_oom.SimulatedOOM):
        SYS.pending_hang = True


def _print_exc(**kwargs):
    exc = sys.exc_info()[1]
    _print_exception(value=exc, tb=exc.__traceback__)


TRACEBACK = NS(print_exception=_print_exception, print_exc=_print_exc)


# --- what verl gets from torch, torch.distributed, transformers and its datasets ------------------------

class _Dtype:
    def __init__(self, name, size):
        self.name = name
        self.itemsize = size

    def __repr__(self):
        return "torch." + self.name


FLOAT32, FLOAT16, BFLOAT16 = _Dtype("float32", 4), _Dtype("float16", 2), _Dtype("bfloat16", 2)


def _env_int(name, default):
    text = os.environ.get(name, "")
    return int(text) if text.strip().isdigit() else default


class _Distributed:
    """torch.distributed for one simulated rank: the ranks never talk to each other."""

    ReduceOp = NS(AVG="avg", SUM="sum")

    def __init__(self):
        self._initialized = False

    def init_process_group(self, backend=None, timeout=None, init_method=None, **kwargs):
        # env:// rendezvous; a single process without torchrun runs as a world of one
        for name, default in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
            os.environ.setdefault(name, default)
        self._initialized = True

    def is_initialized(self):
        return self._initialized

    def destroy_process_group(self):
        self._initialized = False

    def get_rank(self):
        return _env_int("RANK", 0)

    def get_world_size(self):
        return _env_int("WORLD_SIZE", 1)

    def all_reduce(self, tensor, op=None, group=None):
        return None

    def broadcast(self, tensor, src=0, group=None):
        return None

    def barrier(self, group=None):
        return None


DIST = _Distributed()


class DeviceMesh:
    def __init__(self, device_type, mesh_shape, mesh_dim_names):
        self.device_type = device_type
        self.mesh_shape = tuple(mesh_shape)
        self.mesh_dim_names = tuple(mesh_dim_names or ())

    def size(self, mesh_dim=None):
        if mesh_dim is None:
            total = 1
            for n in self.mesh_shape:
                total *= n
            return total
        if isinstance(mesh_dim, str):
            mesh_dim = self.mesh_dim_names.index(mesh_dim)
        return self.mesh_shape[mesh_dim]

    def get_rank(self):
        return DIST.get_rank()

    def get_local_rank(self, mesh_dim=None):
        rank = DIST.get_rank()
        if mesh_dim in (None, 0, self.mesh_dim_names[:1] and self.mesh_dim_names[0]):
            inner = 1
            for n in self.mesh_shape[1:]:
                inner *= n
            return rank // max(1, inner)
        return rank % max(1, self.mesh_shape[-1])

    def __repr__(self):
        return "DeviceMesh('%s', %s, mesh_dim_names=%s)" % (self.device_type, list(range(self.size())),
                                                              self.mesh_dim_names)


DeviceMesh.__module__ = "torch.distributed.device_mesh"


def init_device_mesh(device_type, mesh_shape, *, mesh_dim_names=None):
    mesh = DeviceMesh(device_type, mesh_shape, mesh_dim_names)
    world = DIST.get_world_size()
    if mesh.size() > world:
        raise RuntimeError("Mesh should not be bigger than default world size %d, but found %d ranks!"
                           % (world, mesh.size()))
    return mesh


class SFTDataset:
    """verl's SFTDataset over the sim's data: data.train_batch_size x STEPS_PER_EPOCH rows."""

    def __init__(self, parquet_files, tokenizer, config, max_samples=-1):
        self.role = "train" if STATE.datasets == 0 else "val"
        STATE.datasets += 1
        size = STATE.config.data.train_batch_size if STATE.config is not None else 256
        self.rows = size * STEPS_PER_EPOCH if isinstance(size, int) and size > 0 else 0

    def __len__(self):
        return self.rows


class MultiTurnSFTDataset(SFTDataset):
    pass


class DistributedSampler:
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.dataset = dataset
        self.num_replicas = num_replicas or 1
        self.rank = rank or 0

    def set_epoch(self, epoch):
        self.epoch = epoch


class _Batch(dict):
    def to(self, device, *args, **kwargs):
        return self


class _StepBatch:
    """One optimizer step's data: split() gives the micro-batches, which the driver makes one at a time."""

    def to(self, device, *args, **kwargs):
        return self

    def split(self, split_size):
        if not isinstance(split_size, int) or isinstance(split_size, bool):
            raise TypeError("split(): argument 'split_size' (position 1) must be int, not %s" % type(split_size).__name__)
        return _MicroBatches()


class _MicroBatches:
    def __len__(self):
        return STATE.session.job.accumulation

    def __iter__(self):
        fw = STATE.fw
        for inputs, targets in STATE.session.driver.micro_batches():
            yield _Batch(input_ids=inputs, attention_mask=fw.tensor(), position_ids=fw.tensor(), loss_mask=targets)


class StatefulDataLoader:
    def __init__(self, dataset, batch_size=1, sampler=None, **kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = sampler

    def state_dict(self):
        session = STATE.session
        return {"_num_yielded": session.driver.step if session is not None else 0}

    def __len__(self):
        replicas = self.sampler.num_replicas if self.sampler is not None else 1
        return len(self.dataset) // replicas // self.batch_size

    def __iter__(self):
        session = STATE.session
        if self.dataset.role == "val":
            fw = STATE.fw
            for inputs, targets in session.driver.eval_batches():
                yield _Batch(input_ids=inputs, attention_mask=fw.tensor(), position_ids=fw.tensor(), loss_mask=targets)
            return
        if STATE.driver_steps is None:
            STATE.driver_steps = session.driver.steps()
        for _ in range(len(self)):
            try:
                next(STATE.driver_steps)
            except StopIteration:
                return
            yield _StepBatch()
        if session.driver.step >= session.job.steps:
            for _ in STATE.driver_steps:  # the last step: let the driver report it
                pass


def TensorDict(source, batch_size=None, **kwargs):
    if isinstance(source, (_StepBatch, _Batch)):
        return source
    return _Batch(source)


def tqdm(iterable=None, desc=None, total=None, initial=0, disable=False, **kwargs):
    """verl's epoch bar (stderr): the sim's bar, one a tqdm call, on the simulated clock (simgpu_speed_more)."""
    simgpu_speed_more.verl_epoch_bar(STATE.session.driver, desc, total, initial, disable)
    return iterable


class Tracking:
    """verl's Tracking: 'console' prints its LocalLogger's line (simgpu_speed_more.verl_console_line);
    'tensorboard' makes its log folder as verl's _TensorboardAdapter does ($TENSORBOARD_DIR, else
    tensorboard_log/<project>/<experiment> in the working folder) and writes no events; 'wandb' and the other
    backends are silent in the sim."""

    def __init__(self, project_name, experiment_name, default_backend="console", config=None):
        self.backends = [default_backend] if isinstance(default_backend, str) else list(default_backend)
        if "tensorboard" in self.backends:
            tensorboard_dir = os.environ.get("TENSORBOARD_DIR", f"tensorboard_log/{project_name}/{experiment_name}")
            os.makedirs(tensorboard_dir, exist_ok=True)
            print(f"Saving tensorboard log to {tensorboard_dir}.")

    def log(self, data, step, backend=None):
        if "console" in self.backends and (backend is None or "console" in backend):
            print(simgpu_speed_more.verl_console_line(data, step), flush=True)


class _Scalar:
    def __init__(self, value):
        self.value = value

    def detach(self):
        return self

    def item(self):
        return round(self.value, 4)


class _Scheduler:
    def __init__(self, optimizer, num_warmup_steps=0, num_training_steps=1, **kwargs):
        self.lr = optimizer.param_groups[0].get("lr", 1e-5) if getattr(optimizer, "param_groups", None) else 1e-5

    def step(self):
        pass

    def get_last_lr(self):
        return [self.lr]


class PretrainedConfig:
    def __init__(self):
        self.vocab_size = 151936
        self.hidden_size = 896
        self.num_hidden_layers = LAYERS
        self.hidden_act = "silu"
        self.layer_types = ["full_attention"] * LAYERS
        self.tie_word_embeddings = False
        self.max_position_embeddings = 32768

    @classmethod
    def from_pretrained(cls, path, trust_remote_code=False, **kwargs):
        return cls()


def transformer_auto_wrap_policy(module, recurse, nonwrapped_numel, transformer_layer_cls):
    return isinstance(module, tuple(transformer_layer_cls))


transformer_auto_wrap_policy.__module__ = "torch.distributed.fsdp.wrap"


def _not_simulated(what):
    def fail(*args, **kwargs):
        raise NotImplementedError("simtrain: %s is not simulated" % what)
    return fail


def _vtorch(fw):
    """torch as verl's modules see it: the sim's torch plus dtypes, distributed and reductions."""
    torch = NS(**vars(fw.torch))
    torch.float32, torch.float16, torch.bfloat16 = FLOAT32, FLOAT16, BFLOAT16
    torch.distributed = DIST
    torch.autocast = lambda *a, **k: contextlib.nullcontext()
    torch.sum = lambda t, *a, **k: t
    torch.stack = lambda tensors, *a, **k: tensors
    torch.mean = lambda t, *a, **k: _Scalar(simgpu_run.eval_loss_at(STATE.session.driver.step))
    torch.isfinite = lambda t: True
    torch.nn = NS(**vars(fw.torch.nn))
    return torch


def _patch_tensor(fw):
    Tensor = fw.torch.Tensor
    for name, method in {"__getitem__": lambda t, key: t, "reshape": lambda t, *a: t, "view": lambda t, *a: t,
                         "contiguous": lambda t, *a, **k: t, "__rtruediv__": lambda t, o: t,
                         "__rmul__": lambda t, o: t, "data": property(lambda t: t)}.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, method)
    Module = fw.torch.nn.Module

    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            yield from named_modules(module, memo, prefix + ("." if prefix else "") + name)

    for name, method in {"named_modules": named_modules, "modules": lambda self: (m for _, m in self.named_modules()),
                         "named_buffers": lambda self, *a, **k: iter(()), "buffers": lambda self, *a, **k: iter(()),
                         "to_empty": lambda self, device=None, **k: self.to(device)}.items():
        if not hasattr(Module, name):
            setattr(Module, name, method)


def _model_classes(fw, torch):
    """transformers' Qwen2 model over the sim's torch modules (16 decoder layers, one Linear each)."""
    Module = fw.torch.nn.Module

    class ModuleList(Module):
        def __init__(self, modules=()):
            super().__init__()
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

        def __getitem__(self, index):
            items = list(self._modules.values())
            return items[index]

        def __iter__(self):
            return iter(self._modules.values())

        def __len__(self):
            return len(self._modules)

    class PreTrainedModel(Module):
        _no_split_modules = ["Qwen2DecoderLayer"]
        supports_gradient_checkpointing = True

        def __init__(self, config=None):
            super().__init__()
            self.config = config

        def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
            self.is_gradient_checkpointing = True

        def enable_input_require_grads(self):
            pass

    class GradientCheckpointingLayer(Module):
        gradient_checkpointing = False

    Embedding = type("Embedding", (Module,), {})
    outputs = NS(BaseModelOutputWithPast=lambda **k: NS(**k), CausalLMOutputWithPast=lambda **k: NS(**k))
    names = dict(nn=NS(Module=Module, ModuleList=ModuleList), ACT2FN={"silu": lambda x: x},
                 GradientCheckpointingLayer=GradientCheckpointingLayer, Qwen2PreTrainedModel=PreTrainedModel,
                 GenerationMixin=type("GenerationMixin", (), {}), **vars(outputs))
    src = simgpu_src_verl.SOURCES
    qwen2 = load_source("transformers/models/qwen2/modeling_qwen2.py",
                        src["transformers/models/qwen2/modeling_qwen2.py"], names)
    torch.nn.ModuleList, torch.nn.Embedding = ModuleList, Embedding
    return qwen2


# --- the session on the simulated GPU ---------------------------------------------------------------------

class VerlJob(simgpu.Job):
    """The effective batch is data.train_batch_size: micro x accumulation x dp (not x WORLD_SIZE with SP)."""

    dp = 1

    @property
    def effective_batch(self):
        return self.micro_batch * self.accumulation * self.dp


def _optimizer_kind(optim):
    impl = str(optim.get("optimizer_impl", "torch.optim"))
    name = str(optim.get("optimizer", "AdamW"))
    if impl in ("bitsandbytes.optim", "torchao.optim") and "8bit" in name.lower():
        return "8bit"
    return "adam"


def _positive_int(value, key):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        simgpu_run.fail_usage("%s: must be a positive integer, got %r" % (key, value))
    return value


def open_session(torch_dtype):
    """The job on the simulated GPU, when verl loads the model (after its batch-size assertions)."""
    cfg = STATE.config
    world = DIST.get_world_size()
    sp = cfg.ulysses_sequence_parallel_size
    dp = world // sp
    micro = _positive_int(cfg.data.micro_batch_size_per_gpu, "data.micro_batch_size_per_gpu")
    per_dp = cfg.data.train_batch_size // dp
    epochs = cfg.trainer.total_epochs
    total = STEPS_PER_EPOCH * epochs if isinstance(epochs, int) and epochs > 0 else 0
    requested = cfg.trainer.total_training_steps
    if requested is not None:
        total = min(total, _positive_int(requested, "trainer.total_training_steps"))
    test_freq = cfg.trainer.test_freq
    precision = {FLOAT32: "bf16", BFLOAT16: "bf16-true", FLOAT16: "fp16-true"}[torch_dtype]
    fsdp_config = cfg.model.fsdp_config
    job = VerlJob(
        SCRIPT, micro_batch=micro, accumulation=per_dp // micro, eval_batch=micro, precision=precision,
        checkpointing=bool(cfg.model.enable_gradient_checkpointing), optimizer=str(cfg.optim.optimizer).lower(),
        optimizer_kind=_optimizer_kind(cfg.optim),
        offload=bool(fsdp_config.cpu_offload) and bool(fsdp_config.get("offload_params", False)),
        zero_stage=3, steps=total, eval_every=test_freq if isinstance(test_freq, int) and test_freq > 0 else 0,
        eval_at_end=requested is None or requested <= total,
    )
    job.dp = dp
    STATE.session = STATE.sim.session(job)
    return STATE.session


def _import_module(fw):
    def import_module(name):
        if name == "torch.optim":
            return NS(AdamW=fw.torch.optim.AdamW, Adam=fw.torch.optim.AdamW)
        if name in ("bitsandbytes.optim", "torchao.optim"):
            importlib.import_module(name.split(".")[0])  # the package must be installed
            eight = fw.torch.bnb_optim.AdamW8bit
            return NS(AdamW8bit=eight, PagedAdamW8bit=eight, AdamW=fw.torch.optim.AdamW, _AdamW=fw.torch.optim.AdamW)
        return importlib.import_module(name)
    return NS(import_module=import_module)


class FSDPCheckpointManager:
    """verl's FSDPCheckpointManager as the SFT trainer calls it: save_checkpoint makes local_path and writes each
    rank's model, optimizer and extra-state shard files there (small files in the sim, under verl's names); rank
    0 also writes the huggingface/ folder's config. Loading is not simulated."""

    def __init__(self, model=None, optimizer=None, lr_scheduler=None, processing_class=None, checkpoint_config=None,
                 **kwargs):
        self.checkpoint_config = checkpoint_config

    def save_checkpoint(self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None):
        world, rank = DIST.get_world_size(), DIST.get_rank()
        local_mkdir_safe(local_path)
        for what in ("model", "optim", "extra_state"):
            with open(os.path.join(local_path, "%s_world_size_%d_rank_%d.pt" % (what, world, rank)), "w") as f:
                f.write("simulated %s shard, step %d\n" % (what, global_step))
        if rank == 0:
            local_mkdir_safe(os.path.join(local_path, "huggingface"))
            with open(os.path.join(local_path, "huggingface", "config.json"), "w") as f:
                f.write("{\"model_type\": \"qwen2\"}\n")


def local_mkdir_safe(path):
    """verl.utils.fs.local_mkdir_safe: makedirs, tolerating a rank that made it first."""
    os.makedirs(path, exist_ok=True)
    return path


def _hdfs_copy(src, dst, **kwargs):
    """verl.utils.hdfs_io.copy for a local destination: a copy of the folder (no HDFS in the sim)."""
    if os.path.isdir(src):
        return shutil.copytree(src, dst, **kwargs)
    return shutil.copy(src, dst)


hdfs_io = NS(makedirs=lambda path, mode=0o777, exist_ok=False, **kwargs: os.makedirs(path, mode, exist_ok),
             copy=_hdfs_copy)


# --- compiling the modules -----------------------------------------------------------------------------

def _compile(relpath, names):
    return NS(**load_source(relpath, simgpu_src_verl.SOURCES[relpath], names))


def load_hydra():
    """Compile the simulated Hydra; returns hydra.main's module."""
    version = NS(setbase=lambda base: None, base_at_least=lambda ver: True)
    hydra_names = dict(os=os, sys=SYS, inspect=inspect, traceback=TRACEBACK, argparse=argparse, warnings=warnings,
                       copy=copy, functools=functools, Enum=enum.Enum, dataclass=dataclass, Path=Path, dedent=dedent,
                       version=version, _UNSPECIFIED_=object(), is_under_debugger=lambda: False,
                       CompactHydraException=CompactHydraException, OmegaConfBaseException=OmegaConfBaseException,
                       SearchPathException=SearchPathException, SearchPathQuery=SearchPathQuery,
                       detect_calling_file_or_module_from_task_function=lambda fn: (SCRIPT, MODULE),
                       validate_config_path=lambda path: None,
                       create_automatic_config_search_path=create_automatic_config_search_path,
                       GlobalHydra=GlobalHydra, HydraConfig=HydraConfig, JobRuntime=JobRuntime, RunMode=RunMode,
                       ConfigLoaderImpl=ConfigLoaderImpl, setup_globals=lambda: None, Callbacks=Callbacks,
                       HydraContext=lambda **k: NS(**k), OmegaConf=OmegaConf, DictConfig=DictConfig,
                       read_write=read_write, open_dict=open_dict, env_override=lambda env: contextlib.nullcontext(),
                       configure_log=configure_log, _save_config=_save_config, _flush_loggers=_flush_loggers,
                       deprecation_warning=lambda message, stacklevel=1: warnings.warn(message, stacklevel=stacklevel),
                       HYDRA_VERSION=HYDRA_VERSION)
    core = _compile("hydra/core/utils.py", hydra_names)
    hydra_mod = _compile("hydra/_internal/hydra.py", dict(hydra_names, run_job=core.run_job))
    Hydra = hydra_mod.Hydra
    Hydra.app_help = _app_help
    Hydra.get_sanitized_hydra_cfg = lambda self, cfg: DictConfig({"hydra": _plain(cfg.hydra)})
    utils = _compile("hydra/_internal/utils.py", dict(hydra_names, Hydra=Hydra))
    return _compile("hydra/main.py", dict(hydra_names, get_args_parser=utils.get_args_parser,
                                          _run_hydra=utils._run_hydra))


def load(fw):
    """Compile the simulated Hydra and verl over fw's torch; returns the trainer module."""
    _patch_tensor(fw)
    torch = _vtorch(fw)
    qwen2 = _model_classes(fw, torch)
    main = load_hydra()
    dtypes = _compile("verl/utils/torch_dtypes.py", dict(torch=torch))
    dist = _compile("verl/utils/distributed.py", dict(
        os=os, torch=torch, timedelta=timedelta, get_nccl_backend=lambda: "nccl",
        get_torch_device=lambda: NS(set_device=lambda index: None)))
    get_device_id = lambda: _env_int("LOCAL_RANK", 0)  # noqa: E731
    fsdp_utils = _compile("verl/utils/fsdp_utils.py", dict(
        torch=torch, nn=torch.nn, dist=DIST, get_device_id=get_device_id, CPUOffloadPolicy=object,
        fully_shard=lambda module, **kwargs: module, StateDictOptions=lambda **k: NS(**k),
        set_model_state_dict=lambda model, state, options=None: None,
        _get_total_norm=lambda grads, *a: fw.tensor(), _clip_grads_with_norm_=lambda *a, **k: None))
    optim = _compile("verl/workers/config/optimizer.py", dict(importlib=_import_module(fw)))

    def from_pretrained(path, config=None, torch_dtype=None, **kwargs):
        open_session(torch_dtype)
        config = config or PretrainedConfig()
        layers = [qwen2["Qwen2DecoderLayer"](config, i, fw.torch.nn.Linear(fw.parameter(i))) for i in range(LAYERS)]
        model = qwen2["Qwen2ForCausalLM"](config, qwen2["Qwen2Model"](config, layers))
        fw.model = model
        return model

    class FullyShardedDataParallel(fw.torch.nn.Module):
        def __init__(self, module, **kwargs):
            super().__init__()
            self._fsdp_wrapped_module = module
            module.to(device=get_device_id())

        def forward(self, *args, **kwargs):
            return self._fsdp_wrapped_module(*args, **kwargs)

        def clip_grad_norm_(self, max_norm, norm_type=2.0):
            return fw.tensor()

    FullyShardedDataParallel.__module__ = "torch.distributed.fsdp.fully_sharded_data_parallel"
    names = dict(
        os=os, logging=logging, re=re, time=time, importlib=importlib, nullcontext=contextlib.nullcontext,
        torch=torch, nn=torch.nn, hydra=NS(main=main.main), OmegaConf=OmegaConf,
        FSDPUlyssesShardingManager=lambda mesh: contextlib.nullcontext(), DistributedSampler=DistributedSampler,
        StatefulDataLoader=StatefulDataLoader, copy_to_local=lambda src, verbose=False, **k: src,
        log_gpu_memory_usage=lambda head, logger=None, level=logging.DEBUG, rank=0: None,
        PrecisionType=dtypes.PrecisionType, AutoConfig=PretrainedConfig,
        AutoModelForCausalLM=NS(from_pretrained=from_pretrained),
        get_init_weight_context_manager=lambda use_meta_tensor=True, mesh=None: contextlib.nullcontext,
        apply_monkey_patch=lambda model, ulysses_sp_size=1, **k: None,
        MixedPrecision=lambda **k: NS(**k), MixedPrecisionPolicy=lambda **k: NS(**k), CPUOffloadPolicy=object,
        get_fsdp_wrap_policy=lambda module, config=None, is_lora=False: functools.partial(
            transformer_auto_wrap_policy, transformer_layer_cls={qwen2["Qwen2DecoderLayer"]}),
        CPUOffload=lambda offload_params=False: NS(offload_params=offload_params), FSDP=FullyShardedDataParallel,
        init_fn=lambda module: module, get_device_id=get_device_id,
        ShardingStrategy=NS(FULL_SHARD="FULL_SHARD"), apply_fsdp2=fsdp_utils.apply_fsdp2,
        fsdp2_load_full_state_dict=fsdp_utils.fsdp2_load_full_state_dict,
        fsdp2_clip_grad_norm_=fsdp_utils.fsdp2_clip_grad_norm_, build_optimizer=optim.build_optimizer,
        get_cosine_schedule_with_warmup=_Scheduler, get_wsd_schedule_with_warmup=_Scheduler,
        TensorDict=TensorDict, tqdm=tqdm, Tracking=Tracking, DictConfig=DictConfig,
        FSDPCheckpointManager=FSDPCheckpointManager, local_mkdir_safe=local_mkdir_safe, hdfs_io=hdfs_io,
        get_checkpoint_tracker_filename=lambda root_path: os.path.join(root_path, "latest_checkpointed_iteration.txt"),
        log_with_rank=lambda message, rank, logger=None, level=logging.INFO, log_only_rank_0=False: None,
        get_device_name=lambda: "cuda", initialize_global_process_group=dist.initialize_global_process_group,
        destroy_global_process_group=dist.destroy_global_process_group, init_device_mesh=init_device_mesh,
        hf_tokenizer=lambda path, **kwargs: NS(pad_token_id=0, eos_token_id=1),
        SFTDataset=SFTDataset, MultiTurnSFTDataset=MultiTurnSFTDataset,
        load_extern_object=_not_simulated("data.custom_cls (a custom dataset class)"))
    trainer = _compile("verl/trainer/fsdp_sft_trainer.py", names)
    _simulated_step_time(trainer.FSDPSFTTrainer)
    return trainer


def _simulated_step_time(cls):
    """training_step's metrics with the simulated numbers in place of the fake tensors' and the wall clock's: the
    step's loss, and train/time(s), which verl measures around the step with time.time(), on the simulated clock
    (the logged line's and the total's)."""
    measured = cls.training_step

    def training_step(self, batch):
        metric = measured(self, batch)
        driver = STATE.session.driver
        metric["train/loss"] = round(simgpu_run.loss_at(driver.step), 4)
        metric["train/time(s)"] = simgpu_speed_more.verl_step_seconds(driver)
        return metric

    cls.training_step = training_step


# --- entry point ------------------------------------------------------------------------------------------

def main():
    """`python -m verl.trainer.fsdp_sft_trainer [overrides]` (also under torchrun), one rank."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=SCRIPT)
    STATE.sim = sim
    STATE.fw = sim.frameworks
    trainer = load(sim.frameworks)
    sys.argv[1:] = sim.argv
    trainer.main()
    if STATE.session is not None:
        STATE.session.finish()
