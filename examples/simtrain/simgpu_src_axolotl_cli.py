"""The simulated `axolotl` console script (bin/axolotl): `axolotl train CONFIG [options] [-- launcher args]`.

As axolotl 0.18's click CLI (src/axolotl/cli/main.py, cli/utils/args.py, cli/utils/train.py,
cli/launchers/resolve.py, utils/__init__.py):
- the group sets the allocator variable when it is unset (set_pytorch_cuda_alloc_conf: torch >= 2.9
  PYTORCH_ALLOC_CONF=expandable_segments:True, torch 2.2-2.8
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True,roundup_power2_divisions:16; the torch version is
  simgpu_src_axolotl_load.torch_version()) and XFORMERS_IGNORE_FLASH_VERSION_CHECK=1;
- every config field is an option: a boolean field is a flag pair --key/--no-key (no value), any other
  field takes one value (--key V or --key=V, a string; the rank's load_cfg casts it); the last one wins;
- options click does not know, and every argument after CONFIG or after `--`, are the launcher's;
- accelerate (default) and torchrun: exec `accelerate launch [launcher args] -m axolotl.cli.train CONFIG
  --key=value ...` (the fake bin/accelerate or bin/torchrun next to this script's bin/axolotl, with
  examples/simtrain/pkgs put first on PYTHONPATH), so the exit status is the launcher's;
  python: do_cli in this process.
simtrain's --sim-* options (before `--`) go to the training module. This file's frames are hidden.
"""

import os
import sys

import simgpu_proc
import simgpu_src_axolotl_load as load
import simgpu_yaml
from simgpu_model import SIM_DIR

PKGS = os.path.join(SIM_DIR, "pkgs")
BIN = os.path.join(SIM_DIR, "bin")
LAUNCHERS = ("accelerate", "torchrun", "ray", "python")
# `axolotl train`'s own options and TrainerCliArgs' (add_options_from_dataclass: a bool is a flag pair
# with its default, so these are always passed on to the module).
TRAINER_CLI_ARGS = [("debug", "flag", False), ("debug_text_only", "flag", False), ("debug_num_examples", "int", 0),
                    ("merge_lora", "flag", False), ("prompter", "value", None), ("shard", "flag", False)]
PATH_OPTIONS = ("runtime", "cloud", "sweep")
LEGACY_LAUNCHER_KWARGS = ("num_processes", "main_process_port")
# Options whose kwarg names are parent__child (the generated dot-notation options of nested models).
NESTED = {"fsdp-config.fsdp-version": "int", "fsdp-config.activation-checkpointing": "flag",
          "fsdp-config.offload-params": "flag", "fsdp-config.cpu-ram-efficient-loading": "flag",
          "fsdp-config.cpu-offload-pin-memory": "flag", "fsdp-config.state-dict-type": "value",
          "fsdp-config.reshard-after-forward": "flag", "fsdp-config.transformer-layer-cls-to-wrap": "value",
          "special-tokens.pad-token": "value", "special-tokens.eos-token": "value",
          "special-tokens.bos-token": "value", "special-tokens.unk-token": "value",
          "trl.beta": "value", "trl.max-completion-length": "int", "trl.num-generations": "int",
          "trl.use-vllm": "flag", "vllm.gpu-memory-utilization": "value", "vllm.tensor-parallel-size": "int"}
NOT_SIMULATED = {"preprocess", "evaluate", "inference", "merge-lora", "merge-sharded-fsdp-weights", "fetch",
                 "vllm-serve", "quantize", "delinearize-llama4", "lm-eval", "agent-docs", "config-schema",
                 "generate-cli-config-options"}


def _options():
    """--name -> (kwarg name, kind): kind is flag, value or int. Flags also answer to --no-name."""
    options = {}
    for name, (kinds, _default) in load.FIELDS.items():
        options["--" + name.replace("_", "-")] = (name, "flag" if kinds == (load.BOOL,) else "value")
    for name in LEGACY_LAUNCHER_KWARGS:
        options["--" + name.replace("_", "-")] = (name, "value")
    for name, kind, _default in TRAINER_CLI_ARGS:
        options["--" + name.replace("_", "-")] = (name, kind)
    for dotted, kind in NESTED.items():
        parent, _, child = dotted.partition(".")
        options["--" + dotted] = ("%s__%s" % (parent.replace("-", "_"), child.replace("-", "_")), kind)
    options["--launcher"] = ("launcher", "value")
    for name in PATH_OPTIONS:
        options["--" + name] = (name, "value")
    return options


