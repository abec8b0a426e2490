"""Helpers for simtrain's tests: run a script or launcher in a clean environment, parse its output."""

import os
import re
import subprocess
import sys
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GiB = 1024 ** 3
MiB = 1024 ** 2
# Variables a test must not inherit from the shell that runs it.
_CLEARED = ("SIMGPU_", "SIMTRAIN_", "PYTORCH_", "TF_", "XLA_", "ACCELERATE_", "PET_", "HF_HOME")
_RANK_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
_UNITS = {"bytes": 1, "KiB": 1024, "MiB": MiB, "GiB": GiB}
DONE = re.compile(
    r"^done: micro_batch=(?P<micro>\d+) accumulation=(?P<accum>\d+) effective_batch=(?P<effective>\d+) "
    r"precision=(?P<precision>\S+) checkpointing=(?P<checkpointing>true|false) optimizer=(?P<optimizer>\S+) "
    r"peak=(?P<peak>\d+)$"
)
TORCH2 = re.compile(
    r"CUDA out of memory\. Tried to allocate (?P<tried>[\d.]+ \w+)\. GPU (?P<device>\d+) has a total capacity of "
    r"(?P<capacity>[\d.]+ \w+) of which (?P<free>[\d.]+ \w+) is free\. (?P<procs>(?:Process \d+ has [\d.]+ \w+ "
    r"memory in use\. )*)Including non-PyTorch memory, this process has (?P<self>[\d.]+ \w+) memory in use\. "
    r"(?:(?P<allowed>[\d.]+ \w+) allowed; )?Of the allocated memory (?P<allocated>[\d.]+ \w+) is allocated by "
    r"PyTorch, and (?P<reserved>[\d.]+ \w+) is reserved by PyTorch but unallocated\."
)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED) and k not in _RANK_VARS}
    env["SIMTRAIN_STEP_TIME"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HF_HOME"] = os.path.join(HERE, "no-such-hf-home")  # no user accelerate config
    env.update(extra or {})
    return env


def script_path(name):
    return os.path.join(HERE, name)


def run(name, *args, env=None, cwd=None, python=True):
    """Run examples/simtrain/<name> with args: returncode, stdout and stderr as text, with '\r' kept."""
    command = ([sys.executable] if python else []) + [script_path(name)] + list(args)
    proc = subprocess.run(command, capture_output=True, env=clean_env(env), cwd=cwd or REPO, timeout=120)
    return SimpleNamespace(returncode=proc.returncode, stdout=proc.stdout.decode("utf-8"),
                           stderr=proc.stderr.decode("utf-8"))


def run_module(module, args, cwd, env=None, launcher=None, processes=None):
    """python -m module args in cwd with examples/simtrain/pkgs first on PYTHONPATH, or under one of the fake
    launchers (launcher "torchrun": --nproc_per_node N -m; "deepspeed": --num_gpus N --module) with that many
    simulated GPUs: returncode, stdout and stderr as text."""
    extra = dict({"PYTHONPATH": os.path.join(HERE, "pkgs")}, **(env or {}))
    command = [sys.executable, "-m", module]
    if launcher:
        count, flag = ("--nproc_per_node", "-m") if launcher == "torchrun" else ("--num_gpus", "--module")
        command = [sys.executable, os.path.join(HERE, "bin", launcher), count, str(processes), flag, module]
        extra.setdefault("SIMGPU_COUNT", str(processes))
    proc = subprocess.run(command + list(args), capture_output=True, env=clean_env(extra), cwd=cwd, timeout=120)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def done_line(stdout):
    """The fields of the last stdout line, which must be the done line."""
    lines = stdout.strip().splitlines()
    match = DONE.match(lines[-1]) if lines else None
    if match is None:
        raise AssertionError("last stdout line is not the done line: %r" % (lines[-1:] or stdout))
    return match.groupdict()


def size(text):
    """'2.30 GiB' -> bytes (as PyTorch prints them)."""
    value, unit = text.split()
    return float(value) * _UNITS[unit]
