"""The simulated axolotl's machinery: it compiles simgpu_src_axolotl's modules over the simulated
transformers, validates the config as axolotl's pydantic schema does (pydantic-core's part), and opens
the simulated GPU for the run. This file's frames are hidden from printed tracebacks.

Entry points: entry() for `python -m axolotl.cli.train` (examples/simtrain/pkgs/axolotl/cli/train.py)
and run_python_launcher() for `axolotl train --launcher python` (simgpu_src_axolotl_cli).
"""

import ast
import dataclasses
import datetime
import gc
import importlib
import inspect
import json
import math
import os
import re
import sys
import typing
import warnings
from pathlib import Path
from types import SimpleNamespace as NS

import simgpu
import simgpu_frames
import simgpu_memfixes
import simgpu_src_axolotl
import simgpu_yaml
from simgpu_frames import load_source

AXOLOTL_VERSION = "0.18.0"
# The torch version the sim claims when no `torch` module imports (a stub on PYTHONPATH with only
# __version__ will do, as for transformers): it picks axolotl's allocator branch.
TORCH_DEFAULT = "2.9.1"
PYDANTIC_DOCS = "https://errors.pydantic.dev/2.12/v/"


def torch_version():
    """torch.__version__ when `import torch` works in this Python, else TORCH_DEFAULT."""
    try:
        version = importlib.import_module("torch").__version__
    except Exception:
        return TORCH_DEFAULT
    return version if isinstance(version, str) else TORCH_DEFAULT


def compute_capability(env=None):
    """(major, minor) of the simulated GPU: SIMGPU_CC as vramrun's simulated NVML reads it (default 8.0)."""
    env = os.environ if env is None else env
    text = env.get("SIMGPU_CC", "") or "8.0"
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 8, 0


def bf16_available():
    """transformers' is_torch_bf16_gpu_available on the simulated GPU: compute capability 8.0 or more."""
    return compute_capability()[0] >= 8


# --- logging ---------------------------------------------------------------------------------------

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


class AxolotlLogger:
    """axolotl's logger (axolotl.utils.logging.get_logger): main process only, on stderr (the real one
    writes to stdout; the sim keeps stdout for the step and done lines)."""

    def __init__(self, name):
        self.name = name

    def _log(self, level, msg, args):
        threshold = _LEVELS.get(os.environ.get("AXOLOTL_LOG_LEVEL", "INFO").upper(), 20)
        if _LEVELS[level] < threshold or os.environ.get("RANK", "0") not in ("", "0"):
            return
        text = msg % args if args else str(msg)
        now = datetime.datetime.now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%S") + ",%03d" % (now.microsecond // 1000)
        sys.stdout.flush()
        sys.stderr.write("[%s] [%s] [%s] %s\n" % (stamp, level, self.name, text))
        sys.stderr.flush()

    def debug(self, msg, *args, **kwargs):
        self._log("DEBUG", msg, args)

    def info(self, msg, *args, **kwargs):
        self._log("INFO", msg, args)

    def warning(self, msg, *args, **kwargs):
        self._log("WARNING", msg, args)

    def error(self, msg, *args, **kwargs):
        self._log("ERROR", msg, args)


def get_logger(name):
    return AxolotlLogger(name)


# --- pydantic-core's part: the config schema ---------------------------------------------------------

class ValidationError(ValueError):
    """pydantic-core's ValidationError, with its text."""

    def __init__(self, title, errors):
        super().__init__(title, errors)
        self.title = title
        self.errors = errors

    def __str__(self):
        lines = ["%d validation error%s for %s" % (len(self.errors), "" if len(self.errors) == 1 else "s",
                                                  self.title)]
        for loc, message, kind, value in self.errors:
            lines.append(loc)
            lines.append("  %s [type=%s, input_value=%s, input_type=%s]"
                         % (message, kind, _truncate(repr(value)), type(value).__name__))
            lines.append("    For further information visit %s%s" % (PYDANTIC_DOCS, kind))
        return "\n".join(lines)


