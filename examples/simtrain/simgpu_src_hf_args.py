"""Source text of the simulated HfArgumentParser, TrainingArguments and DeepSpeed config checks.

These are real logic in the shape of the real libraries, because the sim must accept and refuse
exactly what they do. simgpu_src_hf merges these SOURCES into its own (see simgpu_src_torch.py).
"""

SOURCES = {}

SOURCES["transformers/hf_argparser.py"] = '''
def string_to_bool(v):
    if isinstance(v, bool):
        return v
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    elif v.lower() in ("no", "false", "f", "n", "0"):
        return False
    else:
        raise ArgumentTypeError(
            f"Truthy value expected: got {v} but expected one of yes/no, true/false, t/f, y/n, 1/0 (case insensitive)."
        )


class HfArgumentParser(ArgumentParser):
    def __init__(self, dataclass_types, **kwargs):
        if "formatter_class" not in kwargs:
            kwargs["formatter_class"] = ArgumentDefaultsHelpFormatter
        super().__init__(**kwargs)
        if dataclasses.is_dataclass(dataclass_types):
            dataclass_types = [dataclass_types]
        self.dataclass_types = list(dataclass_types)
        for dtype in self.dataclass_types:
            self._add_dataclass_arguments(dtype)

    @staticmethod
    def _parse_dataclass_field(parser, field):
        long_options = [f"--{field.name}"]
        if "_" in field.name:
            long_options.append(f"--{field.name.replace('_', '-')}")

        kwargs = dict(field.metadata)
        aliases = kwargs.pop("aliases", [])
        field_type = field.type
        origin_type = getattr(field_type, "__origin__", field_type)
        if origin_type is Union:
            if type(None) in field_type.__args__ and bool not in field_type.__args__:
                # filter `NoneType` in Union (except for `Union[bool, NoneType]`)
                field_type = [t for t in field_type.__args__ if t is not type(None)][0]
                origin_type = getattr(field_type, "__origin__", field_type)

        # A variable to store kwargs for a boolean field, if needed
        # so that we can init a `no_*` complement argument (see below)
        bool_kwargs = {}
        if field_type is bool or field_type == Optional[bool]:
            # Copy the correct kwargs to use to instantiate a `no_*` complement argument below.
            bool_kwargs = dict(kwargs)

            # Hack because type=bool in argparse does not behave as we want.
            kwargs["type"] = string_to_bool
            if field_type is bool or (field.default is not None and field.default is not dataclasses.MISSING):
                # Default value is False if we have no default when of type bool.
                default = False if field.default is dataclasses.MISSING else field.default
                # This is the value that will get picked if we don't include --{field.name} in any way
                kwargs["default"] = default
                # This tells argparse we accept 0 or 1 value after --{field.name}
                kwargs["nargs"] = "?"
                # This is the value that will get picked if we do --{field.name} (without value)
                kwargs["const"] = True
        elif origin_type is list:
            kwargs["type"] = field_type.__args__[0]
            kwargs["nargs"] = "+"
            if field.default_factory is not dataclasses.MISSING:
                kwargs["default"] = field.default_factory()
            elif field.default is dataclasses.MISSING:
                kwargs["required"] = True
        else:
            kwargs["type"] = field_type
            if field.default is not dataclasses.MISSING:
                kwargs["default"] = field.default
            elif field.default_factory is not dataclasses.MISSING:
                kwargs["default"] = field.default_factory()
            else:
                kwargs["required"] = True
        parser.add_argument(*long_options, *aliases, **kwargs)

        # Add a complement `no_*` argument for a boolean field AFTER the initial field has already been added.
        # Order is important for arguments with the same destination!
        if field.default is True and (field_type is bool or field_type == Optional[bool]):
            bool_kwargs["default"] = False
            parser.add_argument(
                f"--no_{field.name}",
                f"--no-{field.name.replace('_', '-')}",
                action="store_false",
                dest=field.name,
                **bool_kwargs,
            )

    def _add_dataclass_arguments(self, dtype):
        parser = self
        for field in dataclasses.fields(dtype):
            if not field.init:
                continue
            self._parse_dataclass_field(parser, field)

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings=False, look_for_args_file=True):
        if look_for_args_file and len(sys.argv):
            args_file = Path(sys.argv[0]).with_suffix(".args")
            if args_file.exists():
                fargs = args_file.read_text().split()
                # in case of duplicate arguments the last one has precedence
                # args specified via the command line should overwrite args from files, so we add them last
                args = fargs + (args if args is not None else sys.argv[1:])

        namespace, remaining_args = self.parse_known_args(args=args)
        outputs = []
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            inputs = {k: v for k, v in vars(namespace).items() if k in keys}
            for k in keys:
                delattr(namespace, k)
            obj = dtype(**inputs)
            outputs.append(obj)
        if len(namespace.__dict__) > 0:
            # additional namespace.
            outputs.append(namespace)
        if return_remaining_strings:
            return (*outputs, remaining_args)
        else:
            if remaining_args:
                raise ValueError(f"Some specified arguments are not used by the HfArgumentParser: {remaining_args}")

            return (*outputs,)

    def parse_dict(self, args, allow_extra_keys=False):
        unused_keys = set(args.keys())
        outputs = []
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            inputs = {k: v for k, v in args.items() if k in keys}
            unused_keys.difference_update(inputs.keys())
            obj = dtype(**inputs)
            outputs.append(obj)
        if not allow_extra_keys and unused_keys:
            raise ValueError(f"Some keys are not used by the HfArgumentParser: {sorted(unused_keys)}")
        return tuple(outputs)

    def parse_json_file(self, json_file, allow_extra_keys=False):
        with open(Path(json_file), encoding="utf-8") as open_json_file:
            data = json.loads(open_json_file.read())
        outputs = self.parse_dict(data, allow_extra_keys=allow_extra_keys)
        return tuple(outputs)
'''

