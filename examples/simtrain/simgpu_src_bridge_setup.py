"""Source text of the simulated Megatron-Bridge's setup side (see simgpu_src_bridge_load): setup (megatron/
bridge/training/setup.py), initialize_megatron (training/initialize.py) over Megatron-Core's
initialize_model_parallel (megatron/core/parallel_state.py), GlobalState with its lazily made TensorBoard
and W&B writers (training/state.py); the checkpoints and evaluation are simgpu_src_bridge_eval's.

Shaped after NVIDIA-NeMo/Megatron-Bridge's training/state.py (the writers on the last rank only, W&B under
logger.wandb_save_dir or <checkpoint.save>/wandb), training/setup.py (the model, optimizer and scheduler,
then the checkpoint load when checkpoint.load or checkpoint.pretrained_checkpoint is set, then the data
iterators) and Megatron-Core's parallel_state.py (the world-size check).
"""

SOURCES = {}

SOURCES["megatron/core/parallel_state.py"] = '''
_TENSOR_MODEL_PARALLEL_WORLD_SIZE = None
_PIPELINE_MODEL_PARALLEL_WORLD_SIZE = None
_CONTEXT_PARALLEL_WORLD_SIZE = None
_DATA_PARALLEL_WORLD_SIZE = None
_MODEL_PARALLEL_INITIALIZED = False


def initialize_model_parallel(
    tensor_model_parallel_size: int = 1,
    pipeline_model_parallel_size: int = 1,
    virtual_pipeline_model_parallel_size=None,
    pipeline_model_parallel_comm_backend=None,
    use_sharp: bool = False,
    context_parallel_size: int = 1,
    hierarchical_context_parallel_sizes=None,
    expert_model_parallel_size: int = 1,
    num_distributed_optimizer_instances: int = 1,
    expert_tensor_parallel_size=None,
    nccl_communicator_config_path=None,
    distributed_timeout_minutes: int = 30,
    order: str = "tp-cp-ep-dp-pp",
    get_embedding_ranks=None,
    get_position_embedding_ranks=None,
    create_gloo_process_groups: bool = True,
) -> None:
    """Initialize model data parallel groups."""
    global _TENSOR_MODEL_PARALLEL_WORLD_SIZE, _PIPELINE_MODEL_PARALLEL_WORLD_SIZE
    global _CONTEXT_PARALLEL_WORLD_SIZE, _DATA_PARALLEL_WORLD_SIZE, _MODEL_PARALLEL_INITIALIZED

    # Get world size and rank. Ensure some consistencies.
    assert torch.distributed.is_initialized()
    world_size: int = torch.distributed.get_world_size()

    model_size = tensor_model_parallel_size * pipeline_model_parallel_size * context_parallel_size

    if world_size % model_size != 0:
        raise RuntimeError(f"world_size ({world_size}) is not divisible by {model_size}")

    data_parallel_size: int = world_size // model_size

    if virtual_pipeline_model_parallel_size is not None:
        if not pipeline_model_parallel_size > 1:
            raise RuntimeError(
                "pipeline-model-parallel size should be greater than 1 with interleaved schedule"
            )

    _TENSOR_MODEL_PARALLEL_WORLD_SIZE = tensor_model_parallel_size
    _PIPELINE_MODEL_PARALLEL_WORLD_SIZE = pipeline_model_parallel_size
    _CONTEXT_PARALLEL_WORLD_SIZE = context_parallel_size
    _DATA_PARALLEL_WORLD_SIZE = data_parallel_size
    _MODEL_PARALLEL_INITIALIZED = True


def model_parallel_is_initialized():
    """Check if model- and data-parallel groups are initialized."""
    return _MODEL_PARALLEL_INITIALIZED


def get_tensor_model_parallel_world_size():
    """Return world size for the tensor-model-parallel group."""
    return _TENSOR_MODEL_PARALLEL_WORLD_SIZE


def get_pipeline_model_parallel_world_size():
    """Return world size for the pipeline-model-parallel group."""
    return _PIPELINE_MODEL_PARALLEL_WORLD_SIZE


def get_context_parallel_world_size():
    """Return world size for the context parallel group."""
    return _CONTEXT_PARALLEL_WORLD_SIZE


def get_data_parallel_world_size(with_context_parallel=False, partial_data_parallel=False):
    """Return world size for the data parallel group."""
    if with_context_parallel:
        return _DATA_PARALLEL_WORLD_SIZE * _CONTEXT_PARALLEL_WORLD_SIZE
    return _DATA_PARALLEL_WORLD_SIZE


def get_tensor_model_parallel_rank():
    """Return caller's rank for the tensor-model-parallel group."""
    return torch.distributed.get_rank() % _TENSOR_MODEL_PARALLEL_WORLD_SIZE


def get_pipeline_model_parallel_rank():
    """Return caller's rank for the pipeline-model-parallel group."""
    return 0


def is_pipeline_first_stage(ignore_virtual=True, vp_stage=None):
    """Return True if in the first pipeline model-parallel stage, False otherwise."""
    return get_pipeline_model_parallel_rank() == 0


def is_pipeline_last_stage(ignore_virtual=True, vp_stage=None):
    """Return True if in the last pipeline-model-parallel stage, False otherwise."""
    return get_pipeline_model_parallel_rank() == (get_pipeline_model_parallel_world_size() - 1)


def get_data_parallel_group(with_context_parallel=False, partial_data_parallel=False):
    """Get the data-parallel group the caller rank belongs to."""
    return "data-parallel-group"


def get_model_parallel_group(check_initialized=True):
    """Get the model-parallel group the caller rank belongs to."""
    return "model-parallel-group"
'''

