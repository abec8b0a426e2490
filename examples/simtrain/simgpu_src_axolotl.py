"""Source text of the simulated axolotl (and the fire and pydantic entry points it goes through).

Compiled by simgpu_src_axolotl_load under site-packages/ names, like simgpu_src_torch.py's modules,
over the simulated transformers Trainer: axolotl trains with Hugging Face's Trainer. The shapes follow
axolotl 0.18 (src/axolotl/cli/train.py, cli/config.py, utils/config/__init__.py, train.py,
core/builders/base.py, core/trainers/base.py). What pydantic-core does in Rust (validating the
config), what datasets and tokenizers do, and opening the simulated GPU are supplied by
simgpu_src_axolotl_load, whose frames are hidden from printed tracebacks.
"""

SOURCES = {}

SOURCES["fire/parser.py"] = '''
"""Provides parsing utilities for Python Fire."""


def SeparateFlagArgs(args):
    """Splits a list of args into those for Flags and those for Fire."""
    try:
        index = len(args) - 1 - args[::-1].index("--")
        flag_args = args[index + 1:]
        fire_args = args[:index]
    except ValueError:
        flag_args = []
        fire_args = args
    return fire_args, flag_args


def DefaultParseValue(value):
    """The default argument parsing function used by Fire CLIs."""
    # Note: _LiteralEval will treat '#' as the start of a comment.
    try:
        return _LiteralEval(value)
    except (SyntaxError, ValueError):
        # If _LiteralEval can't parse the value, treat it as a string.
        return value


def _LiteralEval(value):
    """Parse value as a Python literal, or container of containers and literals."""
    root = ast.parse(value, mode="eval")
    if isinstance(root.body, ast.BinOp):
        raise ValueError(value)

    for node in ast.walk(root):
        for field, child in ast.iter_fields(node):
            if isinstance(child, list):
                for index, subchild in enumerate(child):
                    if isinstance(subchild, ast.Name):
                        child[index] = _Replacement(subchild)

            elif isinstance(child, ast.Name):
                replacement = _Replacement(child)
                setattr(node, field, replacement)

    # ast.literal_eval supports the following types:
    # strings, bytes, numbers, tuples, lists, dicts, sets, booleans, and None
    return ast.literal_eval(root)


def _Replacement(node):
    """Returns a node to use in place of the supplied node in the AST."""
    value = node.id
    # These are the only builtin constants supported by literal_eval.
    if value in ("True", "False", "None"):
        return node
    return ast.Constant(value=value)
'''