ValidationError.__module__ = "pydantic_core._pydantic_core"


class ParserError(Exception):
    """What PyYAML raises for a config it cannot read (the sim reads a YAML subset, simgpu_yaml)."""


ParserError.__module__ = "yaml.parser"


def _truncate(text):
    return text if len(text) <= 50 else text[:25] + "..." + text[-24:]


def _quote_list(values):
    quoted = ["'%s'" % v for v in values]
    return quoted[0] if len(quoted) == 1 else "%s or %s" % (", ".join(quoted[:-1]), quoted[-1])


INT, FLOAT, BOOL, STR, DICT, LIST, ANY = "int", "float", "bool", "str", "dict", "list", "any"


def lit(*values):
    return ("literal", values)


def enum(name, values):
    return ("enum", name, tuple(values))


CUSTOM_OPTIMIZERS = ["optimi_adamw", "ao_adamw_4bit", "ao_adamw_8bit", "ao_adamw_fp8", "adopt_adamw",
                     "came_pytorch", "muon", "dion", "q_galore_adamw8bit", "flash_adamw"]
OPTIMIZER = (enum("OptimizerNames", simgpu_frames.OPTIMIZER_NAMES), enum("CustomSupportedOptimizers",
                                                                          CUSTOM_OPTIMIZERS))
REQUIRED = object()

