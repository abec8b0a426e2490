"""Source text of the simulated Megatron-Bridge's configuration side (see simgpu_src_bridge_load): the
ConfigContainer and its sub-configs with runtime_config_update and validate (megatron/bridge/training/
config.py), the mixed-precision presets (training/mixed_precision.py), the OmegaConf round trip the recipe
scripts use for their Hydra-style overrides (training/utils/omegaconf_utils.py), the model provider
(models/transformer_config.py, models/gpt_provider.py) and the recipes (recipes/common.py's
_pretrain_common, recipes/llama/llama3.py's llama3_8b_pretrain_config).

Shaped after NVIDIA-NeMo/Megatron-Bridge's 0.2-era sources (read: training/config.py, training/
mixed_precision.py, training/utils/omegaconf_utils.py, recipes/common.py, recipes/llama/llama3.py and the
older recipes/llama/llama3_8b.py), cut to the fields and checks a pretraining run goes through. Where the
releases differ these are the one whose recipes set train.eval_interval; simgpu_src_bridge_newer edits them into
the newer release's (validation.eval_interval), which SIMTRAIN_BRIDGE_RELEASE=0.4 selects.
"""

SOURCES = {}

SOURCES["megatron/bridge/training/mixed_precision.py"] = '''
@dataclass
class MixedPrecisionConfig:
    """Mixed precision configuration for models.

    Handles conversion of model parameters and inputs/outputs between different precisions,
    and manages mixed precision training settings.
    """

    fp32: bool = False
    fp16: bool = False
    bf16: bool = False
    params_dtype: Optional[str] = None
    pipeline_dtype: Optional[str] = None
    autocast_dtype: Optional[str] = None
    autocast_enabled: bool = False
    grad_reduce_in_fp32: bool = True
    fp8: Optional[str] = None
    fp8_recipe: str = "tensorwise"
    fp8_param_gather: bool = False
    loss_scale: Optional[float] = None
    initial_loss_scale: Optional[float] = 4294967296
    min_loss_scale: float = 1.0
    loss_scale_window: float = 1000
    hysteresis: int = 2
    num_layers_at_start_in_bf16: int = 0
    num_layers_at_end_in_bf16: int = 0

    def finalize(self):
        if self.fp16 and self.bf16:
            raise ValueError("fp16 and bf16 cannot be both True")

    def setup(self, model_config, optimizer_config=None, ddp_config=None):
        """Apply mixed precision configs to model, optimizer, and DDP configs."""
        for field_name in ("fp16", "bf16", "params_dtype", "pipeline_dtype", "autocast_dtype", "fp8"):
            if hasattr(model_config, field_name):
                setattr(model_config, field_name, getattr(self, field_name))
        if optimizer_config is not None:
            for field_name in ("fp16", "bf16", "params_dtype", "loss_scale", "initial_loss_scale",
                               "min_loss_scale", "loss_scale_window", "hysteresis"):
                if hasattr(optimizer_config, field_name):
                    setattr(optimizer_config, field_name, getattr(self, field_name))
        if ddp_config is not None:
            ddp_config.grad_reduce_in_fp32 = self.grad_reduce_in_fp32


MIXED_PRECISION_RECIPES = {}


def register(func):
    MIXED_PRECISION_RECIPES[func.__name__] = func
    return func


@register
def bf16_mixed() -> MixedPrecisionConfig:
    """Create a MixedPrecisionConfig for mixed precision training using BF16."""
    return MixedPrecisionConfig(
        bf16=True,
        params_dtype=torch.bfloat16,
        pipeline_dtype=torch.bfloat16,
        autocast_enabled=False,
        grad_reduce_in_fp32=True,
    )


@register
def fp16_mixed() -> MixedPrecisionConfig:
    """Create a MixedPrecisionConfig for mixed precision training using FP16."""
    return MixedPrecisionConfig(
        fp16=True,
        params_dtype=torch.half,
        pipeline_dtype=torch.half,
        autocast_enabled=False,
        grad_reduce_in_fp32=False,
    )


@register
def bf16_with_fp8_delayed_scaling_mixed() -> MixedPrecisionConfig:
    """Create a MixedPrecisionConfig for mixed precision training using BF16 with FP8 delayed scaling."""
    cfg = bf16_mixed()
    cfg.fp8 = "hybrid"
    cfg.fp8_recipe = "delayed"
    cfg.fp8_param_gather = True
    return cfg


@register
def bf16_with_fp8_current_scaling_mixed() -> MixedPrecisionConfig:
    """Create a MixedPrecisionConfig for mixed precision training using BF16 with FP8 per-tensor current scaling."""
    cfg = bf16_mixed()
    cfg.fp8 = "hybrid"
    cfg.fp8_recipe = "tensorwise"
    cfg.fp8_param_gather = True
    return cfg


def get_mixed_precision_config(name: str) -> MixedPrecisionConfig:
    """Return a :class:`MixedPrecisionConfig` for *name*.

    Args:
        name: Key of the recipe in :pydata:`MIXED_PRECISION_RECIPES`.

    Raises:
        ValueError: If *name* is not a known recipe.
    """
    try:
        return MIXED_PRECISION_RECIPES[name]()
    except KeyError as err:
        valid = ", ".join(sorted(MIXED_PRECISION_RECIPES.keys()))
        raise ValueError(f"Unknown mixed-precision recipe '{name}'. Available recipes: {valid}.") from err
'''

