"""The fake Lightning, Keras and JAX (see simgpu_frames.py): their modules and their "C++" side."""

import copy
import functools
import io
import itertools
import os
import pathlib
import re
import shutil
import sys
import types
from collections import OrderedDict
from types import SimpleNamespace as NS

import simgpu_ranks
import simgpu_run
import simgpu_src_keras
import simgpu_speed
import simgpu_src_lightning
from simgpu_frames import SITE, load_source, nullcontext_factory
from simgpu_model import LAYERS, hidden_file


class _Base:
    """Stands for framework base classes whose behaviour the sim does not need."""

    def __init__(self, *args, **kwargs):
        pass


class _Loop:
    """lightning.pytorch.loops.loop._Loop: the hooks the simulated loops call, all no-ops."""

    skip = False

    def __init__(self, trainer):
        self.trainer = trainer
        self._restarting = False

    def setup_data(self):
        pass

    def reset(self):
        pass

    def on_run_start(self, *args):
        pass

    def on_advance_start(self, *args):
        pass

    def on_advance_end(self, *args):
        pass

    def on_iteration_done(self):
        pass

    def on_run_end(self):
        return []


class _AbstractClosure:
    def __init__(self):
        self._result = None
        self.warning_cache = NS(warn=lambda *a, **k: None)

    def consume_result(self):
        result, self._result = self._result, None
        return result


class _ClosureResult:
    def __init__(self, loss):
        self.closure_loss = loss
        self.loss = loss

    @classmethod
    def from_training_step_output(cls, output, normalize=1):
        return cls(output)


class _LightningFetcher:
    """Lightning's data fetcher over the driver: micro-batches of one optimizer step."""

    def __init__(self, fw, fit_loop):
        self.fw = fw
        self.fit_loop = fit_loop

    def micro_batches(self):
        driver = self.fw.session.driver
        last = driver.job.accumulation - 1
        for index, batch in enumerate(driver.micro_batches()):
            self.fit_loop._last_micro = index == last
            yield index, batch


LIGHTNING_VERSION = "2.5.1"


def _rank_zero():
    text = os.environ.get("RANK", "") or os.environ.get("LOCAL_RANK", "") or "0"
    return text.strip() in ("0", "")


def rank_zero_info(message):
    """Lightning's INFO lines, on the main process, to stderr (the message alone)."""
    if _rank_zero():
        sys.stdout.flush()
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def rank_zero_warn(message):
    """Lightning's warnings: 'file:line: message' of the framework line that warned, on the main process."""
    if _rank_zero():
        frame = sys._getframe(1)
        sys.stdout.flush()
        sys.stderr.write("%s:%d: %s\n" % (frame.f_code.co_filename, frame.f_lineno, message))
        sys.stderr.flush()


def rank_zero_only(fn):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if _rank_zero():
            return fn(*args, **kwargs)
        return None

    return wrapped


def _is_local_file_protocol(path):
    return "://" not in str(path)


class _LocalFileSystem:
    """fsspec's local file system, as Lightning uses it."""

    def exists(self, path):
        return os.path.exists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def makedirs(self, path, exist_ok=False):
        os.makedirs(path, exist_ok=exist_ok)

    def open(self, path, mode="rb", **kwargs):
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, newline=kwargs.get("newline"))

    def listdir(self, path):
        return [{"name": os.path.join(path, name)} for name in sorted(os.listdir(path))]

    def rm(self, path, recursive=False):
        if os.path.isdir(path) and recursive:
            shutil.rmtree(path)
        else:
            os.remove(path)


def get_filesystem(path, **kwargs):
    return _LocalFileSystem()


def _yaml_scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Callback:
    """lightning.pytorch.callbacks.Callback: every hook a no-op."""

    @property
    def state_key(self):
        return self.__class__.__qualname__

    def _generate_state_key(self, **kwargs):
        return f"{self.__class__.__qualname__}{repr(kwargs)}"

    def setup(self, trainer, pl_module, stage):
        pass

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        pass

    def on_train_epoch_end(self, trainer, pl_module):
        pass

    def on_validation_end(self, trainer, pl_module):
        pass

    def on_test_end(self, trainer, pl_module):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state_dict):
        pass


class Checkpoint(Callback):
    """lightning.pytorch.callbacks.Checkpoint: the base of ModelCheckpoint."""


MisconfigurationException = simgpu_ranks.MisconfigurationException


