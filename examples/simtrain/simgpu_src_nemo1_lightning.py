"""The classes tying the simulated NeMo 1 script's compiled modules to the sim (see simgpu_src_nemo1_load):
Lightning's Trainer as NeMo 1's MegatronTrainerBuilder builds it (its arguments, the precision and device
checks, the default logger and checkpoint callback), NeMo's NLPDDPStrategy with Lightning's launcher of
the other ranks, the loops over the simulated GPU's steps (the callbacks' batch hooks, the validation every
val_check_interval steps, the checkpoint callbacks), and NLPModel, the base of MegatronGPTModel, with the
Megatron-Core GPT model build_model makes. Frames of this file are hidden from printed tracebacks.
"""

import os
import re
import sys
from types import SimpleNamespace as NS

import simgpu_src_nemo1_load as load
import simgpu_src_nemo1_outputs as outputs
from simgpu_model import LAYERS
from simgpu_src_megatron_load import (MisconfigurationException, _DataLoaderIterDataFetcher, _Loop, _TrainerState,
                                      automatic_optimization, init_trainer_flags)


def _driver():
    return load.STATE.session.driver


def _trainer_class(fw, stack):
    ns = stack

    class Trainer(ns.trainer_mod.Trainer):
        def __init__(self, plugins=None, strategy=None, callbacks=None, **kwargs):
            for key in kwargs:
                if key not in load.TRAINER_DEFAULTS:
                    raise TypeError("Trainer.__init__() got an unexpected keyword argument '%s'" % key)
            k = dict(load.TRAINER_DEFAULTS, **kwargs)
            self.precision = self._precision(k["precision"], plugins)
            self.num_devices, self.num_nodes = self._devices(k["devices"], k["num_nodes"])
            self.strategy = strategy
            strategy.trainer = self
            if self.num_devices * self.num_nodes > 1 and "LOCAL_RANK" not in os.environ:
                strategy.launcher = load._Launcher(self.num_devices, self.num_nodes)
            self.logger = None
            if k["logger"] in (None, True):
                # Lightning's default TensorBoardLogger, in default_root_dir/lightning_logs.
                self.logger = NS(name="lightning_logs", save_dir=os.getcwd(), version=0)
            self.loggers = [self.logger] if self.logger else []
            self.callbacks = list(callbacks or [])
            if k["enable_checkpointing"] in (None, True):
                self.callbacks.append(outputs.ModelCheckpoint())
            self._default_root_dir = k["default_root_dir"] or os.getcwd()
            for key in ("max_steps", "min_steps", "max_epochs", "accumulate_grad_batches"):
                setattr(self, key, k[key])
            init_trainer_flags(ns, self, k)
            self.min_epochs = None
            self.ckpt_path = None
            self.state = _TrainerState()
            self.fit_loop = loops.FitLoop(self)
            self.profiler = NS(profile=lambda name: __import__("contextlib").nullcontext())
            self._data_connector = NS(attach_data=lambda model, **kw: None, prepare_data=lambda: None)
            self._checkpoint_connector = NS(_select_ckpt_path=lambda fn, ckpt_path, **kw: load._restore(self, fn, ckpt_path))
            self._callback_connector = NS(_attach_model_callbacks=lambda: None,
                                          _attach_model_logging_functions=lambda: None)
            self._detect_anomaly = False
            self.optimizers = []
            self.current_epoch = 0
            self.testing = False
            self.accelerator = NS(setup=lambda trainer: None)
            if self.global_rank == 0:
                sys.stdout.flush()
                sys.stderr.write("GPU available: True (cuda), used: True\nTPU available: False, using: 0 TPU cores\n"
                                 "HPU available: False, using: 0 HPUs\n")
                sys.stderr.flush()

        @staticmethod
        def _precision(precision, plugins):
            if plugins:
                return plugins[0].precision
            if precision is None:
                return "32-true"
            if precision not in load.PRECISIONS:
                raise ValueError("Precision %r is invalid. Allowed precision values: %s"
                                 % (precision, tuple(load.PRECISIONS)))
            if load.PRECISIONS[precision] is None:
                raise NotImplementedError("simtrain: precision %r is not simulated" % (precision,))
            return precision

        @staticmethod
        def _devices(devices, num_nodes):
            gpus = load._gpu_count()
            if devices in ("auto", -1, "-1"):
                devices = gpus
            if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
                raise MisconfigurationException("`devices` selected with `CUDAAccelerator` should be an int > 0, "
                                                "got %r" % (devices,))
            if devices > gpus:
                raise MisconfigurationException("You requested gpu: %s\n But your machine only has: %s"
                                                % (list(range(devices)), list(range(gpus))))
            if not isinstance(num_nodes, int) or num_nodes < 1:
                raise ValueError("`num_nodes` must be a positive integer, but got %r." % (num_nodes,))
            if num_nodes > 1:
                load.simgpu_run.fail_usage("trainer.num_nodes=%d: the sim runs on one node" % num_nodes)
            return devices, num_nodes

        world_size = property(lambda self: self.num_devices * self.num_nodes)
        global_rank = property(lambda self: load._env_int("RANK"))
        local_rank = property(lambda self: load._env_int("LOCAL_RANK"))
        node_rank = property(lambda self: load._env_int("NODE_RANK"))
        lightning_module = property(lambda self: self.strategy.lightning_module)
        global_step = property(lambda self: _driver().ended if load.STATE.session else 0)

        def _Trainer__setup_profiler(self):
            pass

        def _teardown(self):
            pass

        def fit(self, model, *args, **kwargs):
            ns.trainer_mod.Trainer.fit(self, model, *args, **kwargs)
            load.finish()

    loops = _loops(fw, stack)
    return Trainer


