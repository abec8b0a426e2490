"""The simulated Megatron-Bridge recipe script's machinery (megatron_bridge/examples/recipes/llama/
pretrain_llama3_8b.py calls bridge()): it starts the sim, compiles simgpu_src_bridge*'s Megatron-Bridge
modules over the Megatron-Core stack of simgpu_src_megatron_load, and supplies what Bridge gets from
torch, torch.distributed, Megatron-Core (the model build, the distributed optimizer, the timers, the
distributed checkpoint files), OmegaConf and Hydra's override parser (the verl sim's), TensorBoard and W&B,
and the session on the simulated GPU. Frames of this file are hidden from printed tracebacks.

The job, in the sim's terms (see README.md, "Megatron-Bridge"): micro-batch train.micro_batch_size,
accumulation train.global_batch_size / (micro x dp) (Megatron's number of microbatches; dp = WORLD_SIZE /
(tensor x pipeline x context parallel sizes), pipeline parallel 1 only), effective batch the global batch,
evaluation eval_iters x the accumulation micro-batches at the micro-batch, precision from mixed_precision
(bf16_mixed -> bf16, fp16_mixed -> fp16, null -> fp32), checkpointing model.recompute_granularity=full,
optimizer state divided by dp with ddp.use_distributed_optimizer, weights divided by the tensor-parallel
size and activations by tensor x context parallel, model.cpu_offloading keeping (L-K)/L of the
activations on the GPU (K = model.cpu_offloading_num_layers, 0 by default: nothing offloads), and
optimizer.optimizer_cpu_offload with optimizer_offload_fraction 1 keeping the optimizer state off it. In the
0.4 release (SIMTRAIN_BRIDGE_RELEASE, simgpu_src_bridge_newer) evaluation is ValidationConfig's: its eval_iters,
eval_interval, and micro-batch and global batch (the training ones unless set).
"""

import dataclasses
import datetime
import functools
import gc
import inspect
import logging
import math
import os
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any, Optional, Union

import simgpu
import simgpu_run
import simgpu_src_bridge
import simgpu_src_bridge_config
import simgpu_src_bridge_eval
import simgpu_src_bridge_newer
import simgpu_src_bridge_setup
import simgpu_src_bridge_step
import simgpu_src_bridge_train
import simgpu_src_megatron_load as megatron
from simgpu_frames import load_source
from simgpu_model import LAYERS
from simgpu_src_bridge_torch import (
    STATE, ConfigLoaderImpl, OmegaConf, OverridesParser, SummaryWriter, Timers, _barrier, _barrier_dir,
    _bridge_torch, _dist_load, _dist_save, _Num, _wandb_init, atomic_print, barrier_and_log, experimental_fn,
    get_local_rank_preinit, get_rank_safe, get_world_size_safe, print_rank_0, print_rank_last, warn_rank_0,
)

TASK_NAME = "pretrain_llama3_8b"
DEFAULT_NULL_TOKENIZER_VOCAB_SIZE = 131072
# What AutoBridge reads from meta-llama/Meta-Llama-3-8B's config.json (the sim has no hub to ask).
LLAMA3_8B = dict(num_layers=32, hidden_size=4096, ffn_hidden_size=14336, num_attention_heads=32, num_query_groups=8,
                 kv_channels=128, seq_length=8192, vocab_size=128256, normalization="RMSNorm", gated_linear_unit=True,
                 add_bias_linear=False, position_embedding_type="rope", rotary_base=500000, hidden_dropout=0.0,
                 attention_dropout=0.0, share_embeddings_and_output_weights=False)
