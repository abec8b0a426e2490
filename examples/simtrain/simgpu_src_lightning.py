"""Source text of the simulated Lightning modules (see simgpu_src_torch.py).

The call structure is Lightning 2.x's: the training step runs inside the optimizer's closure, the
backward goes through the strategy and precision plugin, validation through the evaluation loop.
This file holds the LightningModule, the Trainer and its hook calls, the strategy, the precision
plugin and LightningOptimizer; SOURCES also includes simgpu_src_lightning_loops's loops,
simgpu_src_lightning_callbacks's ModelCheckpoint and simgpu_src_lightning_ckpt's checkpoint save and
restore.
"""

import simgpu_src_lightning_callbacks
import simgpu_src_lightning_ckpt
import simgpu_src_lightning_loops

SOURCES = {}

SOURCES["lightning/pytorch/core/module.py"] = '''
class LightningModule(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.automatic_optimization = True

    def save_hyperparameters(self, *args, **kwargs):
        self.hparams = dict(kwargs)

    def backward(self, loss, *args, **kwargs):
        if self._fabric:
            self._fabric.backward(loss, *args, **kwargs)
        else:
            loss.backward(*args, **kwargs)

    _fabric = None

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        optimizer.step(closure=optimizer_closure)


class LightningDataModule:
    def __init__(self):
        pass
'''

SOURCES["lightning/pytorch/trainer/call.py"] = '''
def _call_and_handle_interrupt(trainer, trainer_fn, *args, **kwargs):
    try:
        if trainer.strategy.launcher is not None:
            return trainer.strategy.launcher.launch(trainer_fn, *args, trainer=trainer, **kwargs)
        return trainer_fn(*args, **kwargs)

    except _TunerExitException:
        trainer._teardown()
        trainer.state.status = TrainerStatus.FINISHED
        trainer.state.stage = None


def _call_setup_hook(trainer):
    assert trainer.state.fn is not None
    fn = trainer.state.fn

    trainer.strategy.barrier("pre_setup")
    _call_callback_hooks(trainer, "setup", stage=fn)
    trainer.strategy.barrier("post_setup")


def _call_callback_hooks(trainer, hook_name, *args, monitoring_callbacks=None, **kwargs):
    log.debug(f"{trainer.__class__.__name__}: calling callback hook: {hook_name}")

    pl_module = trainer.lightning_module
    if pl_module:
        prev_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name

    callbacks = trainer.callbacks
    if monitoring_callbacks is True:
        # the list of "monitoring callbacks" is hard-coded to these two. we could add an API to define this
        callbacks = [cb for cb in callbacks if isinstance(cb, Checkpoint)]
    elif monitoring_callbacks is False:
        callbacks = [cb for cb in callbacks if not isinstance(cb, Checkpoint)]

    for callback in callbacks:
        fn = getattr(callback, hook_name)
        if callable(fn):
            with trainer.profiler.profile(f"[Callback]{callback.state_key}.{hook_name}"):
                fn(trainer, trainer.lightning_module, *args, **kwargs)

    if pl_module:
        # restore current_fx when nested context
        pl_module._current_fx_name = prev_fx_name


def _call_callbacks_state_dict(trainer):
    """Called when saving a model checkpoint, calls and returns every callback's `state_dict`, keyed by
    `Callback.state_key`."""
    callback_state_dicts = {}
    for callback in trainer.callbacks:
        state_dict = callback.state_dict()
        if state_dict:
            callback_state_dicts[callback.state_key] = state_dict
    return callback_state_dicts


def _call_callbacks_load_state_dict(trainer, checkpoint):
    """Called when loading a model checkpoint, calls every callback's `load_state_dict`."""
    callback_states = checkpoint.get("callbacks")

    if callback_states is None:
        return

    current_callbacks_keys = {cb.state_key for cb in trainer.callbacks}
    difference = callback_states.keys() - current_callbacks_keys
    if difference:
        rank_zero_warn(
            "Be aware that when using `ckpt_path`,"
            " callbacks used to create the checkpoint need to be provided during `Trainer` instantiation."
            f" Please add the following callbacks: {list(difference)}.",
        )

    for callback in trainer.callbacks:
        state = callback_states.get(callback.state_key)
        if state:
            state = deepcopy(state)
            callback.load_state_dict(state)


def _call_strategy_hook(trainer, hook_name, *args, **kwargs):
    pl_module = trainer.lightning_module
    prev_fx_name = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name

    fn = getattr(trainer.strategy, hook_name)
    if not callable(fn):
        return None

    with trainer.profiler.profile(f"[Strategy]{trainer.strategy.__class__.__name__}.{hook_name}"):
        output = fn(*args, **kwargs)

    # restore current_fx when nested context
    pl_module._current_fx_name = prev_fx_name

    return output
'''

