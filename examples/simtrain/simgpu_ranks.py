"""Lightning's processes, as the simulated Lightning, litgpt (Fabric) and NeMo jobs share them.

How many: Lightning 2's _AcceleratorConnector (lightning_devices) reads accelerator, devices and
num_nodes over the GPUs the simulated machine shows the job (simlaunch.visible_gpus: SIMGPU_COUNT, or as
many of them as CUDA_VISIBLE_DEVICES lists).

How they start: _SubprocessScriptLauncher (Launcher). The process the user started is rank 0; it re-runs
its own command line once for each other rank, with LOCAL_RANK, NODE_RANK, RANK and WORLD_SIZE set and
MASTER_ADDR and MASTER_PORT shared. A strategy starts no launcher where LOCAL_RANK is set already: an
outside launcher (torchrun, srun) or Lightning itself started the process. Lightning's
_ChildProcessObserver (Observer) SIGTERMs every process when a child fails; a step's all-reduce
(Ranks.collective) never completes with a peer gone, as NCCL waits; rank 0 waits for the others at the
end of the run (Ranks.wait). Frames of this file are hidden from printed tracebacks.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import simlaunch


class MisconfigurationException(Exception):
    pass


MisconfigurationException.__module__ = "lightning.fabric.utilities.exceptions"


def _info(message):
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def free_port():
    """LightningEnvironment.main_port without MASTER_PORT: a port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_int(name, default=0):
    text = os.environ.get(name, "").strip()
    return int(text) if text.isdigit() else default


# --- how many: Lightning 2's _AcceleratorConnector -------------------------------------------------------

def _gpu_ids(devices, gpus):
    """lightning.fabric.utilities.device_parser._parse_gpu_ids: the GPU indices devices selects."""
    if isinstance(devices, str):
        text = devices.strip()
        if text == "-1":
            devices = -1
        elif "," in text:
            devices = [int(x.strip()) for x in text.split(",") if x.strip()]
        elif text.lstrip("-").isdigit():
            devices = int(text)
        else:
            raise MisconfigurationException("Device IDs (GPU/TPU) must be an int, a string, a sequence of ints, but "
                                            "you passed %r." % (devices,))
    if isinstance(devices, (list, tuple)):
        if any(type(d) is not int for d in devices):
            raise TypeError("Device IDs (GPU/TPU) must be an int, a string, a sequence of ints, but you passed a "
                            "sequence of %s." % type(next(d for d in devices if type(d) is not int)).__name__)
        ids = list(devices)
    elif type(devices) is not int:
        raise TypeError("Device IDs (GPU/TPU) must be an int, a string, a sequence of ints, but you passed %r."
                        % (devices,))
    else:
        ids = list(range(gpus)) if devices == -1 else list(range(devices))
    if not ids:
        raise MisconfigurationException("GPUs requested but none are available.")
    if len(ids) != len(set(ids)):
        raise MisconfigurationException("Device ID's (GPU) must be unique.")
    available = list(range(gpus))
    if any(i not in available for i in ids):
        raise MisconfigurationException("You requested gpu: %s\n But your machine only has: %s" % (ids, available))
    return ids


def _cpu_cores(devices):
    """lightning.fabric.accelerators.cpu._parse_cpu_cores: how many CPU processes."""
    if devices == "auto":
        return 1
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    if type(devices) is not int or devices <= 0:
        raise MisconfigurationException("`devices` selected with `CPUAccelerator` should be an int > 0.")
    return devices


def lightning_devices(accelerator="auto", devices="auto", num_nodes=1, gpus=None):
    """(accelerator, device indices) a Trainer(accelerator=, devices=, num_nodes=) runs on: one process per index
    on each node. accelerator auto is cuda where the job sees a GPU, else cpu; devices auto (and -1) is every GPU
    the job sees (one CPU process); an int n the first n GPUs; a list or "0,1" those GPUs; cpu runs n processes
    (indices 0..n-1). gpus defaults to simlaunch.visible_gpus()."""
    gpus = simlaunch.visible_gpus() if gpus is None else gpus
    if type(num_nodes) is not int or num_nodes < 1:
        raise ValueError("`num_nodes` must be a positive integer, but got %r." % (num_nodes,))
    flag = "auto" if accelerator is None else str(accelerator).lower()
    if flag not in ("auto", "cpu", "gpu", "cuda"):
        raise MisconfigurationException("You selected an invalid accelerator name: `accelerator=%r`. Available "
                                        "names are: auto, cpu, cuda, gpu (the sim's)." % (accelerator,))
    if devices in ([], 0, "0"):
        raise MisconfigurationException("`Trainer(devices=%r)` value is not a valid input using %s accelerator."
                                        % (devices, flag))
    if flag == "auto":
        flag = "cuda" if gpus else "cpu"
    elif flag == "gpu":
        if not gpus:
            raise MisconfigurationException("No supported gpu backend found!")
        flag = "cuda"
    if flag == "cpu":
        return "cpu", list(range(_cpu_cores(devices)))
    if gpus == 0:
        raise MisconfigurationException("CUDAAccelerator can not run on your system since the accelerator is not "
                                        "available. The following accelerator(s) is available and can be passed "
                                        "into `accelerator` argument of `Trainer`: ['cpu'].")
    return "cuda", list(range(gpus)) if devices == "auto" else _gpu_ids(devices, gpus)