SOURCES["fire/core.py"] = '''
"""Python Fire is a library for creating CLIs from absolutely any Python object."""


class FireError(Exception):
    """Exception used by Fire when a Fire command cannot be executed."""


class FireExit(SystemExit):
    """An exception raised by Fire to the client in the case of a FireError."""

    def __init__(self, code, component_trace):
        super().__init__(code)
        self.trace = component_trace


class FireTrace:
    """A FireTrace represents the steps taken during a single Fire execution."""

    def __init__(self, initial_component, name=None):
        self.name = name
        self.result = initial_component
        self.error = None
        self.args = []

    def GetResult(self):
        return self.result

    def HasError(self):
        return self.error is not None

    def AddError(self, error, args):
        self.error = error
        self.args = args


def Fire(component=None, command=None, name=None, serialize=None):
    """This function, Fire, is the main entrypoint for Python Fire."""
    name = name or os.path.basename(sys.argv[0])

    # Get args as a list.
    if command is None:
        # Use the command line args by default if no command is specified.
        args = sys.argv[1:]
    else:
        args = list(command)

    # Separate the command into args for the component and flag args for Fire.
    args, flag_args = parser.SeparateFlagArgs(args)

    component_trace = _Fire(component, args, name=name)

    if component_trace.HasError():
        _DisplayError(component_trace)
        raise FireExit(2, component_trace)
    result = component_trace.GetResult()
    if result is not None:
        print(result)
    return result


def _DisplayError(component_trace):
    """Prints the Fire trace and the error to stdout."""
    output = []
    output.append(f"ERROR: {' '.join(str(arg) for arg in component_trace.error.args)}")
    output.append(f"Usage: {component_trace.name} <flags>")
    output.append("")
    output.append("For detailed information on this command, run:")
    output.append(f"  {component_trace.name} --help")
    print("\\n".join(output), file=sys.stderr)


def _Fire(component, args, name=None):
    """Execute a Fire command on a target component using the args supplied."""
    component_trace = FireTrace(initial_component=component, name=name)
    remaining_args = args
    try:
        component, remaining_args = _CallAndUpdateTrace(
            component,
            remaining_args,
            component_trace,
            treatment="routine",
            target=component.__name__,
        )
    except FireError as error:
        component_trace.AddError(error, args)
        return component_trace
    component_trace.result = component

    if remaining_args:
        component_trace.AddError(FireError("Could not consume arg:", remaining_args[0]), remaining_args)
    return component_trace


def _CallAndUpdateTrace(component, args, component_trace, treatment="class", target=None):
    """Call the component by consuming args from args, and update the FireTrace."""
    if not target:
        target = component
    fn = component.__call__ if treatment == "callable" else component
    parse = _MakeParseFn(fn)
    (varargs, kwargs), consumed_args, remaining_args, capacity = parse(args)

    # Call the function.
    component = fn(*varargs, **kwargs)

    return component, remaining_args


def _MakeParseFn(fn):
    """Creates a parse function for fn."""
    fn_spec = inspect.getfullargspec(fn)

    def _ParseFn(args):
        """Parses the list of `args` into (varargs, kwargs), consumed_args, remaining_args."""
        kwargs, remaining_kwargs, remaining_args = _ParseKeywordArgs(args, fn_spec)

        # Note: _ParseArgs modifies kwargs.
        num_required_args = len(fn_spec.args) - len(fn_spec.defaults or ())
        parsed_args, kwargs, remaining_args, capacity = _ParseArgs(
            fn_spec.args, fn_spec.defaults, num_required_args, kwargs, remaining_args)

        varargs = parsed_args
        kwargs.update(remaining_kwargs)
        consumed_args = args[:len(args) - len(remaining_args)]
        return (varargs, kwargs), consumed_args, remaining_args, capacity

    return _ParseFn


def _ParseArgs(fn_args, fn_defaults, num_required_args, kwargs, remaining_args):
    """Parses the positional and named arguments from the available supplied args."""
    accepts_positional_args = True
    parsed_args = []
    for index, arg in enumerate(fn_args):
        value = kwargs.pop(arg, None)
        if value is not None:  # A value is specified at the command line.
            value = _ParseValue(value)
            parsed_args.append(value)
        elif remaining_args and accepts_positional_args:
            # Use a positional arg.
            value = remaining_args.pop(0)
            value = _ParseValue(value)
            parsed_args.append(value)
        elif index < num_required_args:
            raise FireError("The function received no value for the required argument:", arg)
        else:
            # We're past the args for which there's no default value.
            # There's a default value for this arg.
            accepts_positional_args = False
            parsed_args.append(fn_defaults[index - num_required_args])
    capacity = False
    return parsed_args, kwargs, remaining_args, capacity


def _ParseKeywordArgs(args, fn_spec):
    """Parses the supplied arguments for keyword arguments."""
    kwargs = {}
    remaining_kwargs = []
    remaining_args = []
    fn_keywords = fn_spec.varkw
    fn_args = fn_spec.args + fn_spec.kwonlyargs

    if not args:
        return kwargs, remaining_kwargs, remaining_args

    skip_argument = False

    for index, argument in enumerate(args):
        if skip_argument:
            skip_argument = False
            continue

        if _IsFlag(argument):
            # This is a named argument. We get its value from this arg or the next.

            # Terminology:
            # argument: A full token from the command line, e.g. '--alpha=10'
            # stripped_argument: An argument without leading hyphens.
            # key: The contents of the stripped argument up to the first equal sign.
            # "shortcut flag": refers to an argument where the key is just the first
            #   letter of a longer keyword.
            # keyword: The Python function argument being set by this argument.
            # value: The unparsed value for that Python function argument.
            contains_equals = "=" in argument
            stripped_argument = argument.lstrip("-")
            if contains_equals:
                key, value = stripped_argument.split("=", 1)
            else:
                key = stripped_argument
                value = None  # value will be set later on.

            key = key.replace("-", "_")
            is_bool_syntax = (not contains_equals and (index + 1 == len(args) or _IsFlag(args[index + 1])))

            # Determine the keyword.
            keyword = ""  # Indicates no valid keyword has been found yet.
            if (key in fn_args or (is_bool_syntax and key.startswith("no") and key[2:] in fn_args)
                    or fn_keywords):
                keyword = key
            elif len(key) == 1:
                # This may be a shortcut flag.
                matching_fn_args = [arg for arg in fn_args if arg[0] == key]
                if len(matching_fn_args) == 1:
                    keyword = matching_fn_args[0]

            got_argument = bool(keyword)

            if got_argument:
                skip_argument = not contains_equals and not is_bool_syntax
                if skip_argument:
                    value = args[index + 1]
                elif is_bool_syntax:
                    # Since there's no next arg or the next arg is a Flag, we consider
                    # this flag to be a boolean.
                    if keyword in fn_args or fn_keywords:
                        value = "True"
                    elif keyword.startswith("no"):
                        keyword = keyword[2:]
                        value = "False"
                kwargs[keyword] = value

            if not got_argument:
                remaining_kwargs.append(argument)
                if skip_argument:
                    remaining_kwargs.append(args[index + 1])
        else:  # not _IsFlag(argument)
            remaining_args.append(argument)

    for keyword in list(kwargs):
        if keyword not in fn_args:
            kwargs[keyword] = _ParseValue(kwargs[keyword])

    return kwargs, remaining_kwargs, remaining_args


def _IsFlag(argument):
    """Determines if the argument is a flag argument."""
    return _IsSingleCharFlag(argument) or _IsMultiCharFlag(argument)


def _IsSingleCharFlag(argument):
    """Determines if the argument is a single char flag (e.g. '-a')."""
    return re.match("^-[a-zA-Z]$", argument) or re.match("^-[a-zA-Z]=", argument)


def _IsMultiCharFlag(argument):
    """Determines if the argument is a multi char flag (e.g. '--alpha')."""
    return argument.startswith("--") or re.match("^-[a-zA-Z]", argument)


def _ParseValue(value):
    """Parses value, a string, into the appropriate type."""
    if not isinstance(value, str):
        return value
    return parser.DefaultParseValue(value)
'''