SOURCES["lightning/pytorch/trainer/trainer.py"] = '''
class Trainer:
    def __init__(self, *, accelerator="auto", strategy="auto", devices="auto", num_nodes=1, precision="32-true",
                 accumulate_grad_batches=1, max_steps=-1, num_sanity_val_steps=2, val_check_interval=None,
                 logger=None, callbacks=None, enable_checkpointing=None, check_val_every_n_epoch=1,
                 fast_dev_run=False, default_root_dir=None, **kwargs):
        self.precision = precision
        self.accumulate_grad_batches = accumulate_grad_batches
        self._accelerator_connector = _AcceleratorConnector(
            devices=devices,
            accelerator=accelerator,
            strategy=strategy,
            num_nodes=num_nodes,
            precision=precision,
        )
        self.strategy = self._accelerator_connector.strategy
        self.max_steps = max_steps
        self.num_sanity_val_steps = num_sanity_val_steps
        self.val_check_interval = val_check_interval
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.fast_dev_run = fast_dev_run
        self.sanity_checking = False
        self._default_root_dir = default_root_dir or os.getcwd()
        self.lightning_module = None
        self.profiler = PassThroughProfiler()
        self.state = TrainerState()
        self.callback_metrics = {}
        self._checkpoint_connector = _CheckpointConnector(self)
        # (the sim adds no default ModelCheckpoint: a run checkpoints only with one in `callbacks`)
        self.callbacks = list(callbacks or [])
        if logger is None or logger is True:
            self.loggers = [TensorBoardLogger(save_dir=self.default_root_dir)]
        elif logger is False:
            self.loggers = []
        else:
            self.loggers = list(logger) if isinstance(logger, (list, tuple)) else [logger]

    @property
    def default_root_dir(self):
        """The default location to save artifacts of loggers, checkpoints etc.

        It is used as a fallback if logger or checkpoint callback do not define specific save paths.

        """
        if _is_local_file_protocol(self._default_root_dir):
            return os.path.normpath(os.path.expanduser(self._default_root_dir))
        return self._default_root_dir

    @property
    def checkpoint_callbacks(self):
        """A list of all instances of :class:`~lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint` found in
        the Trainer.callbacks list."""
        return [c for c in self.callbacks if isinstance(c, Checkpoint)]

    @property
    def ckpt_path(self):
        """Set to the path/URL of a checkpoint loaded via :meth:`~lightning.pytorch.trainer.trainer.Trainer.fit`,
        :meth:`~lightning.pytorch.trainer.trainer.Trainer.validate`,
        :meth:`~lightning.pytorch.trainer.trainer.Trainer.test`, or
        :meth:`~lightning.pytorch.trainer.trainer.Trainer.predict`. ``None`` otherwise."""
        return self._checkpoint_connector._ckpt_path

    def fit(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        self.strategy._lightning_module = model
        call._call_and_handle_interrupt(
            self, self._fit_impl, model, train_dataloaders, val_dataloaders, datamodule, ckpt_path
        )

    def _fit_impl(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        self.state.fn = TrainerFn.FITTING
        self.state.status = TrainerStatus.RUNNING
        self.training = True
        self.lightning_module = model
        self.datamodule = datamodule
        self._run(model, ckpt_path=ckpt_path)

    def _run(self, model, ckpt_path=None):
        # ----------------------------
        # SET UP THE TRAINER
        # ----------------------------
        log.debug(f"{self.__class__.__name__}: setting up strategy environment")
        self.strategy.setup_environment()

        self.strategy.model_to_device()
        call._call_setup_hook(self)  # allow user to set up LightningModule in accelerator environment

        # check if we should delay restoring checkpoint till later
        if not self.strategy.restore_checkpoint_after_setup:
            log.debug(f"{self.__class__.__name__}: restoring module and callbacks from checkpoint path: {ckpt_path}")
            self._checkpoint_connector._restore_modules_and_callbacks(ckpt_path)

        # log hyper-parameters (the sim's logger writes its folder only for a run that checkpoints)
        if self.checkpoint_callbacks:
            for logger in self.loggers:
                logger.log_hyperparams(dict(model.hparams))

        self.strategy.setup_optimizers(self)

        # restore optimizers, etc.
        log.debug(f"{self.__class__.__name__}: restoring training state")
        self._checkpoint_connector.restore_training_state()

        self._checkpoint_connector.resume_end()

        results = self._run_stage()

        # ----------------------------
        # POST-Training CLEAN UP
        # ----------------------------
        log.debug(f"{self.__class__.__name__}: trainer tearing down")
        self._teardown()

        return results

    def save_checkpoint(self, filepath, weights_only=False, storage_options=None):
        r"""Runs routine to create a checkpoint.

        This method needs to be called on all processes in case the selected strategy is handling distributed
        checkpointing.

        """
        checkpoint = self._checkpoint_connector.dump_checkpoint(weights_only)
        self.strategy.save_checkpoint(checkpoint, filepath, storage_options=storage_options)
        self.strategy.barrier("Trainer.save_checkpoint")

    def _run_stage(self):
        self._run_sanity_check()
        with torch.autograd.set_detect_anomaly(self._detect_anomaly):
            self.fit_loop.run()
        return None

    _detect_anomaly = False

    def _run_sanity_check(self):
        val_loop = self.fit_loop.epoch_loop.val_loop
        should_sanity_check = self.num_sanity_val_steps > 0 and self.val_check_interval
        if should_sanity_check:
            self.sanity_checking = True
            # run eval step
            with torch.no_grad():
                val_loop.run()
            self.sanity_checking = False
'''