def _strategy_processes(fw, lightning, Strategy):
    """The Strategy's processes (simgpu_ranks): which ones there are, which one this is, starting the others, and
    the job on the simulated GPU once they have started; and the _AcceleratorConnector that decides them."""
    ranks = lightning.ranks

    def setup_environment(strategy):
        # DDP's process group; then the job opens on this rank's simulated GPU (lightning.open_session, which the
        # script sets), where each step ends with an all-reduce.
        ranks.joined(strategy.global_rank, strategy.world_size)
        if lightning.open_session is not None:
            lightning.open_session(strategy)
        fw.session.driver.step_end_hooks.append(lambda step: ranks.collective())

    def ranks_of(strategy):
        return simgpu_ranks.process_ranks(len(strategy.parallel_devices), strategy.num_nodes)

    def root_device(strategy):
        devices, rank = strategy.parallel_devices, strategy.local_rank
        return NS(type=strategy.accelerator, index=devices[rank] if rank < len(devices) else rank)

    for name, value in {"setup_environment": setup_environment, "teardown": lambda self: ranks.wait(),
                        "launcher": property(lambda self: self._launcher), "_launcher": None,
                        "world_size": property(lambda self: ranks_of(self)[0]),
                        "global_rank": property(lambda self: ranks_of(self)[1]),
                        "local_rank": property(lambda self: ranks_of(self)[2]),
                        "node_rank": property(lambda self: ranks_of(self)[3]),
                        "root_device": property(root_device)}.items():
        setattr(Strategy, name, value)

    class _AcceleratorConnector:
        """lightning.pytorch.trainer.connectors.accelerator_connector: the accelerator, the devices and the
        strategy, with Lightning's launcher where the Trainer starts the processes itself (DDPStrategy's
        _configure_launcher: not where torchrun, srun or Lightning's launcher started this process)."""

        def __init__(self, devices="auto", num_nodes=1, accelerator="auto", strategy="auto", precision="32-true"):
            flag, ids = simgpu_ranks.lightning_devices(accelerator, devices, num_nodes)
            self._accelerator_flag, self._parallel_devices, self._num_nodes_flag = flag, ids, num_nodes
            self.strategy = Strategy(precision)
            self.strategy.accelerator, self.strategy.parallel_devices, self.strategy.num_nodes = flag, ids, num_nodes
            if len(ids) * num_nodes > 1 and not simgpu_ranks.started_outside():
                if num_nodes > 1:
                    simgpu_run.fail_usage("trainer.num_nodes=%d: the sim runs on one node (start each node's "
                                          "processes with srun or torchrun)" % num_nodes)
                self.strategy._launcher = simgpu_ranks.Launcher(len(ids), num_nodes, ranks)

    return _AcceleratorConnector