SOURCES["pydantic/main.py"] = '''
"""Logic for creating models."""


class BaseModel:
    """Usage docs: https://docs.pydantic.dev/2.12/concepts/models/"""

    model_config = {}
    __pydantic_validator__ = None

    def __init__(self, /, **data):
        """Create a new model by parsing and validating input data from keyword arguments.

        Raises [`ValidationError`][pydantic_core.ValidationError] if the input data cannot be
        validated to form a valid model.
        """
        # `__tracebackhide__` tells pytest and some other tools to omit this function from tracebacks
        __tracebackhide__ = True
        validated_self = self.__pydantic_validator__.validate_python(data, self_instance=self)
        if self is not validated_self:
            warnings.warn(
                "A custom validator is returning a value other than `self`.\\n"
                "Returning anything other than `self` from a top level model validator isn't supported when validating via `__init__`.\\n"
                "See the `model_validator` docs (https://docs.pydantic.dev/latest/concepts/validators/#model-validators) for more details.",
                stacklevel=2,
            )

    def model_dump(self, *, mode="python", include=None, exclude=None, exclude_none=False):
        """Generate a dictionary representation of the model."""
        return self.__pydantic_validator__.to_python(self, exclude_none=exclude_none)
'''

SOURCES["axolotl/utils/dict.py"] = '''
"""Module containing the DictDefault class"""


class DictDefault(dict):
    """A Dict that returns None instead of returning empty Dict for missing keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            if isinstance(value, dict) and not isinstance(value, DictDefault):
                self[key] = DictDefault(value)

    def __missing__(self, key):
        return None

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name, value):
        self[name] = value

    def to_dict(self):
        return {k: v.to_dict() if isinstance(v, DictDefault) else v for k, v in self.items()}
'''

SOURCES["axolotl/utils/schemas/config.py"] = '''
"""Module with Pydantic models for configuration."""

LOG = get_logger(__name__)


class AxolotlInputConfig(BaseModel):
    """Wrapper of all config options."""

    model_config = {"populate_by_name": True}

    __pydantic_validator__ = SchemaValidator("AxolotlInputConfig", logger=LOG)


class AxolotlConfigWCapabilities(AxolotlInputConfig):
    """wrapper to valdiate GPU capabilities with the configured options"""

    __pydantic_validator__ = SchemaValidator("AxolotlConfigWCapabilities", logger=LOG, capabilities=True)
'''