# axolotl's schema (utils/schemas/*.py): field -> (types of the union, default). Defaults are the
# schema's, except max_steps (the sim's dataset is max_steps long; real axolotl derives it from the
# dataset and num_epochs). Keys the schema does not know are dropped, as pydantic's extra="ignore" does.
FIELDS = {
    # model
    "base_model": ((STR,), REQUIRED), "base_model_config": ((STR,), None), "cls_model_config": ((STR,), None),
    "tokenizer_config": ((STR,), None), "tokenizer_use_fast": ((BOOL,), None), "tokenizer_legacy": ((BOOL,), None),
    "tokenizer_type": ((STR,), None), "processor_type": ((STR,), None), "trust_remote_code": ((BOOL,), None),
    "model_type": ((STR,), None), "type_of_model": ((STR,), None), "revision_of_model": ((STR,), None),
    "output_dir": ((STR,), "./model-out"), "hub_model_id": ((STR,), None), "hub_strategy": ((STR,), None),
    "save_safetensors": ((BOOL,), True),
    # adapters and quantization (accepted; their memory is not simulated)
    "load_in_8bit": ((BOOL,), False), "load_in_4bit": ((BOOL,), False), "adapter": ((STR,), None),
    "lora_model_dir": ((STR,), None), "lora_r": ((INT,), None), "lora_alpha": ((INT,), None),
    "lora_dropout": ((FLOAT,), None), "lora_target_modules": ((STR, LIST), None),
    "lora_target_linear": ((BOOL,), None), "lora_modules_to_save": ((LIST,), None),
    "lora_fan_in_fan_out": ((BOOL,), None), "peft_use_dora": ((BOOL,), None), "peft_use_rslora": ((BOOL,), None),
    "gptq": ((BOOL,), None), "merge_lora": ((BOOL,), None), "relora": ((BOOL,), None),
    # hyperparameters
    "gradient_accumulation_steps": ((INT,), 1), "micro_batch_size": ((INT,), 1), "batch_size": ((INT,), None),
    "eval_batch_size": ((INT,), None), "auto_find_batch_size": ((BOOL,), None), "train_on_inputs": ((BOOL,), False),
    "group_by_length": ((BOOL,), None), "learning_rate": ((STR, FLOAT), REQUIRED), "embedding_lr": ((FLOAT,), None),
    "embedding_lr_scale": ((FLOAT,), None), "weight_decay": ((FLOAT,), 0.0), "optimizer": (OPTIMIZER, "adamw_torch_fused"),
    "optim_args": ((STR, DICT), None), "optim_target_modules": ((LIST, lit("all_linear")), None),
    "torchdistx_path": ((STR,), None), "lr_scheduler": ((STR,), "cosine"), "lr_scheduler_kwargs": ((DICT,), None),
    "lr_quadratic_warmup": ((BOOL,), None), "cosine_min_lr_ratio": ((FLOAT,), None),
    "cosine_constant_lr_ratio": ((FLOAT,), None), "lr_div_factor": ((FLOAT,), None),
    "adam_epsilon": ((FLOAT,), None), "adam_epsilon2": ((FLOAT,), None), "adam_beta1": ((FLOAT,), None),
    "adam_beta2": ((FLOAT,), None), "adam_beta3": ((FLOAT,), None), "max_grad_norm": ((FLOAT,), None),
    "num_epochs": ((FLOAT,), 1.0),
    # integrations
    "use_wandb": ((BOOL,), None), "wandb_name": ((STR,), None), "wandb_run_id": ((STR,), None),
    "wandb_mode": ((STR,), None), "wandb_project": ((STR,), None), "wandb_entity": ((STR,), None),
    "wandb_watch": ((STR,), None), "wandb_log_model": ((STR,), None), "use_mlflow": ((BOOL,), None),
    "mlflow_tracking_uri": ((STR,), None), "mlflow_experiment_name": ((STR,), None),
    "mlflow_run_name": ((STR,), None), "use_comet": ((BOOL,), None), "use_tensorboard": ((BOOL,), None),
    "use_ray": ((BOOL,), False), "ray_run_name": ((STR,), None), "ray_num_workers": ((INT,), None),
    # the rest of AxolotlInputConfig
    "strict": ((BOOL,), False), "resume_from_checkpoint": ((STR,), None),
    "auto_resume_from_checkpoints": ((BOOL,), None), "resize_token_embeddings_to_32x": ((BOOL,), None),
    "mean_resizing_embeddings": ((BOOL,), False), "shrink_embeddings": ((BOOL,), None),
    "embeddings_skip_upcast": ((BOOL,), None), "reinit_weights": ((BOOL,), None), "trainer_cls": ((STR,), None),
    "rl": ((enum("RLType", ["dpo", "ipo", "kto", "simpo", "orpo", "grpo", "ebft"]),), None),
    "trl": ((DICT,), None), "vllm": ((DICT,), None), "reward_model": ((BOOL,), None),
    "process_reward_model": ((BOOL,), None), "num_labels": ((INT,), None),
    "datasets": ((LIST,), None), "test_datasets": ((LIST,), None), "shuffle_merged_datasets": ((BOOL,), True),
    "shuffle_before_merging_datasets": ((BOOL,), None), "dataset_prepared_path": ((STR,), None),
    "dataset_shard_num": ((INT,), None), "dataset_shard_idx": ((INT,), None),
    "skip_prepare_dataset": ((BOOL,), False), "num_dataset_shards_to_save": ((INT,), None),
    "pretraining_dataset": ((LIST,), None), "dataset_processes": ((INT,), None), "dataset_num_proc": ((INT,), None),
    "dataset_exact_deduplication": ((BOOL,), None), "dataset_keep_in_memory": ((BOOL,), None),
    "dataloader_pin_memory": ((BOOL,), None), "dataloader_num_workers": ((INT,), None),
    "dataloader_prefetch_factor": ((INT,), None), "dataloader_drop_last": ((BOOL,), None),
    "accelerator_config": ((DICT,), None), "remove_unused_columns": ((BOOL,), None),
    "push_dataset_to_hub": ((STR,), None), "hf_use_auth_token": ((BOOL,), None),
    "device": ((ANY,), None), "device_map": ((ANY,), None), "world_size": ((INT,), None),
    "local_rank": ((INT,), None), "ddp": ((BOOL,), None), "seed": ((INT,), None), "full_determinism": ((BOOL,), None),
    "ddp_timeout": ((INT,), None), "ddp_bucket_cap_mb": ((INT,), None), "ddp_broadcast_buffers": ((BOOL,), None),
    "ddp_find_unused_parameters": ((BOOL,), None), "eval_table_size": ((INT,), None),
    "eval_max_new_tokens": ((INT,), None), "do_causal_lm_eval": ((BOOL,), None),
    "eval_causal_lm_metrics": ((LIST,), None), "do_bench_eval": ((BOOL,), None), "bench_dataset": ((STR,), None),
    "bench_split": ((STR,), None), "metric_for_best_model": ((STR,), None), "greater_is_better": ((BOOL,), None),
    "loss_watchdog_threshold": ((FLOAT,), None), "loss_watchdog_patience": ((INT,), None),
    "gc_steps": ((INT,), None), "torch_empty_cache_steps": ((INT,), None), "gc_collect_steps": ((INT,), None),
    # precision
    "bf16": ((lit("auto", "full"), BOOL), "auto"), "fp16": ((BOOL,), None), "fp8": ((BOOL,), None),
    "bfloat16": ((BOOL,), None), "float16": ((BOOL,), None), "tf32": ((lit("auto"), BOOL), None),
    "float32": ((BOOL,), None),
    # memory
    "gradient_checkpointing": ((lit("offload", "offload_disk"), BOOL), False),
    "gradient_checkpointing_kwargs": ((DICT,), None),
    "activation_offloading": ((lit("legacy", "disk", "hidden_states"), BOOL), False),
    "layer_offloading": ((BOOL,), None), "unfrozen_parameters": ((LIST,), None),
    "sequence_len": ((INT,), 512), "eval_sequence_len": ((INT,), None), "min_sample_len": ((INT,), None),
    "max_prompt_len": ((INT,), 512), "sample_packing": ((BOOL,), None), "sample_packing_group_size": ((INT,), None),
    "sample_packing_bin_size": ((INT,), None), "sample_packing_sequentially": ((BOOL,), None),
    "eval_sample_packing": ((BOOL,), None), "pad_to_sequence_len": ((BOOL,), None),
    "pad_to_multiple_of": ((INT,), None), "curriculum_sampling": ((BOOL,), None),
    "multipack_real_batches": ((BOOL,), None), "batch_flattening": ((lit("auto"), BOOL), None),
    "streaming": ((BOOL,), None), "xformers_attention": ((BOOL,), None), "sdp_attention": ((BOOL,), None),
    "s2_attention": ((BOOL,), None), "flex_attention": ((BOOL,), None), "flash_attention": ((BOOL,), None),
    "flash_attn_cross_entropy": ((BOOL,), None), "flash_attn_rms_norm": ((BOOL,), None),
    "flash_attn_fuse_mlp": ((BOOL,), None), "flash_optimum": ((BOOL,), None), "eager_attention": ((BOOL,), None),
    "sage_attention": ((BOOL,), None), "attn_implementation": ((STR,), None),
    "lora_mlp_kernel": ((BOOL,), None), "lora_qkv_kernel": ((BOOL,), None), "lora_o_kernel": ((BOOL,), None),
    "chunked_cross_entropy": ((BOOL,), None), "chunked_cross_entropy_num_chunks": ((INT,), None),
    "tiled_mlp": ((BOOL,), None), "tiled_mlp_num_shards": ((INT,), None),
    "deepspeed": ((STR, DICT), None), "deepcompile": ((BOOL,), None), "fsdp": ((LIST,), None),
    "fsdp_config": ((DICT,), None), "fsdp_version": ((INT,), None), "fsdp_final_state_dict_type": ((STR,), None),
    "val_set_size": ((FLOAT,), 0.0), "dp_shard_size": ((INT,), None), "dp_replicate_size": ((INT,), None),
    "sequence_parallel_degree": ((INT,), None), "context_parallel_size": ((INT,), None),
    "tensor_parallel_size": ((INT,), None), "special_tokens": ((DICT,), None), "tokens": ((LIST,), None),
    "added_tokens_overrides": ((DICT,), None), "torch_compile": ((lit("auto"), BOOL), None),
    "torch_compile_backend": ((STR,), None),
    "torch_compile_mode": ((lit("default", "reduce-overhead", "max-autotune"),), None),
    # schedule, evaluation, checkpoints
    "max_steps": ((INT,), 20), "warmup_steps": ((INT,), None), "warmup_ratio": ((FLOAT,), None),
    "eval_steps": ((INT, FLOAT), None), "evals_per_epoch": ((INT,), None), "eval_strategy": ((STR,), None),
    "save_steps": ((INT, FLOAT), None), "saves_per_epoch": ((INT,), None), "save_strategy": ((STR,), None),
    "save_total_limit": ((INT,), None), "save_first_step": ((BOOL,), None), "logging_steps": ((INT,), None),
    "early_stopping_patience": ((INT,), None), "load_best_model_at_end": ((BOOL,), False),
    "save_only_model": ((BOOL,), False), "profiler_steps": ((INT,), None),
    "include_tokens_per_second": ((BOOL,), None), "neftune_noise_alpha": ((FLOAT,), None),
    "max_memory": ((DICT,), None), "gpu_memory_limit": ((INT, STR), None), "low_cpu_mem_usage": ((BOOL,), None),
    "chat_template": ((STR,), None), "chat_template_jinja": ((STR,), None), "eot_tokens": ((LIST,), None),
    "default_system_message": ((STR,), None), "is_preprocess": ((BOOL,), None),
    "axolotl_config_path": ((STR,), None), "plugins": ((LIST,), None),
}