# Megatron-Core's TransformerConfig (with ModelParallelConfig's fields) as the sim's model configs have them.
MCORE_FIELDS = dict(
    num_layers=0, hidden_size=0, num_attention_heads=0, num_query_groups=None, ffn_hidden_size=None, kv_channels=None,
    hidden_dropout=0.1, attention_dropout=0.1, layernorm_epsilon=1e-5, add_bias_linear=True, gated_linear_unit=False,
    activation_func=None, normalization="LayerNorm", init_method_std=0.02, tensor_model_parallel_size=1,
    pipeline_model_parallel_size=1, virtual_pipeline_model_parallel_size=None, sequence_parallel=False,
    context_parallel_size=1, expert_model_parallel_size=1, fp16=False, bf16=False, params_dtype="torch.float32",
    pipeline_dtype=None, autocast_dtype=None, enable_autocast=False, fp8=None, timers=None,
    finalize_model_grads_func=None, grad_scale_func=None, no_sync_func=None, grad_sync_func=None,
    param_sync_func=None, deallocate_pipeline_outputs=False, barrier_with_L1_time=True, calculate_per_token_loss=False,
    recompute_granularity=None, recompute_method=None, recompute_num_layers=None, distribute_saved_activations=None,
    cpu_offloading=False, cpu_offloading_num_layers=0, cpu_offloading_activations=True, cpu_offloading_weights=True,
    bias_activation_fusion=False, bias_dropout_fusion=False, apply_rope_fusion=False, cross_entropy_loss_fusion=False,
    masked_softmax_fusion=False, use_cpu_initialization=False, perform_initialization=True, wgrad_deferral_limit=0)