SOURCES["axolotl/utils/config/__init__.py"] = '''
"""Module for working with config dicts"""

LOG = get_logger(__name__)


def choose_device(cfg):
    def get_device():
        try:
            if torch.cuda.is_available():
                return f"cuda:{cfg.local_rank}"

            raise SystemError("No CUDA/mps/npu device found")
        except Exception:  # pylint: disable=broad-exception-caught
            return "cpu"

    cfg.device = get_device()
    if cfg.world_size == 1:
        cfg.device_map = cfg.device_map or "auto"
    else:
        cfg.device_map = {"": int(os.environ.get("LOCAL_RANK", 0))}

    # in `accelerate launch`, we need to not pass through any device map and let
    # accelerate figure out which parts of the model to put on which gpu
    accelerate_vars = [var for var in os.environ if var.startswith("ACCELERATE_USE_")]
    if accelerate_vars:
        cfg.device_map = None


def resolve_dtype(cfg):
    if cfg.bf16 == "auto" and not cfg.use_ray:  # if we use ray we want to defer this check to the worker node
        if is_torch_bf16_gpu_available():
            LOG.debug("bf16 support detected, enabling for this configuration.")
            cfg.bf16 = True
        else:
            LOG.debug("bf16 support not detected, disabling for this configuration.")
            cfg.bf16 = False
            if cfg.fp16 is None:
                cfg.fp16 = True

    if cfg.bf16:
        cfg.fp16 = False

    if cfg.bf16 or cfg.bfloat16:
        cfg.torch_dtype = torch.bfloat16
    elif cfg.load_in_8bit or cfg.fp16 or cfg.float16:
        cfg.torch_dtype = torch.float16
    else:
        cfg.torch_dtype = torch.float32


def normalize_config(cfg):
    # setup some derived config / hyperparams
    cfg.gradient_accumulation_steps = cfg.gradient_accumulation_steps or (
        cfg.batch_size // cfg.micro_batch_size
    )
    cfg.batch_size = cfg.batch_size or cfg.micro_batch_size * cfg.gradient_accumulation_steps
    if cfg.eval_batch_size is None:
        cfg.eval_batch_size = cfg.micro_batch_size
    cfg.world_size = int(os.environ.get("WORLD_SIZE", 1))
    cfg.local_rank = int(os.environ.get("LOCAL_RANK", 0))
    choose_device(cfg)
    cfg.ddp = cfg.ddp if cfg.ddp is not None else cfg.world_size != 1
    if cfg.ddp:
        cfg.device_map = {"": int(os.environ.get("LOCAL_RANK", 0))}
        cfg.batch_size = cfg.batch_size * cfg.world_size

    if not cfg.use_ray:
        # delay resolving dtype until on worker node when launching with ray
        resolve_dtype(cfg)

    if cfg.deepspeed:
        if isinstance(cfg.deepspeed, str) and os.path.exists(cfg.deepspeed):
            ds_config_path = cfg.deepspeed
            with open(ds_config_path, encoding="utf-8") as f:
                cfg.deepspeed = json.load(f)

    if cfg.saves_per_epoch:
        save_steps = 1.0 / (cfg.saves_per_epoch * cfg.num_epochs)
        if save_steps < 1.0:  # prevent saves on every step
            cfg.save_steps = save_steps
        elif save_steps > 1:
            LOG.warning(
                f"Invalid value for save_steps ({save_steps}) from saves_per_epoch and/or num_epochs. Saving at training end only."
            )
    if (cfg.val_set_size or cfg.test_datasets) and cfg.evals_per_epoch:
        eval_steps = 1.0 / (cfg.evals_per_epoch * cfg.num_epochs)
        if eval_steps < 1.0:  # prevent evals on every step
            cfg.eval_steps = eval_steps
        elif eval_steps > 1:
            LOG.warning(
                f"Invalid value for eval_steps ({eval_steps}) from evals_per_epoch and/or num_epochs. Skipping evaluations."
            )

    if not cfg.base_model_config:
        cfg.base_model_config = cfg.base_model
    cfg.tokenizer_config = cfg.tokenizer_config or cfg.base_model_config or cfg.base_model

    if (
        cfg.gradient_checkpointing
        and cfg.unfrozen_parameters is None
        and cfg.gradient_checkpointing_kwargs is None
        and cfg.rl is None
    ):
        cfg.gradient_checkpointing_kwargs = {"use_reentrant": True}


def validate_config(cfg, capabilities=None, env_capabilities=None):
    if capabilities or env_capabilities:
        if (capabilities and env_capabilities is None) or (env_capabilities and capabilities is None):
            raise ValueError("Both capabilities and env_capabilities must be provided or not provided.")

        return DictDefault(
            dict(
                AxolotlConfigWCapabilities(
                    **cfg.to_dict(),
                    capabilities=capabilities,
                    env_capabilities=env_capabilities,
                ).model_dump(exclude_none=True)
            )
        )

    return DictDefault(dict(AxolotlInputConfig(**cfg.to_dict()).model_dump(exclude_none=True)))
'''

