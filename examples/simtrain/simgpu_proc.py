"""Process behaviours of the simulated jobs, for testing a launcher against them.

Every option has a flag (taken out of the command line before the script's own
parser sees it) and an environment variable, so a test can add it without
changing the command a launcher sees. The flag wins over the variable.

  --sim-format F            SIMTRAIN_FORMAT            OOM text: pytorch, pytorch-2.1, silent,
                                                       pytorch-1x, pytorch-async, cuda-error,
                                                       tensorflow, jax (default per script)
  --sim-step-time S         SIMTRAIN_STEP_TIME         seconds slept per step (default 0.005);
  --step-time S                                        --step-time is an alias
  --sim-workers N           SIMTRAIN_WORKERS           fork N DataLoader-like workers that sleep until killed
  --sim-pidfile PATH        SIMTRAIN_PIDFILE           append the pids of workers and of the
                                                       double-forked descendant, one a line
  --sim-double-fork         SIMTRAIN_DOUBLE_FORK       leave a descendant in its own session
                                                       (setsid), sleeping, holding stdout/stderr open
  --sim-hang-after-oom      SIMTRAIN_HANG_AFTER_OOM    after printing the OOM, sleep forever silently
  --sim-survive-oom K       SIMTRAIN_SURVIVE_OOM       at step K log an OOM (fairseq style) and go on
  --sim-fail                SIMTRAIN_FAIL              fail at step 2 with a ValueError traceback
  --sim-big-output N        SIMTRAIN_BIG_OUTPUT        write N bytes to stdout at once, exit 0
  --sim-ignore-sigterm      SIMTRAIN_IGNORE_SIGTERM    ignore SIGTERM
  --sim-sigkill-self        SIMTRAIN_SIGKILL_SELF      die at step 2 as the OOM killer kills: SIGKILL, printing nothing, and the kill's record in $VRAMRUN_KERNEL_LOG
  --sim-xid N               SIMTRAIN_XID               at step 2 the GPU reports Xid N (to vramrun's simulated
                                                       GPU, see VRAMRUN_SIMGPU) and CUDA fails: "unspecified
                                                       launch failure"
  --sim-dataloader-killed   SIMTRAIN_DATALOADER_KILLED at step 2, DataLoader "killed by signal" traceback
  --sim-long-batch K:F      SIMTRAIN_LONG_BATCH        at optimizer step K (>= 1) every micro-batch's training
                                                       activations are F (> 1) times their size: a rare long
                                                       batch, an OOM late in the run when that does not fit
  --sim-unseen-step         SIMTRAIN_UNSEEN_STEP       once vramrun's simulated NVML has seen the loaded level,
                                                       publish nothing more: NVML sees the job as gone, as it
                                                       would a short job that trained and ended between two samples
"""

import os
import signal
import sys
import time
from fractions import Fraction

