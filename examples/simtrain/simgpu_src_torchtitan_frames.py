"""The fake torchtitan (v0.2.2): loads simgpu_src_torchtitan's modules and does what its dependencies do.

`python -m torchtitan.train` (examples/simtrain/pkgs/torchtitan/train.py, under torchrun or pkgs/run_train.sh)
calls run_main(). This file's frames are left out of printed tracebacks. It supplies tomllib (the standard
library's on 3.11+, else a small reader), tyro.cli for the JobConfig dataclasses (`--section.key v`,
`--section.key=v`, hyphens or underscores, bool flags `--section.flag` / `--section.no-flag`, tyro's error
panels on stderr and exit 2), the llama3 train spec (model, tokenizer, dataloader, validator, lr schedulers,
metrics processor), torch.distributed's pieces, DCP checkpoints (step-N folders) and the simulated job: the
session opens when the trainer parallelizes its model.
"""

import contextlib
import copy
import dataclasses
import datetime
import difflib
import functools
import importlib
import json
import logging
import os
import re
import shutil
import sys
import time
import typing
from fractions import Fraction
from types import SimpleNamespace as NS

import simgpu
import simgpu_model
import simgpu_run
import simgpu_src_torchtitan
from simgpu_model import LAYERS
from simgpu_src_torchtune_frames import (
    TYPING, DType, Device, Identity, compile_source, drop_frames, gib, load, open_session,
    quiet_excepthook, torch_extras, world_and_rank,
)

SEQ_REFERENCE = 2048
OP_SAC_FACTOR = Fraction(7, 10)  # per-op selective AC keeps this share of the activations
PROG = "train.py"
FLAVORS = {"debugmodel": "dim=256, n_layers=6, n_heads=16", "debugmodel_flex_attn": "dim=256, n_layers=6, n_heads=16",
           "8B": "dim=4096, n_layers=32, n_heads=32", "70B": "dim=8192, n_layers=80, n_heads=64",
           "405B": "dim=16384, n_layers=126, n_heads=128"}


class _State:
    def __init__(self):
        self.fw = None
        self.sim = None
        self.session = None
        self.config = None
        self.lib = None


STATE = _State()
logger = logging.getLogger()


# --- tomllib -----------------------------------------------------------------------------------------------

class TOMLDecodeError(ValueError):
    pass


TOMLDecodeError.__module__ = "tomllib"


def _toml_value(text, lineno):
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        body = text[1:-1].strip()
        if not body:
            return []
        items, current, quote = [], "", None
        for c in body:
            if quote:
                current += c
                if c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
                current += c
            elif c == ",":
                items.append(current)
                current = ""
            else:
                current += c
        if current.strip():
            items.append(current)
        return [_toml_value(item, lineno) for item in items]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        body = text[1:-1]
        return body if text[0] == "'" else body.encode().decode("unicode_escape")
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text.replace("_", ""), 0) if re.match(r"^[+-]?(0[xob])?[\d_a-fA-F]+$", text) else float(text)
    except ValueError:
        raise TOMLDecodeError("Invalid value (at line %d, column %d)" % (lineno, 1)) from None


def _strip_toml_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            return line[:i]
    return line


def toml_loads(text):
    """The TOML torchtitan's configs use: [section] and [a.b] tables, key = value (strings, ints, floats, bools,
    one-line arrays), comments."""
    root = {}
    table = root
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_toml_comment(raw).strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or line.startswith("[["):
                raise TOMLDecodeError("Invalid statement (at line %d, column 1)" % lineno)
            table = root
            for part in line[1:-1].strip().split("."):
                table = table.setdefault(part.strip().strip("\"'"), {})
            continue
        key, eq, value = line.partition("=")
        if not eq or not key.strip():
            raise TOMLDecodeError("Expected '=' after a key in a key/value pair (at line %d, column %d)"
                                  % (lineno, len(raw) + 1))
        node = table
        parts = [p.strip().strip("\"'") for p in key.strip().split(".")]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _toml_value(value, lineno)
    return root


def _toml_load(f):
    data = f.read()
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        return toml_loads(data.decode("utf-8"))
    try:
        return tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise TOMLDecodeError(str(err)) from None


def tomllib_namespace():
    return NS(load=_toml_load, TOMLDecodeError=TOMLDecodeError)


# --- tyro -----------------------------------------------------------------------------------------------

def _panel(title, lines):
    """A rich Panel (expand=False) as tyro prints its errors; "RULE" lines are horizontal rules."""
    width = max([len(line) for line in lines if line != "RULE"] + [len(title) + 2])
    out = ["\u256d\u2500 %s %s\u256e" % (title, "\u2500" * (width - len(title) - 1))]
    for line in lines:
        if line == "RULE":
            out.append("\u2502 %s \u2502" % ("\u2500" * width))
        else:
            out.append("\u2502 %s \u2502" % line.ljust(width))
    out.append("\u2570%s\u256f" % ("\u2500" * (width + 2)))
    return "\n".join(out) + "\n"


