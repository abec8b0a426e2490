"""The fake frameworks the scripts call: framework-shaped Python frames over the simulated GPU.

The modules' source text lives in simgpu_src_*.py and is compiled under file names in simtrain's
site-packages/ folder. What real libraries do in C++ (tensor ops, the autograd engine, kernels) is
done here, and this file's frames are left out of printed tracebacks, so a traceback ends on the
framework line that called into "C++", as real ones do.
"""

import argparse
import builtins
import contextlib
import copy
import dataclasses
import functools
import importlib
import json
import linecache
import logging
import math
import os
import pathlib
import pickle
import re
import shutil
import signal
import struct
import sys
import typing
import warnings
from collections import defaultdict
from types import SimpleNamespace as NS

import simgpu_memfixes
import simgpu_src_hf
import simgpu_src_torch
import simgpu_speed
from simgpu_model import LAYERS, SIM_DIR

SITE = os.path.join(SIM_DIR, "site-packages")

# HF optimizer names; the 8-bit ones need bitsandbytes, these four lower optimizer memory.
OPTIMIZER_NAMES = [
    "adamw_torch", "adamw_torch_fused", "adamw_apex_fused", "adamw_anyprecision", "adamw_torch_4bit",
    "adamw_torch_8bit", "adafactor", "adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
    "lion_8bit", "lion_32bit", "paged_lion_8bit", "paged_lion_32bit", "rmsprop_bnb_8bit", "ademamix",
    "ademamix_8bit", "paged_ademamix_8bit", "sgd", "adagrad", "rmsprop", "lomo", "adalomo",
    "schedule_free_adamw", "schedule_free_sgd", "stable_adamw", "galore_adamw", "galore_adamw_8bit",
    "galore_adafactor", "apollo_adamw",
]
BNB_OPTIMIZERS = {"adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_8bit",
                  "paged_lion_8bit", "paged_lion_32bit", "rmsprop_bnb_8bit", "ademamix_8bit", "paged_ademamix_8bit"}
EIGHT_BIT_OPTIMIZERS = {"adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit", "lion_8bit", "paged_lion_8bit",
                        "rmsprop_bnb_8bit", "ademamix_8bit", "paged_ademamix_8bit", "adamw_torch_8bit",
                        "adamw_torch_4bit", "galore_adamw_8bit"}


def optimizer_kind(name):
    """The sim's optimizer-state class of an HF optimizer name: 8bit, adafactor or adam."""
    if name in EIGHT_BIT_OPTIMIZERS:
        return "8bit"
    if name == "adafactor":
        return "adafactor"
    return "adam"


def bitsandbytes_importable():
    try:
        importlib.import_module("bitsandbytes")
    except ImportError:
        return False
    return True


# transformers before this restored a checkpoint's train_batch_size on resume (huggingface/transformers#43708,
# fixed by #43770); the sim's version is the importable transformers package's, else this one.
TRANSFORMERS_FIXED = "5.2.0"


def version_tuple(text):
    """'4.57.1' -> (4, 57, 1); '5.2.0.dev0' -> (5, 2, 0); missing parts are 0."""
    parts = []
    for piece in str(text).strip().split(".")[:3]:
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts + [0] * (3 - len(parts)))


def transformers_version():
    """transformers.__version__ when `import transformers` works in this Python, else TRANSFORMERS_FIXED.
    (The sim's own transformers modules live only in memory, never in sys.modules.)"""
    try:
        version = importlib.import_module("transformers").__version__
    except Exception:
        return TRANSFORMERS_FIXED
    return version if isinstance(version, str) else TRANSFORMERS_FIXED


def restores_train_batch_size(version=None):
    """Whether that transformers resumes at the checkpoint's train_batch_size (the bug of #43708)."""
    return version_tuple(transformers_version() if version is None else version) < version_tuple(TRANSFORMERS_FIXED)


def _jsonable(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return str(obj)


def serialize(obj):
    """What the sim's torch.save writes: the object as JSON text (the real one pickles it)."""
    return (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n").encode()


def deserialize(data):
    """torch.load's side: JSON back, or the errors unpickling other bytes gives."""
    if not data:
        raise EOFError("Ran out of input")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError too
        raise pickle.UnpicklingError("invalid load key, %r." % chr(data[0])) from None


def _torch_save(obj, opened_file, *args):
    opened_file.write(serialize(obj))


def _torch_load(opened_file, *args, **kwargs):
    return deserialize(opened_file.read())


def safetensors_save_file(tensors, filename, metadata=None):
    """A safetensors file with the tensors' names and no data: 8-byte header length, JSON header."""
    header = {"__metadata__": dict(metadata or {})}
    for name in tensors:
        header[name] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    body = json.dumps(header, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 8)
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(body)) + body)