SOURCES["axolotl/cli/config.py"] = '''
"""Configuration loading and processing."""

LOG = get_logger(__name__)


def _coerce_value(value, existing=None):
    """Coerce a string CLI value to its most likely Python type.

    If an existing value is present in the config, its type is used to guide
    casting.  Otherwise, YAML-style inference is applied: booleans, ints,
    floats, and None literals are recognised automatically.
    """
    if not isinstance(value, str):
        return value

    # If the config already has a typed value, cast to match
    if existing is not None:
        if isinstance(existing, bool):
            return value.lower() in ("true", "1", "yes")
        if isinstance(existing, int):
            try:
                return int(value)
            except (ValueError, TypeError):
                return value
        if isinstance(existing, float):
            try:
                return float(value)
            except (ValueError, TypeError):
                return value
        # For other types (str, list, dict, etc.), return as-is
        return value

    # No existing value -- use YAML-style inference
    lower = value.lower()
    if lower in ("true", "yes"):
        return True
    if lower in ("false", "no"):
        return False
    if lower in ("null", "none", "~"):
        return None

    # Try int then float
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        pass

    return value


def choose_config(path):
    """
    Helper method for choosing a `axolotl` config YAML file (considering only files
    ending with `.yml` or `.yaml`).
    """
    yaml_files = list(path.glob("*.yml")) + list(path.glob("*.yaml"))

    if not yaml_files:
        raise ValueError(
            "No YAML config files found in the specified directory. Are you using a .yml extension?"
        )

    if len(yaml_files) == 1:
        LOG.info(f"Using default YAML file '{yaml_files[0]}'")
        return str(yaml_files[0])

    raise ValueError(f"More than one YAML config file found in {path}: choose one")


def load_cfg(config=Path("examples/"), **kwargs):
    """
    Loads the `axolotl` configuration stored at `config`, validates it, and performs
    various setup.
    """
    if isinstance(config, (str, Path)):
        if Path(config).is_dir():
            config = choose_config(Path(config))

        # Load the config from the yaml file
        with open(config, encoding="utf-8") as file:
            cfg = DictDefault(yaml.safe_load(file))

        cfg.axolotl_config_path = str(config)
    else:
        cfg = config

    # If there are any options passed in the cli, if it is something that seems valid
    # from the yaml, then overwrite the value
    cfg_keys = cfg.keys()

    # Separate nested (dot-notation) kwargs from flat kwargs
    nested_kwargs = {}
    flat_kwargs = {}
    for key, value in kwargs.items():
        if "__" in key:
            parent, child = key.split("__", 1)
            nested_kwargs.setdefault(parent, {})[child] = value
        else:
            flat_kwargs[key] = value

    # Apply flat kwargs
    for key, value in flat_kwargs.items():
        # If not strict, allow writing to cfg even if it's not in the yml already
        if key in cfg_keys or not cfg.strict:
            cfg[key] = _coerce_value(value, cfg.get(key))

    # Apply nested kwargs (e.g., trl__beta -> cfg.trl.beta)
    for parent, children in nested_kwargs.items():
        if parent not in cfg_keys and cfg.strict:
            continue
        if cfg[parent] is None:
            cfg[parent] = DictDefault()
        if not isinstance(cfg[parent], dict):
            LOG.warning("Overwriting non-dict value for '%s' with nested CLI overrides", parent)
            cfg[parent] = DictDefault()
        for child_key, child_value in children.items():
            existing_child = cfg[parent].get(child_key)
            cfg[parent][child_key] = _coerce_value(child_value, existing_child)

    capabilities, env_capabilities = gpu_capabilities()

    cfg = validate_config(
        cfg,
        capabilities=capabilities,
        env_capabilities=env_capabilities,
    )

    normalize_config(cfg)

    return cfg


def gpu_capabilities():
    """Probe the local GPU and return ``(capabilities, env_capabilities)`` dicts
    suitable for :func:`axolotl.utils.config.validate_config`.
    """
    try:
        device_props = torch.cuda.get_device_properties("cuda")
        gpu_version = "sm_" + str(device_props.major) + str(device_props.minor)
    except (RuntimeError, AssertionError):
        gpu_version = None

    capabilities = {
        "bf16": is_torch_bf16_gpu_available(),
        "fp8": gpu_version is not None and gpu_version >= "sm_90",
        "tf32": is_torch_bf16_gpu_available(),
        "n_gpu": int(os.environ.get("WORLD_SIZE", 1)),
        "compute_capability": gpu_version,
    }
    env_capabilities = {"torch_version": str(torch.__version__).split("+", maxsplit=1)[0]}
    return capabilities, env_capabilities
'''

SOURCES["axolotl/cli/args.py"] = '''
"""Module for axolotl CLI command arguments."""


@dataclass
class TrainerCliArgs:
    """Dataclass with CLI arguments for `axolotl train` command."""

    debug: bool = field(default=False)
    debug_text_only: bool = field(default=False)
    debug_num_examples: int = field(default=0)
    merge_lora: bool = field(default=False)
    prompter: Optional[str] = field(default=None)
    shard: bool = field(default=False)
'''

