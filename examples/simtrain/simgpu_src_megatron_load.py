"""What the simulated NeMo 1 and NeMo 2 jobs share: torch as Megatron-Core sees it, Megatron-Core's modules
(microbatch calculator, transformer config, pipeline schedule without pipelining, GPT model, transformer block and
layer, MLP, column-parallel linear, cross-entropy) and Lightning's trainer and loops, compiled from
simgpu_src_nemo's sources under their site-packages names, and the model classes that tie Megatron-Core's GPT
model to the simulated GPU's tensors (mcore_classes). Frames of this file are hidden from printed tracebacks.
"""

import contextlib
import functools
import inspect
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace as NS
from typing import Generic, TypeVar

import simgpu_src_nemo
from simgpu_frames import load_source


def _compile(relpath, names):
    return NS(**load_source(relpath, simgpu_src_nemo.SOURCES[relpath], names))


def env_int(name, default=0):
    """A whole number from the environment; default when unset or not one."""
    text = os.environ.get(name, "")
    return int(text) if text.strip().isdigit() else default


def gpu_count():
    """torch.cuda.device_count() as the Megatron sims see it: CUDA_VISIBLE_DEVICES' entries, else SIMGPU_COUNT."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([e for e in visible.split(",") if e.strip()])
    return env_int("SIMGPU_COUNT", 1)


class _Base:
    pass


def automatic_optimization(base):
    """Lightning's automatic optimization (base: the compiled _AutomaticOptimization) as the Megatron sims run it: each
    closure call is one training step of the loop, and its result the step's loss."""

    class ClosureResult:
        loss = None

        @classmethod
        def from_training_step_output(cls, output, normalize=1):
            result = cls()
            result.loss = output
            return result

        def asdict(self):
            return {"loss": self.loss}

    class AutomaticOptimization(base):
        output_result_cls = ClosureResult

        def _make_closure(self, kwargs, optimizer, batch_idx):
            loop = self

            class Closure:
                _result = None

                def __call__(self, *args, **kw):
                    self._result = loop._training_step(kwargs)
                    return self._result.loss

                def consume_result(self):
                    result, self._result = self._result or ClosureResult(), None
                    return result

            return Closure()

    return AutomaticOptimization


def _ctx():
    return NS(save_for_backward=lambda *tensors: None)


class MisconfigurationException(Exception):
    pass


MisconfigurationException.__module__ = "lightning.fabric.utilities.exceptions"