def _strict(kind, value):
    """Smart-union's first pass: the value is exactly of the member's type."""
    if kind == INT:
        return type(value) is int, value
    if kind == FLOAT:
        return type(value) is float, value
    if kind == BOOL:
        return type(value) is bool, value
    if kind == STR:
        return type(value) is str, value
    if kind == DICT:
        return isinstance(value, dict), value
    if kind == LIST:
        return isinstance(value, list), value
    if kind == ANY:
        return True, value
    if kind[0] == "literal":
        return any(type(value) is type(v) and value == v for v in kind[1]), value
    return isinstance(value, str) and value in kind[2], value


def _lax(kind, value):
    """(value, None) or (None, (message, error type)) as pydantic's lax mode converts."""
    if kind == INT:
        if isinstance(value, bool):
            return int(value), None
        if isinstance(value, int):
            return value, None
        if isinstance(value, float):
            if value.is_integer():
                return int(value), None
            return None, ("Input should be a valid integer, got a number with a fractional part", "int_from_float")
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                try:
                    number = float(value.strip())
                except ValueError:
                    number = None
                if number is not None and number.is_integer():
                    return int(number), None
            return None, ("Input should be a valid integer, unable to parse string as an integer", "int_parsing")
        return None, ("Input should be a valid integer", "int_type")
    if kind == FLOAT:
        if isinstance(value, (int, float)):
            return float(value), None
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                return None, ("Input should be a valid number, unable to parse string as a number", "float_parsing")
        return None, ("Input should be a valid number", "float_type")
    if kind == BOOL:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("0", "off", "f", "false", "n", "no"):
                return False, None
            if low in ("1", "on", "t", "true", "y", "yes"):
                return True, None
        if isinstance(value, (str, int, float)):
            return None, ("Input should be a valid boolean, unable to interpret input", "bool_parsing")
        return None, ("Input should be a valid boolean", "bool_type")
    if kind == STR:
        if isinstance(value, str):
            return value, None
        return None, ("Input should be a valid string", "string_type")
    if kind == DICT:
        if isinstance(value, dict):
            return value, None
        return None, ("Input should be a valid dictionary", "dict_type")
    if kind == LIST:
        if isinstance(value, (list, tuple)):
            return list(value), None
        return None, ("Input should be a valid list", "list_type")
    if kind == ANY:
        return value, None
    if kind[0] == "literal":
        if any(type(value) is type(v) and value == v for v in kind[1]):
            return value, None
        return None, ("Input should be %s" % _quote_list(kind[1]), "literal_error")
    if isinstance(value, str) and value in kind[2]:
        return value, None
    return None, ("Input should be %s" % _quote_list(kind[2]), "enum")


