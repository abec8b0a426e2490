"""Source text of the simulated `trl` command line and the launchers it runs in-process.

Shaped after huggingface/trl trl/cli/main.py, trl/cli/commands/training.py (the TrainingCommand that
splits the command line into the script's arguments and accelerate launch's),
trl/cli/accelerate_config.py (--accelerate_config NAME|PATH), trl/cli/accelerate_launcher.py, and
accelerate's commands/launch.py (launch_command, simple_launcher, multi_gpu_launcher,
deepspeed_launcher) with torch.distributed.run / launcher.api's elastic launch, whose
ChildFailedError summary is simtrain's (simlaunch.py). The ranks are started and watched by
simgpu_src_trl_load (hidden frames), which reuses the fake bin/accelerate's option parsing.
simgpu_src_trl merges these SOURCES into its own.
"""

SOURCES = {}

SOURCES["trl/cli/main.py"] = '''
def _build_parser(commands):
    parser = TrlParser(prog="TRL CLI", usage="trl", allow_abbrev=False)
    subparsers = parser.add_subparsers(help="available commands", dest="command", parser_class=TrlParser)

    for command in commands:
        command.register(subparsers)

    return parser


def main(argv=None):
    """Run the TRL CLI."""
    commands = get_commands()
    commands_by_name = {command.name: command for command in commands}
    parser = _build_parser(commands)
    argv = list(sys.argv[1:] if argv is None else argv)

    args, remaining_args = parser.parse_args_and_config(args=argv, return_remaining_strings=True)
    command_name = getattr(args, "command", None)
    if command_name is None:
        parser.print_help()
        return 0

    command = commands_by_name[command_name]
    context = CommandContext(argv=argv, remaining_args=remaining_args)
    return command.run(args, context)


if __name__ == "__main__":
    raise SystemExit(main())
'''

SOURCES["trl/cli/commands/training.py"] = '''
def _subtract_subsequence(lst, subseq):
    """Return lst with the ordered subsequence subseq removed."""
    sub_iter = iter(subseq)
    current = next(sub_iter, None)
    result = []
    for item in lst:
        if current is not None and item == current:
            current = next(sub_iter, None)
        else:
            result.append(item)
    return result


def _strip_config_flag(args):
    """Return args with --config and its value removed."""
    result = []
    i = 0
    while i < len(args):
        if args[i] == "--config":
            i += 2
        else:
            result.append(args[i])
            i += 1
    return result


class TrainingCommand(Command):
    """
    Generic CLI command that launches a training script with accelerate.

    The script `trl/scripts/<name>.py` must expose a `make_parser()` function.
    """

    def __init__(self, name):
        super().__init__(name=name, help_text=f"Run the {name} training script")

    def register(self, subparsers):
        subparsers.add_parser(self.name, help=self.help_text, add_help=False)

    def run(self, args, context):
        module = importlib.import_module(f"...scripts.{self.name}", package=__package__)
        all_args = context.argv_after(self.name)
        parser = module.make_parser()

        # Handles -h (exits). Returns config, config_remaining, and cli_remaining separately.
        # cli_remaining is an ordered subsequence of all_args; config_remaining and config are not.
        *_, config, config_remaining, cli_remaining = parser.parse_args_and_config(
            all_args, return_remaining_strings=True, separate_remaining_strings=True
        )
        launch_args = resolve_accelerate_config_argument(config_remaining + cli_remaining)

        # Expand recognized YAML keys as CLI args, excluding accelerate-specific keys.
        accel_keys = {s[2:] for s in config_remaining[::2]}
        recognized_config_args = [
            item for key, value in config.items() if key not in accel_keys for item in (f"--{key}", str(value))
        ]
        # Strip --config from all_args (expanded above) and remove accelerate CLI args.
        cli_training_args = _subtract_subsequence(_strip_config_flag(all_args), cli_remaining)
        training_script_args = recognized_config_args + cli_training_args

        launch_training_script(
            script_name=f"{self.name}.py",
            launch_args=launch_args,
            training_script_args=training_script_args,
        )
        return 0
'''

