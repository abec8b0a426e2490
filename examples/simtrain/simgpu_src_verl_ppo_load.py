"""The simulated verl PPO trainer's machinery: Ray in one process (ray.init/remote/get, a worker group
whose calls run in place, RayTaskError with the remote traceback as Ray formats it, each actor's output
prefixed "(TaskRunner pid=N) " / "(WorkerDict pid=N) " as Ray's log monitor prints it), DataProto, the
rollout, rewards and datasets, and the session on the simulated GPU. Hydra (config composition, overrides,
errors) is the SFT sim's (simgpu_src_verl_load). It compiles simgpu_src_verl_ppo's modules and runs
`python -m verl.trainer.main_ppo` (examples/simtrain/pkgs/verl/trainer/main_ppo.py calls main()). Frames
of this file are hidden from printed tracebacks.

The job, in the sim's terms (see README.md, "verl PPO"): the actor's update is what runs on the simulated
GPU: micro-batch actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu, accumulation the normalized
mini-batch (ppo_mini_batch_size x rollout.n / (GPUs / ulysses_sequence_parallel_size)) over the micro-batch,
effective batch ppo_mini_batch_size x rollout.n, one optimizer step per mini-batch (train_batch_size x
rollout.n / ppo_mini_batch_size x ppo_epochs of them in a PPO iteration), GPUs trainer.n_gpus_per_node x
trainer.nnodes (FSDP full sharding over them), precision bf16 (FSDP mixed precision over the fp32 actor;
bf16-true with ++actor_rollout_ref.actor.fsdp_config.model_dtype=bf16), checkpointing
actor_rollout_ref.model.enable_gradient_checkpointing, optimizer state offloaded with
actor_rollout_ref.actor.fsdp_config.optimizer_offload, activations with
actor_rollout_ref.model.enable_activation_offload. The iteration's other GPU passes run on the simulated GPU
too, each on its own micro key (_on_gpu, PassMemory; README.md "verl PPO" has the model): the old log-prob
recompute (actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu), the reference's log-prob
(actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu), the critic's value pass
(critic.forward_micro_batch_size_per_gpu) and its update (critic.ppo_micro_batch_size_per_gpu). Generation
takes simulated time, not simulated memory.
"""

import contextlib
import datetime
import json
import os
import re
import shutil
import sys
import traceback
from functools import wraps
from pprint import pprint
from types import SimpleNamespace as NS

import simgpu
import simgpu_run
import simgpu_speed
import simgpu_src_verl_load as base
import simgpu_src_verl_ppo as src
from simgpu_frames import load_source
from simgpu_model import CHECKPOINT_FACTOR, LAYERS, spread

SCRIPT = "main_ppo.py"
# Each epoch of the simulated dataset is this many PPO iterations; validation is VAL_ROWS prompts.
STEPS_PER_EPOCH = base.STEPS_PER_EPOCH
VAL_ROWS = 64
RAY_IP = "127.0.0.1"
MAGIC_ATTR = "attrs_3141562937"


class _State:
    world = 1
    sim = None
    session = None
    driver_steps = None
    minis = 1  # optimizer steps (mini-batches) of one PPO iteration
    rows = 0  # the iteration's sequences on each GPU
    config = None  # the trainer's config, resolved
    phase = None  # the pass outside the actor's update running on the GPU (_on_gpu), else None


STATE = _State()


# --- Ray in one process -----------------------------------------------------------------------------

class RayTaskError(Exception):
    """ray.exceptions.RayTaskError: str() is the remote traceback, as RayTaskError._make_traceback_str
    gives it (the header line, then the task's frames without Ray's own, then the cause)."""

    def __init__(self, text, cause):
        super().__init__(text)
        self.text = text
        self.cause = cause

    def __str__(self):
        return self.text

    def as_instanceof_cause(self):
        return self


class ActorDiedError(RayTaskError):
    pass


for _cls in (RayTaskError, ActorDiedError):
    _cls.__module__ = "ray.exceptions"


