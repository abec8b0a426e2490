"""Source text of the simulated Megatron-Bridge's ConfigContainer (megatron/bridge/training/config.py, see
simgpu_src_bridge): the sub-configs with the fields a pretraining run reads (their defaults as Bridge's, or
Megatron-Core's where Bridge inherits them), ConfigContainer.validate (data-parallel size, the model
config's deferred Megatron-Core checks, sequence lengths, scheduler steps) and runtime_config_update (the
mixed-precision preset applied, then validate, with the distributed optimizer's sync and the optimizer's
precision check, _validate_mixed_precision_consistency, read in the newer sources), shaped after the 0.2-era
release whose TrainingConfig still holds eval_interval and eval_iters (simgpu_src_bridge_newer edits it into the
newer release's). OptimizerConfig.finalize has Megatron-Core's __post_init__ checks of the precision-aware
optimizer (megatron/core/optimizer/optimizer_config.py), which the optimizer CPU offload needs.
"""

SOURCES = {}

SOURCES["megatron/bridge/training/config.py"] = '''
@dataclass
class RNGConfig:
    """Configuration settings for random number generation."""

    seed: int = 1234
    te_rng_tracker: bool = False
    inference_rng_tracker: bool = False
    data_parallel_random_init: bool = False


@dataclass
class DistributedInitConfig:
    """Configuration settings for distributed training initialization."""

    distributed_backend: str = "nccl"
    distributed_timeout_minutes: int = 10
    align_grad_reduce: bool = True
    local_rank: int = 0
    lazy_mpu_init: bool = False
    use_torch_fsdp2: bool = False
    use_gloo_process_groups: bool = True
    external_gpu_device_mapping: bool = False


@dataclass
class TrainingConfig:
    """Configuration settings related to the training loop and validation."""

    micro_batch_size: Optional[int] = None
    global_batch_size: Optional[int] = None
    rampup_batch_size: Optional[list] = None
    decrease_batch_size_if_needed: bool = False
    empty_unused_memory_level: int = 0
    check_weight_hash_across_dp_replicas_interval: Optional[int] = None
    train_sync_interval: Optional[int] = None
    train_iters: Optional[int] = None
    exit_interval: Optional[int] = None
    exit_duration_in_mins: Optional[int] = None
    exit_signal_handler: bool = False
    manual_gc: bool = False
    manual_gc_interval: int = 0
    manual_gc_eval: bool = True
    eval_iters: int = 100
    eval_interval: Optional[int] = 1000
    skip_train: bool = False


@dataclass
class OptimizerConfig:
    """Megatron Core OptimizerConfig (the fields the recipes and the optimizer offload set) with deferred
    post-init: finalize runs its checks."""

    optimizer: str = "adam"
    lr: Optional[float] = None
    min_lr: Optional[float] = None
    weight_decay: float = 0.01
    fp16: bool = False
    bf16: bool = False
    params_dtype: str = torch.float32
    loss_scale: Optional[float] = None
    initial_loss_scale: float = 4294967296
    min_loss_scale: float = 1.0
    loss_scale_window: float = 1000
    hysteresis: int = 2
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-08
    use_distributed_optimizer: bool = False
    use_precision_aware_optimizer: bool = False
    decoupled_weight_decay: bool = True
    optimizer_cpu_offload: bool = False
    optimizer_offload_fraction: float = 0.0
    clip_grad: float = 1.0
    barrier_with_L1_time: bool = False

    def finalize(self) -> None:
        """Execute the deferred MCore post-init logic."""
        if self.use_precision_aware_optimizer:
            assert (
                self.optimizer == 'adam'
            ), '--use-precision-aware-optimizer only supported with adam'
            assert (
                self.use_distributed_optimizer
            ), '--use-precision-aware-optimizer only supported with distributed optimizer'


@dataclass
class SchedulerConfig:
    """Configuration settings for the learning rate scheduler and weight decay."""

    lr_decay_style: str = "linear"
    lr_decay_iters: Optional[int] = None
    lr_warmup_iters: int = 0
    lr_warmup_init: float = 0.0
    start_weight_decay: Optional[float] = None
    end_weight_decay: Optional[float] = None
    weight_decay_incr_style: str = "constant"
    override_opt_param_scheduler: bool = False
    use_checkpoint_opt_param_scheduler: bool = False


@dataclass
class DistributedDataParallelConfig:
    """Megatron Core DistributedDataParallelConfig."""

    grad_reduce_in_fp32: bool = False
    overlap_grad_reduce: bool = False
    overlap_param_gather: bool = False
    align_param_gather: bool = False
    use_distributed_optimizer: bool = False
    check_for_nan_in_grad: bool = False
    bucket_size: Optional[int] = None
    average_in_collective: bool = False
    data_parallel_sharding_strategy: str = "no_shard"


@dataclass
class GPTDatasetConfig:
    """Megatron Core GPTDatasetConfig with the dataloader settings."""

    random_seed: int = 1234
    sequence_length: int = 2048
    blend: Optional[list] = None
    blend_per_split: Optional[list] = None
    split: Optional[str] = None
    num_dataset_builder_threads: int = 1
    path_to_cache: Optional[str] = None
    mmap_bin_files: bool = True
    reset_position_ids: Optional[bool] = None
    reset_attention_mask: Optional[bool] = None
    eod_mask_loss: Optional[bool] = None
    dataloader_type: Optional[str] = None
    num_workers: int = 8
    data_sharding: bool = True
    pin_memory: bool = True
    persistent_workers: bool = False


@dataclass
class TokenizerConfig:
    """Configuration settings for the tokenizer."""

    tokenizer_type: Optional[str] = None
    tokenizer_model: Optional[str] = None
    vocab_size: Optional[int] = None
    vocab_file: Optional[str] = None
    merge_file: Optional[str] = None


@dataclass
class LoggerConfig:
    """Configuration settings for logging, including TensorBoard and WandB."""

    log_interval: int = 100
    log_params_norm: bool = False
    log_throughput: bool = False
    log_progress: bool = False
    timing_log_level: int = 0
    timing_log_option: str = "minmax"
    tensorboard_dir: Optional[str] = None
    tensorboard_log_interval: int = 1
    tensorboard_queue_size: int = 1000
    log_timers_to_tensorboard: bool = False
    log_loss_scale_to_tensorboard: bool = True
    log_validation_ppl_to_tensorboard: bool = False
    log_memory_to_tensorboard: bool = False
    log_world_size_to_tensorboard: bool = False
    wandb_project: Optional[str] = None
    wandb_exp_name: Optional[str] = None
    wandb_entity: Optional[str] = None
    wandb_save_dir: Optional[str] = None
    logging_level: int = 20
    log_energy: bool = False


@dataclass
class CheckpointConfig:
    """Configuration settings for model checkpointing (saving and loading)."""

    save: Optional[str] = None
    save_interval: Optional[int] = None
    save_optim: bool = True
    save_rng: bool = True
    load: Optional[str] = None
    load_optim: bool = True
    load_main_params_from_ckpt: bool = False
    load_rng: bool = True
    non_persistent_save_interval: Optional[int] = None
    non_persistent_ckpt_type: Optional[str] = None
    non_persistent_global_ckpt_dir: Optional[str] = None
    non_persistent_local_ckpt_dir: Optional[str] = None
    finetune: bool = False
    pretrained_checkpoint: Optional[str] = None
    ckpt_step: Optional[int] = None
    use_checkpoint_args: bool = False
    exit_on_missing_checkpoint: bool = False
    ckpt_format: str = "torch_dist"
    fully_parallel_save: bool = True
    async_save: bool = False
    use_persistent_ckpt_worker: bool = True
    fully_parallel_load: bool = False
    ckpt_assume_constant_structure: bool = False
    dist_ckpt_strictness: str = "assume_ok_unexpected"

    def finalize(self) -> None:
        if self.async_save:
            assert self.save is not None, "async_save is enabled, but save is not set. Set save to a valid path."


@dataclass
class ConfigContainer:
    """Top-level container holding all configuration objects."""

    rng: RNGConfig = field(default_factory=RNGConfig)
    train: TrainingConfig = field(default_factory=TrainingConfig)
    model: Optional[GPTModelProvider] = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    ddp: DistributedDataParallelConfig = field(default_factory=DistributedDataParallelConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    dataset: Optional[GPTDatasetConfig] = None
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    dist: DistributedInitConfig = field(default_factory=DistributedInitConfig)
    peft: Optional[Any] = None
    comm_overlap: Optional[Any] = None
    mixed_precision: Optional[Union[MixedPrecisionConfig, str]] = None

    def get_data_parallel_size(self, world_size: int) -> int:
        """Calculate the data parallel size based on the model configuration."""
        model_cfg = self.model
        total_model_size = (
            model_cfg.tensor_model_parallel_size
            * model_cfg.pipeline_model_parallel_size
            * model_cfg.context_parallel_size
        )
        assert world_size % total_model_size == 0, f"""
        world size ({world_size}) is not divisible by total_model_size ({model_cfg.tensor_model_parallel_size=} * {model_cfg.pipeline_model_parallel_size=} * {model_cfg.context_parallel_size=})
        """
        return world_size // total_model_size

    def validate(self) -> None:
        """Performs validation checks on the combined configuration.

        Calculates dependent values like data_parallel_size and scheduler steps.
        Ensures compatibility between different configuration settings.
        """
        self.optimizer.finalize()
        self.model.finalize()
        self.checkpoint.finalize()

        # Distributed
        world_size = get_world_size_safe()
        self.data_parallel_size = self.get_data_parallel_size(world_size)

        if self.model.context_parallel_size > 1:
            assert self.model.seq_length % (self.model.context_parallel_size * 2) == 0, (
                "Sequence length must be divisible by 2 * context parallel size if context parallel is used."
            )

        if self.dataset is not None:
            data_seq_length = self.dataset.sequence_length
            assert self.model.seq_length == data_seq_length, (
                f"Please ensure sequence length configuration in model config and "
                f"dataset config match.\\nSequence length in model config: {self.model.seq_length}, "
                f"Sequence length in dataset config: {data_seq_length}"
            )

        # Run validations
        _validate_and_sync_distributed_optimizer_settings(self)
        _validate_mixed_precision_consistency(self)

        # Scheduler
        if self.scheduler.lr_decay_iters is None:
            self.scheduler.lr_decay_iters = self.train.train_iters
        self.scheduler.lr_decay_steps = self.scheduler.lr_decay_iters * self.train.global_batch_size
        self.scheduler.lr_warmup_steps = self.scheduler.lr_warmup_iters * self.train.global_batch_size

    def to_dict(self) -> dict:
        """Convert the config container to a dictionary (callables left out)."""
        return _dataclass_to_omegaconf_dict(self, "root")

    def to_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.create(self.to_dict()))

    def print_yaml(self) -> None:
        """Print the config container as YAML to stdout."""
        print(self.to_yaml())


def _validate_and_sync_distributed_optimizer_settings(config: ConfigContainer) -> None:
    """Validate and synchronize distributed optimizer settings between DDP and optimizer configs."""
    ddp_setting = config.ddp.use_distributed_optimizer
    optimizer_setting = config.optimizer.use_distributed_optimizer

    if ddp_setting or optimizer_setting:
        if ddp_setting != optimizer_setting:
            warn_rank_0(
                f"Distributed optimizer settings were not in sync: "
                f"ddp.use_distributed_optimizer={ddp_setting}, "
                f"optimizer.use_distributed_optimizer={optimizer_setting}. "
                f"Automatically enabling distributed optimizer for both settings."
            )
        config.ddp.use_distributed_optimizer = True
        config.optimizer.use_distributed_optimizer = True


def _validate_mixed_precision_consistency(config: ConfigContainer) -> None:
    """Validate that mixed precision settings are consistent between model and optimizer configs."""
    model_cfg = config.model
    optimizer_cfg = config.optimizer

    # Validate across model and optimizer configs
    if optimizer_cfg.use_precision_aware_optimizer:
        # For bf16 training: optimizer.bf16 must match model.bf16
        if model_cfg.bf16:
            assert optimizer_cfg.bf16, (
                "optimizer.bf16=True must be set when model.bf16=True and use_precision_aware_optimizer=True."
            )
        # For fp16 training: optimizer.fp16 must match model.fp16
        if model_cfg.fp16:
            assert optimizer_cfg.fp16, (
                "optimizer.fp16=True must be set when model.fp16=True and use_precision_aware_optimizer=True."
            )
        # For fp32 training (neither bf16 nor fp16 on model)
        if not model_cfg.bf16 and not model_cfg.fp16:
            assert not optimizer_cfg.bf16 and not optimizer_cfg.fp16, (
                "optimizer.bf16 and optimizer.fp16 must both be False when "
                "model is using fp32 precision (model.bf16=False, model.fp16=False) and "
                "use_precision_aware_optimizer=True."
            )


def runtime_config_update(cfg: ConfigContainer) -> None:
    """Apply runtime configuration updates prior to initialization.

    This function handles all configuration modifications that need to happen
    after initial config creation but before final validation and model setup.
    """
    # Apply mixed precision configuration if provided
    if cfg.mixed_precision is not None:
        if isinstance(cfg.mixed_precision, str):
            cfg.mixed_precision = get_mixed_precision_config(cfg.mixed_precision)
        cfg.mixed_precision.finalize()
        cfg.mixed_precision.setup(cfg.model, cfg.optimizer, cfg.ddp)

    # Validate configuration after all modifications
    cfg.validate()
'''
