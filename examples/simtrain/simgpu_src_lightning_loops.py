"""Source text of the simulated Lightning loops: fit, training epoch, automatic optimization, evaluation.

The training step runs inside the optimizer's closure (automatic.py), validation through the
evaluation loop. simgpu_src_lightning merges these SOURCES into its own (see simgpu_src_torch.py).
"""

SOURCES = {}

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

    def on_advance_end(self):
        trainer = self.trainer
        # hook
        call._call_callback_hooks(trainer, "on_train_epoch_end", monitoring_callbacks=False)
        call._call_lightning_module_hook(trainer, "on_train_epoch_end")
        call._call_callback_hooks(trainer, "on_train_epoch_end", monitoring_callbacks=True)
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

        # (the sim calls the hook once per optimizer step, after the step, as ModelCheckpoint sees it)
        call._call_callback_hooks(trainer, "on_train_batch_end", batch_output, batch, batch_idx)

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

    def on_run_end(self):
        """Runs the ``_on_evaluation_epoch_end`` hook."""
        self._on_evaluation_end()
        return []

    def _on_evaluation_end(self, *args, **kwargs):
        """Runs ``on_{validation/test}_end`` hook."""
        hook_name = "on_test_end" if self.trainer.testing else "on_validation_end"
        call._call_callback_hooks(self.trainer, hook_name, *args, **kwargs)

    def _evaluation_step(self, batch, batch_idx, dataloader_idx, dataloader_iter):
        trainer = self.trainer

        step_args = self._build_step_args_from_hook_kwargs(
            OrderedDict(batch=batch, batch_idx=batch_idx), "validation_step"
        )
        hook_name = "test_step" if trainer.testing else "validation_step"
        output = call._call_strategy_hook(trainer, hook_name, *step_args)
        return output
'''