OPTIONS = _options()


class UsageError(Exception):
    """click's UsageError: usage, a hint and `Error: ...` on stderr, exit 2."""


def _usage_error(command, message):
    sys.stderr.write("Usage: axolotl %s [OPTIONS] CONFIG\nTry 'axolotl %s --help' for help.\n\nError: %s\n"
                     % (command, command, message))
    return 2


def _group_usage(message):
    sys.stderr.write("Usage: axolotl [OPTIONS] COMMAND [ARGS]...\nTry 'axolotl --help' for help.\n\nError: %s\n"
                     % message)
    return 2


GROUP_HELP = """Usage: axolotl [OPTIONS] COMMAND [ARGS]...

  Axolotl CLI - Train and fine-tune large language models

Options:
  --version  Show the version and exit.
  --help     Show this message and exit.

Commands:
  train  Train or fine-tune a model.
"""

TRAIN_HELP = """Usage: axolotl train [OPTIONS] CONFIG

  Train or fine-tune a model.

Options:
  --launcher [accelerate|torchrun|ray|python]
                                  Launcher to use for multi-GPU training
                                  [default: (accelerate)]
  --runtime PATH                  Path to a runtime/cluster config YAML
  --cloud PATH
  --sweep PATH                    YAML config for sweeping hyperparameters
  --debug / --no-debug
  --debug-text-only / --no-debug-text-only
  --debug-num-examples INTEGER
  --merge-lora / --no-merge-lora
  --prompter TEXT
  --shard / --no-shard
  --micro-batch-size TEXT         The number of samples to include in each batch.
  --gradient-accumulation-steps TEXT
  --eval-batch-size TEXT          per gpu micro batch size for evals, defaults to
                                  value of micro_batch_size
  --gradient-checkpointing TEXT   true, false, 'offload', 'offload_disk'
  --bf16 TEXT                     bool or 'full' for `bf16_full_eval`, or 'auto'
  --fp16 / --no-fp16              Use CUDA fp16
  --optimizer TEXT                Specify optimizer
  --deepspeed TEXT                Deepspeed config path.
  ... (one option per config field; booleans are --key/--no-key)
  --help                          Show this message and exit.
"""


def set_pytorch_cuda_alloc_conf(env, torch_version):
    """axolotl.utils.set_pytorch_cuda_alloc_conf: an unset variable gets expandable segments."""
    parts = torch_version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return
    value, older_suffix = "expandable_segments:True", ",roundup_power2_divisions:16"
    if major == 2 and minor >= 9 and env.get("PYTORCH_ALLOC_CONF") is None:
        env["PYTORCH_ALLOC_CONF"] = value
    elif major == 2 and minor >= 2 and env.get("PYTORCH_CUDA_ALLOC_CONF") is None:
        env["PYTORCH_CUDA_ALLOC_CONF"] = value + older_suffix


def set_misc_env(env):
    if env.get("XFORMERS_IGNORE_FLASH_VERSION_CHECK") is None:
        env["XFORMERS_IGNORE_FLASH_VERSION_CHECK"] = "1"


def take_sim_options(args):
    """(simtrain's --sim-* tokens, the rest): options before a bare `--` only."""
    sim, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        flag, eq, _ = arg.partition("=")
        name = simgpu_proc.ALIASES.get(flag) or (flag[len("--sim-"):] if flag.startswith("--sim-") else None)
        if name is None:
            rest.append(arg)
            i += 1
            continue
        sim.append(arg)
        kind = simgpu_proc.OPTIONS.get(name, ("str",))[0]
        if not eq and kind != "bool" and i + 1 < len(args):
            sim.append(args[i + 1])
            i += 1
        i += 1
    return sim, rest