SOURCES["megatron/bridge/models/transformer_config.py"] = '''
@dataclass
class TransformerConfig(MCoreTransformerConfig):
    """Megatron Core TransformerConfig with deferred post-init.

    This class inherits from Megatron Core's TransformerConfig but defers the
    execution of post_init() until finalize() is explicitly called. This allows
    for field modifications after construction but before computed fields are calculated.
    """

    def __post_init__(self) -> None:
        """Skip MCore post_init during initial construction.

        The original post_init logic is deferred until finalize() is called.
        """
        pass

    def finalize(self) -> None:
        """Execute the deferred MCore post-init logic.

        This method calls the original Megatron Core TransformerConfig.__post_init__()
        to compute derived fields based on the current field values.
        """
        super().__post_init__()
'''

SOURCES["megatron/bridge/models/gpt_provider.py"] = '''
@dataclass
class GPTModelProvider(TransformerConfig, ModelProviderMixin):
    """Configuration and provider for Megatron Core GPT models.

    This class extends TransformerConfig with GPT-specific parameters and
    provides a method to instantiate configured GPT models.
    """

    fp16_lm_cross_entropy: bool = False
    parallel_output: bool = True
    share_embeddings_and_output_weights: bool = True
    make_vocab_size_divisible_by: int = 128
    position_embedding_type: str = "learned_absolute"
    rotary_base: int = 10000
    rotary_percent: float = 1.0
    seq_len_interpolation_factor: Optional[float] = None
    seq_length: int = 1024
    vocab_size: Optional[int] = None
    should_pad_vocab: bool = False

    def provide(self, pre_process=None, post_process=None, vp_stage=None, tokenizer=None):
        """Configure and instantiate a Megatron Core GPT model based on this configuration."""
        vocab_size = self.vocab_size
        assert vocab_size is not None, "vocab_size must be configured before calling provide()"
        return MCoreGPTModel(
            self,
            transformer_layer_spec=None,
            vocab_size=vocab_size,
            max_sequence_length=self.seq_length,
            pre_process=pre_process,
            post_process=post_process,
            parallel_output=self.parallel_output,
            share_embeddings_and_output_weights=self.share_embeddings_and_output_weights,
            position_embedding_type=self.position_embedding_type,
            rotary_percent=self.rotary_percent,
            rotary_base=self.rotary_base,
        )

    def provide_distributed_model(self, ddp_config=None, wrap_with_ddp=True, data_parallel_random_init=True,
                                  use_torch_fsdp2=False, overlap_param_gather_with_optimizer_step=False):
        """Instantiate and wrap the model for distributed training."""
        return get_model(
            self,
            ddp_config=ddp_config,
            use_torch_fsdp2=use_torch_fsdp2,
            wrap_with_ddp=wrap_with_ddp,
            data_parallel_random_init=data_parallel_random_init,
            overlap_param_gather_with_optimizer_step=overlap_param_gather_with_optimizer_step,
        )
'''