class LibraryLogger:
    """A library's logger as the example scripts set it up: INFO on the main process, WARNING and up
    on every process, to stderr. The sim prints the message alone, without the log format's prefix."""

    def __init__(self, fw, name):
        self.fw = fw
        self.name = name

    def info(self, msg, *args):
        session = self.fw.session
        if session is None or session.main:
            self._write(msg, args)

    def warning(self, msg, *args):
        self._write(msg, args)

    def _write(self, msg, args):
        sys.stdout.flush()
        sys.stderr.write((msg % args if args else msg) + "\n")
        sys.stderr.flush()


def load_source(relpath, source, names):
    """Compile `source` as site-packages/<relpath>; its lines go to linecache for tracebacks."""
    filename = os.path.join(SITE, relpath)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = relpath[:-3].replace("/", ".")
    if module.endswith(".__init__"):
        module = module[: -len(".__init__")]
    namespace = {k: v for k, v in names.items() if not k.startswith("__")}
    namespace.update(__name__=module, __file__=filename, __builtins__=builtins)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def accelerate_deepspeed_config(env):
    """The DeepSpeed config accelerate's DeepSpeedPlugin builds from `accelerate launch`'s environment."""
    path = env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if path:
        return path
    accumulation = env.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "auto")
    return {
        "train_micro_batch_size_per_gpu": "auto", "train_batch_size": "auto",
        "gradient_accumulation_steps": int(accumulation) if accumulation.isdigit() else "auto",
        "zero_optimization": {
            "stage": int(env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2") or 2),
            "offload_optimizer": {"device": env.get("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none")},
            "offload_param": {"device": env.get("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none")},
        },
    }


def nullcontext_factory(*args, **kwargs):
    return contextlib.nullcontext()


class GradMode:
    """torch.no_grad()/enable_grad(): a context manager that also decorates (keeping the function)."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, func):
        return func


class Frameworks:
    """The fake modules of one process, bound to its Session once the job's sizes are known."""

    def __init__(self):
        self.session = None
        self.model = None
        self._killed_pid = 0
        self._torch = None
        self._hf = None
        self._lightning = None
        self._keras = None
        self._jax = None

    def bind(self, session):
        self.session = session

    # --- tensors -------------------------------------------------------------------------------

    def tensor(self, mem=None, layer=None):
        t = self.torch.Tensor()
        t._mem, t._layer, t._fw, t._on_device = mem, layer, self, False
        return t

    def batch(self, mem):
        """(inputs, targets) whose forward/backward allocate the step's activations."""
        return self.tensor(mem), self.tensor(mem)

    def parameter(self, layer):
        return self.tensor(None, layer)

    # --- "C++" of torch ----------------------------------------------------------------------------

    def _linear(self, input, weight, bias=None):
        input._mem.forward(weight._layer)
        return self.tensor(input._mem)

    def _cross_entropy(self, input, target, *args, **kwargs):
        session = self.session
        if session is not None and session.driver.take_failure():
            raise ValueError(
                "Expected input batch_size (%d) to match target batch_size (%d)."
                % (session.job.micro_batch, max(0, session.job.micro_batch - 1))
            )
        return self.tensor(input._mem)

    def _run_backward(self, t_outputs, *args, **kwargs):
        tensors = t_outputs if isinstance(t_outputs, (tuple, list)) else (t_outputs,)
        if tensors and tensors[0]._mem is not None:
            tensors[0]._mem.backward()

    def _zeros_like(self, p, memory_format=None, dtype=None, device=None):
        session = self.session
        nbytes = session.plan.state_bytes(p._layer, dtype)
        if nbytes:
            session.allocate(nbytes, p._layer, "state")
        return self.tensor()

    def _tensor_to(self, t, *args, **kwargs):
        if t._layer is not None and not t._on_device:
            session = self.session
            session.allocate(session.plan.weights[t._layer], t._layer, "weight")
            t._on_device = True
        return t

    def _queue_get(self, timeout=None):
        self.torch.signal_handling["handler"](signal.SIGCHLD, None)

    def _error_if_any_worker_fails(self):
        raise RuntimeError("DataLoader worker (pid %d) is killed by signal: Killed. " % self._killed_pid)

    @property
    def torch(self):
        if self._torch is None:
            self._torch = self._load_torch()
        return self._torch

    def _load_torch(self):
        fw = self
        torch = NS()
        F = NS(linear=self._linear, cross_entropy=self._cross_entropy, gelu=lambda x, *a, **k: x)
        torch.nn = NS(functional=F)
        torch.autograd = NS(profiler=NS(record_function=nullcontext_factory), set_detect_anomaly=nullcontext_factory)
        torch._C = NS(_nn=NS(_parse_to=lambda *a, **k: (a[0] if a else k.get("device"), None, False, None)),
                      _get_tracing_state=lambda: None)
        torch.no_grad = torch.enable_grad = GradMode
        torch.is_grad_enabled = lambda: True
        torch.set_grad_enabled = lambda mode: None
        torch.preserve_format = "preserve_format"
        torch.float32, torch.float16, torch.bfloat16, torch.uint8 = 4, 2, 2, 1
        torch.zeros_like = self._zeros_like
        torch.cuda = NS(empty_cache=lambda: None)
        torch.tensor = lambda *a, **k: fw.tensor()
        base = {"torch": torch, "F": F, "functools": functools, "defaultdict": defaultdict, "logging": logging,
                "log": logging.getLogger("torch.autograd.graph"), "has_torch_function_unary": lambda t: False,
                "handle_torch_function": None, "_get_scalar_dtype": lambda: 4, "adamw": lambda *a, **k: None,
                "_register_logging_hooks_on_whole_graph": None,
                "Variable": NS(_execution_engine=NS(run_backward=self._run_backward))}
        src = simgpu_src_torch.SOURCES
        tensor_ns = load_source("torch/_tensor.py", src["torch/_tensor.py"], base)
        Tensor = tensor_ns["Tensor"]
        for name, method in {
            "to": lambda t, *a, **k: fw._tensor_to(t, *a, **k), "is_floating_point": lambda t: True,
            "is_complex": lambda t: False, "numel": lambda t: 1 << 30, "detach": lambda t: t,
            "mean": lambda t, *a: t, "item": lambda t: 0.0, "__truediv__": lambda t, o: t,
            "__mul__": lambda t, o: t, "__add__": lambda t, o: o, "__radd__": lambda t, o: t,
            "__float__": lambda t: 0.0, "__hash__": object.__hash__, "device": "cuda", "shape": (1,),
        }.items():
            setattr(Tensor, name, method)
        base["Tensor"] = torch.Tensor = Tensor
        names = dict(base)
        names.update(load_source("torch/autograd/graph.py", src["torch/autograd/graph.py"], base))
        autograd = load_source("torch/autograd/__init__.py", src["torch/autograd/__init__.py"], names)
        torch.autograd.backward = autograd["backward"]
        module = load_source("torch/nn/modules/module.py", src["torch/nn/modules/module.py"], base)
        base["Module"] = torch.nn.Module = module["Module"]
        for relpath, name in (("torch/nn/modules/container.py", "Sequential"), ("torch/nn/modules/linear.py", "Linear"),
                              ("torch/nn/modules/loss.py", "CrossEntropyLoss")):
            setattr(torch.nn, name, load_source(relpath, src[relpath], base)[name])
        optimizer = load_source("torch/optim/optimizer.py", src["torch/optim/optimizer.py"], base)
        names = dict(base, Optimizer=optimizer["Optimizer"],
                     _use_grad_for_differentiable=optimizer["_use_grad_for_differentiable"])
        torch.optim = NS(Optimizer=optimizer["Optimizer"],
                         AdamW=load_source("torch/optim/adamw.py", src["torch/optim/adamw.py"], names)["AdamW"])
        torch.amp = NS(GradScaler=load_source("torch/amp/grad_scaler.py", src["torch/amp/grad_scaler.py"],
                                              base)["GradScaler"])
        serialization = load_source("torch/serialization.py", src["torch/serialization.py"],
                                    dict(base, os=os, _save=_torch_save, _legacy_load=_torch_load))
        torch.save, torch.load = serialization["save"], serialization["load"]
        torch.signal_handling = load_source(
            "torch/utils/data/_utils/signal_handling.py", src["torch/utils/data/_utils/signal_handling.py"],
            dict(base, _error_if_any_worker_fails=self._error_if_any_worker_fails, previous_handler=None))
        torch.dataloader = load_source("torch/utils/data/dataloader.py", src["torch/utils/data/dataloader.py"],
                                       dict(base, _utils=NS(MP_STATUS_CHECK_INTERVAL=5.0)))
        bnb = load_source("bitsandbytes/optim/optimizer.py", src["bitsandbytes/optim/optimizer.py"], base)

        class AdamW8bit(bnb["Optimizer2State"]):
            def __init__(self, params, lr=1e-3, **kwargs):
                super().__init__(params, dict(lr=lr, differentiable=False))

        torch.bnb_optim = NS(AdamW8bit=AdamW8bit)
        torch.Adafactor = load_source("transformers/optimization.py", src["transformers/optimization.py"],
                                      base)["Adafactor"]
        accel = load_source("accelerate/accelerator.py", src["accelerate/accelerator.py"], base)
        accel_opt = load_source("accelerate/optimizer.py", src["accelerate/optimizer.py"],
                                dict(base, GradientState=lambda: NS(sync_gradients=True)))
        torch.accelerate = NS(Accelerator=accel["Accelerator"], AcceleratedOptimizer=accel_opt["AcceleratedOptimizer"])
        return torch

    # --- the plain PyTorch script's pieces -------------------------------------------------------

    def torch_model(self):
        """A stack of 16 Linear layers holding the weights, as a torch.nn.Sequential."""
        torch = self.torch
        self.model = torch.nn.Sequential(*[torch.nn.Linear(self.parameter(i)) for i in range(LAYERS)])
        return self.model

    def optimizer(self, model):
        kind = self.session.job.optimizer_kind
        torch = self.torch
        if kind == "8bit":
            return torch.bnb_optim.AdamW8bit(model.parameters())
        if kind == "adafactor":
            return torch.Adafactor(model.parameters(), lr=None)
        return torch.optim.AdamW(model.parameters())

    def kill_dataloader(self, workers):
        """Kill worker 0 (if any) with SIGKILL and fail in the DataLoader as PyTorch does."""
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            os.waitpid(workers[0], 0)
            self._killed_pid = workers[0]
        else:
            self._killed_pid = os.getpid() + 1
        worker = NS(pid=self._killed_pid, is_alive=lambda: False)
        loader = self.torch.dataloader["_MultiProcessingDataLoaderIter"]([worker], NS(get=self._queue_get))
        next(loader)

    def spike(self, mem):
        """An oversized batch through the model (or straight to the GPU without one)."""
        if self.model is not None and hasattr(self.model, "_wrapped_call_impl"):
            self.model(self.tensor(mem))
        else:
            mem.forward(0)

    # --- transformers -------------------------------------------------------------------------------

    @property
    def transformers(self):
        if self._hf is None:
            self._hf = self._load_transformers()
        return self._hf

    def _load_transformers(self):
        fw, torch = self, self.torch
        src = simgpu_src_hf.SOURCES
        base = {"os": os, "json": json, "sys": sys, "warnings": warnings, "deepcopy": copy.deepcopy, "torch": torch,
                "nn": torch.nn, "Path": pathlib.Path, "dataclasses": dataclasses, "Union": typing.Union,
                "Optional": typing.Optional, "List": typing.List, "ArgumentParser": argparse.ArgumentParser,
                "ArgumentDefaultsHelpFormatter": argparse.ArgumentDefaultsHelpFormatter,
                "ArgumentTypeError": argparse.ArgumentTypeError, "dataclass": dataclasses.dataclass,
                "field": dataclasses.field, "OPTIMIZER_NAMES": OPTIMIZER_NAMES, "ACT2FN": {"gelu_new": lambda x: x}}
        parser = load_source("transformers/hf_argparser.py", src["transformers/hf_argparser.py"], base)
        dsconf = load_source("deepspeed/runtime/config.py", src["deepspeed/runtime/config.py"], base)
        ds = load_source("transformers/integrations/deepspeed.py", src["transformers/integrations/deepspeed.py"],
                         dict(base, DeepSpeedConfig=dsconf["DeepSpeedConfig"]))
        args = load_source("transformers/training_args.py", src["transformers/training_args.py"],
                           dict(base, HfTrainerDeepSpeedConfig=ds["HfTrainerDeepSpeedConfig"],
                                accelerate_deepspeed_config=accelerate_deepspeed_config))
        gpt2 = load_source("transformers/models/gpt2/modeling_gpt2.py", src["transformers/models/gpt2/modeling_gpt2.py"],
                           base)

        def find_executable_batch_size(function, starting_batch_size, auto_find_batch_size=False):
            return functools.partial(function, batch_size=starting_batch_size)

        # the Trainer's time.time() is the simulated clock; tqdm.write prints the logs on stdout
        clock = NS(time=lambda: fw.session.driver.clock if fw.session is not None else 0.0)
        utils = load_source("transformers/trainer_utils.py", src["transformers/trainer_utils.py"],
                            dict(base, re=re, time=clock))
        callback = load_source("transformers/trainer_callback.py", src["transformers/trainer_callback.py"],
                               dict(base, math=math, Dict=typing.Dict, SaveStrategy=utils["SaveStrategy"],
                                    tqdm=NS(write=lambda text: simgpu_speed._write(text + "\n"))))
        trainer = load_source("transformers/trainer.py", src["transformers/trainer.py"], dict(
            base, Accelerator=torch.accelerate.Accelerator, AcceleratedOptimizer=torch.accelerate.AcceleratedOptimizer,
            deepspeed_init=ds["deepspeed_init"], find_executable_batch_size=find_executable_batch_size,
            Adafactor=torch.Adafactor, BNB_OPTIMIZERS=BNB_OPTIMIZERS, is_bitsandbytes_available=bitsandbytes_importable,
            is_liger_kernel_available=simgpu_memfixes.liger_kernel_available,
            bnb_optim=torch.bnb_optim, TrainerControl=callback["TrainerControl"], TrainerState=callback["TrainerState"],
            CallbackHandler=callback["CallbackHandler"],
            DEFAULT_CALLBACKS=[callback["DefaultFlowCallback"], callback["ProgressCallback"]],
            time=clock, speed_metrics=utils["speed_metrics"], get_scheduler_lr=simgpu_speed.hf_learning_rate,
            TrainOutput=lambda *a: a, re=re, shutil=shutil, PREFIX_CHECKPOINT_DIR=utils["PREFIX_CHECKPOINT_DIR"],
            get_last_checkpoint=utils["get_last_checkpoint"],
            logging=NS(get_logger=lambda name: LibraryLogger(fw, name)),
            safetensors=NS(torch=NS(save_file=safetensors_save_file)),
            RESTORE_TRAIN_BATCH_SIZE=restores_train_batch_size()))
        Trainer = trainer["Trainer"]

        def get_train_dataloader(self):
            # the DataLoader's batch size is the Trainer's _train_batch_size (a restored one too)
            fw.session.use_micro_batch(self._train_batch_size)
            simgpu_speed.hf_attach(self, fw.session.driver)
            return HFTrainLoader(fw.session.driver)

        Trainer.get_train_dataloader = get_train_dataloader
        Trainer.get_eval_dataloader = lambda self, dataset=None: (
            dict(input_ids=x, labels=y) for x, y in fw.session.driver.eval_batches())
        Trainer._prepare_inputs = lambda self, inputs: inputs
        # tr_loss's value: the losses of the steps since the last log
        Trainer._nested_gather = lambda self, tensors: simgpu_speed.HFLoss(self._globalstep_last_logged,
                                                                           self.state.global_step)
        Trainer.compute_loss_context_manager = lambda self: contextlib.nullcontext()

        def from_pretrained(name=None, *args, **kwargs):
            blocks = [gpt2["GPT2Block"](torch.nn.Linear(fw.parameter(i))) for i in range(LAYERS)]
            fw.model = gpt2["GPT2LMHeadModel"](gpt2["GPT2Model"](blocks))
            return fw.model

        return NS(HfArgumentParser=parser["HfArgumentParser"], TrainingArguments=args["TrainingArguments"],
                  Trainer=Trainer, AutoModelForCausalLM=NS(from_pretrained=from_pretrained),
                  string_to_bool=parser["string_to_bool"], OPTIMIZER_NAMES=OPTIMIZER_NAMES,
                  BNB_OPTIMIZERS=BNB_OPTIMIZERS)

    # --- lightning, keras, jax ---------------------------------------------------------------------

    # simgpu_frames_more imports this module, so it is imported when first needed.
    @property
    def lightning(self):
        if self._lightning is None:
            import simgpu_frames_more

            self._lightning = simgpu_frames_more.load_lightning(self)
        return self._lightning

    @property
    def keras(self):
        if self._keras is None:
            import simgpu_frames_more

            self._keras = simgpu_frames_more.load_keras(self)
        return self._keras

    @property
    def jax(self):
        if self._jax is None:
            import simgpu_frames_more

            self._jax = simgpu_frames_more.load_jax(self)
        return self._jax


class HFTrainLoader:
    """What the simulated Trainer iterates: the driver's steps, each a list of micro-batch dicts."""

    def __init__(self, driver):
        self.driver = driver

    def steps(self):
        return self.driver.steps()

    def micro_batches(self):
        for inputs, labels in self.driver.micro_batches():
            yield dict(input_ids=inputs, labels=labels)

    def skip_first_batches(self, global_step, batches):
        """Resume: the steps go on after the checkpoint's (the sim's data has no content to skip)."""
        self.driver.resume(global_step)

    def eval_due(self):
        return self.driver.eval_due()
