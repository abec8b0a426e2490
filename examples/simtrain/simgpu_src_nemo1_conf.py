"""The simulated NeMo 1 script's configuration: Hydra as NeMo's hydra_runner drives it (the verl sim's Hydra,
simgpu_src_verl_load, with the config search path relative to the script, as hydra.main's config_path is),
OmegaConf's interpolations and the resolvers NeMo registers (multiply, sum) resolved once the config is
composed, and the OmegaConf calls exp_manager makes (structured, create, merge with ExpManagerConfig's schema,
which refuses a key it does not have). Machinery of simgpu_src_nemo1_load; frames of this file are hidden.
"""

import copy
import os
import re
from types import SimpleNamespace as NS

import simgpu_src_verl_load as hydra

ORIGINAL_CWD = os.getcwd()


class MissingMandatoryValue(hydra.OmegaConfBaseException):
    pass


class InterpolationKeyError(hydra.OmegaConfBaseException):
    pass


class UnsupportedInterpolationType(hydra.OmegaConfBaseException):
    pass


for _cls in (MissingMandatoryValue, InterpolationKeyError, UnsupportedInterpolationType):
    _cls.__module__ = "omegaconf.errors"


def _full_key_error(cls, message, key, object_type="dict"):
    return cls("%s\n    full_key: %s\n    object_type=%s" % (message, key, object_type))


# --- the config search path and loader ----------------------------------------------------------------

class SearchPath(hydra.SearchPath):
    """hydra.main's config_path, relative to the script declaring it (or absolute), then --config-dir's."""

    def __init__(self, config_path):
        self.entries = []
        folder = config_path or "."
        if not os.path.isabs(folder):
            folder = os.path.join(os.path.dirname(os.path.abspath(hydra.SCRIPT)), folder)
        self.dirs = [os.path.normpath(folder)]

    def describe(self):
        lines = ["\tprovider=hydra, path=pkg://hydra.conf"]
        lines += ["\tprovider=command-line, path=file://%s" % d for d in self.dirs[:-1]]
        lines += ["\tprovider=main, path=file://%s" % self.dirs[-1], "\tprovider=schema, path=structured://"]
        return "\n".join(lines)


def create_automatic_config_search_path(calling_file, calling_module, config_path):
    return SearchPath(config_path)


class ConfigLoaderImpl(hydra.ConfigLoaderImpl):
    def load_configuration(self, config_name, overrides, run_mode, from_shell=True, validate_sweep_overrides=True):
        cfg = super().load_configuration(config_name, overrides, run_mode, from_shell, validate_sweep_overrides)
        for key in list(cfg.keys()):
            if key != "hydra":
                resolve(cfg, key)
        return cfg


# --- interpolations and NeMo's resolvers ----------------------------------------------------------------

_INNERMOST = re.compile(r"\$\{([^${}]*)\}")
_NUMBER = re.compile(r"^[-+]?\d+(\.\d*)?([eE][-+]?\d+)?$")
# nemo/core/config/omegaconf_utils... registered at import of NeMo: ${multiply:a,b}, ${sum:a,b}.
RESOLVERS = {"multiply": lambda *a: _product(a), "sum": lambda *a: sum(a)}


def _product(values):
    out = 1
    for v in values:
        out *= v
    return out


def _scalar(text):
    text = text.strip()
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def _lookup(root, key, full_key):
    node = root
    for part in key.split("."):
        if not isinstance(node, hydra.DictConfig) or part not in node:
            raise _full_key_error(InterpolationKeyError, "Interpolation key '%s' not found" % key, full_key)
        node = node._content[part]
    return node


def _evaluate(root, path, expr, full_key):
    expr = expr.strip()
    name, colon, args = expr.partition(":")
    if colon and not name.startswith("."):
        if name not in RESOLVERS:
            raise _full_key_error(UnsupportedInterpolationType, "Unsupported interpolation type %s" % name, full_key)
        return RESOLVERS[name](*[_scalar(a) for a in args.split(",")])
    if expr.startswith("."):
        ups = len(expr) - len(expr.lstrip("."))
        anchor = path[:-1][: len(path) - ups] if ups > 1 else path[:-1]
        expr = ".".join(anchor + [expr.lstrip(".")])
    value = _lookup(root, expr, full_key)
    return _resolve_value(root, expr.split("."), value) if isinstance(value, str) else value


def _resolve_value(root, path, value):
    """A string's interpolations, innermost first; a string that is one interpolation is its value."""
    full_key = ".".join(path)
    while isinstance(value, str) and "${" in value:
        match = _INNERMOST.search(value)
        if match is None:
            break
        result = _evaluate(root, path, match.group(1), full_key)
        if match.span() == (0, len(value)):
            value = result
        else:
            value = value[:match.start()] + str(result) + value[match.end():]
    return value


