"""What the simulated Megatron-Bridge's modules get from torch, torch.distributed, Megatron-Core's timers and
distributed checkpoint files, TensorBoard, W&B and OmegaConf (see simgpu_src_bridge_load, which compiles the
modules with these): the rank helpers of megatron/bridge/utils/common_utils.py, reported losses as numbers, the
process group of the ranks torchrun started, timers on the simulated clock, and the state the loader and these
share. Frames of this file are hidden from printed tracebacks.
"""

import datetime
import functools
import json
import os
import sys
import tempfile
import time
import warnings
from types import SimpleNamespace as NS

import simgpu
import simgpu_run
import simgpu_src_megatron_load as megatron
import simgpu_src_verl_load as hydra

class _State:
    sim = None
    fw = None
    stack = None
    core = None
    cfg = None
    session = None
    ddp = None
    distributed = False
    eval_iterators = []
    # The simulated release (SIMTRAIN_BRIDGE_RELEASE): "0.2" or "0.4" (simgpu_src_bridge_newer).
    release = "0.2"


STATE = _State()


_env_int, _gpu_count = megatron.env_int, megatron.gpu_count


def get_rank_safe():
    return _env_int("RANK", 0)


def get_world_size_safe():
    return _env_int("WORLD_SIZE", 1)


def get_local_rank_preinit():
    return _env_int("LOCAL_RANK", 0)


def atomic_print(*args, sep=" ", end="\n", file=None, flush=False):
    """print as one write: the ranks share torchrun's stdout, and a line must not take another rank's text in."""
    stream = file or sys.stdout
    stream.write(sep.join(str(a) for a in args) + end)
    stream.flush()


def print_rank_0(message):
    if get_rank_safe() == 0:
        atomic_print(message, flush=True)


def print_rank_last(message):
    if get_rank_safe() == get_world_size_safe() - 1:
        atomic_print(message, flush=True)


def warn_rank_0(message):
    """megatron/bridge/utils/common_utils.py's warn_rank_0."""
    if get_rank_safe() == 0:
        warnings.warn(message)


def barrier_and_log(string):
    """megatron/bridge/training/utils/log_utils.py's barrier_and_log."""
    time_str = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    print_rank_0("[{}] datetime: {} ".format(string, time_str))


def experimental_fn(fn):
    @functools.wraps(fn)
    def wrapper(config, *args, **kwargs):
        STATE.cfg = config
        return fn(config, *args, **kwargs)
    return wrapper


# --- torch as Bridge's own modules see it: reported losses are numbers ------------------------------------

class _Num(float):
    """A one-element tensor of a reported figure."""

    def item(self):
        return float(self)

    def cuda(self, *args, **kwargs):
        return self

    def __add__(self, other):
        return _Num(float(self) + float(other))

    __radd__ = __add__

    def __truediv__(self, other):
        return _Num(float(self) / float(other))


class _Reported:
    """A [loss x tokens, tokens] tensor, as the masked next-token loss reports it."""

    def __init__(self, numerator, denominator):
        self.values = [_Num(numerator), _Num(denominator)]
        self.shape = (2,)

    def view(self, *args):
        return self

    def numel(self):
        return 2

    def cuda(self, *args, **kwargs):
        return self

    def sum(self, dim=None):
        return self

    def __getitem__(self, index):
        return self.values[index]

    def __iter__(self):
        return iter(self.values)

    def __add__(self, other):
        return _Reported(self.values[0] + other.values[0], self.values[1] + other.values[1])


def _reported_loss():
    driver = STATE.session.driver
    if STATE.session.phase == "eval":
        return simgpu_run.eval_loss_at(driver.step)
    return simgpu_run.loss_at(driver.step)


class _Distributed:
    ReduceOp = NS(MAX="max", MIN="min", SUM="sum")

    def is_initialized(self):
        return STATE.distributed

    def init_process_group(self, backend=None, world_size=None, rank=None, timeout=None, store=None, **kwargs):
        STATE.distributed = True

    def get_world_size(self, group=None):
        return get_world_size_safe()

    def get_rank(self, group=None):
        return get_rank_safe()

    def barrier(self, *args, **kwargs):
        pass

    def all_reduce(self, tensor, op=None, group=None, async_op=False):
        pass

    def destroy_process_group(self, group=None):
        STATE.distributed = False


def _set_device(index):
    if index >= _gpu_count():
        raise RuntimeError("CUDA error: invalid device ordinal\nCUDA kernel errors might be asynchronously reported at "
                           "some other API call, so the stacktrace below might be incorrect.")


def _tensor(values, dtype=None, device=None, **kwargs):
    values = values if isinstance(values, (list, tuple)) else [values]
    return _Reported(*values) if len(values) == 2 else _Num(values[0])


def _torch_save(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)


def _torch_load(path, map_location=None, weights_only=False):
    with open(path) as f:
        obj = json.load(f)
    if os.path.basename(path) == "train_state.pt" and obj.get("step"):
        STATE.session.driver.resume(obj["step"])
    return obj