SOURCES["trl/cli/accelerate_config.py"] = '''
def resolve_accelerate_config_argument(launch_args):
    """
    Resolve `--accelerate_config` from CLI arguments into `accelerate --config_file`.

    The function supports either a filesystem path or a predefined config name shipped in `trl/accelerate_configs`
    (without the `.yaml` suffix).
    """
    for config_index, argument in enumerate(launch_args):
        if argument == "--accelerate_config":
            if config_index + 1 >= len(launch_args):
                raise ValueError("Expected a value after `--accelerate_config`.")
            config_name = launch_args[config_index + 1]
            argument_count = 2
            break
        if argument.startswith("--accelerate_config="):
            config_name = argument.split("=", 1)[1]
            if not config_name:
                raise ValueError("Expected a value after `--accelerate_config`.")
            argument_count = 1
            break
    else:
        return launch_args

    if Path(config_name).is_file():
        accelerate_config_path = config_name
    else:
        candidate = resources.files("trl.accelerate_configs").joinpath(f"{config_name}.yaml")
        if not candidate.exists():
            raise ValueError(
                f"Accelerate config {config_name} is neither a file nor a valid config in the `trl` package. "
                "Please provide a valid config name or a path to a config file."
            )
        accelerate_config_path = candidate

    # Remove '--accelerate_config <value>' or '--accelerate_config=<value>'.
    launch_args = launch_args[:config_index] + launch_args[config_index + argument_count :]
    return ["--config_file", str(accelerate_config_path)] + launch_args
'''

SOURCES["trl/cli/accelerate_launcher.py"] = '''
def launch_training_script(script_name, launch_args, training_script_args, *, launch_command_fn=launch_command,
                           launch_parser_fn=launch_command_parser):
    """
    Launch a TRL training script through `accelerate launch`.

    Parameters:
        script_name (`str`):
            Script filename in `trl/scripts`, e.g. `"dpo.py"`.
        launch_args (`list[str]`):
            Arguments consumed by `accelerate launch`.
        training_script_args (`list[str]`):
            Arguments forwarded to the training script.
    """
    training_script = resources.files("trl.scripts").joinpath(script_name)
    accelerate_args = launch_parser_fn().parse_args(launch_args + [str(training_script)] + training_script_args)
    launch_command_fn(accelerate_args)
'''

SOURCES["accelerate/commands/launch.py"] = '''
logger = logging.getLogger(__name__)


def launch_command_parser(subparsers=None):
    description = (
        "Launch a python script in a distributed scenario. Arguments can be passed in with either hyphens "
        "(`--num-processes=2`) or underscores (`--num_processes=2`)"
    )
    if subparsers is not None:
        parser = subparsers.add_parser(
            "launch", description=description, add_help=False, allow_abbrev=False, formatter_class=CustomHelpFormatter
        )
    else:
        parser = CustomArgumentParser(
            "Accelerate launch command",
            description=description,
            add_help=False,
            allow_abbrev=False,
            formatter_class=CustomHelpFormatter,
        )
    return parser


def simple_launcher(args):
    cmd, current_env = prepare_simple_launcher_cmd_env(args)

    process = subprocess.Popen(cmd, env=current_env)
    process.wait()
    if process.returncode != 0:
        if not args.quiet:
            raise subprocess.CalledProcessError(returncode=process.returncode, cmd=cmd)
        else:
            sys.exit(1)


def multi_gpu_launcher(args):
    current_env = prepare_multi_gpu_env(args)

    debug = getattr(args, "debug", False)
    with patch_environment(**current_env):
        try:
            distrib_run.run(args)
        except Exception:
            if is_rich_available() and debug:
                console = get_console()
                console.print("\\n[bold red]Using --debug, `torch.distributed` Stack Trace:[/bold red]")
                console.print_exception(suppress=[__file__], show_locals=False)
            else:
                raise


def deepspeed_launcher(args):
    cmd, current_env = prepare_deepspeed_cmd_env(args)

    debug = getattr(args, "debug", False)
    with patch_environment(**current_env):
        try:
            distrib_run.run(args)
        except Exception:
            if is_rich_available() and debug:
                console = get_console()
                console.print("\\n[bold red]Using --debug, `torch.distributed` Stack Trace:[/bold red]")
                console.print_exception(suppress=[__file__], show_locals=False)
            else:
                raise


def _validate_launch_command(args):
    # Sanity checks
    defaults = None
    warned = []
    mp_from_config_flag = False
    # Get the default from the config file.
    if args.config_file is not None or os.path.isfile(default_config_file) and not args.cpu:
        defaults = load_config_from_file(args.config_file)
        if not args.multi_gpu and defaults.distributed_type == DistributedType.MULTI_GPU:
            args.multi_gpu = True
        if not args.use_deepspeed and defaults.distributed_type == DistributedType.DEEPSPEED:
            args.use_deepspeed = True
        if not args.use_fsdp and defaults.distributed_type == DistributedType.FSDP:
            args.use_fsdp = True
        if args.num_processes is None:
            args.num_processes = defaults.num_processes
        if args.mixed_precision is None:
            mp_from_config_flag = True
            args.mixed_precision = defaults.mixed_precision
    else:
        if args.num_processes is None:
            args.num_processes = torch.cuda.device_count()
            warned.append(f"\\t`--num_processes` was set to a value of `{args.num_processes}`")
        if args.num_machines is None:
            warned.append("\\t`--num_machines` was set to a value of `1`")
            args.num_machines = 1
        if args.mixed_precision is None:
            warned.append("\\t`--mixed_precision` was set to a value of `'no'`")
            args.mixed_precision = "no"
        if not hasattr(args, "use_cpu"):
            args.use_cpu = args.cpu
        if args.dynamo_backend is None:
            warned.append("\\t`--dynamo_backend` was set to a value of `'no'`")
            args.dynamo_backend = "no"
        if args.num_processes > 1 and not args.use_deepspeed and not args.use_fsdp:
            args.multi_gpu = True
    if any(warned):
        message = "The following values were not passed to `accelerate launch` and had defaults used instead:\\n"
        message += "\\n".join(warned)
        message += (
            "\\nTo avoid this warning pass in values for each of the problematic parameters or run `accelerate config`."
        )
        logger.warning(message)
    return args, defaults, mp_from_config_flag


def launch_command(args):
    args, defaults, mp_from_config_flag = _validate_launch_command(args)
    # Use the proper launcher
    if args.use_deepspeed and not args.cpu:
        args.deepspeed_fields_from_accelerate_config = list(defaults.deepspeed_config.keys()) if defaults else []
        if mp_from_config_flag:
            args.deepspeed_fields_from_accelerate_config.append("mixed_precision")
        args.deepspeed_fields_from_accelerate_config = ",".join(args.deepspeed_fields_from_accelerate_config)
        deepspeed_launcher(args)
    elif args.use_fsdp and not args.cpu:
        multi_gpu_launcher(args)
    elif args.multi_gpu and not args.cpu:
        multi_gpu_launcher(args)
    else:
        simple_launcher(args)
'''