# --- which one this is: Lightning's cluster environments ------------------------------------------------

def _slurm():
    """SLURMEnvironment.detect: srun started this process (an interactive allocation's shell does not count)."""
    return "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def started_outside():
    """Whether the processes are started by someone other than this one (creates_processes_externally): LOCAL_RANK
    is set (torchrun, Lightning's launcher for its other ranks) or srun started it."""
    return "LOCAL_RANK" in os.environ or _slurm()


def process_ranks(devices, num_nodes):
    """(world size, global rank, local rank, node rank) of this process among devices x num_nodes: srun's
    SLURM_NTASKS, SLURM_PROCID and SLURM_LOCALID; else WORLD_SIZE, RANK, LOCAL_RANK and NODE_RANK where set,
    the global rank node_rank x devices + local_rank where RANK is not (LightningEnvironment)."""
    if _slurm() and "LOCAL_RANK" not in os.environ:
        node = env_int("SLURM_NODEID")
        return env_int("SLURM_NTASKS", 1), env_int("SLURM_PROCID"), env_int("SLURM_LOCALID"), node
    local, node = env_int("LOCAL_RANK"), env_int("NODE_RANK", env_int("GROUP_RANK"))
    world = env_int("WORLD_SIZE", devices * num_nodes) if "LOCAL_RANK" in os.environ else devices * num_nodes
    return world, env_int("RANK", node * devices + local), local, node


# --- how they start: _SubprocessScriptLauncher ----------------------------------------------------------

class Ranks:
    """This process among the job's: the children it started (rank 0 under Lightning's launcher), or the pid of
    the launcher that started it (another rank)."""

    def __init__(self):
        self.children = []
        self.parent = None

    def joined(self, global_rank, world_size):
        """The strategy's setup_environment: DDP's lines, once the process group has all its processes."""
        if world_size <= 1:
            return
        _info("Initializing distributed: GLOBAL_RANK: %d, MEMBER: %d/%d" % (global_rank, global_rank + 1, world_size))
        if global_rank == 0:
            _info("-" * 100 + "\ndistributed_backend=nccl\nAll distributed processes registered. Starting with %d "
                  "processes\n" % world_size + "-" * 100 + "\n")
        self.parent = os.getppid() if global_rank else None

    def lost(self):
        if self.children:
            return any(p.poll() not in (None, 0) for p in self.children)
        return self.parent is not None and os.getppid() != self.parent

    def collective(self):
        """An all-reduce: with a peer gone it never completes (NCCL waits; the observer ends rank 0)."""
        if self.lost():
            sys.stdout.flush()
            sys.stderr.flush()
            while True:
                time.sleep(1)

    def wait(self):
        """The end of the run: rank 0 waits for the other ranks (a collective)."""
        while self.children and any(p.poll() is None for p in self.children):
            time.sleep(0.02)
        self.collective()


def subprocess_command():
    """lightning.fabric.strategies.launchers.subprocess_script._basic_subprocess_cmd: this process's command."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        return [sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:]
    return [sys.executable, "-m", spec.name] + sys.argv[1:]


class Launcher:
    """Lightning's _SubprocessScriptLauncher: this process is rank 0; the others run its command (argv, else
    subprocess_command()) with their ranks in the environment. The sim runs every node's ranks here."""

    def __init__(self, devices, num_nodes, ranks, argv=None, port=None):
        self.devices, self.num_nodes, self.ranks = devices, num_nodes, ranks
        self.argv, self.port = argv, port

    def launch(self, function, *args, trainer=None, **kwargs):
        world = self.devices * self.num_nodes
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(self.port or free_port()))
        os.environ.update(NODE_RANK="0", WORLD_SIZE=str(world), LOCAL_RANK="0", RANK="0")
        command = subprocess_command() if self.argv is None else [sys.executable] + list(self.argv)
        sys.stdout.flush()
        sys.stderr.flush()
        for rank in range(1, world):
            env = dict(os.environ, LOCAL_RANK=str(rank % self.devices), NODE_RANK=str(rank // self.devices),
                       RANK=str(rank), WORLD_SIZE=str(world))
            self.ranks.children.append(subprocess.Popen(command, env=env))
        Observer(self.ranks.children).start()
        return function(*args, **kwargs)


class Observer(threading.Thread):
    """Lightning's _ChildProcessObserver: when a child fails, SIGTERM every process."""

    def __init__(self, children, sleep_period=5):
        super().__init__(daemon=True, name="child-process-observer")
        self.children, self.sleep_period, self.finished = children, sleep_period, False

    def run(self):
        while not self.finished:
            time.sleep(self.sleep_period)
            self.finished = self._run()

    def _run(self):
        codes = [p.poll() for p in self.children]
        if all(code == 0 for code in codes):
            return True
        for i, proc in enumerate(self.children):
            if proc.returncode:
                _info("[rank: %d] Child process with PID %d terminated with code %d. Forcefully terminating all other "
                      "processes to avoid zombies \U0001f9df" % (i + 1, proc.pid, proc.returncode))
                for p in self.children:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)
                return True
        return False