def _bridge_torch(fw):
    tensor_cls = fw.torch.Tensor
    for name in ("float", "view", "sum", "clone", "detach", "mean", "item", "__mul__"):
        if not hasattr(tensor_cls, name):
            setattr(tensor_cls, name, lambda t, *a, **k: t)
    return NS(
        float32="torch.float32", float16="torch.float16", half="torch.float16", bfloat16="torch.bfloat16",
        float="torch.float32", int="torch.int32", distributed=_Distributed(), tensor=_tensor,
        cuda=NS(is_available=lambda: True, device_count=_gpu_count, set_device=_set_device,
                current_device=get_local_rank_preinit, empty_cache=lambda: None, synchronize=lambda: None),
        cat=lambda tensors, dim=0: _Reported(_reported_loss(), 1.0),
        vstack=lambda tensors: functools.reduce(lambda a, b: a + b, tensors),
        sum=lambda t, *a, **k: t, no_grad=simgpu_run.simgpu_frames.GradMode, save=_torch_save, load=_torch_load)


# --- Megatron-Core pieces Bridge calls: timers, the model build, the optimizer, the checkpoint files -------

class _Timer:
    def __init__(self, name):
        self.name, self.mark, self.total = name, None, 0.0

    @staticmethod
    def _clock():
        return STATE.session.driver.clock if STATE.session is not None else 0.0

    def start(self, barrier=False):
        self.mark = self._clock()

    def stop(self, barrier=False):
        if self.mark is not None:
            self.total += self._clock() - self.mark
            self.mark = None
        if self.name == "evaluate":
            # The evaluation's batches are over: the driver reports it and restores the training memory.
            for iterator in STATE.eval_iterators:
                iterator.drain()

    def elapsed(self, reset=True, barrier=False):
        running = self.mark is not None
        total = self.total + (self._clock() - self.mark if running else 0.0)
        if reset:
            self.total = 0.0
            if running:
                self.mark = self._clock()
        return total


class Timers:
    """megatron/core/timers.py's Timers, on the simulated clock."""

    def __init__(self, log_level, log_option):
        self._timers = {}

    def __call__(self, name, log_level=None):
        return self._timers.setdefault(name, _Timer(name))

    def log(self, names, rank=None, normalizer=1.0, reset=True, barrier=False):
        pass


class CheckpointingException(Exception):
    pass


CheckpointingException.__module__ = "megatron.core.dist_checkpointing.core"


def _dist_save(state_dict, checkpoint_name, *args, **kwargs):
    if get_rank_safe() != 0:
        return
    _torch_save({"iteration": state_dict["iteration"]}, os.path.join(checkpoint_name, "common.pt"))
    _torch_save({"sharded_backend": "torch_dist", "common_backend": "torch"}, os.path.join(checkpoint_name, "metadata.json"))
    _torch_save({k: v for k, v in state_dict.items() if k != "iteration"}, os.path.join(checkpoint_name, "__0_0.distcp"))


def _dist_load(checkpoint_name, *args, **kwargs):
    if not os.path.isfile(os.path.join(checkpoint_name, "metadata.json")):
        raise CheckpointingException("%s is not a distributed checkpoint" % checkpoint_name)
    return _torch_load(os.path.join(checkpoint_name, "__0_0.distcp"))


def _barrier_dir():
    return os.path.join(tempfile.gettempdir(), "simtrain-bridge-%s-%d" % (os.environ.get("MASTER_PORT", ""), os.getppid()))


def _barrier():
    """The ranks meet, as a real run's collectives make them: no rank saves a checkpoint before every rank has
    decided what to load (torchrun ends the others when one fails, so a lost rank is no hang)."""
    world = get_world_size_safe()
    if world < 2:
        return
    folder = _barrier_dir()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "rank-%d" % get_rank_safe()), "w"):
        pass
    while True:
        try:
            if len(os.listdir(folder)) >= world:
                return
        except FileNotFoundError:
            return  # rank 0 removes the folder once every rank has passed
        time.sleep(0.01)


class SummaryWriter:
    """torch.utils.tensorboard's SummaryWriter: its event file in log_dir."""

    def __init__(self, log_dir=None, max_queue=10):
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "events.out.tfevents.simtrain"), "w"):
            pass

    def add_scalar(self, *args, **kwargs):
        pass

    def flush(self):
        pass


def _wandb_init(dir=None, name=None, project=None, config=None, entity=None, **kwargs):
    run = os.path.join(dir, "wandb", "run-simtrain")
    os.makedirs(run, exist_ok=True)
    with open(os.path.join(run, "config.yaml"), "w") as f:
        f.write("project: %s\nname: %s\n" % (project, name))


# --- OmegaConf and Hydra's override parser, as omegaconf_utils uses them ----------------------------------

class OmegaConf(hydra.OmegaConf):
    @staticmethod
    def create(content):
        return hydra.DictConfig(content)

    @staticmethod
    def merge(base, other):
        return hydra.DictConfig(hydra._merge(hydra._plain(base), hydra._plain(other)))

    @staticmethod
    def load(path):
        return hydra.DictConfig(simgpu.load_yaml_file(str(path)) or {})


OmegaConf.__module__ = "omegaconf.omegaconf"
OverridesParser = NS(create=lambda: NS(parse_overrides=lambda overrides: [hydra.parse_override(o) for o in overrides]))
ConfigLoaderImpl = NS(_apply_overrides_to_config=lambda overrides, cfg: hydra.apply_overrides(cfg, overrides))