SOURCES["transformers/training_args.py"] = '''
@dataclass
class TrainingArguments:
    output_dir: str = field(
        metadata={"help": "The output directory where the model predictions and checkpoints will be written."},
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Overwrite the content of the output directory."})
    do_train: bool = field(default=False, metadata={"help": "Whether to run training."})
    do_eval: bool = field(default=False, metadata={"help": "Whether to run eval on the dev set."})
    do_predict: bool = field(default=False, metadata={"help": "Whether to run predictions on the test set."})
    eval_strategy: str = field(default="no", metadata={"help": "The evaluation strategy to use.", "choices": ["no", "steps", "epoch"]})
    evaluation_strategy: Optional[str] = field(default=None, metadata={"help": "Deprecated: use eval_strategy.", "choices": ["no", "steps", "epoch"]})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Batch size per device accelerator core/CPU for training."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Batch size per device accelerator core/CPU for evaluation."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Number of updates steps to accumulate before performing a backward/update pass."})
    eval_accumulation_steps: Optional[int] = field(default=None, metadata={"help": "Number of predictions steps to accumulate before moving the tensors to the CPU."})
    learning_rate: float = field(default=5e-5, metadata={"help": "The initial learning rate for AdamW."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay for AdamW if we apply some."})
    adam_beta1: float = field(default=0.9, metadata={"help": "Beta1 for AdamW optimizer"})
    adam_beta2: float = field(default=0.999, metadata={"help": "Beta2 for AdamW optimizer"})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "Epsilon for AdamW optimizer."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Max gradient norm."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Total number of training epochs to perform."})
    max_steps: int = field(default=20, metadata={"help": "If > 0: set total number of training steps to perform."})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "The scheduler type to use."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Linear warmup over warmup_ratio fraction of total steps."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warmup over warmup_steps."})
    logging_dir: Optional[str] = field(default=None, metadata={"help": "Tensorboard log dir."})
    logging_strategy: str = field(default="steps", metadata={"help": "The logging strategy to use."})
    logging_steps: float = field(default=500, metadata={"help": "Log every X updates steps."})
    save_strategy: str = field(default="steps", metadata={"help": "The checkpoint save strategy to use.", "choices": ["no", "steps", "epoch"]})
    save_steps: float = field(default=500, metadata={"help": "Save checkpoint every X updates steps."})
    save_total_limit: Optional[int] = field(default=None, metadata={"help": "Limit the total amount of checkpoints."})
    seed: int = field(default=42, metadata={"help": "Random seed that will be set at the beginning of training."})
    bf16: bool = field(default=False, metadata={"help": "Whether to use bf16 (mixed) precision instead of 32-bit."})
    fp16: bool = field(default=False, metadata={"help": "Whether to use fp16 (mixed) precision instead of 32-bit"})
    bf16_full_eval: bool = field(default=False, metadata={"help": "Whether to use full bfloat16 evaluation instead of 32-bit."})
    fp16_full_eval: bool = field(default=False, metadata={"help": "Whether to use full float16 evaluation instead of 32-bit"})
    tf32: Optional[bool] = field(default=None, metadata={"help": "Whether to enable tf32 mode."})
    local_rank: int = field(default=-1, metadata={"help": "For distributed training: local_rank"})
    eval_steps: Optional[float] = field(default=None, metadata={"help": "Run an evaluation every X steps."})
    dataloader_num_workers: int = field(default=0, metadata={"help": "Number of subprocesses to use for data loading."})
    run_name: Optional[str] = field(default=None, metadata={"help": "An optional descriptor for the run."})
    disable_tqdm: Optional[bool] = field(default=None, metadata={"help": "Whether or not to disable the tqdm progress bars."})
    remove_unused_columns: Optional[bool] = field(default=True, metadata={"help": "Remove columns not required by the model."})
    load_best_model_at_end: Optional[bool] = field(default=False, metadata={"help": "Whether or not to load the best model found during training at the end of training."})
    report_to: Optional[List[str]] = field(default=None, metadata={"help": "The list of integrations to report the results and logs to."})
    deepspeed: Optional[str] = field(default=None, metadata={"help": "Enable deepspeed and pass the path to deepspeed json config file or an already loaded json file as a dict"})
    optim: str = field(default="adamw_torch", metadata={"help": "The optimizer to use.", "choices": OPTIMIZER_NAMES})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "If True, use gradient checkpointing to save memory at the expense of slower backward pass."})
    auto_find_batch_size: bool = field(default=False, metadata={"help": "Whether to automatically decrease the batch size in half and rerun the training loop again each time a CUDA Out-of-Memory was reached"})
    torch_compile: bool = field(default=False, metadata={"help": "If set to `True`, the model will be wrapped in `torch.compile`."})
    use_liger_kernel: bool = field(default=False, metadata={"help": "Whether or not to enable the Liger Kernel for model training."})
    push_to_hub: bool = field(default=False, metadata={"help": "Whether or not to upload the trained model to the model hub after training."})
    resume_from_checkpoint: Optional[str] = field(default=None, metadata={"help": "The path to a folder with a valid checkpoint for your model."})
    ignore_data_skip: bool = field(default=False, metadata={"help": "When resuming training, whether or not to skip the first epochs and batches to get to the same training data."})
    eval_on_start: bool = field(default=False, metadata={"help": "Whether to run through the entire `evaluation` step at the very beginning of training as a sanity check."})

    def __post_init__(self):
        if self.evaluation_strategy is not None:
            warnings.warn("`evaluation_strategy` is deprecated and will be removed in version 4.46 of Transformers. Use `eval_strategy` instead", FutureWarning)
            self.eval_strategy = self.evaluation_strategy
        if self.eval_strategy == "steps" and (self.eval_steps is None or self.eval_steps == 0):
            if self.logging_steps > 0:
                self.eval_steps = self.logging_steps
            else:
                raise ValueError(
                    f"evaluation strategy {self.eval_strategy} requires either non-zero --eval_steps or --logging_steps"
                )
        if self.save_strategy == "steps" and self.save_steps <= 0:
            raise ValueError(f"save_strategy {self.save_strategy} requires a positive --save_steps, got {self.save_steps}")
        if self.save_strategy == "steps" and self.save_steps > 1 and self.save_steps != int(self.save_steps):
            raise ValueError(f"--save_steps must be an integer if bigger than 1: {self.save_steps}")
        if self.fp16 and self.bf16:
            raise ValueError("At most one of fp16 and bf16 can be True, but not both")

        if isinstance(self.deepspeed, str) and self.deepspeed.strip().startswith("{"):
            self.deepspeed = json.loads(self.deepspeed)
        if not self.deepspeed and os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
            # `accelerate launch --use_deepspeed`: the DeepSpeedPlugin's config comes from the environment
            self.deepspeed = accelerate_deepspeed_config(os.environ)
        self.hf_deepspeed_config = None
        if self.deepspeed:
            self.hf_deepspeed_config = HfTrainerDeepSpeedConfig(self.deepspeed)
            self.hf_deepspeed_config.trainer_config_process(self)

        mixed_precision_dtype = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
        if self.fp16:
            mixed_precision_dtype = "fp16"
        elif self.bf16:
            mixed_precision_dtype = "bf16"
        self.mixed_precision = mixed_precision_dtype

    @property
    def world_size(self):
        return int(os.environ.get("WORLD_SIZE", "1") or 1)

    @property
    def process_index(self):
        return int(os.environ.get("RANK", "0") or 0)

    @property
    def should_save(self):
        # Only the main process writes checkpoints
        return self.process_index == 0

    @property
    def train_batch_size(self):
        # one device per process
        return self.per_device_train_batch_size

    @property
    def device(self):
        return f"cuda:{max(self.local_rank, 0)}"
'''