class _Loop:
    """Lightning's _Loop and the bookkeeping the compiled loops call."""

    def __init__(self, trainer=None):
        self.trainer = trainer
        self.restarting = False
        self._restarting = False
        self.skip = False
        self.done = False
        self._data_source = NS(is_defined=lambda: True)
        self._should_reload_train_dl = False
        self.batch_progress = NS(increment_ready=lambda: None, increment_started=lambda: None,
                                 increment_processed=lambda: None, is_last_batch=False)
        self.optim_progress = NS(optimizer=NS(step=NS(increment_ready=lambda: None, increment_completed=lambda: None)))

    def __getattr__(self, name):
        if name.startswith("on_") or name in ("reset", "setup_data"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


class _DataLoaderIterDataFetcher:
    """Lightning's fetcher for steps that take the dataloader iterator (NeMo's Megatron steps): done once it has
    fetched as many batches as a sized loader has (length; None for a loader without one)."""

    def __init__(self, length=None):
        self.length = length
        self.fetched = 0

    @property
    def done(self):
        return self.length is not None and self.fetched >= self.length


class _CombinedLoader:
    """Lightning's CombinedLoader around the one train dataloader; sized_len is its length (None: unsized)."""

    def __init__(self, iterables, mode="max_size_cycle"):
        self.iterables = iterables
        self._mode = mode


def sized_len(combined_loader):
    try:
        return len(combined_loader.iterables)
    except TypeError:
        return None


def is_overridden(method_name, instance=None, parent=None):
    return callable(getattr(instance, method_name, None))


RunningStage = NS(TRAINING="train", SANITY_CHECKING="sanity_check", VALIDATING="validate", TESTING="test",
                  PREDICTING="predict")


class _TrainerState:
    fn = None
    status = None
    stage = None

    @property
    def stopped(self):
        return self.status == "finished"


def compile_stack(fw):
    """torch, Megatron-Core and Lightning compiled over fw's torch: a namespace of the compiled modules (schedules,
    layers_mod, trainer_mod, ...), the torch NeMo's code sees (ntorch) and the names every module is compiled
    with (base)."""
    torch = fw.torch
    Module = torch.nn.Module
    Tensor = torch.Tensor
    for name, method in {"t": lambda t: t, "transpose": lambda t, *a: t, "contiguous": lambda t, *a, **k: t,
                         "cuda": lambda t, *a, **k: t, "cpu": lambda t, *a, **k: t, "retain_grad": lambda t: None,
                         "__iadd__": lambda t, o: t}.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, method)

    class Function:
        @classmethod
        def apply(cls, *args):
            return cls.forward(_ctx(), *args)

    class ModuleList(Module):
        def __init__(self, modules=()):
            super().__init__()
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

        def __getitem__(self, index):
            return list(self._modules.values())[index]

        def __iter__(self):
            return iter(self._modules.values())

        def __len__(self):
            return len(self._modules)

    ntorch = NS(**vars(torch))
    ntorch.nn = NS(**vars(torch.nn))
    ntorch.nn.ModuleList = ModuleList
    ntorch.autograd = NS(**vars(torch.autograd))
    ntorch.autograd.Function = Function
    ntorch.int = 4
    ntorch.zeros = lambda *a, **k: fw.tensor()
    ntorch.matmul = lambda a, b: fw._linear(a, b)
    ntorch.is_tensor = lambda obj: isinstance(obj, Tensor)
    ntorch.autocast = lambda *a, **k: contextlib.nullcontext()
    ntorch.cuda = NS(current_device=lambda: env_int("LOCAL_RANK", 0), empty_cache=lambda: None)
    parallel_state = NS(is_pipeline_last_stage=lambda ignore_virtual=False: True,
                        is_pipeline_first_stage=lambda ignore_virtual=False: True,
                        get_pipeline_model_parallel_world_size=lambda: 1)
    log = logging.getLogger("lightning.pytorch")
    for name in ("lightning.pytorch", "nemo", "megatron.core", "nemo_run.cli.api"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    base = dict(torch=ntorch, nn=ntorch.nn, F=torch.nn.functional, contextlib=contextlib, inspect=inspect,
                functools=functools, OrderedDict=OrderedDict, dataclass=dataclass, Generic=Generic,
                ModelT=TypeVar("ModelT"), DataT=TypeVar("DataT"), nullcontext=contextlib.nullcontext,
                parallel_state=parallel_state, logging=logging.getLogger("nemo"), log=log,
                logger=logging.getLogger("megatron.core"))

    # Megatron-Core
    ModelParallelConfig = type("ModelParallelConfig", (), {"__post_init__": lambda self: None})
    transformer_config = _compile("megatron/core/transformer/transformer_config.py",
                                  dict(base, ModelParallelConfig=ModelParallelConfig))
    calculator = _compile("megatron/core/num_microbatches_calculator.py",
                          dict(base, NumMicroBatchesCalculator=_Base))
    schedules = _compile("megatron/core/pipeline_parallel/schedules.py", dict(
        base, set_current_microbatch=lambda model, i: None,
        get_attr_wrapped_model=lambda model, attr: (lambda *a, **k: None),
        get_model_config=lambda model: model.config, get_model_type=lambda model: "encoder_or_decoder",
        check_first_val_step=lambda first_val_step, forward_only, cond: cond,
        custom_backward=lambda output, grad: torch.autograd.backward(output)))

    class _VocabParallelCrossEntropy(Function):
        @staticmethod
        def forward(ctx, vocab_parallel_logits, target, label_smoothing=0.0):
            return fw._cross_entropy(vocab_parallel_logits, target)

    xent = _compile("megatron/core/tensor_parallel/cross_entropy.py",
                    dict(base, _VocabParallelCrossEntropy=_VocabParallelCrossEntropy))
    tensor_parallel = NS(vocab_parallel_cross_entropy=xent.vocab_parallel_cross_entropy,
                         checkpoint=lambda function, distribute_saved_activations, *args: function(*args),
                         get_cuda_rng_tracker=lambda: NS(fork=contextlib.nullcontext))
    layers_mod = _compile("megatron/core/tensor_parallel/layers.py", dict(base, gather_along_first_dim=lambda x, g: x))
    MegatronModule = type("MegatronModule", (Module,), {})
    mlp_mod = _compile("megatron/core/transformer/mlp.py", dict(base, MegatronModule=MegatronModule,
                                                                bias_swiglu_impl=lambda x, b: x))
    layer_mod = _compile("megatron/core/transformer/transformer_layer.py", dict(
        base, GraphableMegatronModule=MegatronModule, BaseTransformerLayer=type("BaseTransformerLayer", (), {})))
    block_mod = _compile("megatron/core/transformer/transformer_block.py", dict(
        base, MegatronModule=MegatronModule, tensor_parallel=tensor_parallel))
    language = _compile("megatron/core/models/common/language_module/language_module.py", dict(
        base, MegatronModule=MegatronModule, tensor_parallel=tensor_parallel))
    gpt_core = _compile("megatron/core/models/gpt/gpt_model.py", dict(base, LanguageModule=language.LanguageModule))

    # Lightning
    LightningDataModule = type("LightningDataModule", (), {})
    module_names = dict(base, Module=Module, _DeviceDtypeModuleMixin=type("_DeviceDtypeModuleMixin", (), {}),
                        HyperparametersMixin=type("HyperparametersMixin", (), {}), ModelHooks=type("ModelHooks", (), {}),
                        DataHooks=type("DataHooks", (), {}), CheckpointHooks=type("CheckpointHooks", (), {}))
    LightningModule = _compile("lightning/pytorch/core/module.py", module_names).LightningModule
    LightningOptimizer = _compile("lightning/pytorch/core/optimizer.py", dict(
        base, MisconfigurationException=MisconfigurationException, do_nothing_closure=lambda: None)).LightningOptimizer
    LightningOptimizer._on_before_step = LightningOptimizer._on_after_step = lambda self: None
    TrainerFn = NS(FITTING="fit", VALIDATING="validate", TESTING="test", PREDICTING="predict")
    TrainerStatus = NS(INITIALIZING="initializing", RUNNING="running", FINISHED="finished", INTERRUPTED="interrupted")

    def _call_lightning_module_hook(trainer, hook_name, *args, **kwargs):
        fn = getattr(trainer.lightning_module, hook_name, None)
        return fn(*args, **kwargs) if callable(fn) else None

    def _call_configure_model(trainer):
        trainer.lightning_module.configure_model()

    call_ns = _compile("lightning/pytorch/trainer/call.py", dict(
        base, _TunerExitException=type("_TunerExitException", (Exception,), {}), TrainerStatus=TrainerStatus,
        _call_teardown_hook=lambda trainer: None, _interrupt=lambda trainer, exception: None))
    call = NS(_call_and_handle_interrupt=call_ns._call_and_handle_interrupt,
              _call_strategy_hook=call_ns._call_strategy_hook, _call_setup_hook=lambda trainer: None,
              _call_configure_model=_call_configure_model, _call_callback_hooks=lambda *a, **k: None,
              _call_lightning_module_hook=_call_lightning_module_hook)
    loop_names = dict(base, _Loop=_Loop, call=call, _block_parallel_sync_behavior=lambda *a, **k: contextlib.nullcontext(),
                      _SUPPORTED_MODES=("max_size_cycle", "min_size", "max_size", "sequential"),
                      _DataLoaderIterDataFetcher=_DataLoaderIterDataFetcher, CombinedLoader=_CombinedLoader,
                      sized_len=sized_len, is_overridden=is_overridden, MisconfigurationException=MisconfigurationException,
                      _request_dataloader=lambda source: source.dataloader())
    automatic = _compile("lightning/pytorch/loops/optimization/automatic.py", loop_names)
    epoch_mod = _compile("lightning/pytorch/loops/training_epoch_loop.py", loop_names)
    fit_mod = _compile("lightning/pytorch/loops/fit_loop.py", loop_names)
    trainer_mod = _compile("lightning/pytorch/trainer/trainer.py", dict(
        base, call=call, TrainerFn=TrainerFn, TrainerStatus=TrainerStatus, _maybe_unwrap_optimized=lambda m: m,
        _verify_strategy_supports_compile=lambda m, s: None, LightningDataModule=LightningDataModule,
        _parse_loop_limits=lambda min_steps, max_steps, min_epochs, max_epochs, trainer: (None, max_epochs),
        parsing=NS(clean_namespace=lambda hparams: None), _verify_loop_configurations=lambda trainer: None,
        isolate_rng=contextlib.nullcontext, is_overridden=is_overridden, RunningStage=RunningStage))
    flags = dict(base, MisconfigurationException=MisconfigurationException)
    setup_mod = _compile("lightning/pytorch/trainer/setup.py", flags)
    connector_mod = _compile("lightning/pytorch/trainer/connectors/data_connector.py", flags)

    return NS(**locals())


def init_trainer_flags(ns, trainer, k):
    """What Lightning's Trainer.__init__ does with its validation and limit arguments (k: the arguments with
    Lightning's defaults): the data connector's checks of check_val_every_n_epoch and val_check_interval, the
    default two sanity steps, and _init_debugging_flags' batch limits. ns is compile_stack's namespace."""
    num_sanity_val_steps = k.get("num_sanity_val_steps")
    if num_sanity_val_steps is None:
        num_sanity_val_steps = 2
    ns.connector_mod._DataConnector(trainer).on_trainer_init(
        k.get("val_check_interval"), k.get("reload_dataloaders_every_n_epochs", 0), k.get("check_val_every_n_epoch", 1))
    ns.setup_mod._init_debugging_flags(
        trainer, k.get("limit_train_batches"), k.get("limit_val_batches"), k.get("limit_test_batches"),
        k.get("limit_predict_batches"), k.get("fast_dev_run", False), k.get("overfit_batches", 0.0),
        k.get("val_check_interval"), num_sanity_val_steps)
    trainer.should_stop = False


def mcore_classes(fw, ns):
    """Megatron-Core's GPT model over the simulated GPU: the compiled modules' classes with the constructors the
    sim needs (one ColumnParallelLinear weight a layer, LAYERS layers). ns is compile_stack's namespace."""
    torch = fw.torch
    Module = torch.nn.Module

    class ColumnParallelLinear(ns.layers_mod.ColumnParallelLinear):
        def __init__(self, weight, config):
            Module.__init__(self)
            self.weight = weight
            self.register_parameter("weight", weight)
            self.bias = None
            self.skip_bias_add = False
            self.explicit_expert_comm = False
            self.allreduce_dgrad = False
            self.gradient_accumulation_fusion = False
            self.sequence_parallel = False
            self.config = config
            self.tp_group = None
            self._forward_impl = ns.layers_mod.linear_with_grad_accumulation_and_async_allreduce

    class MLP(ns.mlp_mod.MLP):
        def __init__(self, config, linear_fc1):
            Module.__init__(self)
            self.config = config
            self.linear_fc1 = linear_fc1
            self.activation_func = lambda x: x

    class TransformerLayer(ns.layer_mod.TransformerLayer):
        def __init__(self, config, mlp):
            Module.__init__(self)
            self.config = config
            self.mlp = mlp
            self.pre_mlp_layernorm = lambda x: x
            self.hidden_dropout = 0.0
            self.bias_dropout_add_exec_handler = contextlib.nullcontext
            self.mlp_bda = lambda training, fused: (lambda x_with_bias, residual, prob: x_with_bias[0])

    class TransformerBlock(ns.block_mod.TransformerBlock):
        def __init__(self, config, layers):
            Module.__init__(self)
            self.config = config
            self.layers = ns.ntorch.nn.ModuleList(layers)
            self.pre_process = True
            self.final_layernorm = None
            self.offload_context = contextlib.nullcontext()
            self.num_layers_per_pipeline_rank = len(layers)

        def _get_layer(self, index):
            return self.layers[index]

    class CoreGPTModel(ns.gpt_core.GPTModel):
        def __init__(self, config, decoder):
            Module.__init__(self)
            self.config = config
            self.decoder = decoder
            self.pre_process = True
            self.share_embeddings_and_output_weights = False
            self.embedding = lambda input_ids=None, position_ids=None: input_ids
            self.output_layer = lambda hidden_states, weight=None, runtime_gather_output=None: (hidden_states, None)

    return NS(ColumnParallelLinear=ColumnParallelLinear, MLP=MLP, TransformerLayer=TransformerLayer,
              TransformerBlock=TransformerBlock, CoreGPTModel=CoreGPTModel)