SOURCES["axolotl/core/training_args.py"] = '''
"""extra axolotl specific training args"""


@dataclass
class AxolotlTrainingArguments(TrainingArguments):
    """Training arguments for Causal trainer

    This code is duplicated due to HF TrainingArguments not setting output_dir with a
    default value so it can't be used as a mixin.
    """

    model_type: Optional[str] = field(default=None, metadata={"help": "HF model configuration model_type."})
    lr_quadratic_warmup: bool = field(default=False, metadata={"help": "Use quadratic warmup for cosine scheduling."})
    sample_packing: bool = field(default=False, metadata={"help": "Use sample packing for efficient training."})
    eval_sample_packing: Optional[bool] = field(default=None, metadata={"help": "Use sample packing for efficient evals."})
    sample_packing_efficiency: float = field(default=1.0, metadata={"help": "Sample packing efficiency for calculating batch length."})
    sequence_len: int = field(default=2048, metadata={"help": "The maximum sequence length the model can handle"})
    activation_offloading: Optional[bool] = field(default=None, metadata={"help": "Use activation offloading with CUDA streams for training."})

    def __post_init__(self):
        if self.bf16 or self.bf16_full_eval:
            if not is_torch_bf16_gpu_available():
                error_message = "Your setup doesn't support bf16/gpu."
                if torch.cuda.is_available():
                    error_message += " You need Ampere+ GPU with cuda>=11.0"
                # gpu
                raise ValueError(error_message)
        super().__post_init__()
'''

SOURCES["axolotl/core/trainers/base.py"] = '''
"""Module for customized trainers"""

LOG = get_logger(__name__)


class AxolotlTrainer(Trainer):
    """Extend the base Trainer for axolotl helpers"""

    tag_names = ["axolotl"]

    def __init__(self, *_args, bench_data_collator=None, eval_data_collator=None, dataset_tags=None, **kwargs):
        self.bench_data_collator = bench_data_collator
        self.eval_data_collator = eval_data_collator
        self.dataset_tags = dataset_tags
        self._signature_columns = None  # workaround for pylint

        super().__init__(*_args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # use one's weighted cross entropy loss calc
        # if self.args.sample_packing:
        #     labels = inputs.pop("labels")
        #     outputs = model(**inputs)
        #     loss = trainer_weighted_loss(outputs, labels, shift_labels=True)
        #     return (loss, outputs) if return_outputs else loss

        return super().compute_loss(
            model,
            inputs,
            return_outputs=return_outputs,
            num_items_in_batch=num_items_in_batch,
        )
'''

