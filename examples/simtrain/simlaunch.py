"""What the fake launchers in bin/ share: running ranks and reporting their failures like the real tools.

Each rank inherits the launcher's stdout, stderr and process group. When a rank fails, the others
get SIGTERM (SIGKILL after `grace` seconds), as torchrun's elastic agent does. Signals the launcher
receives (TERM, INT, HUP, QUIT, USR1, USR2) are passed on to the ranks.
"""

import datetime
import os
import signal
import socket
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
ELASTIC_DOCS = "https://pytorch.org/docs/stable/elastic/errors.html"


class ChildFailedError(Exception):
    """torch.distributed.elastic's summary of failed ranks."""


ChildFailedError.__module__ = "torch.distributed.elastic.multiprocessing.errors"


class Rank:
    def __init__(self, rank, local_rank, process):
        self.rank = rank
        self.local_rank = local_rank
        self.process = process
        self.status = None  # exit code, or -N for signal N, once reaped
        self.terminated = False  # ended by the launcher after another rank failed


def start_ranks(commands, envs):
    """Start one process per (command, env); returns the Ranks in rank order."""
    import subprocess

    ranks = []
    for index, (command, env) in enumerate(zip(commands, envs)):
        try:
            process = subprocess.Popen(command, env=env)
        except OSError as err:
            sys.stderr.write("%s: cannot run %s: %s\n" % (os.path.basename(sys.argv[0]), command[0], err.strerror))
            for started in ranks:
                started.process.kill()
                started.process.wait()
            sys.exit(127 if isinstance(err, FileNotFoundError) else 126)
        ranks.append(Rank(int(env.get("RANK", index)), int(env.get("LOCAL_RANK", index)), process))
    return ranks


def wait_ranks(ranks, grace=30.0):
    """Wait for every rank; after the first failure end the rest. Returns the failed ranks, first first."""
    live = {r.process.pid: r for r in ranks}
    failed = []

    def forward(signum, frame):
        for r in live.values():
            _signal(r.process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while live:
            pid, status = os.wait()
            rank = live.pop(pid, None)
            if rank is None:
                continue
            rank.status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            rank.process.returncode = rank.status
            if rank.status != 0 and not rank.terminated:
                failed.append(rank)
                if len(failed) == 1:
                    _end(live, grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return failed


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _end(live, grace):
    """SIGTERM the ranks still running; SIGKILL those alive after `grace` seconds."""
    for rank in live.values():
        rank.terminated = True
        _signal(rank.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        for pid in list(live):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rank = live.pop(pid)
                rank.status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.05)
    for rank in live.values():
        _signal(rank.process.pid, signal.SIGKILL)


def _describe(rank):
    code = rank.status
    trace = "To enable traceback see: %s" % ELASTIC_DOCS
    if code < 0:
        name = signal.Signals(-code).name
        trace = "Signal %d (%s) received by PID %d" % (-code, name, rank.process.pid)
    return (
        "  time      : %s\n  host      : %s\n  rank      : %d (local_rank: %d)\n  exitcode  : %d (pid: %d)\n"
        "  error_file: <N/A>\n  traceback : %s"
        % (datetime.datetime.now().strftime("%Y-%m-%d_%H:%M:%S"), socket.gethostname(), rank.rank,
           rank.local_rank, code, rank.process.pid, trace)
    )


def child_failed(script, failed):
    """Log and raise torchrun's ChildFailedError summary for the failed ranks."""
    first = failed[0]
    now = datetime.datetime.now()
    sys.stderr.write(
        "E%s %d torch/distributed/elastic/multiprocessing/api.py:869] failed (exitcode: %d) local_rank: %d "
        "(pid: %d) of binary: %s\n"
        % (now.strftime("%m%d %H:%M:%S.%f"), os.getpid(), first.status, first.local_rank, first.process.pid,
           sys.executable)
    )
    others = "\n".join("[%d]:\n%s" % (r.rank, _describe(r)) for r in failed[1:]) or "  <NO_OTHER_FAILURES>"
    bar, rule = "=" * 60, "-" * 60
    raise ChildFailedError(
        "\n%s\n%s FAILED\n%s\nFailures:\n%s\n%s\nRoot Cause (first observed failure):\n[%d]:\n%s\n%s"
        % (bar, script, rule, others, rule, first.rank, _describe(first), bar)
    )


_STARTED = time.time()


def rank_env(base, rank, local_rank, world, local_world, master_addr, master_port, extra=None):
    env = dict(base)
    env.update(RANK=str(rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(local_world),
               MASTER_ADDR=master_addr, MASTER_PORT=str(master_port))
    # When the ranks were started: real ranks meet at a barrier before any of them trains, so what one
    # rank writes is never what another saw at its start. The sims' ranks do not wait for each other;
    # a start-up check of the output folder passes over files written after this time.
    env.setdefault("SIMTRAIN_RANKS_STARTED", repr(_STARTED))
    env.update(extra or {})
    return env


def visible_gpus():
    """torch.cuda.device_count() on the simulated machine: its SIMGPU_COUNT GPUs (1), or as many of them as
    CUDA_VISIBLE_DEVICES lists (CUDA stops at the first entry that names none; the sim takes each as one)."""
    try:
        count = max(int(os.environ.get("SIMGPU_COUNT", "1")), 1)
    except ValueError:
        count = 1
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return count
    return min(len([e for e in listed.split(",") if e.strip()]), count)


def count_processes(text, flag):
    """A process count: an integer >= 1, or gpu/auto (the GPUs the simulated machine shows the job)."""
    if text in ("gpu", "auto", "cuda", "-1"):
        text = str(max(visible_gpus(), 1))
    if text == "cpu":
        text = "1"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        sys.stderr.write("%s: error: %s: expected a positive integer or gpu/auto, got %r\n"
                         % (os.path.basename(sys.argv[0]), flag, text))
        sys.exit(2)
    return value