def _field_docs(source):
    """{class name: {field: docstring}} from the job_config text (tyro reads docstrings the same way)."""
    import ast
    docs = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            fields = docs.setdefault(node.name, {})
            body = node.body
            for i, stmt in enumerate(body):
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and i + 1 < len(body):
                    nxt = body[i + 1]
                    value = getattr(nxt, "value", None)
                    if isinstance(nxt, ast.Expr) and isinstance(getattr(value, "value", None), str):
                        fields[stmt.target.id] = " ".join(value.value.split())
    return docs


class _Option:
    def __init__(self, section, field, ftype, doc):
        self.section = section
        self.field = field
        self.type = ftype
        self.doc = doc
        self.flag = "--%s.%s" % (section.replace("_", "-"), field.replace("_", "-"))

    def kind(self):
        t = self.type
        origin = typing.get_origin(t) if hasattr(typing, "get_origin") else getattr(t, "__origin__", None)
        args = typing.get_args(t) if hasattr(typing, "get_args") else getattr(t, "__args__", ())
        if t is bool:
            return "bool", None
        if origin is typing.Union:
            inner = [a for a in args if a is not type(None)]
            if type(None) in args and len(inner) == 1:
                kind, extra = _Option(self.section, self.field, inner[0], self.doc).kind()
                return "optional", (kind, extra)
            return "number", None
        if origin is typing.Literal:
            return "literal", args
        if origin in (list, typing.List):
            return "list", None
        return {int: "int", float: "float", str: "str"}.get(t, "str"), None

    def metavar(self):
        kind, extra = self.kind()
        if kind == "bool":
            return None
        if kind == "optional":
            inner_kind, inner = extra
            return "{None}|" + _Option.simple_metavar(inner_kind, inner)
        return _Option.simple_metavar(kind, extra)

    @staticmethod
    def simple_metavar(kind, extra):
        if kind == "literal":
            return "{%s}" % ",".join(str(a) for a in extra)
        return {"int": "INT", "float": "FLOAT", "number": "FLOAT|INT", "list": "A,B,C,...",
                "bool": "{True,False}"}.get(kind, "STR")

    def names(self):
        if self.kind()[0] == "bool":
            left, _, right = self.flag.rpartition(".")
            return (self.flag, left + ".no-" + right)
        return (self.flag,)

    def hint(self, default):
        head = ", ".join(self.names())
        metavar = self.metavar()
        return ("%s %s" % (head, metavar) if metavar else head), "%s (default: %s)" % (self.doc or "", _show(default))


def _show(value):
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "''"
    return str(value)


def _convert(option, text):
    kind, extra = option.kind()
    if kind == "optional":
        if text == "None":
            return None
        kind, extra = extra
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            return float(text)
    if kind == "literal":
        if text not in [str(a) for a in extra]:
            raise _ChoiceError(extra)
        return text
    if kind == "list":
        return text.split(",") if text else []
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(text)
        return text == "True"
    return text


class _ChoiceError(ValueError):
    pass


def _score(unrecognized, option_string):
    if option_string.endswith(unrecognized[2:]) or option_string.startswith(unrecognized[2:]):
        return 0.9
    if len(unrecognized) >= 4 and all(part in option_string for part in unrecognized[2:].split(".")):
        return 0.9
    return difflib.SequenceMatcher(a=unrecognized, b=option_string).ratio()


def _tyro_exit(title, lines):
    sys.stdout.flush()
    sys.stderr.write(_panel(title, lines + ["RULE", "For full helptext, run %s --help" % PROG]))
    sys.stderr.flush()
    sys.exit(2)