def _loops(fw, stack):
    ns = stack

    class DataFetcher(_DataLoaderIterDataFetcher):
        """The training steps' micro-batches, fetched from the simulated GPU's driver; done (Lightning's last
        batch) once the train dataloader's length of them has been fetched (a resumed fit's dataloader starts
        after the consumed samples, and its length counts the rest)."""

        def __init__(self, length):
            super().__init__(length)
            self._steps, self._batch, self._batch_idx = None, None, -1

        def __next__(self):
            if self._steps is None:
                self._steps = _driver().steps()
            next(self._steps)  # StopIteration ends the epoch (and the fit)
            self._batch_idx += 1
            self._batch = self._micro_batches()
            return self._batch

        def _micro_batches(self):
            for inputs, targets in _driver().micro_batches():
                self.fetched += 1
                yield _batch(fw, inputs, targets)

    AutomaticOptimization = automatic_optimization(ns.automatic._AutomaticOptimization)

    class EvaluationLoop(_Loop):
        """Lightning's _EvaluationLoop over NeMo's validation dataloader: min(its length, limit_val_batches)
        micro-batches (int(length x limit) for a fraction; NeMo's setup made the limits multiples of the
        microbatches), at most num_sanity_val_steps of them in the sanity check; each validation_step runs a
        global batch of them. The sanity check's results are discarded, as Lightning resets them."""

        def max_batches(self):
            trainer = self.trainer
            length = len(trainer.lightning_module._validation_dl)
            limit = trainer.limit_val_batches
            batches = min(length, limit) if isinstance(limit, int) else int(length * limit)
            if trainer.sanity_checking:
                batches = min(trainer.num_sanity_val_steps, batches)
            return batches

        def run(self):
            trainer = self.trainer
            sanity = trainer.sanity_checking
            count = self.max_batches()
            batches = iter(_batch(fw, inputs, targets) for inputs, targets in _driver().eval_batches(count, sanity))
            for _ in range(count // _driver().job.accumulation):
                ns.call._call_strategy_hook(trainer, "validation_step", batches)
            for _ in batches:  # the driver ends the evaluation (and reports it) when its batches run out
                pass
            if sanity:
                trainer.lightning_module.validation_step_outputs.clear()
                return
            trainer.lightning_module.on_validation_epoch_end()
            for callback in trainer.callbacks:
                if isinstance(callback, outputs.ModelCheckpoint):
                    callback.on_validation_end(trainer, _driver().step)

    class TrainingEpochLoop(ns.epoch_mod._TrainingEpochLoop):
        def __init__(self, trainer):
            super().__init__(trainer)
            self.automatic_optimization = AutomaticOptimization(trainer)
            self.val_loop = EvaluationLoop(trainer)

        def advance(self, data_fetcher):
            """The training batch, with the callbacks' batch hooks around it (TimingCallback's, the bar's), then
            the step's end on the simulated GPU (the bar drawn), and its all-reduce."""
            trainer = self.trainer
            for callback in trainer.callbacks:
                if hasattr(callback, "on_train_batch_start"):
                    callback.on_train_batch_start(trainer, trainer.lightning_module, None, 0)
            super().advance(data_fetcher)
            for callback in trainer.callbacks:
                if hasattr(callback, "on_train_batch_end"):
                    callback.on_train_batch_end(trainer, trainer.lightning_module, None, None, 0)
            _driver().end_step(_driver().step)
            load._collective()

        def _build_kwargs(self, kwargs, batch, batch_idx):
            kwargs["dataloader_iter"] = batch
            return kwargs

        # Lightning's batch counters: the sim's fit is one epoch, and a resumed one carries on the count.
        batch_idx = property(lambda self: _driver().step - 1)
        total_batch_idx = batch_idx

        def on_iteration_done(self):
            pass

    class FitLoop(ns.fit_mod._FitLoop):
        def __init__(self, trainer):
            _Loop.__init__(self, trainer)
            self.epoch_loop = TrainingEpochLoop(trainer)
            self._combined_loader = None
            self._data_source = NS(dataloader=lambda: trainer.lightning_module._train_dl)
            self._data_fetcher = None
            self.min_epochs = self.max_epochs = None

        def on_run_start(self):
            self._data_fetcher = DataFetcher(None if self.max_batches == float("inf") else self.max_batches)

        def on_advance_end(self):
            self.done = True  # one epoch: max_steps ends it (or the data, which is at least max_steps long)

        def on_run_end(self):
            for callback in self.trainer.callbacks:
                if isinstance(callback, outputs.ModelCheckpoint):
                    callback.on_train_end(self.trainer, _driver().ended)

        def _should_accumulate(self):
            return False

    return NS(FitLoop=FitLoop)


def _batch(fw, inputs, targets):
    return dict(tokens=inputs, position_ids=fw.tensor(), labels=targets, loss_mask=fw.tensor(),
                attention_mask=fw.tensor(), num_valid_tokens_in_ub=fw.tensor())


def _strategy_class(fw, stack):
    ns = stack

    class NLPDDPStrategy:
        """nemo/collections/nlp/parts/nlp_overrides.py's NLPDDPStrategy (Lightning's DDPStrategy)."""

        handles_gradient_accumulation = False

        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.launcher = None
            self.trainer = None
            self._lightning_module = None
            self._lightning_optimizers = []
            self.optimizers = []

        lightning_module = property(lambda self: self._lightning_module)
        model = property(lambda self: self._lightning_module)

        def connect(self, model):
            self._lightning_module = model

        def setup_environment(self):
            load.STATE.ranks.joined(self.trainer.global_rank, self.trainer.world_size)

        def setup(self, trainer):
            if self.optimizers:
                return
            model = self._lightning_module
            inner = fw.torch.optim.AdamW(model.parameters())
            wrapped = ns.LightningOptimizer(inner)
            wrapped._strategy = self
            self.optimizers, self._lightning_optimizers = [inner], [wrapped]
            trainer.optimizers = [inner]
            model._optimizer = inner

        def barrier(self, name=None):
            pass

        def training_step(self, *args, **kwargs):
            return self._lightning_module.training_step(*args, **kwargs)

        def validation_step(self, *args, **kwargs):
            return self._lightning_module.validation_step(*args, **kwargs)

        def post_training_step(self):
            pass

        def optimizer_step(self, optimizer, closure, model=None, **kwargs):
            closure()
            return optimizer.step()

    return NLPDDPStrategy


def _model_classes(fw, stack, core, calc):
    ns = stack
    Module = fw.torch.nn.Module

    class NLPModel(ns.LightningModule):
        """nemo/collections/nlp/models/nlp_model.py's NLPModel (ModelPT, a LightningModule) as MegatronGPTModel
        uses it, and the helpers of MegatronGPTModel the sim supplies (data, loss, parameter counts)."""

        def __init__(self, cfg, trainer=None, no_lm_init=True):
            Module.__init__(self)
            self._cfg = self.cfg = cfg
            self.trainer = trainer
            self._current_fx_name = None
            self._optimizer = None
            self.megatron_amp_O2 = cfg.get("megatron_amp_O2", False)
            self.model_parallel_config = {k: cfg.get(k, 1) for k in ("tensor_model_parallel_size",
                                                                      "pipeline_model_parallel_size")}
            self.padded_vocab_size = 50304
            self.get_attention_mask_from_fusion = True
            trainer.strategy.connect(self)

        def _enable_nvidia_optimizations(self):
            pass

        def log(self, name, value, prog_bar=False, **kwargs):
            load.STATE.metrics.log(name, value, prog_bar)

        def get_model_module_list(self):
            return [self.model]

        def get_batch(self, data_iterator, tuning=False):
            return next(data_iterator)

        def _make_data_iterator_list(self, data_iterator):
            return data_iterator

        def loss_func(self, loss_mask, num_valid_tokens_in_ub, output_tensor):
            return output_tensor

        def _compute_consumed_samples_after_training_step(self):
            return _driver().step * self.cfg.global_batch_size

        def _get_total_params_across_model_parallel_groups_gpt_bert(self):
            return 1.24e8, 124439808

        def _extract_consumed_samples_from_ckpt(self, path):
            match = re.search(r"consumed_samples=([0-9.]+)", str(path))
            return int(float(match.group(1))) if match else 0

        def configure_model(self):
            pass

        def forward(self, *args, **kwargs):
            return self.model(*args, **kwargs)

    def build_model(model_provider_func, wrap_with_ddp=True, virtual_pipeline_model_parallel_size=None,
                    on_cpu=False, **kwargs):
        """nemo/collections/nlp/modules/common/megatron/build_model.py: the model on this rank's GPU, where
        the simulated job opens (the microbatch calculator has checked the batch sizes by then)."""
        owner = model_provider_func.__self__
        load.open_session(owner.cfg, owner.trainer, load._calculator(calc))
        model = model_provider_func(pre_process=True, post_process=True)
        fw.model = model
        model.to(load._env_int("LOCAL_RANK"))
        return [model]

    def MCoreGPTModel(config, **kwargs):
        layers = [core.TransformerLayer(config, core.MLP(config, core.ColumnParallelLinear(fw.parameter(i), config)))
                  for i in range(LAYERS)]
        return core.CoreGPTModel(config, core.TransformerBlock(config, layers))

    return NS(NLPModel=NLPModel, build_model=build_model, MCoreGPTModel=MCoreGPTModel)


def classes(fw, stack, core, calc):
    strategy = _strategy_class(fw, stack)
    models = _model_classes(fw, stack, core, calc)
    return NS(Trainer=_trainer_class(fw, stack), NLPDDPStrategy=strategy, **vars(models))