SOURCES["axolotl/core/builders/causal.py"] = '''
"""Builder for causal trainers"""

LOG = get_logger(__name__)


class HFCausalTrainerBuilder:
    """Build the HuggingFace training args/trainer for causal models and reward modeling."""

    def __init__(self, cfg, model, tokenizer, processor=None):
        self.cfg = cfg
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.train_dataset = None
        self.eval_dataset = None

    def _configure_precision_settings(self, training_args_kwargs):
        training_args_kwargs["fp16"] = (self.cfg.fp16 and not self.cfg.bf16) or False
        training_args_kwargs["tf32"] = self.cfg.tf32
        if self.cfg.bf16 == "full":
            training_args_kwargs["bf16_full_eval"] = True
        else:
            bf16 = self.cfg.bf16 or self.cfg.bfloat16
            bf16 = bf16 if bf16 is not None else False
            training_args_kwargs["bf16"] = bf16

    def _configure_save_and_eval_strategy(self, training_args_kwargs):
        # save_strategy and save_steps
        if self.cfg.save_steps:
            training_args_kwargs["save_strategy"] = "steps"
            training_args_kwargs["save_steps"] = self.cfg.save_steps
        elif self.cfg.save_strategy:
            training_args_kwargs["save_strategy"] = self.cfg.save_strategy
        else:
            # default to saving each epoch if not defined
            training_args_kwargs["save_strategy"] = "epoch"

        training_args_kwargs["save_total_limit"] = (
            self.cfg.save_total_limit if self.cfg.save_total_limit else 4
        )

        # eval_strategy and eval_steps
        if not self.eval_dataset and self.cfg.val_set_size == 0:
            # do not eval if no eval_dataset and val_set_size=0
            training_args_kwargs["eval_strategy"] = "no"
        elif self.cfg.eval_steps:
            training_args_kwargs["eval_strategy"] = "steps"
            training_args_kwargs["eval_steps"] = self.cfg.eval_steps
            training_args_kwargs["eval_on_start"] = True
        elif self.cfg.eval_strategy:
            training_args_kwargs["eval_strategy"] = self.cfg.eval_strategy
            training_args_kwargs["eval_on_start"] = True

    def build(self, total_num_steps):
        training_arguments_kwargs = {}
        self._configure_precision_settings(training_arguments_kwargs)
        self._configure_save_and_eval_strategy(training_arguments_kwargs)

        if self.cfg.gradient_checkpointing:
            training_arguments_kwargs["gradient_checkpointing"] = True
        if self.cfg.deepspeed:
            training_arguments_kwargs["deepspeed"] = self.cfg.deepspeed
        if self.cfg.auto_find_batch_size is not None:
            training_arguments_kwargs["auto_find_batch_size"] = self.cfg.auto_find_batch_size

        training_arguments_kwargs["per_device_train_batch_size"] = self.cfg.micro_batch_size
        if self.cfg.eval_batch_size:
            training_arguments_kwargs["per_device_eval_batch_size"] = self.cfg.eval_batch_size
        training_arguments_kwargs["gradient_accumulation_steps"] = self.cfg.gradient_accumulation_steps
        training_arguments_kwargs["max_steps"] = self.cfg.max_steps if self.cfg.max_steps else total_num_steps
        training_arguments_kwargs["output_dir"] = self.cfg.output_dir
        training_arguments_kwargs["learning_rate"] = self.cfg.learning_rate
        training_arguments_kwargs["weight_decay"] = self.cfg.weight_decay
        training_arguments_kwargs["seed"] = self.cfg.seed or 42
        training_arguments_kwargs["lr_scheduler_type"] = self.cfg.lr_scheduler if self.cfg.lr_scheduler else "cosine"
        training_arguments_kwargs["optim"] = self.cfg.optimizer
        training_arguments_kwargs["report_to"] = []

        training_arguments_kwargs["sample_packing"] = bool(self.cfg.sample_packing)
        training_arguments_kwargs["sequence_len"] = self.cfg.sequence_len
        training_arguments_kwargs["activation_offloading"] = bool(self.cfg.activation_offloading)

        training_args = AxolotlTrainingArguments(**training_arguments_kwargs)

        # the simulated GPU opens once the batch sizes, precision and DeepSpeed config are known
        SIMGPU.open(self.cfg, training_args)

        trainer = AxolotlTrainer(
            model=self.model,
            args=training_args,
            train_dataset=self.train_dataset,
            eval_dataset=self.eval_dataset,
            processing_class=self.tokenizer,
        )
        return trainer
'''

SOURCES["axolotl/utils/trainer.py"] = '''
"""Module containing the Trainer class and related functions"""


def setup_trainer(cfg, train_dataset, eval_dataset, model, tokenizer, processor, total_num_steps):
    """
    Helper method for instantiating and building a (causal or RLHF) trainer.
    """
    trainer_builder = HFCausalTrainerBuilder(cfg, model[0], tokenizer, processor)
    trainer_builder.train_dataset = train_dataset
    trainer_builder.eval_dataset = eval_dataset

    return trainer_builder.build(total_num_steps)
'''

SOURCES["axolotl/loaders/model.py"] = '''
"""Model loader class implementation for loading, configuring, and patching various models."""

LOG = get_logger(__name__)


class ModelLoader:
    """Manages model configuration, initialization and application of patches during model loading."""

    def __init__(self, cfg, tokenizer, *, inference=False, reference_model=False, **kwargs):
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.inference = inference
        self.reference_model = reference_model
        self.model_kwargs = {}

    def load(self):
        """Load and prepare the model with all configurations and patches."""
        self._set_quantization_config()
        self.model_kwargs["torch_dtype"] = self.cfg.torch_dtype
        self.model_kwargs["device_map"] = self.cfg.device_map
        self.model = AutoModelForCausalLM.from_pretrained(
            self.cfg.base_model,
            trust_remote_code=self.cfg.trust_remote_code or False,
            **self.model_kwargs,
        )
        if self.cfg.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs=self.cfg.gradient_checkpointing_kwargs
            )
        return self.model, None

    def _set_quantization_config(self):
        if self.cfg.load_in_8bit or self.cfg.load_in_4bit:
            if not is_bitsandbytes_available():
                bits = 8 if self.cfg.load_in_8bit else 4
                raise ImportError(
                    f"Using `bitsandbytes` {bits}-bit quantization requires the latest version of bitsandbytes: "
                    "`pip install -U bitsandbytes`"
                )
            self.model_kwargs["load_in_8bit"] = self.cfg.load_in_8bit
            self.model_kwargs["load_in_4bit"] = self.cfg.load_in_4bit
'''