def tyro_cli(config_cls, args=None, default=None, registry=None):
    """tyro.cli for torchtitan's JobConfig: `--section.key value`/`=value` overrides on top of `default`."""
    args = list(sys.argv[1:] if args is None else args)
    config = copy.deepcopy(default) if default is not None else config_cls()
    docs = STATE.lib.field_docs
    options = {}
    for section in dataclasses.fields(config_cls):
        section_cls = section.type
        if not dataclasses.is_dataclass(section_cls):
            continue
        for f in dataclasses.fields(section_cls):
            option = _Option(section.name, f.name, f.type, docs.get(section_cls.__name__, {}).get(f.name, ""))
            options[(section.name, f.name)] = option
    unrecognized, extra_positionals = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-h", "--help"):
            _print_help(options, config)
            sys.exit(0)
        if not arg.startswith("--"):
            extra_positionals.append(arg)
            continue
        name, eq, value = arg.partition("=")
        section, dot, field = name[2:].replace("-", "_").rpartition(".")
        negated = False
        option = options.get((section, field)) if dot else None
        if option is None and dot and field.startswith("no_"):
            option = options.get((section, field[3:]))
            negated = option is not None and option.kind()[0] == "bool"
            if not negated:
                option = None
        if option is None:
            unrecognized.append(name)
            if not eq and i < len(args) and not args[i].startswith("--"):
                i += 1  # argparse leaves its value among the extras too
            continue
        if option.kind()[0] == "bool":
            if eq:
                _tyro_exit("Parsing error", ["Argument %s: ignored explicit argument %r"
                                             % ("/".join(option.names()), value)])
            setattr(getattr(config, option.section), option.field, not negated)
            continue
        if not eq:
            if i >= len(args) or (args[i].startswith("--") and len(args[i]) > 2):
                _tyro_exit("Parsing error", ["Argument %s: expected 1 argument" % option.flag])
            value = args[i]
            i += 1
        try:
            converted = _convert(option, value)
        except _ChoiceError as err:
            _tyro_exit("Parsing error", ["Argument %s: invalid choice: %r (choose from %s)"
                                         % (option.flag, value, ", ".join(repr(str(a)) for a in err.args[0]))])
        except ValueError:
            _tyro_exit("Parsing error", ["Argument %s: invalid %s value: %r"
                                         % (option.flag, option.metavar(), value)])
        setattr(getattr(config, option.section), option.field, converted)
    if unrecognized:
        lines = ["Unrecognized options: %s" % " ".join(unrecognized)]
        for index, unknown in enumerate(unrecognized):
            probe = "--" + unknown[2:].replace("_", "-")
            scored = sorted(((max(_score(probe, n) for n in o.names()), o) for o in options.values()),
                            key=lambda pair: (-pair[0], pair[1].flag))
            shown = [o for score, o in scored if score >= 0.8][:5]
            if shown:
                lines.append("RULE")
                lines.append("Perhaps you meant:" if len(unrecognized) == 1 else
                             "Arguments similar to %s:" % unknown)
                for o in shown:
                    head, help_text = o.hint(getattr(getattr(config, o.section), o.field))
                    lines.append("    " + head)
                    lines.append("        " + help_text)
        _tyro_exit("Unrecognized options", lines)
    if extra_positionals:
        _tyro_exit("Parsing error", ["Unrecognized arguments: %s" % " ".join(extra_positionals)])
    return config


def _print_help(options, config):
    sys.stdout.write("usage: %s [-h] [OPTIONS]\n\nDefault container for training configuration.\n\n" % PROG)
    section = None
    for option in options.values():
        if option.section != section:
            section = option.section
            sys.stdout.write("%s options:\n" % section)
        head, help_text = option.hint(getattr(getattr(config, option.section), option.field))
        sys.stdout.write("  %s\n      %s\n" % (head, help_text))


# --- components -------------------------------------------------------------------------------------------

class RankHandler(logging.StreamHandler):
    """init_logger's handler: stderr, after flushing stdout; only the local ranks in LOG_RANK log when it is set
    (run_train.sh's `--local-ranks-filter ${LOG_RANK}`, which the fake torchrun does not apply itself)."""

    def emit(self, record):
        ranks = os.environ.get("LOG_RANK")
        if ranks is not None and os.environ.get("LOCAL_RANK", "0") not in [r.strip() for r in ranks.split(",")]:
            return
        sys.stdout.flush()
        super().emit(record)
        self.flush()


class SimFormatter(logging.Formatter):
    """init_logger's formatter; a logged exception's traceback leaves out the sim's frames."""

    def formatException(self, ei):
        return simgpu_run.format_exception(ei[1]).rstrip("\n")


class Color:
    black = "\033[30m"
    red = "\033[31m"
    green = "\033[32m"
    yellow = "\033[33m"
    blue = "\033[34m"
    magenta = "\033[35m"
    cyan = "\033[36m"
    white = "\033[37m"
    reset = "\033[39m"
    orange = "\033[38;2;180;60;0m"
    turquoise = "\033[38;2;54;234;195m"


class NoColor:
    black = red = green = yellow = blue = magenta = cyan = white = reset = orange = turquoise = ""


class ModelArgs:
    def __init__(self, flavor):
        self.flavor = flavor
        self.vocab_size = 2000 if flavor.startswith("debugmodel") else 128256
        self.n_layers = LAYERS

    def update_from_config(self, job_config, **kwargs):
        self.max_seq_len = job_config.training.seq_len

    def get_nparams_and_flops(self, model, seq_len):
        params = _weights_params()
        return params, 6 * params + 12 * self.n_layers * seq_len

    def __repr__(self):
        return "TransformerModelArgs(%s, vocab_size=%d, max_seq_len=%s)" % (
            FLAVORS.get(self.flavor, ""), self.vocab_size, getattr(self, "max_seq_len", 2048))


