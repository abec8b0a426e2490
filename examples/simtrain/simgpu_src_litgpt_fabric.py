"""Source text of the simulated Lightning Fabric that litgpt runs on (see simgpu_src_litgpt.py).

Shaped after Lightning-AI/pytorch-lightning src/lightning/fabric/fabric.py (launch ->
_wrap_and_launch -> _wrap_with_setup, setup_module, setup_optimizers, backward, print, save, load),
wrappers.py (_FabricModule, _FabricOptimizer), strategies/strategy.py (backward, optimizer_step)
and plugins/precision/precision.py. What the strategies do with devices and processes (placing the
model, sharding, spawning the other ranks, writing checkpoints) is supplied by
simgpu_src_litgpt_load (hidden frames). simgpu_src_litgpt merges these SOURCES into its own.
"""

SOURCES = {}

SOURCES["lightning/fabric/fabric.py"] = '''
class Fabric:
    r"""Fabric accelerates your PyTorch training or inference code with minimal changes required.

    - Automatic placement of models and data onto the device.
    - Automatic support for mixed and double precision (smaller memory footprint).
    - Seamless switching between hardware (CPU, GPU, TPU) and distributed training strategies
      (data-parallel training, sharded training, etc.).
    - Automated spawning of processes, no launch utilities required.
    - Multi-node support.
    """

    def __init__(self, *, accelerator="auto", strategy="auto", devices="auto", num_nodes=1, precision=None,
                 plugins=None, callbacks=None, loggers=None):
        self._connector = _Connector(
            accelerator=accelerator,
            strategy=strategy,
            devices=devices,
            num_nodes=num_nodes,
            precision=precision,
            plugins=plugins,
        )
        self._strategy = self._connector.strategy
        self._accelerator = self._connector.accelerator
        self._precision = self._strategy.precision
        self._callbacks = self._configure_callbacks(callbacks)
        self._loggers = loggers if isinstance(loggers, list) else [loggers] if loggers is not None else []
        self._launched = False

    @property
    def strategy(self):
        return self._strategy

    @property
    def device(self):
        return self._strategy.root_device

    @property
    def global_rank(self) -> int:
        return getattr(self._strategy, "global_rank", 0)

    @property
    def local_rank(self) -> int:
        return getattr(self._strategy, "local_rank", 0)

    @property
    def node_rank(self) -> int:
        return getattr(self._strategy, "node_rank", 0)

    @property
    def world_size(self) -> int:
        return getattr(self._strategy, "world_size", 1)

    @property
    def is_global_zero(self) -> bool:
        return self._strategy.is_global_zero

    @property
    def logger(self):
        return self._loggers[0]

    def setup(self, module, *optimizers, move_to_device=True, _reapply_compile=True):
        self._validate_setup(module, optimizers)
        module, optimizers = self._strategy.setup_module_and_optimizers(module, list(optimizers))
        # Let accelerator/plugin wrap and connect the models and optimizers
        module = _FabricModule(module, self._strategy, original_module=module)
        # Move to the device
        if move_to_device:
            module = self._move_model_to_device(model=module, optimizers=list(optimizers))
        optimizers = [_FabricOptimizer(optimizer, self._strategy, self._callbacks) for optimizer in optimizers]
        self._models_setup += 1
        if optimizers:
            # join both types in a tuple for API convenience
            return (module, *optimizers)
        return module

    def setup_module(self, module, move_to_device=True, _reapply_compile=True):
        self._validate_setup_module(module)
        module = self._strategy.setup_module(module)
        module = _FabricModule(module, self._strategy, original_module=module)

        # Update the _DeviceDtypeModuleMixin's device parameter
        # NOTE: for sharded strategies or manual device placement, there's no single root device
        if move_to_device:
            module = self._move_model_to_device(model=module, optimizers=[])
        self._models_setup += 1
        return module

    def setup_optimizers(self, *optimizers):
        self._validate_setup_optimizers(optimizers)
        optimizers = [self._strategy.setup_optimizer(optimizer) for optimizer in optimizers]
        optimizers = [_FabricOptimizer(optimizer, self._strategy, self._callbacks) for optimizer in optimizers]
        return optimizers[0] if len(optimizers) == 1 else tuple(optimizers)

    def setup_dataloaders(self, *dataloaders, use_distributed_sampler=True, move_to_device=True):
        dataloaders = [self._setup_dataloader(dataloader) for dataloader in dataloaders]
        return dataloaders[0] if len(dataloaders) == 1 else dataloaders

    def _setup_dataloader(self, dataloader, use_distributed_sampler=True, move_to_device=True):
        return dataloader

    def backward(self, tensor, *args, model=None, **kwargs) -> None:
        module = model._forward_module if model is not None else model
        module, _ = _unwrap_compiled(module)
        if isinstance(self._strategy, DeepSpeedStrategy):
            if model is None:
                raise ValueError("No model was specified.")
            self._strategy._deepspeed_engine = module

        lightning.fabric.wrappers._in_fabric_backward = True
        try:
            self._strategy.backward(tensor, module, *args, **kwargs)
        finally:
            lightning.fabric.wrappers._in_fabric_backward = False

    def clip_gradients(self, module, optimizer, clip_val=None, max_norm=None, norm_type=2.0, error_if_nonfinite=True):
        if max_norm is None:
            return None
        return self._strategy.clip_gradients_norm(module, optimizer, max_norm=max_norm, norm_type=norm_type)

    @contextmanager
    def no_backward_sync(self, module, enabled=True):
        yield

    def init_module(self, empty_init=None):
        self._validate_launched()
        return self._strategy.module_init_context(empty_init=empty_init)

    def init_tensor(self):
        return nullcontext()

    def print(self, *args, **kwargs) -> None:
        if self.local_rank == 0:
            print(*args, **kwargs)

    def barrier(self, name=None) -> None:
        self._validate_launched()
        self._strategy.barrier(name=name)

    @contextmanager
    def rank_zero_first(self, local: bool = False):
        yield

    def save(self, path, state, filter=None) -> None:
        self._strategy.save_checkpoint(path=path, state=_unwrap_objects(state), filter=filter)
        self.barrier()

    def load(self, path, state=None, strict=True):
        unwrapped_state = _unwrap_objects(state)
        remainder = self._strategy.load_checkpoint(path=path, state=unwrapped_state, strict=strict)
        self.barrier()
        if state is not None:
            # We need to unwrap objects (see above) but this creates a new dictionary. In-place updates
            # (for user metadata) wouldn't show up in the original dict, so we need to copy the data back.
            for k in list(unwrapped_state.keys()):
                obj, _ = _unwrap_compiled(state[k])
                if isinstance(obj, (_FabricModule, _FabricOptimizer, _FabricDataLoader)):
                    continue
                state[k] = unwrapped_state[k]
        return remainder

    def launch(self, function=_do_nothing, *args, **kwargs):
        if _is_using_cli():
            raise RuntimeError(
                "This script was launched through the CLI, and processes have already been created. Calling "
                " `.launch()` again is not allowed."
            )
        if not callable(function):
            raise TypeError(
                "`Fabric.launch(...)` needs to be called with a function that takes `fabric` as its first argument."
            )
        if not inspect.signature(function).parameters:
            raise TypeError(
                "`Fabric.launch(function)` needs to be called with a function that takes `fabric` as its first argument."
            )

        return self._wrap_and_launch(function, self, *args, **kwargs)

    def log_dict(self, metrics, step=None) -> None:
        metrics = convert_tensors_to_scalars(metrics)
        for logger in self._loggers:
            logger.log_metrics(metrics=metrics, step=step)

    @staticmethod
    def seed_everything(seed=None, workers=None, verbose=True) -> int:
        return seed_everything(seed=seed, workers=workers, verbose=verbose)

    def _wrap_and_launch(self, to_run, *args, **kwargs):
        self._launched = True
        to_run = partial(self._wrap_with_setup, to_run)
        if (launcher := self._strategy.launcher) is not None:
            return launcher.launch(to_run, *args, **kwargs)
        return to_run(*args, **kwargs)

    def _wrap_with_setup(self, to_run, *args, **kwargs):
        self._strategy.setup_environment()
        return to_run(*args, **kwargs)

    def _move_model_to_device(self, model, optimizers):
        initial_device = next(model.parameters(), torch.tensor(0)).device
        if any(param.device != initial_device for param in model.parameters()):
            rank_zero_warn(
                "The model passed to `Fabric.setup()` has parameters on different devices. Since `move_to_device=True`,"
                " all parameters will be moved to the new device. If this is not desired, set "
                " `Fabric.setup(..., move_to_device=False)`.",
                category=PossibleUserWarning,
            )
        model = self.to_device(model)
        return model

    def to_device(self, obj):
        if isinstance(obj, nn.Module):
            self._accelerator.setup_device(self.device)
            self._strategy.model_to_device(obj)
            return obj
        return obj

    def _validate_launched(self) -> None:
        if not self._launched and not isinstance(self._strategy, (SingleDeviceStrategy, DataParallelStrategy)):
            raise RuntimeError(
                "To use Fabric with more than one device, you must call `.launch()` or use the CLI:"
                " `fabric run --help`."
            )

    def _validate_setup(self, module, optimizers) -> None:
        self._validate_launched()
        if isinstance(module, _FabricModule):
            raise ValueError("A model should be passed only once to the `setup` method.")

    def _validate_setup_module(self, module) -> None:
        self._validate_launched()
        if isinstance(module, _FabricModule):
            raise ValueError("A model should be passed only once to the `setup_module` method.")

    def _validate_setup_optimizers(self, optimizers) -> None:
        self._validate_launched()
        if not optimizers:
            raise ValueError("`setup_optimizers` requires at least one optimizer as input.")


    _models_setup = 0
'''