def _label(kind):
    if kind == DICT:
        return "dict[str,any]"
    if kind == LIST:
        return "list[any]"
    if isinstance(kind, str):
        return kind
    if kind[0] == "literal":
        return "literal[%s]" % ",".join(repr(v) for v in kind[1])
    return "enum[%s]" % kind[1]


def validate_field(name, kinds, value):
    """(value, errors): the union's members tried strictly, then laxly, in order."""
    for kind in kinds:
        ok, converted = _strict(kind, value)
        if ok:
            return converted, []
    errors = []
    for kind in kinds:
        converted, error = _lax(kind, value)
        if error is None:
            return converted, []
        loc = name if len(kinds) == 1 else "%s.%s" % (name, _label(kind))
        errors.append((loc, error[0], error[1], value))
    return None, errors


class SchemaValidator:
    """pydantic-core's validator and serializer of AxolotlInputConfig / AxolotlConfigWCapabilities."""

    def __init__(self, title, logger=None, capabilities=False):
        self.title = title
        self.log = logger
        self.capabilities = capabilities

    def validate_python(self, data, self_instance=None):
        values, errors = {}, []
        for name, (kinds, default) in FIELDS.items():
            if name not in data:
                if default is REQUIRED:
                    errors.append((name, "Field required", "missing", data))
                else:
                    values[name] = default
                continue
            value = data[name]
            if value is None:
                if default is REQUIRED:
                    _, errs = validate_field(name, kinds, value)
                    errors.extend(errs)
                values[name] = None
                continue
            converted, errs = validate_field(name, kinds, value)
            if errs:
                errors.extend(errs)
                continue
            if name == "learning_rate" and isinstance(converted, str):
                try:
                    converted = float(converted)
                except ValueError as err:
                    errors.append((name, "Value error, %s" % err, "value_error", value))
                    continue
            values[name] = converted
        if self.capabilities:
            for name in ("capabilities", "env_capabilities"):
                if not isinstance(data.get(name), dict):
                    errors.append((name, "Input should be a valid dictionary or instance of GPUCapabilities",
                                   "model_type", data.get(name)))
                values[name] = data.get(name)
        if errors:
            raise ValidationError(self.title, errors)
        if self.capabilities:
            self._check_capabilities(values)
        self_instance.__dict__.update(values)
        return self_instance

    def _check_capabilities(self, values):
        caps = values["capabilities"]
        if caps.get("bf16"):
            if not values["bf16"] and not values["bfloat16"]:
                self.log.info("bf16 support detected, but not enabled for this configuration.")
        elif not values["merge_lora"] and not values["is_preprocess"] and (
                values["bf16"] is True or values["bfloat16"] is True):
            self.log.warning(
                "bf16 requested, but AMP is not supported on this GPU. Requires Ampere series or above. "
                "Training will fail, but other operations (such as merging) are still functional.")
        if values["tf32"] == "auto":
            values["tf32"] = bool(caps.get("tf32"))

    def to_python(self, instance, exclude_none=False):
        return {k: v for k, v in instance.__dict__.items() if not (exclude_none and v is None)}