def load_lightning(fw):
    torch = fw.torch
    src = simgpu_src_lightning.SOURCES
    base = {"torch": torch, "nn": torch.nn, "partial": functools.partial, "OrderedDict": OrderedDict}
    log = NS(debug=lambda *a, **k: None, info=lambda *a, **k: None)
    TrainerFn = NS(FITTING="fit", VALIDATING="validate", TESTING="test", PREDICTING="predict")
    TrainerStatus = NS(INITIALIZING="initializing", RUNNING="running", FINISHED="finished",
                       INTERRUPTED="interrupted")
    io_names = dict(base, os=os, io=io, Path=pathlib.Path, re=re, deepcopy=copy.deepcopy, log=log,
                    get_filesystem=get_filesystem, _is_local_file_protocol=_is_local_file_protocol,
                    rank_zero_info=rank_zero_info, rank_zero_warn=rank_zero_warn, rank_zero_only=rank_zero_only,
                    MisconfigurationException=MisconfigurationException, TrainerFn=TrainerFn,
                    TrainerStatus=TrainerStatus, Checkpoint=Checkpoint, pl=NS(__version__=LIGHTNING_VERSION))
    cloud_io = load_source("lightning/fabric/utilities/cloud_io.py", src["lightning/fabric/utilities/cloud_io.py"],
                           io_names)
    torch_io = load_source("lightning/fabric/plugins/io/torch_io.py", src["lightning/fabric/plugins/io/torch_io.py"],
                           dict(io_names, CheckpointIO=_Base, _atomic_save=cloud_io["_atomic_save"],
                                pl_load=cloud_io["_load"]))
    ModelCheckpoint = load_source("lightning/pytorch/callbacks/model_checkpoint.py",
                                  src["lightning/pytorch/callbacks/model_checkpoint.py"], io_names)["ModelCheckpoint"]
    TensorBoardLogger = load_source("lightning/pytorch/loggers/tensorboard.py",
                                    src["lightning/pytorch/loggers/tensorboard.py"],
                                    dict(io_names, Logger=_Base, _yaml_scalar=_yaml_scalar))["TensorBoardLogger"]
    module = load_source("lightning/pytorch/core/module.py", src["lightning/pytorch/core/module.py"], base)
    LightningModule = module["LightningModule"]
    LightningModule._current_fx_name = None
    LightningModule.on_train_epoch_end = lambda self: None
    LightningModule.configure_optimizers = lambda self: torch.optim.AdamW(self.parameters())

    def log(self, name, value, prog_bar=False, **kwargs):
        # the value is the step's loss; a prog_bar metric shows in the training bar
        metrics = fw.session.driver.bar_metrics
        if prog_bar and name not in metrics:
            metrics.append(name)

    LightningModule.log = log
    calls = load_source("lightning/pytorch/trainer/call.py", src["lightning/pytorch/trainer/call.py"],
                        dict(io_names, _TunerExitException=type("_TunerExitException", (Exception,), {})))
    call = NS(_call_and_handle_interrupt=calls["_call_and_handle_interrupt"],
              _call_strategy_hook=calls["_call_strategy_hook"], _call_setup_hook=calls["_call_setup_hook"],
              _call_callback_hooks=calls["_call_callback_hooks"],
              _call_callbacks_state_dict=calls["_call_callbacks_state_dict"],
              _call_callbacks_load_state_dict=calls["_call_callbacks_load_state_dict"],
              _call_lightning_module_hook=lambda trainer, name, *a, **k: getattr(trainer.lightning_module, name)(*a, **k))
    precision_ns = load_source(
        "lightning/pytorch/plugins/precision/precision.py", src["lightning/pytorch/plugins/precision/precision.py"],
        dict(base, FabricPrecision=type("FabricPrecision", (_Base,), {}), CheckpointHooks=type("CheckpointHooks", (), {})))
    Precision = precision_ns["Precision"]
    for name, value in {"pre_backward": lambda self, loss, module: loss, "post_backward": lambda self, loss, module: loss,
                        "convert_input": lambda self, data: data, "train_step_context": nullcontext_factory,
                        "val_step_context": nullcontext_factory, "_after_closure": lambda self, *a: None}.items():
        setattr(Precision, name, value)
    optimizer_ns = load_source("lightning/pytorch/core/optimizer.py", src["lightning/pytorch/core/optimizer.py"],
                               dict(base, MisconfigurationException=ValueError, do_nothing_closure=lambda: None))
    LightningOptimizer = optimizer_ns["LightningOptimizer"]
    LightningOptimizer._on_before_step = LightningOptimizer._on_after_step = lambda self: None
    Strategy = load_source("lightning/pytorch/strategies/strategy.py", src["lightning/pytorch/strategies/strategy.py"],
                           dict(base, ABC=_Base, Precision=Precision,
                                TorchCheckpointIO=torch_io["TorchCheckpointIO"]))["Strategy"]

    def setup_optimizers(strategy, trainer):
        wrapped = LightningOptimizer(strategy.lightning_module.configure_optimizers())
        wrapped._strategy = strategy
        trainer.optimizers = [wrapped]

    for name, value in {"pre_backward": lambda self, loss: None, "post_backward": lambda self, loss: None,
                        "post_training_step": lambda self: None, "model": property(lambda self: self._lightning_module),
                        "model_to_device": lambda self: self._lightning_module.to(fw.session.device_name),
                        "setup_optimizers": setup_optimizers, "is_global_zero": property(lambda self: _rank_zero()),
                        "broadcast": lambda self, obj, src=0: obj, "barrier": lambda self, name=None: None}.items():
        setattr(Strategy, name, value)
    loop_names = dict(base, _Loop=_Loop, call=call, AbstractClosure=_AbstractClosure,
                      _block_parallel_sync_behavior=nullcontext_factory, _no_grad_context=lambda f: f)
    automatic = load_source("lightning/pytorch/loops/optimization/automatic.py",
                            src["lightning/pytorch/loops/optimization/automatic.py"], loop_names)
    automatic["_AutomaticOptimization"].output_result_cls = _ClosureResult
    Evaluation = load_source("lightning/pytorch/loops/evaluation_loop.py",
                             src["lightning/pytorch/loops/evaluation_loop.py"], loop_names)["_EvaluationLoop"]
    Evaluation._data_fetcher = property(
        lambda self: ((batch, index, 0) for index, batch in enumerate(fw.session.driver.eval_batches())))
    Evaluation._build_step_args_from_hook_kwargs = lambda self, kwargs, hook: tuple(kwargs.values())
    Evaluation._store_dataloader_outputs = lambda self: None
    Epoch = load_source("lightning/pytorch/loops/training_epoch_loop.py",
                        src["lightning/pytorch/loops/training_epoch_loop.py"],
                        dict(loop_names, _AutomaticOptimization=automatic["_AutomaticOptimization"],
                             _EvaluationLoop=Evaluation))["_TrainingEpochLoop"]

    def epoch_on_run_start(self, data_fetcher):
        simgpu_speed.lightning_attach(self.trainer, fw.session.driver)
        self._steps = fw.session.driver.steps()

    Epoch.on_run_start = epoch_on_run_start
    Epoch.done = property(lambda self: next(self._steps, None) is None)
    Epoch._build_kwargs = lambda self, kwargs, batch, batch_idx: OrderedDict(batch=batch, batch_idx=batch_idx)
    Epoch._should_check_val_fx = lambda self, data_fetcher: fw.session.driver.eval_due()
    Fit = load_source("lightning/pytorch/loops/fit_loop.py", src["lightning/pytorch/loops/fit_loop.py"],
                      dict(loop_names, _TrainingEpochLoop=Epoch))["_FitLoop"]

    def fit_done(self):
        self._epochs_run = getattr(self, "_epochs_run", 0) + 1
        return self._epochs_run > 1

    Fit.done = property(fit_done)

    def fit_load_state_dict(self, state_dict):
        self._restored_global_step = state_dict["global_step"]

    def fit_on_run_start(self):
        # a restored run's steps go on after the checkpoint's
        if getattr(self, "_restored_global_step", None) is not None:
            fw.session.driver.resume(self._restored_global_step)

    Fit.load_state_dict = fit_load_state_dict
    Fit.state_dict = lambda self: {"global_step": fw.session.driver.step}
    Fit.on_run_start = fit_on_run_start
    Fit._combined_loader = True
    Fit._data_fetcher = property(lambda self: _LightningFetcher(fw, self))
    Fit._should_accumulate = lambda self: not getattr(self, "_last_micro", True)
    connector = load_source("lightning/pytorch/trainer/connectors/checkpoint_connector.py",
                            src["lightning/pytorch/trainer/connectors/checkpoint_connector.py"],
                            dict(io_names, call=call, pl_legacy_patch=nullcontext_factory,
                                 _pl_migrate_checkpoint=lambda checkpoint, path: checkpoint))
    lightning = NS(ranks=simgpu_ranks.Ranks(), open_session=None)
    Trainer = load_source("lightning/pytorch/trainer/trainer.py", src["lightning/pytorch/trainer/trainer.py"],
                          dict(io_names, call=call, _AcceleratorConnector=_strategy_processes(fw, lightning, Strategy),
                               PassThroughProfiler=lambda: NS(profile=nullcontext_factory),
                               TrainerState=lambda: NS(fn=None, status=None, stage=None),
                               _CheckpointConnector=connector["_CheckpointConnector"],
                               TensorBoardLogger=TensorBoardLogger))["Trainer"]

    def fit_loop(self):
        if "_fit_loop" not in self.__dict__:
            self._fit_loop = Fit(self)
        return self._fit_loop

    Trainer.fit_loop = property(fit_loop)
    Trainer.current_epoch = 0
    Trainer.global_step = property(lambda self: fw.session.driver.step)
    Trainer.testing = False
    Trainer._teardown = lambda self: self.strategy.teardown()
    for name in ("world_size", "global_rank", "local_rank", "node_rank", "is_global_zero"):
        setattr(Trainer, name, property(lambda self, name=name: getattr(self.strategy, name)))
    Trainer.num_devices = property(lambda self: len(self.strategy.parallel_devices))
    Trainer.num_nodes = property(lambda self: self.strategy.num_nodes)
    vars(lightning).update(
        LightningModule=LightningModule, LightningDataModule=module["LightningDataModule"], Trainer=Trainer,
        ModelCheckpoint=ModelCheckpoint, Callback=Callback, TensorBoardLogger=TensorBoardLogger,
        MisconfigurationException=MisconfigurationException)
    return lightning