class _FlavorTable(dict):
    def __missing__(self, key):
        raise KeyError(key)


def _weights_params():
    spec = simgpu_model.parse_size(os.environ.get("SIMGPU_MODEL", simgpu.DEFAULT_MODEL), "SIMGPU_MODEL")
    return spec // 4


def _ac_share(config):
    """(share of the activations kept, checkpointing on?) for activation_checkpoint.mode."""
    ac = config.activation_checkpoint
    if ac.mode == "full":
        return simgpu_model.CHECKPOINT_FACTOR, True
    if ac.mode == "selective":
        option = str(ac.selective_ac_option)
        if option == "op":
            return OP_SAC_FACTOR, True
        if option.isdigit():
            every = int(option)
            wrapped = LAYERS if every == 0 else LAYERS // every
            if wrapped == 0:
                return Fraction(1), False
            return 1 - (1 - simgpu_model.CHECKPOINT_FACTOR) * Fraction(wrapped, LAYERS), True
        return Fraction(1), False
    if ac.mode == "memory_budget":
        budget = Fraction(str(ac.memory_budget))
        return simgpu_model.CHECKPOINT_FACTOR + (1 - simgpu_model.CHECKPOINT_FACTOR) * budget, True
    return Fraction(1), False


def _seq_factor(seq_len):
    return Fraction(seq_len, SEQ_REFERENCE) if isinstance(seq_len, int) and seq_len > 0 else Fraction(1)


def titan_job(config, parallel_dims):
    training = config.training
    dp = parallel_dims.dp_replicate * parallel_dims.dp_shard
    global_batch = training.global_batch_size if training.global_batch_size > 0 else training.local_batch_size * dp
    accumulation = global_batch // (training.local_batch_size * dp)
    if training.dtype == "bfloat16":
        precision = "bf16-true"
    else:
        precision = "bf16" if training.mixed_precision_param == "bfloat16" else "fp32"
    share, checkpointing = _ac_share(config)
    act = share / simgpu_model.CHECKPOINT_FACTOR if checkpointing else Fraction(1)
    validation = config.validation
    eval_batches = validation.steps if validation.steps > 0 else 2
    job = simgpu.Job(PROG, micro_batch=training.local_batch_size, accumulation=accumulation,
                     eval_batch=validation.local_batch_size, precision=precision, checkpointing=checkpointing,
                     optimizer=config.optimizer.name, optimizer_kind="adam", offload=training.enable_cpu_offload,
                     zero_stage=3 if parallel_dims.fsdp_enabled else 0, steps=training.steps,
                     eval_every=validation.freq if validation.enabled else 0, eval_batches=eval_batches)
    # the global batch is the effective one; FSDP shards over the data-parallel ranks
    job.world_size = dp
    return job, act * _seq_factor(training.seq_len), _seq_factor(validation.seq_len)


def parallelize_llama(model, parallel_dims, job_config):
    """torchtitan.models.llama3.infra.parallelize.parallelize_llama: AC, compile, FSDP/DDP (logs), and the sim's
    session opens here, once the trainer has checked its batch sizes."""
    lib = STATE.lib
    job, act, eval_factor = titan_job(job_config, parallel_dims)
    STATE.session = session = open_session(STATE.sim, job, act, eval_factor)
    session.driver.progress.enabled = False  # torchtitan logs metrics lines, it has no progress bar
    STATE.fw.model = model
    if job_config.activation_checkpoint.mode != "none":
        lib.apply_ac(model, job_config.activation_checkpoint, model_compile_enabled=job_config.compile.enable,
                     use_flex_attn=False, op_sac_save_list=set(), base_folder=job_config.job.dump_folder)
    if job_config.compile.enable and "model" in job_config.compile.components:
        logger.info("Compiling each TransformerBlock with torch.compile")
    if parallel_dims.fsdp_enabled:
        if parallel_dims.dp_replicate_enabled:
            logger.info("Applied HSDP to the model")
        else:
            logger.info("Applied FSDP to the model")
        if job_config.training.enable_cpu_offload:
            logger.info("Applied CPU Offloading to the model")
    elif parallel_dims.dp_replicate_enabled:
        logger.info("Applied DDP to the model")
    return model


def build_llama(model_args):
    fw = STATE.fw
    lib = STATE.lib
    torch = fw.torch
    layers = lib.ModuleList(*[lib.TransformerBlock(
        i, Identity(), lib.FeedForward(torch.nn.Linear(fw.parameter(i)), Identity(), Identity()), Identity(),
        Identity()) for i in range(LAYERS)])
    return lib.Transformer(model_args, layers, Identity(), Identity(), Identity())