# --- datasets, tokenizer, the simulated GPU ------------------------------------------------------------

def _safe_load(stream):
    """PyYAML's safe_load over simgpu_yaml's subset."""
    text = stream.read()
    try:
        return simgpu_yaml.loads(text, getattr(stream, "name", "<file>"))
    except simgpu_yaml.YAMLError as err:
        raise ParserError(str(err)) from None


def load_tokenizer(cfg):
    return NS(name_or_path=cfg.tokenizer_config, pad_token="<|endoftext|>", eos_token="<|endoftext|>")


def load_datasets(*, cfg, cli_args=None, **kwargs):
    """TrainDatasetMeta of the sim's dataset: max_steps optimizer steps, an eval split when val_set_size
    or test_datasets ask for one."""
    eval_dataset = NS(split="test") if (cfg.val_set_size or cfg.test_datasets) else None
    return NS(train_dataset=NS(split="train"), eval_dataset=eval_dataset, total_num_steps=cfg.max_steps)


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
        sys.stderr.write("[WARNING] [config.py:760:__init__] offload_optimizer needs ZeRO stage 1, 2 or 3; "
                         "ignored at stage 0\n")
        offload = False
    return stage, offload


def precision_of(cfg, training_args):
    """The sim's precision: AMP from the TrainingArguments (or accelerate's environment), else the
    model's dtype (bfloat16/float16 without AMP, bf16: full)."""
    mixed = training_args.mixed_precision
    if mixed in ("fp16", "bf16"):
        return mixed
    if cfg.bfloat16 or cfg.bf16 == "full":
        return "bf16-true"
    if cfg.float16:
        return "fp16-true"
    return "fp32"