def load_keras(fw):
    src = simgpu_src_keras.SOURCES
    session = lambda: fw.session  # noqa: E731  (bound late: the session exists when the model runs)

    def process_traceback_frames(tb):
        """Keras keeps the user's frames and TensorFlow's quick_execute."""
        kept = []
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if not (hidden_file(name) or (name.startswith(SITE) and not name.endswith("tensorflow/python/eager/execute.py"))):
                kept.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
            tb = tb.tb_next
        new_tb = None
        for frame, lasti, lineno in reversed(kept):
            new_tb = types.TracebackType(new_tb, frame, lasti, lineno)
        return new_tb

    def execute(handle, device_name, op_name, inputs, attrs, num_outputs):
        session().tf_function = op_name
        return inputs[0](*inputs[1:])

    def matmul(a, b):
        a._mem.forward(b._layer)
        return fw.tensor(a._mem)

    class Tape:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def gradient(self, loss, var_list):
            loss._mem.backward()
            return [None for _ in var_list]

    tf = NS(Module=_Base, matmul=matmul, GradientTape=Tape, init_scope=nullcontext_factory)
    utils = load_source("keras/src/utils/traceback_utils.py", src["keras/src/utils/traceback_utils.py"], dict(
        is_traceback_filtering_enabled=lambda: True, _process_traceback_frames=process_traceback_frames,
        tf_decorator=NS(make_decorator=lambda fn, handler: functools.update_wrapper(handler, fn))))
    core = NS(_NotOkStatusException=type("_NotOkStatusException", (Exception,), {}), _status_to_exception=None,
              PolymorphicFunction=_Base)
    quick = load_source("tensorflow/python/eager/execute.py", src["tensorflow/python/eager/execute.py"],
                        dict(pywrap_tfe=NS(TFE_Py_Execute=execute), core=core))["quick_execute"]
    context = NS(device_name="/job:localhost/replica:0/task:0/device:GPU:0", ensure_initialized=lambda: None,
                 _handle=None)
    Function = load_source(
        "tensorflow/python/eager/polymorphic_function/polymorphic_function.py",
        src["tensorflow/python/eager/polymorphic_function/polymorphic_function.py"],
        dict(core=core, trackable=NS(Trackable=type("Trackable", (), {})), trace=NS(Trace=nullcontext_factory),
             execute=NS(quick_execute=quick), context=NS(context=lambda: context),
             _function_ids=itertools.count(2417)))["Function"]
    tf.function = lambda fn, **kwargs: Function(fn, fn.__name__, **kwargs)
    Layer = load_source("keras/src/engine/base_layer.py", src["keras/src/engine/base_layer.py"], dict(
        tf=tf, autocast_variable=NS(enable_auto_cast_variables=nullcontext_factory)))["Layer"]

    def add_weight(layer, name, shape=None, **kwargs):
        weight = fw.parameter(layer._index)
        weight.to("gpu")
        return weight

    for attr, value in {"_call_spec": NS(split_out_first_arg=lambda args, kwargs: (args[0], args[1:], kwargs)),
                        "_compute_dtype_object": None, "add_weight": add_weight, "kernel_initializer": "glorot_uniform",
                        "dtype": "float32", "activation": None, "_index": 0}.items():
        setattr(Layer, attr, value)
    Adam = load_source("keras/src/optimizers/adam.py", src["keras/src/optimizers/adam.py"],
                       dict(tf=tf, optimizer=NS(Optimizer=_Base)))["Adam"]

    def add_variable_from_reference(optimizer, model_variable, variable_name, shape=None):
        return fw._zeros_like(model_variable)

    Adam.add_variable_from_reference = add_variable_from_reference
    data_adapter = NS(get_data_handler=lambda model, kind, epochs, steps: KerasDataHandler(fw, kind, epochs, steps),
                      unpack_x_y_sample_weight=lambda data: (data[0], data[1], None))
    Model = load_source("keras/src/engine/training.py", src["keras/src/engine/training.py"], dict(
        base_layer=NS(Layer=Layer), tf=tf, traceback_utils=NS(filter_traceback=utils["filter_traceback"]),
        data_adapter=data_adapter, Adam=Adam))["Model"]
    for attr, value in {"compute_loss": lambda self, x, y, y_pred, sw=None: fw._cross_entropy(y_pred, y),
                        "_validate_target_and_loss": lambda self, y, loss: None,
                        "trainable_variables": property(lambda self: [layer.kernel for layer in self.layers]),
                        "compute_metrics": lambda self, *a: {}, "history": None,
                        "distribute_strategy": NS(run=lambda fn, args=(): fn(*args)),
                        "_should_eval": lambda self, epoch, freq: fw.session.driver.eval_due()}.items():
        setattr(Model, attr, value)
    Functional = type("Functional", (Model,), {})
    Sequential = load_source("keras/src/engine/sequential.py", src["keras/src/engine/sequential.py"],
                             dict(functional=NS(Functional=Functional)))["Sequential"]
    Dense = load_source("keras/src/layers/core/dense.py", src["keras/src/layers/core/dense.py"],
                        dict(Layer=Layer, tf=tf))["Dense"]

    def sequential(layers=None, name=None):
        model = Sequential(layers, name)
        for index, layer in enumerate(model.layers):
            layer._index = index
        fw.model = model
        return model

    return NS(Sequential=sequential, layers=NS(Dense=lambda units, **kw: Dense(units, 0, **kw)))