SOURCES["megatron/bridge/training/initialize.py"] = '''
def initialize_megatron(
    cfg: ConfigContainer,
    allow_no_cuda: bool = False,
    skip_mpu_initialization: bool = False,
    get_embedding_ranks=None,
    get_position_embedding_ranks=None,
    restart_store=None,
):
    """Initialize Megatron core components and distributed setup."""
    if not allow_no_cuda:
        # Make sure cuda is available.
        assert torch.cuda.is_available(), "Megatron requires CUDA."

    model_config = cfg.model
    dist_config = cfg.dist
    rng_config = cfg.rng

    init_num_microbatches_calculator(
        get_rank_safe(),
        cfg.train.rampup_batch_size,
        cfg.train.global_batch_size,
        cfg.train.micro_batch_size,
        cfg.data_parallel_size,
        cfg.train.decrease_batch_size_if_needed,
    )

    # torch.distributed initialization
    _initialize_distributed(
        model_config=model_config,
        dist_config=dist_config,
        get_embedding_ranks=get_embedding_ranks,
        get_position_embedding_ranks=get_position_embedding_ranks,
        restart_store=restart_store,
    )

    # Random seeds for reproducibility.
    if get_rank_safe() == 0:
        print("> setting random seeds to {} ...".format(rng_config.seed))


def _initialize_distributed(model_config, dist_config, get_embedding_ranks, get_position_embedding_ranks,
                            restart_store=None):
    """Initialize torch.distributed and core model parallel."""
    device_count = torch.cuda.device_count()
    if torch.distributed.is_initialized():
        if get_rank_safe() == 0:
            print("torch distributed is already initialized, skipping initialization ...", flush=True)

    else:
        if get_rank_safe() == 0:
            print("> initializing torch distributed ...", flush=True)

        # Manually set the device ids.
        if device_count > 0:
            torch.cuda.set_device(get_local_rank_preinit())

        # Call the init process
        init_process_group_kwargs = {
            "backend": dist_config.distributed_backend,
            "world_size": get_world_size_safe(),
            "rank": get_rank_safe(),
            "store": restart_store,
            "timeout": datetime.timedelta(minutes=dist_config.distributed_timeout_minutes),
        }

        torch.distributed.init_process_group(**init_process_group_kwargs)
        torch.distributed.barrier(device_ids=[get_local_rank_preinit()])

    # Set the tensor model-parallel, pipeline model-parallel, and
    # data-parallel communicators.
    if device_count > 0:
        if parallel_state.model_parallel_is_initialized():
            print("model parallel is already initialized")
        else:
            parallel_state.initialize_model_parallel(
                tensor_model_parallel_size=model_config.tensor_model_parallel_size,
                pipeline_model_parallel_size=model_config.pipeline_model_parallel_size,
                virtual_pipeline_model_parallel_size=model_config.virtual_pipeline_model_parallel_size,
                context_parallel_size=model_config.context_parallel_size,
                distributed_timeout_minutes=dist_config.distributed_timeout_minutes,
                get_embedding_ranks=get_embedding_ranks,
                get_position_embedding_ranks=get_position_embedding_ranks,
            )
            if get_rank_safe() == 0:
                print(
                    f"> initialized tensor model parallel with size "
                    f"{parallel_state.get_tensor_model_parallel_world_size()}"
                )
                print(
                    f"> initialized pipeline model parallel with size "
                    f"{parallel_state.get_pipeline_model_parallel_world_size()}"
                )
'''