class SimGPU:
    """The run's simulated GPU, opened by the trainer builder once the sizes are known."""

    def __init__(self, sim):
        self.sim = sim
        self.session = None

    def open(self, cfg, args):
        micro, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
        for value in (micro, args.per_device_eval_batch_size):
            if not isinstance(value, int) or value < 1:
                raise ValueError("batch_size should be a positive integer value, but got batch_size=%r" % (value,))
        if accumulation < 1:
            raise ValueError("gradient_accumulation_steps should be a positive integer, got %r" % (accumulation,))
        if args.max_steps < 1:
            raise ValueError("args.max_steps must be set to a positive value if dataloader does not have a length, "
                             "was %r" % (args.max_steps,))
        stage, offload = deepspeed_settings(args)
        every, at_end = 0, False
        if args.eval_strategy == "steps":
            steps = args.eval_steps
            every = max(1, math.ceil(args.max_steps * steps) if steps < 1 else int(steps))
        elif args.eval_strategy == "epoch":
            at_end = True
        optimizer = cfg.optimizer
        # gradient_checkpointing: offload|offload_disk is axolotl's gradient_checkpointing: true with
        # activation_offloading: true|disk (its config validation converts it)
        activation_offload = (bool(cfg.activation_offloading)
                              or cfg.gradient_checkpointing in ("offload", "offload_disk"))
        job = simgpu.Job(
            "axolotl", micro_batch=micro, accumulation=accumulation, eval_batch=args.per_device_eval_batch_size,
            precision=precision_of(cfg, args),
            checkpointing=bool(cfg.gradient_checkpointing) or bool(cfg.activation_offloading),
            optimizer=optimizer, optimizer_kind=simgpu.optimizer_kind(optimizer), offload=offload, zero_stage=stage,
            steps=args.max_steps, eval_every=every, eval_at_end=at_end,
            fused_loss=bool(cfg.chunked_cross_entropy), activation_offload=activation_offload,
            eval_accumulation=simgpu_memfixes.hf_eval_accumulation(None),
        )
        self.session = self.sim.session(job)

    def finish(self):
        if self.session is not None:
            self.session.finish()


def _torch():
    """What axolotl's modules ask of torch (device, capability, dtypes, version)."""
    major, minor = compute_capability()
    props = NS(major=major, minor=minor, name=os.environ.get("SIMGPU_NAME", "") or "vramrun simulated GPU")
    cuda = NS(is_available=lambda: True, get_device_properties=lambda device=None: props,
              device_count=lambda: int(os.environ.get("SIMGPU_COUNT", "1") or 1))
    return NS(cuda=cuda, bfloat16="torch.bfloat16", float16="torch.float16", float32="torch.float32",
              **{"__version__": torch_version()})