SOURCES["lightning/fabric/wrappers.py"] = '''
_in_fabric_backward = False


class _FabricOptimizer:
    def __init__(self, optimizer, strategy, callbacks=None) -> None:
        """FabricOptimizer is a thin wrapper around the :class:`~torch.optim.Optimizer` that delegates the
        optimizer step calls to the strategy.

        The underlying wrapped optimizer object can be accessed via the property :attr:`optimizer`.
        """
        self._optimizer = optimizer
        self._strategy = strategy
        self._callbacks = callbacks or []

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def param_groups(self):
        return self._optimizer.param_groups

    @property
    def defaults(self):
        return self._optimizer.defaults

    def state_dict(self):
        return self._strategy.get_optimizer_state(self.optimizer)

    def zero_grad(self, set_to_none=True):
        return self._optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        kwargs = {"closure": closure} if closure is not None else {}
        if hasattr(self._strategy, "model") and isinstance(self._strategy.model, DeepSpeedEngine):
            # DeepSpeed handles the optimizer step internally
            return self._strategy.model.step(**kwargs)
        output = self._strategy.optimizer_step(
            self.optimizer,
            **kwargs,
        )
        for callback in self._callbacks:
            hook = getattr(callback, "on_after_optimizer_step", None)
            if callable(hook):
                hook(strategy=self._strategy, optimizer=self.optimizer)
        return output


class _FabricModule(_DeviceDtypeModuleMixin):
    def __init__(self, forward_module, strategy, original_module=None) -> None:
        """The FabricModule is a thin wrapper around the :class:`torch.nn.Module` and handles precision / autocast
        automatically for the forward pass.

        The underlying wrapped module can be accessed via the property :attr:`module`.
        """
        self._strategy = strategy
        self._forward_module = forward_module
        self._original_module = original_module or forward_module

    @property
    def module(self):
        return self._original_module or self._forward_module

    def forward(self, *args, **kwargs):
        """Casts all inputs to the right precision and handles autocast for operations in the module forward method."""
        precision = self._strategy.precision
        args, kwargs = precision.convert_input((args, kwargs))

        with precision.forward_context():
            output = self._forward_module(*args, **kwargs)

        output = precision.convert_output(output)
        return output

    __call__ = forward

    def parameters(self, recurse=True):
        return self._original_module.parameters()

    def train(self, mode=True):
        self._original_module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __getattr__(self, item):
        original_module = self.__dict__["_original_module"]
        return getattr(original_module, item)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._original_module, name, value)
'''