# name -> (kind, env variable, default)
OPTIONS = {
    "format": ("str", "SIMTRAIN_FORMAT", None),
    "step-time": ("float", "SIMTRAIN_STEP_TIME", 0.005),
    "workers": ("count", "SIMTRAIN_WORKERS", 0),
    "pidfile": ("str", "SIMTRAIN_PIDFILE", None),
    "double-fork": ("bool", "SIMTRAIN_DOUBLE_FORK", False),
    "hang-after-oom": ("bool", "SIMTRAIN_HANG_AFTER_OOM", False),
    "survive-oom": ("step", "SIMTRAIN_SURVIVE_OOM", 0),
    "fail": ("bool", "SIMTRAIN_FAIL", False),
    "big-output": ("count", "SIMTRAIN_BIG_OUTPUT", None),
    "ignore-sigterm": ("bool", "SIMTRAIN_IGNORE_SIGTERM", False),
    "sigkill-self": ("bool", "SIMTRAIN_SIGKILL_SELF", False),
    "dataloader-killed": ("bool", "SIMTRAIN_DATALOADER_KILLED", False),
    "xid": ("count", "SIMTRAIN_XID", None),
    "long-batch": ("longbatch", "SIMTRAIN_LONG_BATCH", None),
    "unseen-step": ("bool", "SIMTRAIN_UNSEEN_STEP", False),
}
ALIASES = {"--step-time": "step-time"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class UsageError(Exception):
    """A bad sim option or SIMGPU_/SIMTRAIN_ variable; str() is the one-line message."""


class SimOptions:
    """The parsed process options; attribute names are the option names with '_' for '-'."""

    def __init__(self, values):
        for name, value in values.items():
            setattr(self, name.replace("-", "_"), value)


def _convert(name, kind, text, source):
    if kind == "bool":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UsageError("%s: expected true or false, got %r" % (source, text))
    if kind == "str":
        return text
    if kind == "longbatch":
        return _long_batch(text, source)
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value >= 0:
            raise UsageError("%s: expected a number of seconds >= 0, got %r" % (source, text))
        return value
    try:
        value = int(text)
    except ValueError:
        value = -1
    least = 1 if kind == "step" else 0
    if value < least:
        raise UsageError("%s: expected an integer >= %d, got %r" % (source, least, text))
    return value


def _long_batch(text, source):
    """'K:F' -> (K, F as a Fraction): step K >= 1, factor F > 1."""
    step, sep, factor = text.strip().partition(":")
    try:
        k = int(step) if step.strip().isdigit() else 0
        f = Fraction(factor.strip()) if sep else Fraction(0)
    except (ValueError, ZeroDivisionError):
        k, f = 0, Fraction(0)
    if k < 1 or not f > 1:
        raise UsageError("%s: expected STEP:FACTOR, an optimizer step >= 1 and a factor > 1 (e.g. 15:1.5), got %r"
                         % (source, text))
    return k, f


def parse(argv, env, default_format):
    """Take the sim options out of argv: (SimOptions, the script's own argv)."""
    values = {}
    for name, (kind, var, default) in OPTIONS.items():
        values[name] = default
        # An empty variable counts as unset, as shells and test scripts
        # expect when they clear one with VAR=.
        if env.get(var, "") != "":
            values[name] = _convert(name, kind, env[var], var)
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, eq, inline = arg.partition("=")
        name = ALIASES.get(flag)
        if name is None and flag.startswith("--sim-"):
            name = flag[len("--sim-"):]
            if name not in OPTIONS:
                raise UsageError("%s: unknown sim option (known: %s)" % (flag, ", ".join("--sim-" + n for n in OPTIONS)))
        if name is None:
            rest.append(arg)
            i += 1
            continue
        kind = OPTIONS[name][0]
        if kind == "bool" and not eq:
            values[name] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError("%s: expects a value" % flag)
            inline = argv[i + 1]
            i += 1
        values[name] = _convert(name, kind, inline, flag)
        i += 1
    if values["format"] is None:
        values["format"] = default_format
    return SimOptions(values), rest


def append_pid(pidfile, pid):
    """One line per pid, appended in a single write so concurrent ranks do not interleave."""
    if not pidfile:
        return
    fd = os.open(pidfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("%d\n" % pid).encode())
    finally:
        os.close(fd)


def _sleep_forever():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    while True:
        signal.pause()


def spawn_workers(count, pidfile):
    """Fork DataLoader-like workers in the job's process group; they sleep until killed."""
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                _sleep_forever()
            finally:
                os._exit(0)
        pids.append(pid)
        append_pid(pidfile, pid)
    return pids


def double_fork(pidfile):
    """Leave a descendant that called setsid: outside the job's process group, still holding its output."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                os.write(write_end, ("%d\n" % os.getpid()).encode())
                os.close(write_end)
                _sleep_forever()
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        grandchild = int(reader.read().decode().strip() or "0")
    os.waitpid(child, 0)
    append_pid(pidfile, grandchild)
    return grandchild


def big_output(count):
    """The first `count` bytes of the lines '000000000\\n', '000000001\\n', ... in one write."""
    lines = (count // 10) + 1
    data = "".join("%09d\n" % i for i in range(lines)).encode()[:count]
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


def hang_forever():
    """After an OOM: say nothing more, keep the process (and its pipes) alive."""
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        time.sleep(3600)