class TitanLoader:
    """The training dataloader: per optimizer step of the sim's driver, its micro-batches as ({"input": x}, y)."""

    def __iter__(self):
        driver = STATE.session.driver
        for _ in driver.steps():
            for inputs, labels in driver.micro_batches():
                yield {"input": inputs}, labels


class ValidationLoader:
    def __iter__(self):
        for inputs, labels in STATE.session.driver.eval_batches():
            yield {"input": inputs}, labels


class LRSchedulers:
    """LRSchedulersContainer: its step() after the optimizer step ends the sim's step (`step i/N` on stdout)."""

    def __init__(self, optimizers, lr_config, training_steps):
        lr = optimizers.optimizers[0].defaults.get("lr", 0.0) if optimizers.optimizers else 0.0
        self.schedulers = [NS(get_last_lr=lambda: [lr])]

    def step(self):
        driver = STATE.session.driver
        driver.end_step(driver.step)


class DeviceMemoryMonitor:
    device_name = "NVIDIA H100 80GB HBM3"

    def get_peak_stats(self):
        session = STATE.session
        reserved = session.device.peak
        capacity = session.spec.capacity
        return NS(max_reserved_gib=gib(reserved), max_reserved_pct=100.0 * reserved / capacity if capacity else 0.0,
                  max_active_gib=gib(session.device.peak_allocated))


class MetricsProcessor:
    def __init__(self, job_config, parallel_dims, model_args=None):
        self.job_config = job_config
        self.color = NoColor if job_config.metrics.disable_color_printing else Color
        self.device_memory_monitor = DeviceMemoryMonitor()
        self.num_flops_per_token = 0
        self.ntokens_since_last_log = 0
        self.data_loading_times = []
        self.optimizers = None
        self.model_parts = None

    def should_log(self, step):
        return step == 1 or step % self.job_config.metrics.log_freq == 0

    def log(self, step, global_avg_loss, global_max_loss, grad_norm, extra_metrics=None):
        color = self.color
        stats = self.device_memory_monitor.get_peak_stats()
        loss = simgpu_run.loss_at(step)
        logger.info(
            f"{color.red}step: {step:2}  "
            f"{color.green}loss: {loss:7.4f}  "
            f"{color.orange}grad_norm: {1.0:7.4f}  "
            f"{color.turquoise}memory: {stats.max_reserved_gib:5.2f}GiB"
            f"({stats.max_reserved_pct:.2f}%)  "
            f"{color.blue}tps: {8192:,}  "
            f"{color.cyan}tflops: {123.45:,.2f}  "
            f"{color.magenta}mfu: {12.48:.2f}%{color.reset}"
        )

    def log_validation(self, loss, step):
        color = self.color
        logger.info(f"{color.yellow}validate step: {step:2}  "
                    f"{color.green}loss: {simgpu_run.eval_loss_at(step):7.4f}{color.reset}")

    def close(self):
        session = STATE.session
        if session is not None and session.driver.ended >= session.job.steps:
            session.finish()