SOURCES["axolotl/train.py"] = '''
"""Prepare and train a model on a dataset. Can also infer from a model or merge lora"""

LOG = get_logger(__name__)


def setup_model_and_tokenizer(cfg):
    """
    Load the tokenizer, processor (for multimodal models), and model based on configuration.
    """
    # Load tokenizer
    LOG.debug(f"loading tokenizer... {cfg.tokenizer_config or cfg.base_model_config}")
    tokenizer = load_tokenizer(cfg)

    # Load processor for multimodal models if needed
    processor = None

    # Load the model and peft_config
    msg = "loading model"
    if cfg.adapter:
        msg += " and peft_config..."
    LOG.debug(msg)

    model_loader = ModelLoader(cfg, tokenizer, processor=processor)
    model, peft_config = model_loader.load()

    return model, tokenizer, peft_config, processor


def determine_resume_checkpoint(cfg):
    """
    Determine the checkpoint to resume from based on configuration.
    """
    if cfg.resume_from_checkpoint is None and cfg.auto_resume_from_checkpoints:
        possible_checkpoints = [str(cp) for cp in Path(cfg.output_dir).glob("checkpoint-*")]
        if len(possible_checkpoints) > 0:
            sorted_paths = sorted(
                possible_checkpoints,
                key=lambda path: int(path.split("-")[-1]),
            )
            cfg.resume_from_checkpoint = sorted_paths[-1]
            LOG.info(
                f"Using Auto-resume functionality to start with checkpoint at {cfg.resume_from_checkpoint}"
            )
    return cfg.resume_from_checkpoint


def execute_training(cfg, trainer, resume_from_checkpoint):
    """
    Execute the training process with appropriate SDP kernel configurations.
    """
    LOG.info("Starting trainer...")
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)


def save_trained_model(cfg, trainer, model, safe_serialization):
    """
    Save the trained model according to configuration and training setup.
    """
    LOG.info(f"Training completed! Saving trained model to {cfg.output_dir}.")

    if cfg.local_rank == 0:
        trainer.save_model(cfg.output_dir)

    LOG.info(f"Model successfully saved to {cfg.output_dir}")


def save_initial_configs(cfg, tokenizer, model, peft_config, processor):
    """
    Save initial configurations before training.
    """
    # Create output_dir if it doesn't already exist
    output_dir = Path(cfg.output_dir)
    if not output_dir.is_dir():
        os.makedirs(cfg.output_dir, exist_ok=True)


def train(cfg, dataset_meta):
    """
    Train a model on the given dataset.
    """
    # Setup model, tokenizer, (causal or RLHF) trainer, etc.
    model, tokenizer, peft_config, processor = setup_model_and_tokenizer(cfg)

    train_dataset = dataset_meta.train_dataset
    eval_dataset = dataset_meta.eval_dataset
    total_num_steps = dataset_meta.total_num_steps

    # Set up trainer
    trainer = setup_trainer(
        cfg=cfg,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        model=(model, None, peft_config),
        tokenizer=tokenizer,
        processor=processor,
        total_num_steps=total_num_steps,
    )

    # Determine if we need to resume from a checkpoint
    resume_from_checkpoint = determine_resume_checkpoint(cfg)

    # Configuration for saving
    safe_serialization = cfg.save_safetensors is True

    # Save initial configs
    save_initial_configs(cfg, tokenizer, model, peft_config, processor)

    # Execute the training
    execute_training(cfg, trainer, resume_from_checkpoint)

    # Save the trained model
    save_trained_model(cfg, trainer, model, safe_serialization)

    return model, tokenizer, trainer
'''

SOURCES["axolotl/cli/train.py"] = '''
"""CLI to run training on a model."""


def do_train(cfg, cli_args):
    """
    Trains a `transformers` model by first loading the dataset(s) specified in the
    `axolotl` config, and then calling `axolotl.train.train`.
    """
    dataset_meta = load_datasets(cfg=cfg, cli_args=cli_args)

    model, tokenizer, trainer = train(cfg=cfg, dataset_meta=dataset_meta)

    del model, tokenizer, trainer

    gc.collect()

    SIMGPU.finish()


def do_cli(config=Path("examples/"), **kwargs):
    """
    Parses `axolotl` config, CLI args, and calls `do_train`.
    """
    # pylint: disable=duplicate-code
    parsed_cfg = load_cfg(config, **kwargs)
    parser = HfArgumentParser(TrainerCliArgs)
    parsed_cli_args, _ = parser.parse_args_into_dataclasses(return_remaining_strings=True)

    return do_train(parsed_cfg, parsed_cli_args)
'''