def parse_train(args):
    """click's parsing of `axolotl train`: (params in first-given order, positional and unknown args)."""
    params, order, largs = {}, [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            largs.extend(args[i + 1:])
            break
        if arg == "--help":
            raise SystemExit(_help())
        if arg.startswith("--") and len(arg) > 2:
            name, eq, inline = arg.partition("=")
            negated = name.startswith("--no-") and OPTIONS.get("--" + name[5:], (None, None))[1] == "flag"
            key, kind = OPTIONS.get("--" + name[5:] if negated else name, (None, None))
            if key is None:
                largs.append(arg)  # ignore_unknown_options: the launcher's
                i += 1
                continue
            if kind == "flag":
                if eq:
                    raise UsageError("Option '%s' does not take a value." % name)
                value = not negated
            else:
                if eq:
                    value = inline
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    raise UsageError("Option '%s' requires an argument." % name)
                if kind == "int":
                    try:
                        value = int(value)
                    except ValueError:
                        raise UsageError("Invalid value for '%s': '%s' is not a valid integer." % (name, value))
            if key not in params:
                order.append(key)
            params[key] = value
            i += 1
            continue
        largs.append(arg)
        i += 1
    return {key: params[key] for key in order}, largs


def _help():
    sys.stdout.write(TRAIN_HELP)
    return 0


def peek_use_ray(config):
    try:
        data = simgpu_yaml.load_file(config)
    except simgpu_yaml.YAMLError:
        return False
    return isinstance(data, dict) and bool(data.get("use_ray"))


def build_command(base, options):
    """axolotl.cli.utils.build_command: --kebab-key=value for every option that is not None."""
    return base + ["--%s=%s" % (key.replace("_", "-"), value) for key, value in options.items() if value is not None]


def train(args):
    sim_args, args = take_sim_options(args)
    try:
        params, largs = parse_train(args)
    except UsageError as err:
        return _usage_error("train", str(err))
    if not largs:
        return _usage_error("train", "Missing argument 'CONFIG'.")
    config, passthrough = largs[0], largs[1:]
    if not os.path.exists(config):
        return _usage_error("train", "Invalid value for 'CONFIG': Path '%s' does not exist." % config)
    launcher = params.pop("launcher", None)
    if launcher is not None and launcher not in LAUNCHERS:
        return _usage_error("train", "Invalid value for '--launcher': '%s' is not one of %s."
                            % (launcher, ", ".join("'%s'" % name for name in LAUNCHERS)))
    for name in PATH_OPTIONS:
        if name in params:
            path = params.pop(name)
            if not os.path.exists(path):
                return _usage_error("train", "Invalid value for '--%s': Path '%s' does not exist." % (name, path))
            sys.stderr.write("simtrain: axolotl train --%s is not simulated\n" % name)
            return 2
    kwargs = dict(params)
    for name, _kind, default in TRAINER_CLI_ARGS:
        kwargs.setdefault(name, default)
    if kwargs.get("use_ray") or (launcher is None and kwargs.get("use_ray") is not False and peek_use_ray(config)):
        launcher = "ray"
    launcher = launcher or "accelerate"
    if launcher == "ray":
        sys.stderr.write("simtrain: the ray launcher is not simulated\n")
        return 2
    legacy = {name: kwargs.pop(name) for name in LEGACY_LAUNCHER_KWARGS if name in kwargs}
    translation = {"accelerate": {"num_processes": "num_processes", "main_process_port": "main_process_port"},
                   "torchrun": {"num_processes": "nproc_per_node", "main_process_port": "master_port"}}
    derived = []
    if legacy and launcher in translation:
        derived = ["--%s=%s" % (translation[launcher][key], value) for key, value in legacy.items()]
    elif legacy:
        load.get_logger("axolotl.cli.launchers.resolve").warning(
            "%s are accelerate/torchrun launcher options; ignored for launcher=%s (use a --runtime file instead)",
            "/".join("--%s" % key for key in legacy), launcher)
    launcher_args = derived + passthrough
    if launcher == "python":
        return load.run_python_launcher(config, kwargs, sim_args)
    base = ([os.path.join(BIN, "accelerate"), "launch"] if launcher == "accelerate"
            else [os.path.join(BIN, "torchrun")])
    cmd = build_command(base + launcher_args + ["-m", "axolotl.cli.train", config], kwargs) + sim_args
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PKGS] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # make sure to flush stdout and stderr before replacing the process
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        sys.stdout.write(GROUP_HELP)
        return 2
    if argv[0] == "--help":
        sys.stdout.write(GROUP_HELP)
        return 0
    if argv[0] == "--version":
        sys.stdout.write("axolotl, version %s\n" % load.AXOLOTL_VERSION)
        return 0
    if argv[0].startswith("-"):
        return _group_usage("No such option: %s" % argv[0].partition("=")[0])
    command = argv[0]
    if command != "train" and command not in NOT_SIMULATED:
        return _group_usage("No such command '%s'." % command)
    # the group's callback (cli()), before the subcommand parses its arguments
    set_pytorch_cuda_alloc_conf(os.environ, load.torch_version())
    set_misc_env(os.environ)
    if command != "train":
        sys.stderr.write("simtrain: axolotl %s is not simulated (the simulated axolotl has one command: train)\n"
                         % command)
        return 2
    try:
        return train(argv[1:])
    except SystemExit as done:
        return done.code
