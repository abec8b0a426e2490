"""The simulated NeMo 1 Megatron GPT pretraining's machinery (nemo1/examples/nlp/language_modeling/
megatron_gpt_pretraining.py calls nemo()): it starts the sim, sets up Hydra as NeMo's hydra_runner uses it
(simgpu_src_nemo1_conf), compiles simgpu_src_nemo1's NeMo modules over the Lightning and Megatron-Core
stack of simgpu_src_megatron_load, and supplies what NeMo gets from Lightning (the Trainer's arguments and
checks, the DDP strategy, its launcher of the other ranks, the loops), Megatron-Core and apex, and the
session on the simulated GPU. Frames of this file are hidden from printed tracebacks.

The job, in the sim's terms (see README.md, "NeMo 1"): micro-batch model.micro_batch_size, accumulation
model.global_batch_size / (micro x dp), Megatron's number of microbatches (dp = trainer.devices x
trainer.num_nodes / (tensor x pipeline x context parallel sizes), all three 1 in the sim), effective batch
model.global_batch_size, evaluation one global batch of micro-batches, precision trainer.precision through
NeMo's precision plugin (bf16, 16, 32; bf16-true and 16-true as Lightning takes them),
checkpointing model.activations_checkpoint_granularity=full, optimizer state divided by dp with
model.optim.name distributed_fused_adam, and model.cpu_offloading keeping (L-K)/L of the activations on the
GPU (K = model.cpu_offloading_num_layers of L = model.num_layers).
"""

import os
import re
import sys
import time
from pathlib import Path
from shutil import copy, move
from types import SimpleNamespace as NS

import simgpu
import simgpu_ranks
import simgpu_run
import simgpu_src_megatron_load as megatron
import simgpu_src_nemo
import simgpu_src_nemo1
import simgpu_src_nemo1_conf as conf
import simgpu_src_nemo1_data as data
import simgpu_src_nemo1_outputs as outputs
import simgpu_src_verl_load as hydra
from simgpu_frames import load_source

TASK_NAME = "megatron_gpt_pretraining"
ORIGINAL_ARGV = list(sys.argv)
# lightning/pytorch/trainer/trainer.py: Trainer.__init__'s arguments (2.x) and the defaults the sim reads.
TRAINER_DEFAULTS = dict(
    accelerator="auto", strategy="auto", devices="auto", num_nodes=1, precision=None, logger=None, callbacks=None,
    fast_dev_run=False, max_epochs=None, min_epochs=None, max_steps=-1, min_steps=None, max_time=None,
    limit_train_batches=None, limit_val_batches=None, limit_test_batches=None, limit_predict_batches=None,
    overfit_batches=0.0, val_check_interval=None, check_val_every_n_epoch=1, num_sanity_val_steps=None,
    log_every_n_steps=None, enable_checkpointing=None, enable_progress_bar=None, enable_model_summary=None,
    accumulate_grad_batches=1, gradient_clip_val=None, gradient_clip_algorithm=None, deterministic=None,
    benchmark=None, inference_mode=True, use_distributed_sampler=True, profiler=None, detect_anomaly=False,
    barebones=False, plugins=None, sync_batchnorm=False, reload_dataloaders_every_n_epochs=0, default_root_dir=None)
# lightning/fabric/connector.py's _PRECISION_INPUT, and what the sim trains at for each.
PRECISIONS = {"transformer-engine": None, "transformer-engine-float16": None, "16-true": "fp16-true",
              "16-mixed": "fp16", "bf16-true": "bf16-true", "bf16-mixed": "bf16", "32-true": "fp32", "64-true": None,
              64: None, 32: "fp32", 16: "fp16", "64": None, "32": "fp32", "16": "fp16", "bf16": "bf16"}


class _State:
    sim = None
    fw = None
    session = None
    metrics = None
    ranks = simgpu_ranks.Ranks()


STATE = _State()


_env_int, _gpu_count = megatron.env_int, megatron.gpu_count