class CheckpointManager:
    """torchtitan's CheckpointManager with DCP's folders: <dump_folder>/<folder>/step-<N>/ holding .metadata (written
    last) and __0_0.distcp (JSON in the sim); only rank 0 writes. load() resumes from the newest complete one."""

    def __init__(self, dataloader=None, model_parts=None, optimizers=None, lr_schedulers=None, states=None,
                 checkpoint_config=None, sd_adapter=None, base_folder="", ft_manager=None):
        cfg = checkpoint_config
        self.enable_checkpoint = cfg.enable
        self.states = states or {}
        self.folder = os.path.join(base_folder, cfg.folder)
        self.interval = cfg.interval
        self.keep_latest_k = cfg.keep_latest_k
        self.last_save_model_only = cfg.last_save_model_only
        self.export_dtype = cfg.export_dtype
        self.enable_first_step_checkpoint = cfg.enable_first_step_checkpoint
        if not self.enable_checkpoint:
            return
        if self.keep_latest_k == 1:
            raise ValueError(
                "We need to maintain at least 2 checkpoint replicas, as the last one may be in the process of "
                "being saved.")
        logger.info(f"Checkpointing active. Checkpoints will be loaded from and saved to {self.folder}")

    def _create_checkpoint_id(self, step):
        return os.path.join(self.folder, f"step-{step}")

    def _find_load_step(self):
        pattern = r"step-(\d+)"
        step_counts = []
        if not os.path.isdir(self.folder):
            return -1
        for filename in os.listdir(self.folder):
            match = re.search(pattern, filename)
            metadata_probe = os.path.join(self.folder, filename, ".metadata")
            if match and os.path.isfile(metadata_probe):
                step_counts.append(int(match.group(1)))
        if not step_counts:
            return -1
        return max(step_counts)

    def load(self, step=-1):
        if not self.enable_checkpoint:
            return False
        if not os.path.exists(self.folder):
            return False
        if step == -1:
            step = self._find_load_step()
            if step == -1:
                return False
        checkpoint_id = self._create_checkpoint_id(step)
        if not os.path.isdir(checkpoint_id):
            raise FileNotFoundError(f"--checkpoint.load_step={step} but checkpoint {checkpoint_id} is not found.")
        logger.info(f"Loading the checkpoint from {checkpoint_id}.")
        begin = time.monotonic()
        with open(os.path.join(checkpoint_id, ".metadata")) as f:
            metadata = json.load(f)
        train_state = self.states.get("train_state")
        if train_state is not None:
            train_state.load_state_dict({"step": metadata.get("step", step),
                                         "ntokens_seen": metadata.get("ntokens_seen", 0)})
        STATE.session.driver.resume(metadata.get("step", step))
        logger.info(f"Finished loading the checkpoint in {time.monotonic() - begin:.2f} seconds.")
        return True

    def _should_save(self, curr_step, last_step=False):
        if not self.enable_checkpoint:
            return False
        if curr_step == 1 and self.enable_first_step_checkpoint:
            return True
        if last_step:
            return True
        if curr_step % self.interval == 0:
            return True
        return False

    def save(self, curr_step, last_step=False):
        if not self._should_save(curr_step, last_step):
            return
        begin = time.monotonic()
        model_only = last_step and self.last_save_model_only
        logger.info("Saving the checkpoint (or staging if async is enabled).")
        if model_only:
            logger.info(f"Saving a model only checkpoint in {self.export_dtype} at last step, step {curr_step}.")
        if world_and_rank()[1] == 0:
            self._write(curr_step, model_only)
        logger.info(
            "Finished saving the checkpoint (or staging if async is enabled)"
            f"in {time.monotonic() - begin:.2f} seconds.")
        self._purge_stale_checkpoints()

    def _write(self, step, model_only):
        checkpoint_id = self._create_checkpoint_id(step)
        os.makedirs(checkpoint_id, exist_ok=True)
        train_state = self.states.get("train_state")
        state = {"step": step, "ntokens_seen": getattr(train_state, "ntokens_seen", 0), "model_only": model_only,
                 "keys": ["model"] if model_only else ["model", "optimizer", "lr_scheduler", "dataloader",
                                                       "train_state"]}
        with open(os.path.join(checkpoint_id, "__0_0.distcp"), "w") as f:
            json.dump(state, f)
        tmp = os.path.join(checkpoint_id, ".metadata.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(checkpoint_id, ".metadata"))

    def _purge_stale_checkpoints(self):
        if self.keep_latest_k <= 0 or world_and_rank()[1] != 0 or not os.path.isdir(self.folder):
            return
        discovered = []
        for filename in os.listdir(self.folder):
            match = re.search(r"step-(\d+)", filename)
            path = os.path.join(self.folder, filename)
            if match and os.path.isdir(path):
                discovered.append((int(match.group(1)), path))
        discovered.sort()
        for _, path in discovered[:-self.keep_latest_k]:
            shutil.rmtree(path, ignore_errors=True)

    def maybe_wait_for_staging(self):
        pass

    def close(self):
        pass


class FTManager:
    enabled = False
    loss_sync_pg = None

    def __init__(self, config=None):
        pass

    def get_dp_info(self, dp_degree, dp_rank):
        return dp_degree, dp_rank

    def maybe_set_all_reduce_hook(self, model_parts):
        pass


class DeviceMesh:
    def __init__(self, parallel_dims):
        self.parallel_dims = parallel_dims

    def __getitem__(self, name):
        dims = self.parallel_dims
        size = {"dp": dims.dp_replicate * dims.dp_shard, "dp_cp": dims.dp_replicate * dims.dp_shard * dims.cp,
                "pp": dims.pp, "tp": dims.tp, "cp": dims.cp}.get(name, 1)
        rank = world_and_rank()[1]
        return NS(size=lambda: size, get_local_rank=lambda: rank % max(size, 1))


def maybe_enable_amp(parallel_dims, mixed_precision_param, device_type):
    if parallel_dims.fsdp_enabled:
        # FSDP handles mixed precision internally
        logger.info("Mixed precision training is handled by fully_shard")
        return contextlib.nullcontext()
    if parallel_dims.tp_enabled or parallel_dims.pp_enabled:
        logger.warning("Mixed precision training with TP or PP is only supported when FSDP/HSDP/CP is enabled.")
        logger.info("Mixed precision training is disabled")
        return contextlib.nullcontext()
    # the following code will only be executed for DDP or single-device training
    logger.info("Mixed precision training is handled by AMP")
    return contextlib.nullcontext()


def _pipelining(*args, **kwargs):
    raise NotImplementedError("simtrain: torchtitan's pipeline parallelism is not simulated")


def get_train_spec(name):
    lib = STATE.lib
    if name != "llama3":
        raise ValueError(f"TrainSpec {name} is not registered.")
    return NS(
        name="llama3", model_args=_FlavorTable({f: ModelArgs(f) for f in FLAVORS}), model_cls=build_llama,
        parallelize_fn=parallelize_llama, pipelining_fn=_pipelining, build_optimizers_fn=lib.build_optimizers,
        build_lr_schedulers_fn=LRSchedulers, build_dataloader_fn=lambda **kwargs: TitanLoader(),
        build_tokenizer_fn=lambda job_config: NS(eos_id=0), build_loss_fn=lib.build_cross_entropy_loss,
        build_validator_fn=lambda **kwargs: lib.Validator(**kwargs), build_metrics_processor_fn=None,
        state_dict_adapter=None)


# --- loading ------------------------------------------------------------------------------------------------

def library(fw):
    if STATE.lib is not None:
        return STATE.lib
    extras = torch_extras(fw)
    torch = fw.torch
    src = simgpu_src_torchtitan.SOURCES
    lib = NS(ModuleList=extras.ModuleList)

    def named_children(self):
        return iter(list(self._modules.items()))

    def register_module(self, name, module):
        self._modules[name] = module

    lib.ModuleList.named_children = named_children
    lib.ModuleList.register_module = register_module
    torch.nn.Module.to_empty = lambda self, *, device=None, recurse=True: self.to(STATE.session.device_name)
    dtypes = {name: DType(name, size) for name, size in (("float16", 2), ("bfloat16", 2), ("float32", 4),
                                                           ("float64", 8), ("int64", 8))}
    F = NS(**vars(torch.nn.functional))
    F.silu = lambda x, *a, **k: x
    nn = NS(Module=torch.nn.Module, Linear=torch.nn.Linear, ModuleList=extras.ModuleList,
            ModuleDict=extras.ModuleList, functional=F, Parameter=torch.Tensor)

    class Stateful:
        pass

    tt = NS(**vars(torch))
    tt.__dict__.update(dtypes)
    tt.Tensor = torch.Tensor
    tt.device = Device
    tt.nn = nn
    tt.compile = lambda fn, *a, **k: fn
    tt.tensor = lambda *a, **k: fw.tensor()
    tt.sum = lambda t, *a, **k: t
    tt.stack = lambda tensors, *a, **k: tensors[0] if tensors else fw.tensor()
    tt._C = NS(**vars(torch._C))
    tt._C._log_api_usage_once = lambda *a: None
    tt._functorch = NS(config=NS(activation_memory_budget=1.0))
    tt.distributed = NS(checkpoint=NS(stateful=NS(Stateful=Stateful)), destroy_process_group=lambda *a, **k: None,
                        get_rank=lambda: world_and_rank()[1])
    lib.torch = tt
    base = dict(TYPING, torch=tt, nn=nn, F=F, os=os, sys=sys, time=time, logger=logger, functools=functools,
                contextlib=contextlib, importlib=importlib, Iterator=typing.Iterator)
    job_config_src = src["torchtitan/config/job_config.py"]
    lib.field_docs = _field_docs(job_config_src)
    names = dict(TYPING, dataclass=dataclasses.dataclass, field=dataclasses.field, asdict=dataclasses.asdict)
    code = compile_source("torchtitan/config/job_config.py", job_config_src, lazy_annotations=False)
    job_config = dict(names, __name__="torchtitan.config.job_config", __builtins__=__builtins__)
    exec(code, job_config)
    lib.JobConfig = job_config["JobConfig"]
    manager = load(src, "torchtitan/config/manager.py", dict(
        base, JobConfig=lib.JobConfig, tyro=NS(cli=tyro_cli), custom_registry=None, tomllib=tomllib_namespace(),
        is_dataclass=dataclasses.is_dataclass, fields=dataclasses.fields))
    lib.ConfigManager = manager["ConfigManager"]
    log_ns = load(src, "torchtitan/tools/logging.py", dict(base, logging=NS(
        getLogger=logging.getLogger, INFO=logging.INFO, StreamHandler=RankHandler, Formatter=SimFormatter)))
    lib.init_logger = log_ns["init_logger"]
    dims = load(src, "torchtitan/distributed/parallel_dims.py", dict(
        base, dataclass=dataclasses.dataclass, DeviceMesh=DeviceMesh, device_type="cuda",
        init_device_mesh=lambda device_type, parallel_dims: DeviceMesh(parallel_dims)), lazy_annotations=False)
    lib.ParallelDims = dims["ParallelDims"]
    ac = load(src, "torchtitan/distributed/activation_checkpoint.py", dict(
        base, ptd_checkpoint_wrapper=extras.checkpoint_wrapper, ACConfig=None,
        selective_checkpointing_context_fn=lambda: (contextlib.nullcontext(), contextlib.nullcontext())))
    lib.apply_ac = ac["apply_ac"]
    loss = load(src, "torchtitan/components/loss.py", dict(base, JobConfig=lib.JobConfig))
    lib.build_cross_entropy_loss = loss["build_cross_entropy_loss"]
    lib.rescale_accumulated_loss = loss["rescale_accumulated_loss"]
    optim_torch = NS(**vars(torch.optim))
    optim_torch.Adam = torch.optim.AdamW
    opt = load(src, "torchtitan/components/optimizer.py", dict(
        base, torch=NS(**dict(vars(tt), optim=optim_torch)), Optimizer=torch.optim.Optimizer, Stateful=Stateful,
        Generic=typing.Generic, TypeVar=typing.TypeVar, OptimizersInBackwardContainer=None))
    opt["OptimizersInBackwardContainer"] = opt["OptimizersContainer"]
    lib.build_optimizers = opt["build_optimizers"]
    utils = NS(device_module=NS(set_device=lambda device: None), device_type="cuda",
               GarbageCollection=lambda gc_freq=50, debug=False: NS(run=lambda step: None),
               get_peak_flops=lambda name: 989e12, set_default_dtype=lambda dtype: contextlib.nullcontext())
    dist_utils = NS(
        init_distributed=lambda *a, **k: None, set_determinism=lambda *a, **k: None,
        clip_grad_norm_=lambda *a, **k: fw.tensor(), get_train_context=lambda *a, **k: (
            lambda cp_ctx=None: contextlib.nullcontext()),
        maybe_enable_amp=maybe_enable_amp, set_pg_timeouts=lambda *a, **k: None,
        dist_mean=lambda *a, **k: 0.0, dist_max=lambda *a, **k: 0.0, dist_sum=lambda *a, **k: 0)
    lib.Validator = load(src, "torchtitan/components/validate.py", dict(
        base, BaseValidator=object, utils=utils, dist_utils=dist_utils,
        build_hf_validation_dataloader=lambda **kwargs: ValidationLoader()))["Validator"]
    model = load(src, "torchtitan/models/llama3/model/model.py", dict(base, ModelProtocol=object))
    lib.FeedForward, lib.TransformerBlock, lib.Transformer = (model["FeedForward"], model["TransformerBlock"],
                                                              model["Transformer"])

    class DataloaderExhaustedError(Exception):
        pass

    DataloaderExhaustedError.__module__ = "torchtitan.components.dataloader"

    @contextlib.contextmanager
    def no_profiling(*args, **kwargs):
        yield None

    lib.train_names = dict(
        base, record=extras.record, timedelta=datetime.timedelta,
        train_spec_module=NS(get_train_spec=get_train_spec), CheckpointManager=CheckpointManager,
        DataloaderExhaustedError=DataloaderExhaustedError, FTManager=FTManager,
        rescale_accumulated_loss=lib.rescale_accumulated_loss, build_metrics_processor=MetricsProcessor,
        ConfigManager=lib.ConfigManager, JobConfig=lib.JobConfig, ParallelDims=lib.ParallelDims,
        dist_utils=dist_utils, build_model_converters=lambda *a, **k: NS(convert=lambda model: None),
        utils=utils, init_logger=lib.init_logger, maybe_enable_profiling=no_profiling,
        maybe_enable_memory_snapshot=no_profiling,
        TORCH_DTYPE_MAP={"float16": tt.float16, "bfloat16": tt.bfloat16, "float32": tt.float32})
    STATE.lib = lib
    return lib


def run_main(stub_code):
    """`python -m torchtitan.train` (pkgs/torchtitan/train.py): torchtitan/train.py's text as __main__."""
    quiet_excepthook()
    fw = STATE.fw = simgpu.Frameworks()
    STATE.sim = simgpu.start(sys.argv[1:], default_format="pytorch", frameworks=fw, script=PROG)
    sys.argv = [sys.argv[0]] + STATE.sim.argv
    drop_frames({stub_code})
    lib = library(fw)
    relpath = "torchtitan/train.py"
    code = compile_source(relpath, simgpu_src_torchtitan.SOURCES[relpath])
    names = dict(lib.train_names, __name__="__main__", __file__=code.co_filename, __builtins__=__builtins__)
    exec(code, names)