class KerasDataHandler:
    """Keras's DataHandler over the driver: epochs of steps (train) or evaluation batches."""

    def __init__(self, fw, kind, epochs, steps):
        self.driver = fw.session.driver
        self.kind = kind
        self.epochs = epochs
        self.steps_per_epoch = steps
        self._eval = None

    def _train_batches(self):
        while True:
            for batch in self.driver.micro_batches():
                yield batch

    def enumerate_epochs(self):
        if self.kind == "train":
            iterator = self._train_batches()
            progbar = simgpu_speed.KerasProgbar(self.driver, self.epochs, self.steps_per_epoch)
            self.driver.step_end_hooks.append(progbar.step_end)
            for epoch in range(self.epochs):
                progbar.epoch_begin(epoch)
                yield epoch, iterator
                progbar.epoch_end(epoch)  # after the epoch's validation, as Keras's on_epoch_end
            return
        self._eval = self.driver.eval_batches()
        yield 0, self._eval
        for _ in self._eval:
            pass

    def steps(self):
        if self.kind != "train":
            for index in range(self.driver.job.eval_batches):
                yield index
            return
        for _ in range(self.steps_per_epoch):
            step = self.driver.step + 1
            self.driver.begin_step(step)
            yield step
            self.driver.end_step(step)


def load_jax(fw):
    """jax.jit, device_put and an optax-like adamw over the simulated GPU (JAX filters its frames)."""

    class Jitted:
        def __init__(self, fun):
            self.fun = fun
            functools.update_wrapper(self, fun)

        def __call__(self, *args, **kwargs):
            batch = next(a for a in args if isinstance(a, tuple) and a and getattr(a[0], "_mem", None))
            mem = batch[0]._mem
            driver = fw.session.driver
            if driver.take_failure():
                raise TypeError("add got incompatible shapes for broadcasting: (%d, 4096), (%d, 4096)."
                                % (driver.job.micro_batch, max(0, driver.job.micro_batch - 1)))
            for layer in range(LAYERS):
                mem.forward(layer)
            if mem.kind == "train":
                mem.backward()
                return args[0], fw.tensor()
            return fw.tensor()

    def jit(fun=None, **kwargs):
        return Jitted(fun) if fun is not None else (lambda f: Jitted(f))

    def device_put(tree, device=None):
        for leaf in tree:
            leaf.to("gpu")
        return tree

    class AdamW:
        def init(self, params):
            state = []
            for p in params:
                state.append([fw._zeros_like(p, dtype=size) for size in fw.session.plan.state_tensors()])
            return state

    def model_init(rng):
        return [fw.parameter(layer) for layer in range(LAYERS)]

    jax = NS(jit=jit, device_put=device_put, random=NS(PRNGKey=lambda seed: seed), model=NS(init=model_init))
    optax = NS(adamw=lambda learning_rate=1e-3, **kwargs: AdamW())
    return NS(jax=jax, optax=optax)