SOURCES["megatron/bridge/training/setup.py"] = '''
@dataclass
class SetupOutput:
    """Represents the output of the main setup function."""

    state: GlobalState
    model: Any
    optimizer: Any
    scheduler: Any
    train_data_iterator: Any
    valid_data_iterator: Any
    test_data_iterator: Any
    checkpointing_context: dict


def setup(
    state: GlobalState,
    train_valid_test_datasets_provider,
    get_embedding_ranks=None,
    get_position_embedding_ranks=None,
    restart_store=None,
) -> SetupOutput:
    """Initialize the training environment."""
    cfg = state.cfg

    # Initialize Megatron
    initialize_megatron(
        cfg=cfg,
        get_embedding_ranks=get_embedding_ranks,
        get_position_embedding_ranks=get_position_embedding_ranks,
        restart_store=restart_store,
    )

    timers = state.timers

    if cfg.logger.log_progress:
        append_to_progress_log(cfg.checkpoint.save, "Starting job")

    print_rank_0("time to initialize megatron (seconds): {:.3f}".format(time.time() - state.start_time))
    barrier_and_log("after megatron is initialized")

    # Context used for persisting some state between checkpoint saves.
    checkpointing_context = {}

    # Tokenizer
    timers("tokenizer-setup", log_level=0).start(barrier=True)
    tokenizer = build_tokenizer(cfg.tokenizer)
    if not cfg.model.vocab_size:
        cfg.model.vocab_size = tokenizer.vocab_size
    timers("tokenizer-setup").stop()

    # Model, optimizer, and learning rate.
    timers("model-and-optimizer-setup", log_level=0).start(barrier=True)
    model = cfg.model.provide_distributed_model(
        ddp_config=cfg.ddp,
        use_torch_fsdp2=cfg.dist.use_torch_fsdp2,
        overlap_param_gather_with_optimizer_step=False,
        data_parallel_random_init=cfg.rng.data_parallel_random_init,
    )
    cfg.model.timers = timers
    optimizer, scheduler = setup_optimizer(
        optimizer_config=cfg.optimizer,
        scheduler_config=cfg.scheduler,
        model=model,
        use_gloo_process_groups=cfg.dist.use_gloo_process_groups,
    )
    model_config = get_model_config(model[0])
    model_config.grad_scale_func = optimizer.scale_loss
    model_config.finalize_model_grads_func = finalize_model_grads
    timers("model-and-optimizer-setup").stop()
    barrier_and_log("after model, optimizer, and learning rate scheduler are built")

    # Load checkpoint if applicable
    if cfg.checkpoint.load is not None or cfg.checkpoint.pretrained_checkpoint is not None:
        timers("load-checkpoint", log_level=0).start(barrier=True)
        load_checkpoint(
            state,
            model,
            optimizer,
            scheduler,
            checkpointing_context=checkpointing_context,
        )
        timers("load-checkpoint").stop(barrier=True)
        timers.log(["load-checkpoint"])

    # Data stuff.
    timers("train/valid/test-data-iterators-setup", log_level=0).start(barrier=True)
    train_data_iterator, valid_data_iterator, test_data_iterator = setup_data_iterators(
        cfg=cfg,
        train_state=state.train_state,
        model_length=len(model),
        train_valid_test_datasets_provider=train_valid_test_datasets_provider,
    )
    timers("train/valid/test-data-iterators-setup").stop()
    barrier_and_log("after dataloaders are built")

    # Print setup timing.
    print_rank_0("done with setup ...")
    timers.log(["model-and-optimizer-setup", "train/valid/test-data-iterators-setup"], barrier=True)

    return SetupOutput(
        state,
        model,
        optimizer,
        scheduler,
        train_data_iterator,
        valid_data_iterator,
        test_data_iterator,
        checkpointing_context,
    )
'''