def resolve(cfg, key, root=None, path=()):
    """cfg[key] with every interpolation resolved, in place (OmegaConf resolves on access; the values are the
    same)."""
    root = cfg if root is None else root
    path = list(path) + [key]
    value = cfg._content[key]
    if isinstance(value, hydra.DictConfig):
        for child in list(value.keys()):
            resolve(value, child, root, path)
    elif isinstance(value, list):
        cfg._content[key] = [_resolve_value(root, path, v) for v in value]
    else:
        cfg._content[key] = _resolve_value(root, path, value)


def mandatory(cfg, key, full_key):
    """cfg[key], failing as OmegaConf does on '???'."""
    value = cfg.get(key)
    if value == "???":
        raise _full_key_error(MissingMandatoryValue, "Missing mandatory value: %s" % full_key, full_key)
    return value


# --- OmegaConf as exp_manager calls it ----------------------------------------------------------------------

def _schema(name, fields):
    return NS(name=name, fields=fields)


CALLBACK_PARAMS = _schema("CallbackParams", dict(
    filepath=None, dirpath=None, filename=None, monitor="val_loss", verbose=True, save_last=True, save_top_k=3,
    save_weights_only=False, mode="min", auto_insert_metric_name=True, every_n_epochs=1, every_n_train_steps=None,
    train_time_interval=None, prefix=None, postfix=".nemo", save_best_model=False, always_save_nemo=False,
    save_nemo_on_train_end=True, model_parallel_size=None, save_on_train_epoch_end=False, async_save=False,
    save_last_n_optim_states=-1))
# nemo/utils/exp_manager.py's ExpManagerConfig (NeMo 2.0's nemo/collections/nlp side); *_kwargs are dicts here.
EXP_MANAGER_CONFIG = _schema("ExpManagerConfig", dict(
    explicit_log_dir=None, exp_dir=None, name=None, version=None, use_datetime_version=True, resume_if_exists=False,
    resume_past_end=False, resume_ignore_no_checkpoint=False, resume_from_checkpoint=None,
    create_tensorboard_logger=True, summary_writer_kwargs=None, create_wandb_logger=False, wandb_logger_kwargs=None,
    create_mlflow_logger=False, mlflow_logger_kwargs={}, create_dllogger_logger=False, dllogger_logger_kwargs={},
    create_clearml_logger=False, clearml_logger_kwargs={}, create_neptune_logger=False, neptune_logger_kwargs=None,
    create_checkpoint_callback=True, checkpoint_callback_params=CALLBACK_PARAMS, create_early_stopping_callback=False,
    early_stopping_callback_params={}, create_preemption_callback=True, files_to_copy=None, log_step_timing=True,
    log_delta_step_timing=False, step_timing_kwargs={}, log_local_rank_0_only=False, log_global_rank_0_only=False,
    disable_validation_on_resume=True, ema={}, max_time_per_run=None, seconds_to_sleep=5,
    create_straggler_detection_callback=False, straggler_detection_params={}, create_fault_tolerance_callback=False,
    fault_tolerance={}, log_tflops_per_sec=False))


def _defaults(schema):
    return {k: _defaults(v) if isinstance(v, NS) else copy.deepcopy(v) for k, v in schema.fields.items()}


def _merge(schema, value, prefix=""):
    """OmegaConf.merge(structured schema, value): the schema's keys only."""
    out = _defaults(schema)
    for key, item in (value or {}).items():
        full = prefix + key
        if key not in schema.fields:
            raise _full_key_error(hydra.ConfigKeyError, "Key '%s' not in '%s'" % (key, schema.name), full, schema.name)
        field = schema.fields[key]
        out[key] = _merge(field, item, full + ".") if isinstance(field, NS) and isinstance(item, dict) else item
    return out


class OmegaConf(hydra.OmegaConf):
    @staticmethod
    def structured(schema):
        return schema

    @staticmethod
    def create(content):
        return hydra.DictConfig(content)

    @staticmethod
    def to_container(cfg, resolve=False, **kwargs):
        return hydra._plain(cfg)

    @staticmethod
    def merge(schema, cfg):
        return hydra.DictConfig(_merge(schema, hydra._plain(cfg)))


OmegaConf.__module__ = "omegaconf.omegaconf"

HYDRA_CONFIG = NS(initialized=lambda: True)


def get_original_cwd():
    return ORIGINAL_CWD