SOURCES["transformers/integrations/deepspeed.py"] = '''
class HfDeepSpeedConfig:
    def __init__(self, config_file_or_dict):
        if isinstance(config_file_or_dict, dict):
            # Don't modify user's data should they want to reuse it (e.g. in tests), because once we
            # modified it, it will not be accepted here again, since `auto` values would have been overridden
            config = deepcopy(config_file_or_dict)
        elif os.path.exists(config_file_or_dict):
            with open(config_file_or_dict, encoding="utf-8") as f:
                config = json.load(f)
        else:
            raise ValueError(
                f"Expected a string path to an existing deepspeed config, or a dictionary, or a base64 encoded string. Received: {config_file_or_dict}"
            )
        self.config = config
        self.original_config = deepcopy(config)

    def find_config_node(self, ds_key_long):
        config = self.config

        # find the config node of interest if it exists
        nodes = ds_key_long.split(".")
        ds_key = nodes.pop()
        for node in nodes:
            config = config.get(node)
            if config is None:
                return None, ds_key

        return config, ds_key

    def get_value(self, ds_key_long, default=None):
        config, ds_key = self.find_config_node(ds_key_long)
        if config is None:
            return default
        return config.get(ds_key, default)


class HfTrainerDeepSpeedConfig(HfDeepSpeedConfig):
    def __init__(self, config_file_or_dict):
        super().__init__(config_file_or_dict)
        self._dtype = None
        self.mismatches = []

    def fill_match(self, ds_key_long, hf_val, hf_key=None, must_match=True):
        config, ds_key = self.find_config_node(ds_key_long)
        if config is None:
            return

        if config.get(ds_key) == "auto":
            config[ds_key] = hf_val
            return

        if not must_match:
            return

        ds_val = config.get(ds_key)
        if ds_val is not None and ds_val != hf_val:
            self.mismatches.append(f"- ds {ds_key_long}={ds_val} vs hf {hf_key}={hf_val}")

    def trainer_config_process(self, args, auto_find_batch_size=False):
        # DeepSpeed does:
        # train_batch_size = world_size * train_micro_batch_size_per_gpu * gradient_accumulation_steps
        train_batch_size = args.world_size * args.per_device_train_batch_size * args.gradient_accumulation_steps
        self.fill_match(
            "train_micro_batch_size_per_gpu",
            args.per_device_train_batch_size,
            "per_device_train_batch_size",
            not auto_find_batch_size,
        )
        self.fill_match("gradient_accumulation_steps", args.gradient_accumulation_steps, "gradient_accumulation_steps")
        self.fill_match(
            "train_batch_size",
            train_batch_size,
            "train_batch_size (calculated)",
            not auto_find_batch_size,
        )
        self.fill_match("gradient_clipping", args.max_grad_norm, "max_grad_norm")

        fp16_backend = "amp"
        self.fill_match(
            "fp16.enabled",
            ((args.fp16 or args.fp16_full_eval) and fp16_backend == "amp"),
            "fp16|fp16_full_eval+fp16_backend(amp)",
        )
        self.fill_match("bf16.enabled", (args.bf16 or args.bf16_full_eval), "bf16|bf16_full_eval")

    def trainer_config_finalize(self, args, model, num_training_steps):
        if len(self.mismatches) > 0:
            mismatches = "\\n".join(self.mismatches)
            raise ValueError(
                "Please correct the following DeepSpeed config values that mismatch TrainingArguments"
                f" values:\\n{mismatches}\\nThe easiest method is to set these DeepSpeed config values to 'auto'."
            )


def deepspeed_init(trainer, num_training_steps, inference=False):
    model = trainer.model
    args = trainer.args
    hf_deepspeed_config = args.hf_deepspeed_config

    # DeepSpeed reads the batch sizes from the file first and checks they agree with each other
    ds_config = DeepSpeedConfig(hf_deepspeed_config.original_config)

    # resume config update - some bits like `model` and `num_training_steps` only become available during train
    hf_deepspeed_config.trainer_config_finalize(args, model, num_training_steps)
    return None, None
'''