SOURCES["megatron/bridge/training/utils/omegaconf_utils.py"] = '''
_EXCLUDE_FIELD = object()


def create_omegaconf_dict_config(config_container):
    """Create OmegaConf while tracking excluded fields for later restoration."""
    excluded_callables = _track_excluded_fields(config_container, "root")
    base_dict = _dataclass_to_omegaconf_dict(config_container, "root")
    if base_dict is _EXCLUDE_FIELD:
        raise ValueError("Root configuration object was excluded (likely a callable)")
    omega_conf = OmegaConf.create(base_dict)
    return omega_conf, excluded_callables


def apply_overrides(config_obj, overrides_dict, excluded_fields):
    """Apply overrides while preserving excluded callable fields."""
    _apply_overrides(config_obj, overrides_dict)
    _restore_excluded_fields(config_obj, excluded_fields)


def parse_hydra_overrides(cfg, overrides):
    """Parse and apply Hydra overrides to an OmegaConf config.

    This function uses Hydra's override parser to support advanced override syntax
    including additions (+), deletions (~), and complex nested operations.
    """
    try:
        OmegaConf.set_struct(cfg, True)
        parser = OverridesParser.create()
        parsed = parser.parse_overrides(overrides=overrides)
        ConfigLoaderImpl._apply_overrides_to_config(overrides=parsed, cfg=cfg)
        return cfg
    except Exception as e:
        raise OverridesError(f"Failed to parse Hydra overrides: {str(e)}") from e


class OverridesError(Exception):
    """Custom exception for Hydra override parsing errors."""

    pass


def _is_omegaconf_problematic(val):
    """Check if a value is a callable that OmegaConf cannot handle."""
    if val is None:
        return False
    if isinstance(val, type):
        return False
    if callable(val):
        return True
    if not isinstance(val, (int, float, bool, str, list, tuple, dict)) and not dataclasses.is_dataclass(val):
        return True
    return False


def _dataclass_to_omegaconf_dict(val_to_convert, path=""):
    """Recursively convert a dataclass instance to a dictionary suitable for OmegaConf.create."""
    if _is_omegaconf_problematic(val_to_convert):
        return _EXCLUDE_FIELD
    elif dataclasses.is_dataclass(val_to_convert) and not isinstance(val_to_convert, type):
        res = {}
        for field in dataclasses.fields(val_to_convert):
            converted_value = _dataclass_to_omegaconf_dict(getattr(val_to_convert, field.name), f"{path}.{field.name}")
            if converted_value is not _EXCLUDE_FIELD:
                res[field.name] = converted_value
        return res
    elif isinstance(val_to_convert, (list, tuple)):
        return [v for v in (_dataclass_to_omegaconf_dict(item, path) for item in val_to_convert) if v is not _EXCLUDE_FIELD]
    elif isinstance(val_to_convert, dict):
        return {k: v for k, v in ((k, _dataclass_to_omegaconf_dict(v, f"{path}.{k}")) for k, v in val_to_convert.items())
                if v is not _EXCLUDE_FIELD}
    return val_to_convert


def _track_excluded_fields(obj, path=""):
    """Track all excluded callable fields and their original values."""
    excluded_fields = {}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            field_path = f"{path}.{field.name}" if path else field.name
            field_value = getattr(obj, field.name)
            if _is_omegaconf_problematic(field_value):
                excluded_fields[field_path] = field_value
            elif dataclasses.is_dataclass(field_value):
                excluded_fields.update(_track_excluded_fields(field_value, field_path))
    return excluded_fields


def _restore_excluded_fields(config_obj, excluded_fields):
    """Restore excluded callable fields to their original values."""
    for field_path, original_value in excluded_fields.items():
        path_parts = field_path.split(".")
        if path_parts[0] == "root":
            path_parts = path_parts[1:]
        current_obj = config_obj
        for part in path_parts[:-1]:
            current_obj = getattr(current_obj, part)
        setattr(current_obj, path_parts[-1], original_value)


def _apply_overrides(config_obj, overrides_dict):
    """Recursively apply overrides from a Python dictionary to a dataclass instance."""
    if not dataclasses.is_dataclass(config_obj):
        return
    for key, value in overrides_dict.items():
        if not hasattr(config_obj, key):
            logger.warning(f"Key '{key}' in overrides not found in config {type(config_obj).__name__}. Skipping.")
            continue
        current_value = getattr(config_obj, key)
        if dataclasses.is_dataclass(current_value) and isinstance(value, dict):
            _apply_overrides(current_value, value)
        else:
            setattr(config_obj, key, value)
'''