def _remote_text(exc):
    """The task's traceback as Ray prints it under its header: no 'Traceback' line, no Ray frames."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    simgpu_run._filter(te, set())
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if "/ray/_private/" not in f.filename])
    te.__cause__ = te.__context__ = None
    lines = list(te.format())
    return "".join(lines[1:]).rstrip("\n")


def task_error(exc, title, pid, actor):
    """exc raised in a Ray task (an actor's method): the RayTaskError(<cause>) ray.get raises for it."""
    root = exc.cause if isinstance(exc, RayTaskError) else exc
    name = "RayTaskError(%s)" % type(root).__name__
    cls = type(name, (RayTaskError,), {})
    cls.__module__, cls.__qualname__ = "ray.exceptions", name
    header = "%s() (pid=%d, ip=%s, actor_id=%s, repr=%s)" % (title, pid, RAY_IP, "%032x" % pid, actor)
    return cls(header + "\n" + _remote_text(exc), root)


def creation_error(exc, title, pid, actor):
    header = "%s() (pid=%d, ip=%s, actor_id=%s, repr=%s)" % (title, pid, RAY_IP, "%032x" % pid, actor)
    return ActorDiedError("The actor died because of an error raised in its creation task, " + header + "\n"
                          + _remote_text(exc), exc)


class _Prefixed:
    """A stream whose lines start with Ray's '(Name pid=N) ' as the driver prints an actor's output."""

    def __init__(self, stream, prefix):
        self.stream = stream
        self.prefix = prefix
        self.at_start = True

    def write(self, text):
        out = []
        for piece in re.split(r"(?<=\n)", text):
            if not piece:
                continue
            if self.at_start:
                out.append(self.prefix)
            out.append(piece)
            self.at_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


@contextlib.contextmanager
def actor_output(name, pid):
    saved = sys.stdout, sys.stderr
    prefix = "(%s pid=%d) " % (name, pid)
    # The driver prints each actor's lines with the actor's own prefix (a worker's, not its caller's).
    raw = [stream.stream if isinstance(stream, _Prefixed) else stream for stream in saved]
    sys.stdout, sys.stderr = _Prefixed(raw[0], prefix), _Prefixed(raw[1], prefix)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved


class ObjectRef:
    def __init__(self, value):
        self.value = value


class _RemoteMethod:
    def __init__(self, handle, name):
        self.handle, self.name = handle, name

    def remote(self, *args, **kwargs):
        handle = self.handle
        with actor_output(handle.cls.__name__, handle.pid):
            try:
                return ObjectRef(getattr(handle.instance, self.name)(*args, **kwargs))
            except Exception as exc:
                actor = "<%s.%s object at 0x%x>" % (handle.module, handle.cls.__name__, id(handle.instance))
                return ObjectRef(task_error(exc, "ray::%s.%s" % (handle.cls.__name__, self.name), handle.pid, actor))


class _ActorHandle:
    def __init__(self, cls, module):
        self.cls, self.module = cls, module
        self.pid = os.getpid() + 1
        self.instance = cls()

    def __getattr__(self, name):
        return _RemoteMethod(self, name)


class _ActorClass:
    def __init__(self, cls):
        self.cls = cls

    def remote(self, *args, **kwargs):
        return _ActorHandle(self.cls, "main_ppo")


def _ray_remote(*args, **kwargs):
    if len(args) == 1 and not kwargs and isinstance(args[0], type):
        return _ActorClass(args[0])
    return lambda cls: _ActorClass(cls)


class _Ray:
    initialized = False

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.initialized = True
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        sys.stderr.write("%s\tINFO worker.py:1888 -- Started a local Ray instance.\n" % now)

    remote = staticmethod(_ray_remote)

    @property
    def state(self):
        gpus = float(os.environ.get("SIMGPU_COUNT", "1").strip() or 1)
        return NS(available_resources_per_node=lambda: {"node:" + RAY_IP: {"GPU": gpus, "CPU": 16.0}})


RAY = _Ray()


def register(dispatch_mode=None, **kwargs):
    def decorator(func):
        setattr(func, MAGIC_ATTR, {"dispatch_mode": dispatch_mode})
        return func
    return decorator


class RayWorkerGroup:
    """A colocated worker group of one simulated rank (rank 0 of trainer.n_gpus_per_node x nnodes): its methods
    run the worker's in place, through WorkerDict's bound method, as Ray's actor would."""

    count = 0

    def __init__(self, remote_cls, prefix, **init_kwargs):
        RayWorkerGroup.count += 1
        self.prefix = prefix
        self.pid = os.getpid() + 1 + RayWorkerGroup.count
        self.world_size = STATE.world
        cls = remote_cls.cls
        worker_dict = type("WorkerDict", (), {})
        worker_dict.__module__ = "verl.single_controller.ray.base"
        BASE["_bind_workers_method_to_parent"](worker_dict, prefix, cls)
        self.worker_dict = worker_dict()
        self.worker_dict.worker_dict = {}
        self.failed = None
        # Ray pickles the config to the actor: the worker's normalization stays in the worker.
        kwargs = {k: base._wrap(base._plain(v), v._path, True) if isinstance(v, base.DictConfig) else v
                  for k, v in init_kwargs.items()}
        with actor_output("WorkerDict", self.pid):
            try:
                self.worker_dict.worker_dict[prefix] = cls(**kwargs)
            except Exception as exc:
                self.failed = creation_error(exc, "ray::WorkerDict.__init__", self.pid, self._repr())

    def _repr(self):
        return "<verl.single_controller.ray.base.WorkerDict object at 0x%x>" % id(self.worker_dict)

    def _execute(self, method_name, *args, **kwargs):
        if self.failed is not None:
            return ObjectRef(self.failed)
        with actor_output("WorkerDict", self.pid):
            try:
                return ObjectRef(getattr(self.worker_dict, method_name)(*args, **kwargs))
            except Exception as exc:
                return ObjectRef(task_error(exc, "ray::WorkerDict.%s" % method_name, self.pid, self._repr()))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return BASE["func_generator"](self, "%s_%s" % (self.prefix, name), lambda wg, *a, **k: (a, k),
                                      lambda wg, output: output, self._execute, True)


BASE = {}


# --- DataProto, datasets, rewards --------------------------------------------------------------------

class _Texts:
    def __init__(self, n, kind):
        self.n, self.kind = n, kind


class DataProto:
    """verl's DataProto as the trainer uses it: a batch of `rows` sequences with tensor and meta entries."""

    def __init__(self, rows=0, batch=None, meta_info=None):
        self.rows = rows
        self.batch = batch if batch is not None else {}
        self.meta_info = meta_info if meta_info is not None else {}

    @classmethod
    def from_dict(cls, tensors=None, meta_info=None):
        return cls(0, dict(tensors or {}), dict(meta_info or {}))

    @classmethod
    def from_single_dict(cls, data):
        return cls(rows=data["rows"], batch={"input_ids": None, "attention_mask": None, "position_ids": None})

    def pop(self, batch_keys=(), non_tensor_batch_keys=()):
        return DataProto(self.rows, {k: self.batch.pop(k, None) for k in batch_keys})

    def repeat(self, repeat_times=2, interleave=True):
        return DataProto(self.rows * repeat_times, dict(self.batch), dict(self.meta_info))

    def union(self, other):
        self.batch.update(other.batch)
        self.meta_info.update(other.meta_info)
        self.rows = max(self.rows, other.rows)
        return self

    def select(self, batch_keys=None, **kwargs):
        return NS(batch=_PPOBatch())

    def texts(self, kind):
        return ["simulated %s %d" % (kind, i) for i in range(self.rows)]

    def to(self, device):
        return self

    def __len__(self):
        return self.rows


class _TokenMask:
    def __init__(self, rows, tokens):
        self.rows, self.tokens = rows, tokens


def _tensor_sum(mask, dim=-1):
    return NS(tolist=lambda: [mask.tokens] * mask.rows)


class _PPOBatch:
    """A worker's share of the iteration's batch: split() gives the actor's mini-batches in its update, the
    micro-batches of a no-gradient pass, or the critic's mini-batches."""

    def split(self, size):
        if STATE.phase is None:
            return _MiniBatches()
        if size is None:
            base.simgpu_run.fail_usage("simtrain: dynamic batch sizes (use_dynamic_bsz) are not simulated: give the "
                                       "passes' *_micro_batch_size_per_gpu")
        if STATE.phase == "update_critic":
            return [_CriticMiniBatch(min(size, STATE.rows)) for _ in range(max(STATE.rows // size, 1))]
        return _PassMicroBatches(STATE.phase, size, STATE.rows)


class _MiniBatches:
    """The mini-batches of one PPO epoch: each one is one optimizer step of the driver."""

    def __iter__(self):
        for _ in range(STATE.minis // STATE.config.actor_rollout_ref.actor.ppo_epochs):
            if STATE.driver_steps is None:
                STATE.driver_steps = STATE.session.driver.steps()
            next(STATE.driver_steps)
            yield _MiniBatch()


class _MiniBatch:
    def split(self, size):
        return _MicroBatches()


class _MicroBatches:
    def __iter__(self):
        fw = base.STATE.fw
        response_length = STATE.config.data.max_response_length
        for inputs, targets in STATE.session.driver.micro_batches():
            yield _Micro(responses=NS(size=lambda *a: response_length), input_ids=inputs, attention_mask=fw.tensor(),
                         position_ids=fw.tensor(), old_log_probs=fw.tensor(), advantages=targets)


class _CriticMiniBatch:
    def __init__(self, rows):
        self.rows = rows

    def split(self, size):
        return _PassMicroBatches("update_critic", size, self.rows)


class _PassMicroBatches:
    """The micro-batches of `rows` sequences at `size` in a pass outside the actor's update; each one's
    forward (and the critic's backward) allocates PassMemory."""

    def __init__(self, kind, size, rows):
        self.kind, self.size, self.rows = kind, size, rows

    def __iter__(self):
        fw = base.STATE.fw
        response_length = STATE.config.data.max_response_length
        for start in range(0, self.rows, self.size):
            STATE.session.free_activations()
            mem = PassMemory(self.kind, min(self.size, self.rows - start))
            yield _Micro(responses=NS(size=lambda *a: response_length), input_ids=fw.tensor(mem),
                         attention_mask=fw.tensor(), position_ids=fw.tensor(), values=fw.tensor(), returns=fw.tensor())


class PassMemory:
    """One micro-batch of a pass outside the actor's update, per sample in SIMGPU_ACT (A) units: a no-gradient
    forward keeps A/8 of hidden states (spread over the layers), and the log-prob passes add A/2 for the logits
    over the vocabulary (one fp32 tensor at the end of the forward, before the log-softmax); the critic's update
    is a training pass without logits (its value head gives one number a token): A x 0.5 (bf16 autocast) x 0.35
    with critic.model.enable_gradient_checkpointing, half in the forward and half in the backward."""

    def __init__(self, kind, rows):
        session = STATE.session
        act = session.spec.act
        self.session, self.kind, self.rows = session, kind, rows
        self.logits = 0
        if kind == "update_critic":
            checkpoint = CHECKPOINT_FACTOR if STATE.config.critic.model.get("enable_gradient_checkpointing", False) else 1
            total = int(rows * act * checkpoint) // 2
            self.parts = spread(total // 2, LAYERS)
            self.back = spread(total - total // 2, LAYERS)
        else:
            self.parts = spread(rows * act // 8, LAYERS)
            self.back = []
            if kind in ("old_log_prob", "ref"):
                self.logits = rows * act // 2

    def _allocate(self, nbytes, layer, what, dtype="bfloat16"):
        session = self.session
        shape = simgpu_run._shape(nbytes // 2 if dtype == "bfloat16" else nbytes // 4, self.rows, leading=True)
        session._allocate(nbytes, shape, dtype, simgpu_run._op_name(what, layer))
        session.live.append(nbytes)

    def forward(self, layer):
        self._allocate(self.parts[layer], layer, "forward")
        if layer == LAYERS - 1 and self.logits:
            self._allocate(self.logits, layer, "logits", dtype="float")

    def backward(self):
        for layer in reversed(range(LAYERS)):
            self._allocate(self.back[layer], layer, "backward")


def _resident(kind):
    """What is on the GPU under a pass: the model's weights (sharded as the actor's; the reference and the
    critic are the actor's size), and for the critic's update its gradients and fp32 Adam state (none with
    critic.model.fsdp_config.optimizer_offload)."""
    plan = STATE.session.plan
    weights = sum(plan.weights)
    if kind != "update_critic":
        return weights
    state = 0
    if not STATE.config.critic.model.fsdp_config.get("optimizer_offload", False):
        state = 2 * 4 * sum(plan.param_elements) // plan.div_state
    return weights + sum(plan.grads) + state


@contextlib.contextmanager
def _on_gpu(kind):
    """A pass outside the actor's update: it runs on top of its own resident memory (as the sim's evaluation
    runs on the weights alone), and the actor's level comes back after it."""
    session = STATE.session
    device = session.device
    session.free_activations()
    saved, STATE.phase = device.allocated, kind
    device.allocated = _resident(kind)
    try:
        yield
    finally:
        session.free_activations()
        device.allocated, STATE.phase = saved, None


def _on_gpu_method(cls, name, kind):
    """cls.name runs as the `kind` pass on the simulated GPU."""
    method = getattr(cls, name)

    @wraps(method)
    def run(self, *args, **kwargs):
        with _on_gpu(kind):
            return method(self, *args, **kwargs)

    setattr(run, MAGIC_ATTR, getattr(method, MAGIC_ATTR))
    setattr(cls, name, run)


class _Micro(dict):
    def to(self, device, *args, **kwargs):
        return self


def _tokens_per_sequence(config):
    """The sim's sequences fill half of the prompt and half of the response length."""
    return (config.data.max_prompt_length + config.data.max_response_length) // 2


class RLHFDataset:
    """verl's RLHFDataset over the sim's data: train_batch_size x STEPS_PER_EPOCH prompts, VAL_ROWS to validate."""

    made = 0

    def __init__(self, data_files, tokenizer, config, processor=None):
        role = "train" if RLHFDataset.made == 0 else "val"
        RLHFDataset.made += 1
        size = config.train_batch_size
        self.rows = size * STEPS_PER_EPOCH if role == "train" and isinstance(size, int) and size > 0 else VAL_ROWS
        print(f"dataset len: {self.rows}")

    def __len__(self):
        return self.rows


class StatefulDataLoader:
    def __init__(self, dataset, batch_size=1, drop_last=True, **kwargs):
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.yielded = 0

    def __len__(self):
        whole, rest = divmod(len(self.dataset), self.batch_size)
        return whole + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        for _ in range(len(self)):
            self.yielded += 1
            yield {"rows": self.batch_size}

    def state_dict(self):
        return {"_num_yielded": self.yielded}


def load_reward_manager(config, tokenizer, num_examine, **kwargs):
    """verl's NaiveRewardManager in the sim: each response scores a made-up number that rises with the step."""
    def score(batch, return_dict=False):
        step = STATE.session.driver.step if STATE.session is not None else 0
        scores = [round(0.3 + 0.2 * (1 - simgpu_run.loss_at(step) / simgpu_run.loss_at(0)), 4)] * batch.rows
        return {"reward_tensor": scores} if return_dict else scores
    return score


def compute_reward(batch, reward_fn):
    return reward_fn(batch), {}


def find_latest_ckpt_path(path, directory_format="global_step_{}"):
    """verl.utils.checkpoint.checkpoint_manager.find_latest_ckpt_path."""
    if path is None:
        return None
    tracker_file = os.path.join(path, "latest_checkpointed_iteration.txt")
    if not os.path.exists(tracker_file):
        print(f"Checkpoint tracker file does not exist: {tracker_file}")
        return None
    with open(tracker_file, "rb") as f:
        iteration = int(f.read().decode())
    ckpt_path = os.path.join(path, directory_format.format(iteration))
    if not os.path.exists(ckpt_path):
        print("Checkpoint does not exist: %s", ckpt_path)
        return None
    print("Found checkpoint: %s", ckpt_path)
    return ckpt_path


# --- the simulated clock of an iteration's phases -------------------------------------------------------

def _sample_seconds():
    session = STATE.session
    job = session.job
    return simgpu_speed.micro_batch_seconds(job, session.driver.speed) / job.micro_batch


def _phase_seconds(name):
    """Simulated seconds of the phases that run outside the actor's update (per GPU: the iteration's
    sequences over the GPUs)."""
    config = STATE.config
    rows = config.data.train_batch_size * config.actor_rollout_ref.rollout.n // STATE.world
    forward = _sample_seconds() * rows / 3
    return {"gen": 1.5 * _sample_seconds() * rows, "old_log_prob": forward, "ref": forward, "values": forward,
            "update_critic": 3 * forward * config.critic.ppo_epochs,
            "testing": 1.5 * _sample_seconds() * VAL_ROWS / STATE.world}.get(name, 0.0)


@contextlib.contextmanager
def marked_timer(name, timing_raw, color=None, **kwargs):
    """verl.utils.debug.marked_timer on the simulated clock: the driver's clock moves by the actor's steps in
    update_actor, and by _phase_seconds in the other phases."""
    driver = STATE.session.driver
    start = driver.clock
    yield
    driver.clock += _phase_seconds(name)
    timing_raw[name] = driver.clock - start


def compute_data_metrics(batch, use_critic=True):
    score = load_reward_manager(None, None, 0)(NS(rows=1))[0]
    metrics = {"critic/score/mean": score, "critic/rewards/mean": score,
               "response_length/mean": float(STATE.config.data.max_response_length // 2)}
    if use_critic:
        metrics["critic/values/mean"] = round(score * 0.9, 4)
    return metrics


def compute_timing_metrics(batch, timing_raw):
    """verl/trainer/ppo/metric_utils.py's compute_timing_metrics."""
    num_tokens = sum(batch.meta_info["global_token_num"])
    out = {f"timing_s/{name}": value for name, value in timing_raw.items()}
    for name in ("gen", "ref", "values", "adv", "update_critic", "update_actor"):
        if name in timing_raw:
            out[f"timing_per_token_ms/{name}"] = timing_raw[name] * 1000 / num_tokens
    return out


def compute_throughout_metrics(batch, timing_raw, n_gpus):
    """verl/trainer/ppo/metric_utils.py's compute_throughout_metrics: the iteration's tokens a second per GPU."""
    total_num_tokens = sum(batch.meta_info["global_token_num"])
    time = timing_raw["step"]
    return {"perf/total_num_tokens": total_num_tokens, "perf/time_per_step": time,
            "perf/throughput": total_num_tokens / (time * n_gpus)}


def _mean(values):
    return round(sum(values) / len(values), 10)


def reduce_metrics(metrics):
    return {key: (_mean(v) if isinstance(v, list) else v) for key, v in metrics.items()}


def append_to_dict(data, new_data):
    step = STATE.session.driver.step
    made_up = {"actor/pg_loss": round(0.05 * simgpu_run.loss_at(step) - 0.04, 4), "actor/pg_clipfrac": 0.0031,
               "actor/ppo_kl": 0.0002, "actor/pg_clipfrac_lower": 0.0, "actor/grad_norm": 0.5,
               "critic/vf_loss": round(0.1 * simgpu_run.loss_at(step), 4), "critic/vf_clipfrac": 0.0,
               "critic/vpred_mean": 0.27, "critic/grad_norm": 1.0}
    for key, val in new_data.items():
        data.setdefault(key, []).append(made_up.get(key, val))


def tqdm(total=None, initial=0, desc=None, **kwargs):
    """fit's bar, one tick an iteration, on the simulated clock: the driver's bar (whose steps are the actor's
    optimizer steps) drawn at the iteration they end."""
    driver = STATE.session.driver
    driver.progress.closed = True
    driver.bar_style = simgpu_speed.BarStyle(desc=desc, charset=simgpu_speed.UNICODE, postfix=lambda step: "")
    bar = IterationBar(STATE.minis, total, desc, sys.stderr, True, clock=lambda: driver.clock,
                       charset=simgpu_speed.UNICODE)
    bar.initial = initial
    STATE.sim.before_traceback.append(bar.close)
    driver.progress = bar
    bar.show(initial * STATE.minis, postfix="")
    return NS(update=lambda n=1: None, close=bar.close)


class IterationBar(simgpu_speed.Progress):
    def __init__(self, minis, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.minis = minis

    def show(self, n, loss=None, postfix=None):
        super().show(n // self.minis, None, "")


# --- the workers ------------------------------------------------------------------------------------------

class _Timer:
    """codetiming's Timer on the simulated clock; the critic's update takes its phase's time (the driver's clock
    moves by the actor's steps only)."""

    def __init__(self, name=None, logger=None):
        self.name = name
        self.last = 0.0

    def __enter__(self):
        self.start = STATE.session.driver.clock
        return self

    def __exit__(self, *exc):
        self.last = STATE.session.driver.clock - self.start
        if self.name == "update_critic":
            self.last = _phase_seconds(self.name)


class VerlPPOJob(simgpu.Job):
    """The effective batch is the global mini-batch: ppo_mini_batch_size x rollout.n."""

    dp = 1

    @property
    def effective_batch(self):
        return self.micro_batch * self.accumulation * self.dp


def open_session(config):
    """The job on the simulated GPU, when the actor's model is built (after the workers' normalization)."""
    trainer = STATE.config
    actor = config.actor
    sp = actor.get("ulysses_sequence_parallel_size", 1)
    dp = STATE.world // sp
    micro = actor.ppo_micro_batch_size_per_gpu
    if micro is None:
        base.simgpu_run.fail_usage("simtrain: actor_rollout_ref.actor.use_dynamic_bsz is not simulated: give "
                                   "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu")
    rows = trainer.data.train_batch_size * config.rollout.n // dp
    STATE.rows = rows
    STATE.minis = rows // actor.ppo_mini_batch_size * actor.ppo_epochs
    epochs = trainer.trainer.total_epochs
    iterations = STEPS_PER_EPOCH * epochs
    if trainer.trainer.total_training_steps is not None:
        iterations = min(iterations, trainer.trainer.total_training_steps)
    dtype = actor.fsdp_config.get("model_dtype", None)
    precision = {None: "bf16", "fp32": "bf16", "bf16": "bf16-true", "bfloat16": "bf16-true",
                 "fp16": "fp16-true"}.get(dtype, "bf16")
    env = dict(os.environ, WORLD_SIZE=str(STATE.world), RANK="0", LOCAL_RANK="0")
    job = VerlPPOJob(SCRIPT, micro_batch=micro, accumulation=actor.ppo_mini_batch_size // micro, precision=precision,
                     checkpointing=bool(config.model.get("enable_gradient_checkpointing", False)),
                     optimizer="adamw", offload=bool(actor.fsdp_config.get("optimizer_offload", False)), zero_stage=3,
                     steps=iterations * STATE.minis, env=env,
                     activation_offload=bool(config.model.get("enable_activation_offload", False)))
    job.dp = dp
    STATE.session = base.STATE.session = STATE.sim.session(job)
    return STATE.session


class _FSDP:
    """The actor's FSDP-wrapped model: moving it to the GPU allocates its weights."""

    def __init__(self, module, move=True):
        self._fsdp_wrapped_module = module
        if move:
            module.to(device=0)

    def __call__(self, *args, **kwargs):
        return self._fsdp_wrapped_module(*args, **kwargs)

    def train(self, mode=True):
        return self

    def eval(self):
        return self

    def parameters(self):
        return self._fsdp_wrapped_module.parameters()

    def clip_grad_norm_(self, max_norm, norm_type=2.0):
        return base.STATE.fw.tensor()


class Worker:
    """verl.single_controller.base.Worker and what the FSDP workers build that the sim does not show."""

    def __init__(self):
        self.rank = 0
        self.world_size = STATE.world
        self.ulysses_sharding_manager = _ShardingManager()
        self.flops_counter = NS(estimate_flops=lambda tokens, seconds: (sum(tokens) * 6.0e9 / max(seconds, 1e-9),
                                                                         989e12))

    def _build_model_optimizer(self, model_path, fsdp_config, optim_config, enable_gradient_checkpointing=False,
                               role="actor", enable_activation_offload=False, **kwargs):
        """The actor's model opens the session (its weights, gradients and Adam state are the job's); the
        reference's weights count only while its pass runs (_resident)."""
        fw = base.STATE.fw
        model_config = base.PretrainedConfig()
        if role != "actor":
            return _FSDP(_qwen2_module(model_config), move=False), None, None, model_config
        open_session(self.config)
        fsdp = _FSDP(_qwen2_module(model_config))
        optimizer = fw.torch.optim.AdamW(fsdp.parameters())
        scheduler = NS(get_last_lr=lambda: [optim_config.lr], step=lambda: None)
        return fsdp, optimizer, scheduler, model_config

    def _build_critic_model_optimizer(self, config):
        """The critic's model, the actor's size: its memory counts while its passes run (_resident)."""
        module = _FSDP(_qwen2_module(base.PretrainedConfig()), move=False)
        optimizer = NS(zero_grad=lambda set_to_none=True: None, step=lambda: None)
        scheduler = NS(get_last_lr=lambda: [config.optim.lr], step=lambda: None)
        return module, optimizer, scheduler

    @register()
    def generate_sequences(self, prompts):
        config = STATE.config
        if prompts.meta_info.get("validate"):
            rows = prompts.rows
        else:
            rows = prompts.rows * config.actor_rollout_ref.rollout.n
        mask = _TokenMask(rows, _tokens_per_sequence(config))
        return DataProto(rows, {"responses": None, "prompts": None, "attention_mask": mask})

    @register()
    def save_checkpoint(self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None):
        """FSDPCheckpointManager.save_checkpoint: every rank's model, optimizer and extra-state shards (small
        files in the sim, under verl's names), rank 0's huggingface/ config; copied to hdfs_path when given."""
        base.local_mkdir_safe(local_path)
        for rank in range(STATE.world):
            for what in ("model", "optim", "extra_state"):
                name = "%s_world_size_%d_rank_%d.pt" % (what, STATE.world, rank)
                with open(os.path.join(local_path, name), "w") as f:
                    f.write("simulated %s shard, step %d\n" % (what, global_step))
        base.local_mkdir_safe(os.path.join(local_path, "huggingface"))
        with open(os.path.join(local_path, "huggingface", "config.json"), "w") as f:
            f.write("{\"model_type\": \"qwen2\"}\n")
        if hdfs_path is not None:
            base.hdfs_io.makedirs(hdfs_path, exist_ok=True)
            base.hdfs_io.copy(src=local_path, dst=hdfs_path, dirs_exist_ok=True)

    @register()
    def load_checkpoint(self, local_path, hdfs_path=None, del_local_after_load=False):
        """The sim restores the step only (the actor's worker tells the driver); del_local_after_load deletes the
        folder as FSDPCheckpointManager does."""
        if getattr(self, "_is_actor", False):
            global_steps = int(os.path.dirname(local_path).split("global_step_")[-1])
            STATE.session.driver.resume(global_steps * STATE.minis)
        if del_local_after_load and os.path.isdir(local_path):
            shutil.rmtree(local_path)


class _ShardingManager(contextlib.AbstractContextManager):
    def __exit__(self, *exc):
        return None

    def preprocess_data(self, data):
        return data

    def postprocess_data(self, data):
        return data


def _update_actor_done(cls):
    """After the actor's update the driver reports its last optimizer step (update_actor's clock includes it)."""
    update = cls.update_actor

    @wraps(update)
    def update_actor(self, data):
        output = update(self, data)
        driver = STATE.session.driver
        driver.end_step(driver.step)
        return output

    setattr(update_actor, MAGIC_ATTR, getattr(update, MAGIC_ATTR))
    cls.update_actor = update_actor


MODEL = {}


def _qwen2_module(model_config):
    fw = base.STATE.fw
    qwen2 = MODEL["qwen2"]
    layers = [qwen2["Qwen2DecoderLayer"](model_config, i, fw.torch.nn.Linear(fw.parameter(i))) for i in range(LAYERS)]
    return qwen2["Qwen2ForCausalLM"](model_config, qwen2["Qwen2Model"](model_config, layers))


# --- compiling the modules -------------------------------------------------------------------------------

def _compile(relpath, names):
    return NS(**load_source(relpath, src.SOURCES[relpath], names))


def _resolve(cfg):
    """OmegaConf.resolve: every interpolation replaced by its value, in place."""
    for key, value in list(cfg._content.items()):
        if isinstance(value, base.DictConfig):
            _resolve(value)
        else:
            cfg._content[key] = base._wrap(base._plain(base._interpolated(value)), cfg._child_path(key), cfg._struct)


def _device():
    session = STATE.session
    return NS(current_device=lambda: 0, max_memory_allocated=lambda: session.device.peak,
              max_memory_reserved=lambda: session.device.peak)


def load(fw):
    """Compile Hydra, Ray's pieces and verl's PPO trainer over fw's torch; returns main_ppo's main."""
    base._patch_tensor(fw)
    torch = base._vtorch(fw)
    MODEL["qwen2"] = base._model_classes(fw, torch)
    fw.torch.Tensor.div_ = lambda t, o: t
    fw.torch.Tensor.squeeze = lambda t, *a: t
    torch.concat = lambda tensors, dim=0: fw.tensor()
    main = base.load_hydra()
    hook = _compile("ray/_private/auto_init_hook.py", dict(wraps=wraps, auto_init_ray=lambda: None))
    client = _compile("ray/_private/client_mode_hook.py", dict(wraps=wraps))
    ray_worker = _compile("ray/_private/worker.py", dict(auto_init_wrapper=hook.auto_init_wrapper,
                                                         client_mode_hook=client.client_mode_hook,
                                                         RayTaskError=RayTaskError))
    RAY.get = ray_worker.get
    wg = _compile("verl/single_controller/ray/base.py", dict(ray=RAY, MAGIC_ATTR=MAGIC_ATTR))
    BASE.update(func_generator=wg.func_generator, _bind_workers_method_to_parent=wg._bind_workers_method_to_parent)
    actor = _compile("verl/workers/actor/dp_actor.py", dict(
        BasePPOActor=_BasePPOActor, torch=torch, get_torch_device=_device, append_to_dict=append_to_dict,
        logprobs_from_logits=lambda logits, labels: fw._cross_entropy(logits, labels),
        compute_policy_loss=lambda log_prob, **k: (log_prob, fw.tensor(), fw.tensor(), fw.tensor()),
        GPUMemoryLogger=lambda role, logger=None: (lambda func: func), logger=None,
        verl_F=NS(entropy_from_logits=lambda logits: fw.tensor()), rearrange_micro_batches=_dynamic_bsz))
    critic = _compile("verl/workers/critic/dp_critic.py", dict(
        BasePPOCritic=_BasePPOActor, torch=torch, get_torch_device=_device, append_to_dict=append_to_dict,
        core_algos=NS(compute_value_loss=lambda vpreds, **k: (vpreds, fw.tensor())),
        masked_mean=lambda values, mask: fw.tensor(), rearrange_micro_batches=_dynamic_bsz,
        GPUMemoryLogger=lambda role, logger=None: (lambda func: func), logger=None))
    workers = _compile("verl/workers/fsdp_workers.py", dict(
        os=os, logging=base.logging, torch=torch, Worker=Worker, register=register,
        Dispatch=NS(ONE_TO_ALL="one_to_all", DP_COMPUTE_PROTO="dp_compute_proto"), OmegaConf=base.OmegaConf,
        create_device_mesh=lambda world_size, fsdp_size: NS(size=lambda: world_size),
        build_rollout=lambda config, dp, tp: NS(config=config), DataParallelPPOActor=actor.DataParallelPPOActor,
        DataParallelPPOCritic=critic.DataParallelPPOCritic,
        get_torch_device=_device, Timer=_Timer, DataProto=DataProto))
    _update_actor_done(workers.ActorRolloutRefWorker)
    for cls, name, kind in ((workers.ActorRolloutRefWorker, "compute_log_prob", "old_log_prob"),
                            (workers.ActorRolloutRefWorker, "compute_ref_log_prob", "ref"),
                            (workers.CriticWorker, "compute_values", "values"),
                            (workers.CriticWorker, "update_critic", "update_critic")):
        _on_gpu_method(cls, name, kind)
    torch_ns = NS(save=fw.torch.save, sum=_tensor_sum)
    trainer = _compile("verl/trainer/ppo/ray_trainer.py", dict(
        os=os, json=json, ray=RAY, torch=torch_ns, OmegaConf=base.OmegaConf, open_dict=base.open_dict,
        defaultdict=__import__("collections").defaultdict, pprint=pprint, np=NS(mean=_mean), Role=_Role,
        AdvantageEstimator=NS(GAE="gae"), StatefulDataLoader=StatefulDataLoader, DataProto=DataProto,
        Tracking=base.Tracking, tqdm=tqdm, marked_timer=marked_timer, compute_reward=compute_reward,
        compute_advantage=lambda batch, adv_estimator=None, **k: batch, reduce_metrics=reduce_metrics,
        compute_data_metrics=compute_data_metrics, compute_timing_metrics=compute_timing_metrics,
        compute_throughout_metrics=compute_throughout_metrics, local_mkdir_safe=base.local_mkdir_safe,
        find_latest_ckpt_path=find_latest_ckpt_path))
    main_ppo = _compile("verl/trainer/main_ppo.py", dict(
        hydra=NS(main=main.main), ray=RAY, pprint=pprint, OmegaConf=NS(to_container=_container, resolve=_resolve_config),
        copy_to_local=lambda src, **k: src, hf_tokenizer=lambda path, **k: NS(eos_token_id=1, pad_token_id=0),
        ActorRolloutRefWorker=workers.ActorRolloutRefWorker, CriticWorker=workers.CriticWorker,
        RayWorkerGroup=RayWorkerGroup, Role=_Role, load_reward_manager=load_reward_manager,
        ResourcePoolManager=trainer.ResourcePoolManager, RayPPOTrainer=trainer.RayPPOTrainer, RLHFDataset=RLHFDataset,
        load_extern_type=base._not_simulated("data.custom_cls (a custom dataset class)")))
    return main_ppo.main


def _dynamic_bsz(batch, max_token_len):
    base.simgpu_run.fail_usage("simtrain: dynamic batch sizes (use_dynamic_bsz) are not simulated: give the passes' "
                               "*_micro_batch_size_per_gpu")


def _container(cfg, resolve=False):
    if resolve:
        cfg = base._wrap(base._plain(cfg))
        _resolve(cfg)
    return base._plain(cfg)


def _resolve_config(config):
    _resolve(config)
    STATE.config = config
    STATE.world = config.trainer.n_gpus_per_node * config.trainer.nnodes


class _BasePPOActor:
    def __init__(self, config):
        self.config = config
        self.device_name = "cuda"


class _Role:
    ActorRollout = "ActorRollout"
    Critic = "Critic"
    RefPolicy = "RefPolicy"
    RewardModel = "RewardModel"


# --- entry point ------------------------------------------------------------------------------------------

def main():
    """`python -m verl.trainer.main_ppo [overrides]`: the driver, its TaskRunner and rank 0's workers, one process."""
    sim = simgpu.start(argv=sys.argv[1:], default_format="pytorch", script=SCRIPT)
    STATE.sim = base.STATE.sim = sim
    base.STATE.fw = sim.frameworks
    base.SCRIPT, base.TASK_NAME, base.MODULE = SCRIPT, "main_ppo", "verl.trainer.main_ppo"
    base.SHIPPED["ppo_trainer"] = src.PPO_TRAINER_YAML
    trainer_main = load(sim.frameworks)
    sys.argv[1:] = sim.argv
    trainer_main()
    if STATE.session is not None:
        for _ in STATE.driver_steps or ():
            pass
        STATE.session.finish()