def _open_session():
    """The job on the simulated GPU, when the model is built (after the microbatch calculator's checks)."""
    sim, cfg = STATE.sim, STATE.cfg
    model = cfg.model
    if model.pipeline_model_parallel_size != 1:
        simgpu_run.fail_usage("model.pipeline_model_parallel_size=%r: pipeline parallelism is not simulated (use 1)"
                              % model.pipeline_model_parallel_size)
    tp, cp = model.tensor_model_parallel_size, model.context_parallel_size
    env = sim.env
    weights = simgpu.parse_size(env.get("SIMGPU_MODEL", simgpu.DEFAULT_MODEL), "SIMGPU_MODEL")
    act = simgpu.parse_size(env.get("SIMGPU_ACT", simgpu.DEFAULT_ACT), "SIMGPU_ACT")
    eval_act = simgpu.parse_size(env.get("SIMGPU_EVAL_ACT", simgpu.DEFAULT_EVAL_ACT), "SIMGPU_EVAL_ACT")
    if model.cpu_offloading and model.cpu_offloading_activations:
        layers = model.num_layers or 1
        act = act * max(0, layers - (model.cpu_offloading_num_layers or 0)) // layers
    sim.env = dict(env, SIMGPU_MODEL=str(weights // tp), SIMGPU_ACT=str(act // (tp * cp)),
                   SIMGPU_EVAL_ACT=str(eval_act // (tp * cp)))
    accumulation = STATE.stack.calculator.get_num_microbatches()
    precision = "bf16" if model.bf16 else "fp16" if model.fp16 else "fp32"
    evaluation = _evaluation(cfg)
    job = simgpu.Job(
        TASK_NAME, micro_batch=cfg.train.micro_batch_size, accumulation=accumulation,
        eval_batch=evaluation.micro, precision=precision, checkpointing=model.recompute_granularity == "full",
        optimizer="adam", optimizer_kind="adam", offload=_offloaded(cfg.optimizer),
        zero_stage=1 if cfg.ddp.use_distributed_optimizer else 0, steps=cfg.train.train_iters,
        eval_every=evaluation.interval, eval_at_end=evaluation.iters > 0,
        eval_batches=max(1, evaluation.iters) * evaluation.micro_batches,
        env=dict(sim.env, WORLD_SIZE=str(cfg.data_parallel_size)))
    STATE.session = session = sim.session(job)
    session.driver.progress.enabled = False
    return session


def _evaluation(cfg):
    """The evaluation as the release reads it: iterations a pass, interval, micro-batch and micro-batches an
    iteration (0.2: TrainingConfig's, at the training micro-batch; 0.4: ValidationConfig's, at its batch sizes)."""
    if STATE.release == "0.2":
        return NS(iters=cfg.train.eval_iters or 0, interval=cfg.train.eval_interval or 0,
                  micro=cfg.train.micro_batch_size, micro_batches=STATE.stack.calculator.get_num_microbatches())
    v = cfg.validation
    return NS(iters=v.eval_iters or 0, interval=v.eval_interval or 0, micro=v.eval_micro_batch_size,
              micro_batches=v.eval_global_batch_size // (v.eval_micro_batch_size * cfg.data_parallel_size))


def _offloaded(config):
    """Whether Megatron-Core's HybridDeviceOptimizer keeps the optimizer state on the host: all of it at
    optimizer_offload_fraction 1, none at 0 (its default); a share between is not simulated."""
    if not config.optimizer_cpu_offload:
        return False
    fraction = float(config.optimizer_offload_fraction)
    if 0 < fraction < 1:
        simgpu_run.fail_usage("optimizer.optimizer_offload_fraction=%r: a share of the optimizer state on the host is "
                              "not simulated (use 0 or 1)" % config.optimizer_offload_fraction)
    return fraction >= 1


def get_model(provider, ddp_config=None, wrap_with_ddp=True, **kwargs):
    """megatron/bridge/models/model_provider.py's get_model: the model on this rank's GPU, in DDP."""
    _open_session()
    fw = STATE.fw
    model = provider.provide(pre_process=True, post_process=True)
    fw.model = model
    model.to(get_local_rank_preinit())
    return [STATE.ddp(model)]


def _ddp_class(fw):
    Module = fw.torch.nn.Module

    class DistributedDataParallel(Module):
        def __init__(self, module):
            Module.__init__(self)
            self.module = module
            self.config = module.config

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        def zero_grad_buffer(self):
            pass

        def state_dict(self, *args, **kwargs):
            return {"decoder.layers": LAYERS}

        def load_state_dict(self, state_dict, strict=True):
            pass

    DistributedDataParallel.__module__ = "megatron.core.distributed.distributed_data_parallel"
    return DistributedDataParallel


def _mcore_gpt_model(config, transformer_layer_spec=None, **kwargs):
    core, fw = STATE.core, STATE.fw
    layers = [core.TransformerLayer(config, core.MLP(config, core.ColumnParallelLinear(fw.parameter(i), config)))
              for i in range(LAYERS)]
    return core.CoreGPTModel(config, core.TransformerBlock(config, layers))


class _MegatronOptimizer:
    """megatron.core.optimizer's DistributedOptimizer as Bridge drives it; the step ends the simulated step."""

    def __init__(self, model, config, scheduler_config):
        self.inner = STATE.fw.torch.optim.AdamW(model[0].parameters())
        self.param_groups = [{"lr": 0.0, "is_decoupled_lr": False}]
        self.max_lr = config.lr or 0.0

    def zero_grad(self, set_to_none=True):
        self.inner.zero_grad()

    def step(self):
        self.inner.step()
        driver = STATE.session.driver
        driver.end_step(driver.step)
        return True, 1.0, None

    def scale_loss(self, loss):
        return loss

    def get_loss_scale(self):
        return _Num(1.0)

    def state_dict(self):
        return {"optimizer": "adam"}

    def load_state_dict(self, state_dict):
        pass


class _Scheduler:
    """OptimizerParamScheduler: a linear warm-up to the optimizer's lr."""

    def __init__(self, optimizer, config):
        self.optimizer, self.num_steps = optimizer, 0
        self.warmup_steps = getattr(config, "lr_warmup_steps", 0) or 0

    def step(self, increment):
        self.num_steps += increment
        share = min(1.0, self.num_steps / self.warmup_steps) if self.warmup_steps else 1.0
        self.optimizer.param_groups[0]["lr"] = self.optimizer.max_lr * share


def setup_optimizer(optimizer_config, scheduler_config, model, use_gloo_process_groups=True):
    if optimizer_config.optimizer_cpu_offload:
        # megatron/core/optimizer/__init__.py, before it builds the HybridDeviceOptimizer.
        assert (
            optimizer_config.decoupled_weight_decay
        ), "CPU offloading only supported with decoupled_weight_decay enabled (AdamW mode)."
    optimizer = _MegatronOptimizer(model, optimizer_config, scheduler_config)
    return optimizer, _Scheduler(optimizer, scheduler_config)


def _batch(inputs, targets):
    fw = STATE.fw
    return dict(tokens=inputs, position_ids=fw.tensor(), labels=targets, loss_mask=fw.tensor(),
                attention_mask=fw.tensor())


class _TrainIterator:
    """The training data: each optimizer step's micro-batches from the simulated GPU's driver."""

    def __init__(self):
        self._batches = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._batches is None:
            self._batches = self._each()
        return next(self._batches)

    @staticmethod
    def _each():
        driver = STATE.session.driver
        for _ in driver.steps():
            for inputs, targets in driver.micro_batches():
                yield _batch(inputs, targets)


class _EvalIterator:
    """A validation or test split: one evaluation's batches at a time (Timers' "evaluate" ends it)."""

    def __init__(self):
        self._batches = None
        STATE.eval_iterators.append(self)

    def __iter__(self):
        return self

    def __next__(self):
        if self._batches is None:
            self._batches = STATE.session.driver.eval_batches()
        inputs, targets = next(self._batches)
        return _batch(inputs, targets)

    def drain(self):
        if self._batches is not None:
            for _ in self._batches:
                pass
            self._batches = None


def setup_data_iterators(cfg, train_state, model_length, train_valid_test_datasets_provider):
    """Mock GPT data (no blend): the splits of dataset.split, each with data while the recipe's split has it.
    Megatron's dataset builders synchronise the ranks; so does the sim here."""
    _barrier()
    train_state.do_train = bool(cfg.train.train_iters)
    train_state.do_valid = train_state.do_test = _evaluation(cfg).iters > 0
    valid = _EvalIterator() if train_state.do_valid else None
    test = _EvalIterator() if train_state.do_test else None
    return _TrainIterator(), valid, test


def append_to_progress_log(save_dir, string, barrier=True):
    if get_rank_safe() != 0:
        return
    os.makedirs(save_dir, exist_ok=True)
    with open(os.path.join(save_dir, "progress.txt"), "a") as f:
        f.write("%s\tJob ID: %s\t# GPUs: %d\t%s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                     os.environ.get("SLURM_JOB_ID", ""), get_world_size_safe(), string))


def destroy_global_state():
    if get_rank_safe() == 0 and get_world_size_safe() > 1:
        shutil.rmtree(_barrier_dir(), ignore_errors=True)
    if STATE.session is not None:
        STATE.session.finish()


# --- compiling the modules -------------------------------------------------------------------------------

def _compile(relpath, names):
    for module in (simgpu_src_bridge, simgpu_src_bridge_config, simgpu_src_bridge_setup, simgpu_src_bridge_eval,
                   simgpu_src_bridge_train, simgpu_src_bridge_step):
        if relpath in module.SOURCES:
            text = simgpu_src_bridge_newer.source(relpath, module.SOURCES[relpath], STATE.release)
            return NS(**load_source(relpath, text, names))
    raise KeyError(relpath)


def _auto_bridge(provider_class):
    def from_hf_pretrained(name, **kwargs):
        return NS(to_megatron_provider=lambda load_weights=True: provider_class(**LLAMA3_8B))
    return NS(from_hf_pretrained=from_hf_pretrained)


def _optimizer_utils(configs):
    def distributed_fused_adam_with_cosine_annealing(lr_warmup_iters=2000, lr_decay_iters=None, adam_beta1=0.9,
                                                     adam_beta2=0.95, adam_eps=1e-5, weight_decay=0.1, max_lr=1e-4,
                                                     min_lr=None, clip_grad=1.0):
        optimizer = configs.OptimizerConfig(optimizer="adam", lr=max_lr, min_lr=min_lr, weight_decay=weight_decay,
                                            bf16=True, adam_beta1=adam_beta1, adam_beta2=adam_beta2, adam_eps=adam_eps,
                                            use_distributed_optimizer=True, clip_grad=clip_grad)
        scheduler = configs.SchedulerConfig(lr_decay_style="cosine", lr_warmup_iters=lr_warmup_iters,
                                            lr_decay_iters=lr_decay_iters)
        return optimizer, scheduler
    return distributed_fused_adam_with_cosine_annealing


def load(fw):
    """Compile Megatron-Bridge's modules over the Megatron-Core stack; returns what the recipe script imports."""
    STATE.stack = stack = megatron.compile_stack(fw)
    STATE.core = megatron.mcore_classes(fw, stack)
    STATE.ddp = _ddp_class(fw)
    torch = _bridge_torch(fw)
    calc = stack.calculator
    base = dict(print=atomic_print, torch=torch, os=os, sys=sys, time=time, math=math, gc=gc, signal=signal,
                inspect=inspect, functools=functools, dataclasses=dataclasses, datetime=datetime, dataclass=dataclass, field=field,
                fields=dataclasses.fields, warnings=warnings, warn_rank_0=warn_rank_0,
                Any=Any, Optional=Optional, Union=Union, print_rank_0=print_rank_0, print_rank_last=print_rank_last,
                get_rank_safe=get_rank_safe, get_world_size_safe=get_world_size_safe, OmegaConf=OmegaConf,
                barrier_and_log=barrier_and_log, get_num_microbatches=calc.get_num_microbatches,
                get_model_config=lambda model: model.config, logger=logging.getLogger("megatron.bridge"))
    fields = [(k, Any, field(default=v)) for k, v in MCORE_FIELDS.items()]
    mcore = dataclasses.make_dataclass("TransformerConfig", fields, bases=(stack.transformer_config.TransformerConfig,))
    mcore.__module__ = "megatron.core.transformer.transformer_config"
    mp = _compile("megatron/bridge/training/mixed_precision.py", base)
    tc = _compile("megatron/bridge/models/transformer_config.py", dict(base, MCoreTransformerConfig=mcore))
    gpt = _compile("megatron/bridge/models/gpt_provider.py", dict(
        base, TransformerConfig=tc.TransformerConfig, ModelProviderMixin=type("ModelProviderMixin", (), {}),
        MCoreGPTModel=_mcore_gpt_model, get_model=get_model))
    omega = _compile("megatron/bridge/training/utils/omegaconf_utils.py", dict(
        base, OverridesParser=OverridesParser, ConfigLoaderImpl=ConfigLoaderImpl,
        logger=logging.getLogger("megatron.bridge.training.utils.omegaconf_utils")))
    configs = _compile("megatron/bridge/training/config.py", dict(
        base, GPTModelProvider=gpt.GPTModelProvider, MixedPrecisionConfig=mp.MixedPrecisionConfig,
        get_mixed_precision_config=mp.get_mixed_precision_config,
        _dataclass_to_omegaconf_dict=omega._dataclass_to_omegaconf_dict))
    names = dict(base, **{k: v for k, v in vars(configs).items() if k[:1].isupper()})
    common = _compile("megatron/bridge/recipes/common.py", dict(
        names, distributed_fused_adam_with_cosine_annealing=_optimizer_utils(configs)))
    llama3 = _compile("megatron/bridge/recipes/llama/llama3.py", dict(
        names, _pretrain_common=common._pretrain_common, AutoBridge=_auto_bridge(gpt.GPTModelProvider),
        DEFAULT_NULL_TOKENIZER_VOCAB_SIZE=DEFAULT_NULL_TOKENIZER_VOCAB_SIZE))
    parallel = _compile("megatron/core/parallel_state.py", base)
    names.update(parallel_state=parallel, get_forward_backward_func=lambda: stack.schedules.forward_backward_no_pipelining,
                 wandb=NS(init=_wandb_init, log=lambda *a, **k: None, finish=lambda: None),
                 SummaryWriter=SummaryWriter, Timers=Timers,
                 DistributedSignalHandler=lambda sig: NS(signals_received=lambda: [False]))
    state = _compile("megatron/bridge/training/state.py", names)
    names.update(GlobalState=state.GlobalState)
    utils = _compile("megatron/bridge/training/utils/train_utils.py", dict(names, datetime=datetime.datetime))
    names.update({k: getattr(utils, k) for k in ("prepare_forward_step_func", "training_log",
                                                 "reduce_max_stat_across_model_parallel_group",
                                                 "logical_and_across_model_parallel_group")},
                 dist_checkpointing=NS(save=_dist_save, load=_dist_load),
                 get_rerun_state_machine=lambda: _RerunStateMachine(), update_num_microbatches=lambda *a, **k: None)
    ckpt = _compile("megatron/bridge/training/checkpointing.py", names)
    evaluation = _compile("megatron/bridge/training/eval.py", names)
    init = _compile("megatron/bridge/training/initialize.py", dict(
        names, init_num_microbatches_calculator=calc.init_num_microbatches_calculator,
        get_local_rank_preinit=get_local_rank_preinit))
    setup = _compile("megatron/bridge/training/setup.py", dict(
        names, initialize_megatron=init.initialize_megatron, append_to_progress_log=append_to_progress_log,
        build_tokenizer=lambda cfg: NS(vocab_size=cfg.vocab_size or DEFAULT_NULL_TOKENIZER_VOCAB_SIZE),
        setup_optimizer=setup_optimizer, finalize_model_grads=lambda *a, **k: None,
        load_checkpoint=ckpt.load_checkpoint, setup_data_iterators=setup_data_iterators))
    losses = _compile("megatron/bridge/training/losses.py", names)
    step = _compile("megatron/bridge/training/gpt_step.py", dict(names, masked_next_token_loss=losses.masked_next_token_loss))
    train = _compile("megatron/bridge/training/train.py", dict(
        names, save_checkpoint=ckpt.save_checkpoint, evaluate_and_print_results=evaluation.evaluate_and_print_results,
        destroy_global_state=destroy_global_state))
    pretrain = _compile("megatron/bridge/training/pretrain.py", dict(
        names, experimental_fn=experimental_fn, runtime_config_update=configs.runtime_config_update,
        get_dataset_provider=lambda dataset: (lambda *a, **k: None), setup=setup.setup, train=train.train,
        _finish_train=train._finish_train, evaluate_and_print_results=evaluation.evaluate_and_print_results))
    return NS(llama3_8b_pretrain_config=llama3.llama3_8b_pretrain_config, ConfigContainer=configs.ConfigContainer,
              forward_step=step.forward_step, pretrain=pretrain.pretrain, apply_overrides=omega.apply_overrides,
              create_omegaconf_dict_config=omega.create_omegaconf_dict_config,
              parse_hydra_overrides=omega.parse_hydra_overrides, get_rank_safe=get_rank_safe, OmegaConf=OmegaConf,
              torch=torch)


class _RerunStateMachine:
    """megatron/core/rerun_state_machine.py with rerun_mode disabled: one forward-backward a step."""

    def __init__(self):
        self._ran = False

    def should_run_forward_backward(self, data_iterator):
        ran, self._ran = self._ran, True
        return not ran

    def should_checkpoint_and_exit(self):
        return False, False, 0


# --- entry point ------------------------------------------------------------------------------------------

def bridge():
    """What pretrain_llama3_8b.py imports from Megatron-Bridge, on the simulated GPU: the sim is started (its
    --sim-* options taken out of sys.argv, which the script's own argparse and overrides then read)."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=TASK_NAME)
    STATE.sim = sim
    STATE.release = sim.env.get("SIMTRAIN_BRIDGE_RELEASE", "") or "0.2"
    if STATE.release not in simgpu_src_bridge_newer.RELEASES:
        simgpu_run.fail_usage("SIMTRAIN_BRIDGE_RELEASE=%r: the simulated releases are %s"
                              % (STATE.release, ", ".join(simgpu_src_bridge_newer.RELEASES)))
    STATE.fw = sim.frameworks
    modules = load(sim.frameworks)
    sys.argv[1:] = sim.argv
    return modules