SOURCES["megatron/bridge/training/state.py"] = '''
@dataclass
class TrainState:
    """Dataclass to hold the state of the training process."""

    step: int = 0
    consumed_train_samples: int = 0
    skipped_train_samples: int = 0
    consumed_valid_samples: int = 0
    floating_point_operations_so_far: int = 0
    do_train: bool = False
    do_valid: bool = False
    do_test: bool = False

    def state_dict(self):
        return {k: getattr(self, k) for k in ("step", "consumed_train_samples", "skipped_train_samples",
                                              "consumed_valid_samples", "floating_point_operations_so_far",
                                              "do_train", "do_valid", "do_test")}

    def load_state_dict(self, state_dict):
        for key, value in state_dict.items():
            setattr(self, key, value)


class GlobalState:
    """Manages the global state of the training process."""

    def __init__(self) -> None:
        self._cfg = None
        self._tensorboard_logger = None
        self._wandb_logger = None
        self._timers = None
        self._train_state = None
        self._signal_handler = None
        self.start_time: float = time.time()

    @property
    def cfg(self):
        """The main configuration container object."""
        return self._cfg

    @cfg.setter
    def cfg(self, value) -> None:
        self._cfg = value

    @property
    def tensorboard_logger(self):
        """The TensorBoard SummaryWriter instance, lazily initialized for rank N-1."""
        if self._tensorboard_logger is None:
            if self.cfg.logger.tensorboard_dir and get_rank_safe() == (get_world_size_safe() - 1):
                print("> setting tensorboard ...")
                self._tensorboard_logger = SummaryWriter(
                    log_dir=self.cfg.logger.tensorboard_dir,
                    max_queue=self.cfg.logger.tensorboard_queue_size,
                )
            else:
                self._tensorboard_logger = None
        return self._tensorboard_logger

    @property
    def wandb_logger(self):
        """The Weights & Biases logger instance, lazily initialized for rank N-1."""
        if self._wandb_logger is None:
            if self.cfg.logger.wandb_project and get_rank_safe() == (get_world_size_safe() - 1):
                if self.cfg.logger.wandb_exp_name == "":
                    raise ValueError("Please specify the wandb experiment name!")

                save_dir = self.cfg.logger.wandb_save_dir or os.path.join(self.cfg.checkpoint.save, "wandb")
                wandb_kwargs = {
                    "dir": save_dir,
                    "name": self.cfg.logger.wandb_exp_name,
                    "project": self.cfg.logger.wandb_project,
                    "config": self.cfg.to_dict(),
                    "entity": self.cfg.logger.wandb_entity,
                }
                wandb.init(**wandb_kwargs)

                self._wandb_logger = wandb
            else:
                self._wandb_logger = None
        return self._wandb_logger

    @property
    def timers(self):
        """The Megatron Timers instance used for tracking execution times."""
        if self._timers is None:
            self._timers = Timers(self.cfg.logger.timing_log_level, self.cfg.logger.timing_log_option)
        return self._timers

    @property
    def train_state(self) -> TrainState:
        """The TrainState object holding training progress information."""
        if self._train_state is None:
            self._train_state = TrainState()
        return self._train_state

    @property
    def signal_handler(self):
        """The DistributedSignalHandler instance for graceful shutdown."""
        if self._signal_handler is None:
            self._signal_handler = DistributedSignalHandler(signal.SIGTERM)
        return self._signal_handler
'''