def load(sim):
    """Compile axolotl's modules over the simulated transformers of `sim`; returns fire and do_cli."""
    hf = sim.frameworks.transformers
    gpu = SimGPU(sim)
    src = simgpu_src_axolotl.SOURCES
    base = {"os": os, "sys": sys, "json": json, "math": math, "re": re, "gc": gc, "ast": ast, "inspect": inspect,
            "warnings": warnings, "Path": Path, "dataclass": dataclasses.dataclass, "field": dataclasses.field,
            "Optional": typing.Optional, "get_logger": get_logger, "torch": _torch(),
            "is_torch_bf16_gpu_available": bf16_available}

    def module(relpath, **names):
        return load_source(relpath, src[relpath], dict(base, **names))

    fire_parser = module("fire/parser.py")
    fire = module("fire/core.py", parser=NS(SeparateFlagArgs=fire_parser["SeparateFlagArgs"],
                                            DefaultParseValue=fire_parser["DefaultParseValue"]))
    pydantic = module("pydantic/main.py")
    DictDefault = module("axolotl/utils/dict.py")["DictDefault"]
    schemas = module("axolotl/utils/schemas/config.py", BaseModel=pydantic["BaseModel"], SchemaValidator=SchemaValidator)
    config_utils = module("axolotl/utils/config/__init__.py", DictDefault=DictDefault,
                          AxolotlInputConfig=schemas["AxolotlInputConfig"],
                          AxolotlConfigWCapabilities=schemas["AxolotlConfigWCapabilities"])
    cli_config = module("axolotl/cli/config.py", DictDefault=DictDefault, yaml=NS(safe_load=_safe_load),
                        validate_config=config_utils["validate_config"],
                        normalize_config=config_utils["normalize_config"])
    cli_args = module("axolotl/cli/args.py")
    training_args = module("axolotl/core/training_args.py", TrainingArguments=hf.TrainingArguments)
    trainers = module("axolotl/core/trainers/base.py", Trainer=hf.Trainer)
    builders = module("axolotl/core/builders/causal.py",
                      AxolotlTrainingArguments=training_args["AxolotlTrainingArguments"],
                      AxolotlTrainer=trainers["AxolotlTrainer"], SIMGPU=gpu)
    utils_trainer = module("axolotl/utils/trainer.py", HFCausalTrainerBuilder=builders["HFCausalTrainerBuilder"])
    loaders = module("axolotl/loaders/model.py", AutoModelForCausalLM=hf.AutoModelForCausalLM,
                     is_bitsandbytes_available=simgpu_frames.bitsandbytes_importable)
    train = module("axolotl/train.py", load_tokenizer=load_tokenizer, ModelLoader=loaders["ModelLoader"],
                   setup_trainer=utils_trainer["setup_trainer"])
    cli_train = module("axolotl/cli/train.py", load_cfg=cli_config["load_cfg"], HfArgumentParser=hf.HfArgumentParser,
                       TrainerCliArgs=cli_args["TrainerCliArgs"], load_datasets=load_datasets, train=train["train"],
                       SIMGPU=gpu)
    return NS(fire=NS(Fire=fire["Fire"], FireExit=fire["FireExit"]), do_cli=cli_train["do_cli"], gpu=gpu)


def entry():
    """`python -m axolotl.cli.train CONFIG [--key=value ...]`: take the --sim-* options out of the command
    line, then load; the module runs fire.Fire(do_cli) over what is left."""
    sim = simgpu.start(default_format="pytorch", script="axolotl.cli.train")
    sys.argv[1:] = sim.argv
    mods = load(sim)
    return mods.fire, mods.do_cli


def run_python_launcher(config, kwargs, sim_args):
    """`axolotl train --launcher python`: do_cli in this process, as axolotl's CLI calls it."""
    sim = simgpu.start(argv=list(sim_args), default_format="pytorch", script="axolotl")
    mods = load(sim)
    mods.do_cli(config=config, **kwargs)
    return 0
