"""Source text of the simulated Lightning modules (see simgpu_src_torch.py).

The call structure is Lightning 2.x's: the training step runs inside the optimizer's closure, the
backward goes through the strategy and precision plugin, validation through the evaluation loop.
"""

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
        return trainer_fn(*args, **kwargs)

    except _TunerExitException:
        trainer._teardown()
        trainer.state.status = TrainerStatus.FINISHED
        trainer.state.stage = None


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
    def __init__(self, *, precision="32-true", accumulate_grad_batches=1, strategy="auto", max_steps=-1,
                 num_sanity_val_steps=2, val_check_interval=None, **kwargs):
        self.precision = precision
        self.accumulate_grad_batches = accumulate_grad_batches
        self.strategy = Strategy(precision)
        self.max_steps = max_steps
        self.num_sanity_val_steps = num_sanity_val_steps
        self.val_check_interval = val_check_interval
        self.lightning_module = None
        self.profiler = PassThroughProfiler()

    def fit(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        self.strategy._lightning_module = model
        call._call_and_handle_interrupt(
            self, self._fit_impl, model, train_dataloaders, val_dataloaders, datamodule, ckpt_path
        )

    def _fit_impl(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        self.lightning_module = model
        self.datamodule = datamodule
        self._run(model, ckpt_path=ckpt_path)

    def _run(self, model, ckpt_path=None):
        self.strategy.model_to_device()
        self.strategy.setup_optimizers(self)
        results = self._run_stage()
        return results

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
            # run eval step
            with torch.no_grad():
                val_loop.run()
'''

SOURCES["lightning/pytorch/loops/fit_loop.py"] = '''
class _FitLoop(_Loop):
    def __init__(self, trainer):
        super().__init__(trainer)
        self.epoch_loop = _TrainingEpochLoop(trainer)

    def run(self):
        self.setup_data()
        if self.skip:
            return
        self.reset()
        self.on_run_start()
        while not self.done:
            try:
                self.on_advance_start()
                self.advance()
                self.on_advance_end()
            except StopIteration:
                break
        self._restarting = False
        self.on_run_end()

    def advance(self):
        combined_loader = self._combined_loader
        assert combined_loader is not None
        with self.trainer.profiler.profile("run_training_epoch"):
            assert self._data_fetcher is not None
            self.epoch_loop.run(self._data_fetcher)
'''

SOURCES["lightning/pytorch/loops/training_epoch_loop.py"] = '''
class _TrainingEpochLoop(_Loop):
    def __init__(self, trainer):
        super().__init__(trainer)
        self.automatic_optimization = _AutomaticOptimization(trainer)
        self.val_loop = _EvaluationLoop(trainer)

    def run(self, data_fetcher):
        self.reset()
        self.on_run_start(data_fetcher)
        while not self.done:
            try:
                self.advance(data_fetcher)
                self.on_advance_end(data_fetcher)
            except StopIteration:
                break
            finally:
                self.on_iteration_done()
        self._restarting = False

    def advance(self, data_fetcher):
        trainer = self.trainer
        for batch_idx, batch in data_fetcher.micro_batches():
            kwargs = self._build_kwargs(OrderedDict(), batch, batch_idx)
            with trainer.profiler.profile("run_training_batch"):
                # in automatic optimization, there can only be one optimizer
                batch_output = self.automatic_optimization.run(trainer.optimizers[0], batch_idx, kwargs)

    def on_advance_end(self, data_fetcher):
        # -----------------------------------------
        # VALIDATE IF NEEDED
        # -----------------------------------------
        should_check_val = self._should_check_val_fx(data_fetcher)
        if should_check_val:
            # this needs to be set so the correct `trainer._active_loop` is picked
            self.trainer.validating = True
            self.val_loop.run()
            self.trainer.training = True
'''

SOURCES["lightning/pytorch/loops/optimization/automatic.py"] = '''
class Closure(AbstractClosure):
    def __init__(self, step_fn, backward_fn=None, zero_grad_fn=None):
        super().__init__()
        self._step_fn = step_fn
        self._backward_fn = backward_fn
        self._zero_grad_fn = zero_grad_fn

    @torch.enable_grad()
    def closure(self, *args, **kwargs):
        step_output = self._step_fn()

        if step_output.closure_loss is None:
            self.warning_cache.warn("`training_step` returned `None`. If this was on purpose, ignore this warning...")

        if self._zero_grad_fn is not None:
            self._zero_grad_fn()

        if self._backward_fn is not None and step_output.closure_loss is not None:
            self._backward_fn(step_output.closure_loss)

        return step_output

    def __call__(self, *args, **kwargs):
        self._result = self.closure(*args, **kwargs)
        return self._result.loss


class _AutomaticOptimization(_Loop):
    def run(self, optimizer, batch_idx, kwargs):
        closure = self._make_closure(kwargs, optimizer, batch_idx)

        if (
            # when the strategy handles accumulation, we want to always call the optimizer step
            not self.trainer.strategy.handles_gradient_accumulation and self.trainer.fit_loop._should_accumulate()
        ):
            # For gradient accumulation

            # -------------------
            # calculate loss (train step + train step end)
            # -------------------
            # automatic_optimization=True: perform ddp sync only when performing optimizer_step
            with _block_parallel_sync_behavior(self.trainer.strategy, block=True):
                closure()

        # ------------------------------
        # BACKWARD PASS
        # ------------------------------
        # gradient update with accumulated gradients
        else:
            self._optimizer_step(batch_idx, closure)

        result = closure.consume_result()
        return result

    def _make_closure(self, kwargs, optimizer, batch_idx):
        step_fn = self._make_step_fn(kwargs)
        backward_fn = self._make_backward_fn(optimizer)
        zero_grad_fn = None
        return Closure(step_fn=step_fn, backward_fn=backward_fn, zero_grad_fn=zero_grad_fn)

    def _make_step_fn(self, kwargs):
        return partial(self._training_step, kwargs)

    def _make_backward_fn(self, optimizer):
        def backward_fn(loss):
            call._call_strategy_hook(self.trainer, "backward", loss, optimizer)

        return backward_fn

    def _optimizer_step(self, batch_idx, train_step_and_backward_closure):
        trainer = self.trainer

        # model hook
        call._call_lightning_module_hook(
            trainer,
            "optimizer_step",
            trainer.current_epoch,
            batch_idx,
            trainer.optimizers[0],
            train_step_and_backward_closure,
        )

    def _training_step(self, kwargs):
        trainer = self.trainer

        # manually capture logged metrics
        training_step_output = call._call_strategy_hook(trainer, "training_step", *kwargs.values())
        self.trainer.strategy.post_training_step()  # unused hook - call anyway for backward compatibility

        return self.output_result_cls.from_training_step_output(training_step_output, trainer.accumulate_grad_batches)
'''

SOURCES["lightning/pytorch/loops/evaluation_loop.py"] = '''
class _EvaluationLoop(_Loop):
    @_no_grad_context
    def run(self):
        self.setup_data()
        if self.skip:
            return []
        self.reset()
        self.on_run_start()
        data_fetcher = self._data_fetcher
        assert data_fetcher is not None
        previous_dataloader_idx = 0
        while True:
            try:
                batch, batch_idx, dataloader_idx = next(data_fetcher)
                # run step hooks
                self._evaluation_step(batch, batch_idx, dataloader_idx, None)
            except StopIteration:
                # this needs to wrap the `*_step` call too (not just `next`) for `dataloader_iter` support
                break
        self._store_dataloader_outputs()
        return self.on_run_end()

    def _evaluation_step(self, batch, batch_idx, dataloader_idx, dataloader_iter):
        trainer = self.trainer

        step_args = self._build_step_args_from_hook_kwargs(
            OrderedDict(batch=batch, batch_idx=batch_idx), "validation_step"
        )
        hook_name = "test_step" if trainer.testing else "validation_step"
        output = call._call_strategy_hook(trainer, hook_name, *step_args)
        return output
'''

SOURCES["lightning/pytorch/strategies/strategy.py"] = '''
class Strategy(ABC):
    def __init__(self, precision="32-true"):
        self.precision_plugin = Precision()
        self._lightning_module = None
        self.handles_gradient_accumulation = False

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