def _compile(relpath, names):
    sources = simgpu_src_nemo1.SOURCES if relpath in simgpu_src_nemo1.SOURCES else simgpu_src_nemo.SOURCES
    return NS(**load_source(relpath, sources[relpath], names))


# --- Lightning's DDP launcher: this process is rank 0, the others run the same command -----------------------

class _Launcher(simgpu_ranks.Launcher):
    """Lightning's _SubprocessScriptLauncher (the DDP strategy's, started by Trainer.fit)."""

    def __init__(self, devices, num_nodes):
        super().__init__(devices, num_nodes, STATE.ranks, argv=ORIGINAL_ARGV, port=29500)


def _collective():
    """A step's all-reduce: with a peer gone it never completes (NCCL waits; the observer ends rank 0)."""
    STATE.ranks.collective()


# --- the session on the simulated GPU ---------------------------------------------------------------------

def _positive(value, key):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        simgpu_run.fail_usage("%s: must be an integer of at least 1, got %r" % (key, value))
    return value


def open_session(cfg, trainer, calculator):
    """The job on the simulated GPU, when MegatronGPTModel builds its model (after the microbatch calculator)."""
    sim = STATE.sim
    for key in ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size"):
        if cfg.get(key, 1) != 1:
            simgpu_run.fail_usage("model.%s=%r: model parallelism is not simulated (use 1)" % (key, cfg.get(key)))
    micro = _positive(cfg.get("micro_batch_size"), "model.micro_batch_size")
    steps = _positive(trainer.max_steps, "trainer.max_steps")
    optim = cfg.get("optim") or {}
    env = dict(sim.env, WORLD_SIZE=str(trainer.world_size), RANK=str(trainer.global_rank),
               LOCAL_RANK=str(trainer.local_rank))
    if cfg.get("cpu_offloading") and cfg.get("cpu_offloading_activations", True):
        layers = cfg.get("num_layers") or 1
        kept = max(0, layers - (cfg.get("cpu_offloading_num_layers") or 0))
        act = simgpu.parse_size(sim.env.get("SIMGPU_ACT", simgpu.DEFAULT_ACT), "SIMGPU_ACT")
        sim.env = env = dict(env, SIMGPU_ACT=str(act * kept // layers))
    job = simgpu.Job(
        TASK_NAME, micro_batch=micro, accumulation=calculator.get(), eval_batch=micro,
        precision=PRECISIONS[trainer.precision], checkpointing=cfg.get("activations_checkpoint_granularity") == "full",
        optimizer="adam", optimizer_kind="adam", zero_stage=1 if optim.get("name") == "distributed_fused_adam" else 0,
        steps=steps, eval_batches=calculator.get(), env=env)  # Lightning's loops decide the validations
    STATE.session = session = sim.session(job)
    STATE.metrics = outputs.BarMetrics(session.driver, cfg.get("global_batch_size"))
    if any(type(c).__name__ == "CustomProgressBar" for c in trainer.callbacks):
        outputs.attach_bar(session.driver, steps, STATE.metrics)
    else:
        session.driver.progress.enabled = False
    trainer.sim_global_batch = cfg.get("global_batch_size")
    return session


def _restore(trainer, fn, ckpt_path, **kwargs):
    """Lightning's checkpoint connector: the path exp_manager set (trainer.ckpt_path) restores its step."""
    path = trainer.ckpt_path
    if path:
        if not os.path.exists(path):
            raise FileNotFoundError("Checkpoint at %s not found. Aborting training." % path)
        if trainer.global_rank == 0:
            sys.stderr.write("Restoring states from the checkpoint path at %s\n" % path)
        match = re.search(r"step=([0-9]+)", path)
        if match and int(match.group(1)):
            STATE.session.driver.resume(int(match.group(1)))
    return path


# --- compiling the modules -------------------------------------------------------------------------------

def _torch(fw, stack):
    torch = NS(**vars(stack.ntorch))
    torch.float16, torch.bfloat16, torch.float32 = "torch.float16", "torch.bfloat16", "torch.float32"
    torch.cuda = NS(current_device=lambda: _env_int("LOCAL_RANK"), set_device=lambda index: None,
                    is_available=lambda: True, empty_cache=lambda: None)
    torch.concat = torch.stack = lambda tensors, dim=0: fw.tensor()
    torch.tensor = lambda value, **kwargs: fw.tensor()
    torch.as_tensor = lambda value, **kwargs: value
    for name in ("mean", "item"):
        if not hasattr(fw.torch.Tensor, name):
            setattr(fw.torch.Tensor, name, lambda t, *a, **k: t)
    return torch


def _dtype_from_precision(precision, megatron_amp_O2=None):
    """nemo/utils/utils_funcs.py's torch_dtype_from_precision."""
    if precision in ("bf16", "bf16-mixed", "bf16-true"):
        return "torch.bfloat16"
    if precision in (16, "16", "16-mixed", "16-true"):
        return "torch.float16"
    if precision in (32, "32", "32-true"):
        return "torch.float32"
    raise ValueError("Could not parse the precision of `%s` to a valid torch.dtype" % precision)


TRANSFORMER_DEFAULTS = dict(
    num_layers=0, hidden_size=0, ffn_hidden_size=None, num_attention_heads=1, kv_channels=None,
    tensor_model_parallel_size=1, pipeline_model_parallel_size=1, sequence_parallel=False, hidden_dropout=0.1,
    attention_dropout=0.1, init_method_std=0.02, normalization="LayerNorm", recompute_granularity=None,
    recompute_method=None, recompute_num_layers=None, distribute_saved_activations=None, cpu_offloading=False,
    cpu_offloading_num_layers=0, cpu_offloading_activations=True, cpu_offloading_weights=True, fp16=False,
    bf16=False, cross_entropy_loss_fusion=False, bias_activation_fusion=False, bias_dropout_fusion=True,
    timers=None, no_sync_func=None, enable_autocast=False, autocast_dtype=None, grad_scale_func=None,
    deallocate_pipeline_outputs=False, finalize_model_grads_func=None, calculate_per_token_loss=False,
    barrier_with_L1_time=False, wgrad_deferral_limit=0)


def _transformer_config(stack):
    def TransformerConfig(**kwargs):
        config = object.__new__(stack.transformer_config.TransformerConfig)
        for key, value in dict(TRANSFORMER_DEFAULTS, **kwargs).items():
            setattr(config, key, value)
        config.__post_init__()
        return config

    return TransformerConfig, lambda cls: [NS(name=name) for name in TRANSFORMER_DEFAULTS]


def load(fw):
    """Compile NeMo 1's modules over the Lightning and Megatron-Core stack; returns what the script imports."""
    stack = megatron.compile_stack(fw)
    # Lightning's _call_setup_hook: LightningModule.setup(stage="fit") on every rank (MegatronGPTModel's
    # builds its datasets there).
    stack.call._call_setup_hook = lambda trainer: trainer.lightning_module.setup(stage="fit")
    core = megatron.mcore_classes(fw, stack)
    torch = _torch(fw, stack)
    base = dict(stack.base, torch=torch, os=os, sys=sys, logging=outputs.LOGGING)
    calc = _compile("megatron/core/num_microbatches_calculator.py", dict(base, NumMicroBatchesCalculator=megatron._Base))
    app_state = NS()
    init = _compile("nemo/collections/nlp/modules/common/megatron/megatron_init.py", dict(
        base, AppState=lambda: app_state, set_jit_fusion_options=lambda: None, MCORE_MB_CALCULATOR=True,
        get_num_microbatches_calculator=lambda: _calculator(calc),
        init_num_microbatches_calculator=calc.init_num_microbatches_calculator))
    classes = _nemo_classes(fw, stack, core, calc)
    TransformerConfig, fields = _transformer_config(stack)
    base_model = _compile("nemo/collections/nlp/models/language_modeling/megatron_base_model.py", dict(
        base, NLPModel=classes.NLPModel, HAVE_MEGATRON_CORE=True, HAVE_FLASH_ATTENTION=True,
        get_num_microbatches=calc.get_num_microbatches, MisconfigurationException=megatron.MisconfigurationException,
        AppState=lambda: app_state, NEMO_MEGATRON_MODEL_PARALLEL_APPSTATE_OVERRIDE="NEMO_MEGATRON_MODEL_PARALLEL_APPSTATE_OVERRIDE",
        initialize_model_parallel_for_nemo=init.initialize_model_parallel_for_nemo, open_dict=hydra.open_dict,
        utils_funcs=NS(torch_dtype_from_precision=_dtype_from_precision), TransformerConfig=TransformerConfig,
        fields=fields))
    gpt = _compile("nemo/collections/nlp/models/language_modeling/megatron_gpt_model.py", dict(
        base, MegatronBaseModel=base_model.MegatronBaseModel, TextGeneration=type("TextGeneration", (), {}),
        HAVE_MEGATRON_CORE=True, CPUAccelerator=type("CPUAccelerator", (), {}), build_model=classes.build_model,
        MCoreGPTModel=classes.MCoreGPTModel, get_specs=lambda name: None,
        get_forward_backward_func=lambda: stack.schedules.forward_backward_no_pipelining,
        get_num_microbatches=calc.get_num_microbatches, average_losses_across_data_parallel_group=lambda l: fw.tensor(),
        parallel_state=NS(get_pipeline_model_parallel_rank=lambda: 0, get_tensor_model_parallel_rank=lambda: 0,
                          get_data_parallel_rank=lambda: _env_int("RANK"),
                          get_data_parallel_world_size=lambda: app_state.data_parallel_size),
        DictConfig=hydra.DictConfig, **_data_names(base)))
    exp = _compile("nemo/utils/exp_manager.py", dict(
        base, NeMoBaseException=type("NeMoBaseException", (Exception,), {}), Callback=object, Path=Path,
        timers=NS(NamedTimer=_NamedTimer), OmegaConf=conf.OmegaConf, DictConfig=hydra.DictConfig,
        ExpManagerConfig=conf.EXP_MANAGER_CONFIG, HydraConfig=conf.HYDRA_CONFIG, get_original_cwd=conf.get_original_cwd,
        is_global_rank_zero=lambda: _env_int("RANK") == 0, NEMO_ENV_VARNAME_VERSION="NEMO_EXPM_VERSION", copy=copy,
        move=move, time=NS(strftime=time.strftime, sleep=lambda seconds: None), configure_loggers=outputs.configure_loggers,
        add_filehandlers_to_pl_logger=outputs.add_filehandlers_to_pl_logger, ModelCheckpoint=outputs.ModelCheckpoint,
        NeMoModelCheckpoint=outputs.NeMoModelCheckpoint, PreemptionCallback=lambda checkpoint_callback: NS()))
    builder = _compile("nemo/collections/nlp/parts/megatron_trainer_builder.py", dict(
        base, Trainer=classes.Trainer, NLPDDPStrategy=classes.NLPDDPStrategy, NLPDDPStrategyNotebook=classes.NLPDDPStrategy,
        GradScaler=lambda **kwargs: NS(**kwargs), MegatronHalfPrecisionPlugin=_PrecisionPlugin,
        PipelineMixedPrecisionPlugin=_PrecisionPlugin, CustomProgressBar=outputs.CustomProgressBar,
        TorchElasticEnvironment=object))
    main = hydra.load_hydra()
    runner = _compile("nemo/core/config/hydra_runner.py", dict(
        base, functools=__import__("functools"), get_args_parser=main.get_args_parser, _run_hydra=main._run_hydra))
    return NS(hydra_runner=runner.hydra_runner, MegatronTrainerBuilder=builder.MegatronTrainerBuilder,
              exp_manager=exp.exp_manager, MegatronGPTModel=gpt.MegatronGPTModel, OmegaConf=conf.OmegaConf,
              open_dict=hydra.open_dict, logging=outputs.LOGGING)


def _data_names(base):
    """What megatron_gpt_model.py imports to build its datasets and dataloaders: Megatron-Core's builder and
    NeMo's samplers compiled, the config, GPTDataset and DataLoader the sim's (simgpu_src_nemo1_data)."""
    names = dict(base, logging=__import__("logging"), Split=data.SplitEnum, normalize=data.normalize, MegatronDataset=data.MegatronDataset,
                 numpy=NS(isclose=lambda a, b: abs(a - b) <= 1e-8), math=__import__("math"),
                 log_single_rank=lambda logger, level, message: logger.log(level, message))
    names["torch"] = NS(**vars(base["torch"]))
    names["torch"].utils = NS(data=NS(Dataset=object, DataLoader=data.DataLoader))
    blended = _compile("megatron/core/datasets/blended_dataset.py", names)
    builder = _compile("megatron/core/datasets/blended_megatron_dataset_builder.py",
                       dict(names, BlendedDataset=blended.BlendedDataset))
    samplers = _compile("nemo/collections/nlp/data/language_modeling/megatron/data_samplers.py", base)
    return dict(BlendedMegatronDatasetBuilder=builder.BlendedMegatronDatasetBuilder, GPTDataset=data.GPTDataset,
                MockGPTDataset=data.MockGPTDataset, GPTDatasetConfig=data.GPTDatasetConfig,
                # model.data.data_prefix is ??? in the shipped config: OmegaConf fails reading it
                get_blend_from_list=lambda blend: data.get_blend_from_list(
                    conf.mandatory({"data_prefix": blend}, "data_prefix", "model.data.data_prefix")),
                MegatronPretrainingSampler=samplers.MegatronPretrainingSampler,
                MegatronCorePretrainingSampler=samplers.MegatronCorePretrainingSampler, torch=names["torch"])


def _calculator(calc):
    """megatron.core.num_microbatches_calculator's global calculator (None before NeMo initialises it)."""
    return calc.get_num_microbatches.__globals__["_GLOBAL_NUM_MICROBATCHES_CALCULATOR"]


class _NamedTimer:
    """nemo/utils/timers.py's NamedTimer: the step's time is the simulated clock's."""

    def __init__(self, reduction="mean", sync_cuda=True, buffer_size=1):
        self.buffer_size = buffer_size

    def reset(self, name=None):
        pass

    def start(self, name=""):
        pass

    def stop(self, name=""):
        pass

    def __getitem__(self, name):
        return STATE.session.driver.step_seconds


class _PrecisionPlugin:
    def __init__(self, precision, device="cuda", scaler=None):
        self.precision, self.device, self.scaler = precision, device, scaler


def _nemo_classes(fw, stack, core, calc):
    # Imported here: simgpu_src_nemo1_lightning imports this module for its state and helpers.
    import simgpu_src_nemo1_lightning
    return simgpu_src_nemo1_lightning.classes(fw, stack, core, calc)


# --- entry point ------------------------------------------------------------------------------------------

def nemo():
    """What megatron_gpt_pretraining.py imports from NeMo, on the simulated GPU: the sim is started (its
    --sim-* options taken out of sys.argv, which Hydra parses) and Hydra is set up as hydra_runner uses it."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=TASK_NAME)
    STATE.sim = hydra.STATE.sim = sim
    STATE.fw = hydra.STATE.fw = sim.frameworks
    hydra.SCRIPT, hydra.MODULE, hydra.TASK_NAME = os.path.abspath(sys.argv[0]), None, TASK_NAME
    hydra.create_automatic_config_search_path = conf.create_automatic_config_search_path
    hydra.ConfigLoaderImpl = conf.ConfigLoaderImpl
    modules = load(sim.frameworks)
    sys.argv[1:] = sim.argv
    return modules


def finish():
    """The end of fit: rank 0 waits for the other ranks (a collective), then the done line."""
    STATE.ranks.wait()
    if STATE.session is not None:
        STATE.session.finish()