SOURCES["megatron/bridge/recipes/common.py"] = '''
def _pretrain_common() -> ConfigContainer:
    """Create a base pre-training ConfigContainer with common defaults for any language model.

    This function returns a ConfigContainer template with sensible defaults.
    The caller MUST set `cfg.model` and `cfg.tokenizer.tokenizer_model` before use.

    Returns:
        ConfigContainer: Base configuration template for pre-training.
    """
    # Default output directories
    base_output_dir = os.path.join(os.getcwd(), "nemo_experiments")
    run_output_dir = os.path.join(base_output_dir, "default")
    checkpoint_dir = os.path.join(run_output_dir, "checkpoints")
    tensorboard_dir = os.path.join(run_output_dir, "tb_logs")

    # Default optimizer and scheduler
    opt_cfg, scheduler_cfg = distributed_fused_adam_with_cosine_annealing(
        lr_warmup_iters=500,
        lr_decay_iters=None,  # Defaults to train_iters during validation
        max_lr=3e-4,
        min_lr=3e-5,
    )

    cfg = ConfigContainer(
        # Model - MUST be set by each recipe before use
        model=None,  # type: ignore[arg-type]
        # Training config
        train=TrainingConfig(
            train_iters=300000,
            eval_interval=500,
            eval_iters=32,
            global_batch_size=32,
            micro_batch_size=2,
            manual_gc=True,
            manual_gc_interval=100,
            manual_gc_eval=100,
        ),
        # Optimizer and scheduler
        optimizer=opt_cfg,
        scheduler=scheduler_cfg,
        # DDP config - these are the commonly overridden settings
        ddp=DistributedDataParallelConfig(
            check_for_nan_in_grad=True,
            grad_reduce_in_fp32=True,
            overlap_grad_reduce=True,
            overlap_param_gather=True,
            average_in_collective=True,
            data_parallel_sharding_strategy="optim_grads_params",
            use_distributed_optimizer=True,
        ),
        # Dataset config - uses mock data by default
        dataset=GPTDatasetConfig(
            random_seed=1234,
            reset_attention_mask=False,
            reset_position_ids=False,
            eod_mask_loss=False,
            sequence_length=4096,
            num_dataset_builder_threads=1,
            blend=None,  # Mock data mode
            blend_per_split=None,
            split="9999,8,2",
            data_sharding=True,
            dataloader_type="single",
        ),
        # Logger config
        logger=LoggerConfig(
            log_interval=10,
            tensorboard_dir=tensorboard_dir,
            log_timers_to_tensorboard=True,
        ),
        # Tokenizer - placeholder, each recipe should set tokenizer_model
        tokenizer=TokenizerConfig(
            tokenizer_type="HuggingFaceTokenizer",
            tokenizer_model=None,  # Must be set by each recipe
        ),
        # Checkpoint config
        checkpoint=CheckpointConfig(
            save_interval=500,
            save=checkpoint_dir,
            load=checkpoint_dir,
            ckpt_format="torch_dist",
            fully_parallel_save=True,
        ),
        # RNG config
        rng=RNGConfig(seed=1234),
        # Distributed init config
        dist=DistributedInitConfig(),
        comm_overlap=None,
        # Mixed precision - bf16 by default
        mixed_precision="bf16_mixed",
    )

    return cfg
'''

SOURCES["megatron/bridge/recipes/llama/llama3.py"] = '''
def llama3_8b_pretrain_config() -> ConfigContainer:
    """Return a pre-training config for Llama 3 8B.

    Recommended parallelism: TP=1, PP=1, CP=2.
    """
    cfg = _pretrain_common()

    cfg.model = AutoBridge.from_hf_pretrained("meta-llama/Meta-Llama-3-8B").to_megatron_provider(load_weights=False)

    cfg.tokenizer.tokenizer_type = "NullTokenizer"
    cfg.tokenizer.tokenizer_model = None
    cfg.tokenizer.vocab_size = DEFAULT_NULL_TOKENIZER_VOCAB_SIZE

    cfg.dataset.blend = None  # Pass the path to the dataset here if not using mock data, along with weight.
    cfg.dataset.num_workers = 8
    cfg.dataset.sequence_length = 8192

    cfg.model.tensor_model_parallel_size = 1
    cfg.model.pipeline_model_parallel_size = 1
    cfg.model.pipeline_dtype = None
    cfg.model.virtual_pipeline_model_parallel_size = None
    cfg.model.context_parallel_size = 2
    cfg.model.sequence_parallel = False
    cfg.model.seq_length = 8192

    cfg.train.train_iters = 1168251
    cfg.train.global_batch_size = 512
    cfg.train.micro_batch_size = 1
    cfg.train.eval_interval = 2000
    cfg.train.manual_gc = True
    cfg.train.manual_gc_interval = 100

    cfg.scheduler.lr_warmup_iters = 2000

    cfg.logger.log_timers_to_tensorboard = True

    # Memory saving (recompute & offloading)
    cfg.model.recompute_granularity = None
    cfg.model.cpu_offloading = False

    cfg.checkpoint.save_interval = 500
    # cfg.checkpoint.save and cfg.checkpoint.load are set in _pretrain_common. To override them, set them here.Ex:
    # cfg.checkpoint.save = "path/to/save"
    # cfg.checkpoint.load = "path/to/load"

    cfg.ddp.overlap_grad_reduce = True
    cfg.ddp.overlap_param_gather = True
    cfg.ddp.check_for_nan_in_grad = True
    cfg.ddp.use_distributed_optimizer = True
    cfg.ddp.grad_reduce_in_fp32 = True
    cfg.ddp.average_in_collective = True
    cfg.ddp.data_parallel_sharding_strategy = "no_shard"

    return cfg
'''