SOURCES["torch/distributed/run.py"] = '''
logger = logging.getLogger(__name__)


def config_from_args(args):
    nproc_per_node = args.num_processes
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc_per_node, rdzv_backend="static",
                          max_restarts=0, monitor_interval=0.1)
    cmd = [sys.executable, "-u", args.training_script]
    cmd_args = list(args.training_script_args)
    return config, cmd, cmd_args


def run(args):
    config, cmd, cmd_args = config_from_args(args)
    elastic_launch(
        config=config,
        entrypoint=cmd,
    )(*cmd_args)
'''

SOURCES["torch/distributed/launcher/api.py"] = '''
logger = logging.getLogger(__name__)


class elastic_launch:
    def __init__(self, config, entrypoint):
        self._config = config
        self._entrypoint = entrypoint

    def __call__(self, *args):
        return launch_agent(self._config, self._entrypoint, list(args))


def _get_entrypoint_name(entrypoint, args):
    """Retrieve entrypoint name with the rule:
    1. If entrypoint is a function, use ``entrypoint.__qualname__``.
    2. If entrypoint is a string, check its value:
        2.1 if entrypoint equals to ``sys.executable`` (like "python"), use the first element from ``args``
            which does not start with hifen letter (for example, "-u" will be skipped).
        2.2 otherwise, use ``entrypoint`` value.
    3. Otherwise, return empty string.
    """
    if isinstance(entrypoint, str):
        return entrypoint
    if isinstance(entrypoint, list) and entrypoint and entrypoint[0] == sys.executable:
        return next((arg for arg in entrypoint[1:] + args if arg[0] != "-"), "")
    return ""


def launch_agent(config, entrypoint, args):
    entrypoint_name = _get_entrypoint_name(entrypoint, args)

    agent = LocalElasticAgent(spec=WorkerSpec(entrypoint=entrypoint, args=tuple(args), config=config))
    result = agent.run()
    if result.is_failed():
        # ChildFailedError is treated specially by @record
        # if the error files for the failed children exist
        # @record will copy the first error (root cause)
        # to the error file of the launcher process.
        raise ChildFailedError(
            name=entrypoint_name,
            failures=result.failures,
        )

    return result.return_values
'''