SOURCES["deepspeed/runtime/config.py"] = '''
class DeepSpeedConfig(object):
    def __init__(self, config, mpu=None, mesh_device=None):
        self._param_dict = config
        self.world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.train_batch_size = config.get("train_batch_size")
        self.train_micro_batch_size_per_gpu = config.get("train_micro_batch_size_per_gpu")
        self.gradient_accumulation_steps = config.get("gradient_accumulation_steps")
        self._configure_train_batch_size()

    def _batch_assertion(self):
        train_batch = self.train_batch_size
        micro_batch = self.train_micro_batch_size_per_gpu
        grad_acc = self.gradient_accumulation_steps

        assert train_batch > 0, f"Train batch size: {train_batch} has to be greater than 0"
        assert micro_batch > 0, f"Micro batch size per gpu: {micro_batch} has to be greater than 0"
        assert grad_acc > 0, f"Gradient accumulation steps: {grad_acc} has to be greater than 0"
        assert train_batch == micro_batch * grad_acc * self.world_size, (
            f"Check batch related parameters. train_batch_size is not equal "
            "to micro_batch_per_gpu * gradient_acc_step * world_size "
            f"{train_batch} != {micro_batch} * {grad_acc} * {self.world_size}"
        )

    def _configure_train_batch_size(self):
        values = (self.train_batch_size, self.train_micro_batch_size_per_gpu, self.gradient_accumulation_steps)
        # "auto" is filled in later by the Trainer; DeepSpeed infers a missing third value itself.
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self._batch_assertion()
'''