SOURCES.update(simgpu_src_lightning_loops.SOURCES)

SOURCES["lightning/pytorch/strategies/strategy.py"] = '''
class Strategy(ABC):
    def __init__(self, precision="32-true"):
        self.precision_plugin = Precision()
        self._lightning_module = None
        self._checkpoint_io = None
        self.handles_gradient_accumulation = False

    @property
    def checkpoint_io(self):
        if self._checkpoint_io is None:
            self._checkpoint_io = TorchCheckpointIO()
        return self._checkpoint_io

    @property
    def restore_checkpoint_after_setup(self):
        """Override to delay restoring from checkpoint till after the setup phase has completed. This is useful when
        the strategy requires all the setup hooks to run before loading checkpoint."""
        return False

    def load_checkpoint(self, checkpoint_path):
        torch.cuda.empty_cache()
        return self.checkpoint_io.load_checkpoint(checkpoint_path)

    def save_checkpoint(self, checkpoint, filepath, storage_options=None):
        """Save model/training states as a checkpoint file through state-dump and file-write.

        Args:
            checkpoint: dict containing model and trainer state
            filepath: write-target file's path
            storage_options: parameter for how to save to storage, passed to ``CheckpointIO`` plugin

        """
        if self.is_global_zero:
            self.checkpoint_io.save_checkpoint(checkpoint, filepath, storage_options=storage_options)

    def remove_checkpoint(self, filepath):
        """Remove checkpoint filepath from the filesystem.

        Args:
            filepath: Path to checkpoint

        """
        if self.is_global_zero:
            self.checkpoint_io.remove_checkpoint(filepath)

    @property
    def lightning_module(self):
        return self._lightning_module

    def backward(self, closure_loss, optimizer, *args, **kwargs):
        self.pre_backward(closure_loss)
        assert self.lightning_module is not None
        closure_loss = self.precision_plugin.pre_backward(closure_loss, self.lightning_module)

        self.precision_plugin.backward(closure_loss, self.lightning_module, optimizer, *args, **kwargs)

        closure_loss = self.precision_plugin.post_backward(closure_loss, self.lightning_module)
        self.post_backward(closure_loss)

        return closure_loss

    def optimizer_step(self, optimizer, closure, model=None, **kwargs):
        model = model or self.lightning_module
        return self.precision_plugin.optimizer_step(optimizer, model=model, closure=closure, **kwargs)

    def training_step(self, *args, **kwargs):
        args, kwargs = self.precision_plugin.convert_input((args, kwargs))
        assert self.lightning_module is not None
        assert self.model is not None
        with self.precision_plugin.train_step_context():
            if self.model != self.lightning_module:
                return self._forward_redirection(self.model, self.lightning_module, "training_step", *args, **kwargs)
            return self.lightning_module.training_step(*args, **kwargs)

    def validation_step(self, *args, **kwargs):
        args, kwargs = self.precision_plugin.convert_input((args, kwargs))
        assert self.lightning_module is not None
        assert self.model is not None
        with self.precision_plugin.val_step_context():
            if self.model != self.lightning_module:
                return self._forward_redirection(self.model, self.lightning_module, "validation_step", *args, **kwargs)
            return self.lightning_module.validation_step(*args, **kwargs)
'''

SOURCES["lightning/pytorch/plugins/precision/precision.py"] = '''
class Precision(FabricPrecision, CheckpointHooks):
    def backward(self, tensor, model, optimizer, *args, **kwargs):
        model.backward(tensor, *args, **kwargs)

    def _wrap_closure(self, model, optimizer, closure):
        closure_result = closure()
        self._after_closure(model, optimizer)
        return closure_result

    def optimizer_step(self, optimizer, model, closure, **kwargs):
        closure = partial(self._wrap_closure, model, optimizer, closure)
        return optimizer.step(closure=closure, **kwargs)
'''

SOURCES["lightning/pytorch/core/optimizer.py"] = '''
class LightningOptimizer:
    def __init__(self, optimizer):
        self._optimizer = optimizer
        self._strategy = None

    @property
    def optimizer(self):
        return self._optimizer

    def step(self, closure=None, **kwargs):
        self._on_before_step()

        if closure is None:
            closure = do_nothing_closure
        elif not callable(closure):
            raise MisconfigurationException("When `optimizer.step(closure)` is called, the closure should be callable")

        assert self._strategy is not None
        step_output = self._strategy.optimizer_step(self._optimizer, closure, **kwargs)

        self._on_after_step()

        return step_output
'''

SOURCES.update(simgpu_src_lightning_callbacks.SOURCES)
SOURCES.update(simgpu_src_lightning_ckpt.SOURCES)