SOURCES["lightning/fabric/strategies/strategy.py"] = '''
class Strategy(ABC):
    """Base class for all strategies that change the behaviour of the training, validation and test- loop."""

    def __init__(self, accelerator=None, checkpoint_io=None, precision=None) -> None:
        self._accelerator = accelerator
        self._checkpoint_io = checkpoint_io
        self._precision = precision
        self._launcher = None

    @property
    def launcher(self):
        return self._launcher

    @property
    def precision(self):
        return self._precision

    def backward(self, tensor, module, *args, **kwargs) -> None:
        r"""Forwards backward-calls to the precision plugin."""
        self.precision.pre_backward(tensor, module)
        self.precision.backward(tensor, module, *args, **kwargs)
        self.precision.post_backward(tensor, module)

    def optimizer_step(self, optimizer, **kwargs):
        """Performs the actual optimizer step.

        Args:
            optimizer: the optimizer performing the step
            **kwargs: Any extra arguments to ``optimizer.step``

        """
        return self.precision.optimizer_step(optimizer, **kwargs)
'''

SOURCES["lightning/fabric/plugins/precision/precision.py"] = '''
class Precision:
    """Base class for all plugins handling the precision-specific parts of the training.

    The class attribute precision must be overwritten in child classes. The default value reflects fp32 training.
    """

    precision = "32-true"

    def forward_context(self):
        """A contextmanager for managing model forward/training_step/evaluation_step/predict_step."""
        return nullcontext()

    def convert_input(self, data):
        return data

    def convert_output(self, data):
        return data

    def pre_backward(self, tensor, module):
        """Runs before precision plugin executes backward.

        Args:
            tensor: The tensor that will be used for backpropagation
            module: The module that was involved in producing the tensor and whose parameters need the gradients

        """

    def backward(self, tensor, model, *args, **kwargs) -> None:
        """Performs the actual backpropagation.

        Args:
            tensor: The tensor that will be used for backpropagation
            model: The module that was involved in producing the tensor and whose parameters need the gradients

        """
        tensor.backward(*args, **kwargs)

    def post_backward(self, tensor, module):
        """Runs after precision plugin executes backward.

        Args:
            tensor: The tensor that will be used for backpropagation
            module: The module that was involved in producing the tensor and whose parameters need the gradients

        """

    def optimizer_step(self, optimizer, **kwargs):
        """Hook to run the optimizer step."""
        return optimizer.step(**kwargs)
'''
