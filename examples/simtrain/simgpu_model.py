"""The simulated GPU's memory model: device spec from the environment, allocation bookkeeping, job sizes.

The formula and a worked example are in simgpu.py's docstring.
"""

import os
import time
import re
import sys
from fractions import Fraction

import simgpu_oom
from simgpu_proc import UsageError

SIM_DIR = os.path.dirname(os.path.abspath(__file__))


def hidden_file(filename):
    """The sim's own modules: their frames are machinery and left out of printed tracebacks."""
    path = os.path.abspath(filename)
    name = os.path.basename(path)
    return os.path.dirname(path) == SIM_DIR and name.startswith("simgpu") and name.endswith(".py")
GiB = 1024 ** 3
MiB = 1024 ** 2
LAYERS = 16
DEFAULT_CAPACITY = "24GiB"
DEFAULT_MODEL = "2GiB"
DEFAULT_ACT = "400MiB"
DEFAULT_EVAL_ACT = "600MiB"
MIXED_FACTOR = Fraction(1, 2)
CHECKPOINT_FACTOR = Fraction(35, 100)
# A fused or chunked loss never holds the whole logits tensor: one chunk of it at a time.
FUSED_LOSS_CHUNKS = 8
# Activation offload keeps a quarter of the saved activations on the GPU (the layers in flight).
OFFLOAD_FACTOR = Fraction(1, 4)
WASTE = Fraction(15, 100)
WASTE_LOW = Fraction(2, 100)
JAX_DEFAULT_FRACTION = 0.75
# precision -> (bytes per parameter element, bytes per activation element)
PRECISION_BYTES = {
    "fp32": (4, 4),
    "fp16": (4, 2),
    "bf16": (4, 2),
    "fp16-true": (2, 2),
    "bf16-true": (2, 2),
    "fp64-true": (8, 8),
}
# optimizer kind -> state bytes per fp32 weight byte
OPTIMIZER_STATE = {"adam": Fraction(2), "8bit": Fraction(1, 2), "adafactor": Fraction(1, 2)}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B)?|B|BYTES)?\s*$", re.IGNORECASE)
_UNIT = {None: 1, "K": 1024, "M": MiB, "G": GiB, "T": 1024 * GiB}
TORCH_ALLOC_KEYS = {
    "max_split_size_mb", "max_non_split_rounding_mb", "garbage_collection_threshold",
    "roundup_power2_divisions", "expandable_segments", "backend", "release_lock_on_cudamalloc",
    "pinned_use_cuda_host_register", "pinned_num_register_threads", "pinned_use_background_threads",
    "pinned_use_hip_host_register", "per_process_memory_fraction",
}


def parse_size(text, source):
    """'24GiB', '24G', '24000MiB', '512M' or a byte count (units are powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError("%s: cannot read size %r (use e.g. 24GiB, 24000MiB or a byte count)" % (source, text))
    unit = match.group(2).upper() if match.group(2) else None
    return int(Fraction(match.group(1)) * _UNIT[unit])


def parse_others(text, device=0):
    """SIMGPU_OTHER='1234:2GiB,5678:512MiB@1' -> the (pid, bytes) on the given physical device
    (an entry without @N is on device 0)."""
    others = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        pid, sep, size = item.partition(":")
        size, at, dev = size.partition("@")
        if not sep or not pid.strip().isdigit() or (at and not dev.strip().isdigit()):
            raise UsageError("SIMGPU_OTHER: expected PID:SIZE[@GPU][,PID:SIZE[@GPU]...], got %r" % item)
        if int(dev or 0) == device:
            others.append((int(pid), parse_size(size, "SIMGPU_OTHER")))
    return others


# The simulated GPUs' UUIDs, as vramrun's simulated NVML names them.
SIM_UUID = "GPU-51a1a7ed-0000-4000-8000-%012x"


def physical_device(env, logical):
    """The simulated GPU a process uses as cuda:logical: CUDA_VISIBLE_DEVICES' entry at that
    position (an index or a simulated UUID), or the index itself when the variable is unset."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return logical
    entries = [e.strip() for e in visible.split(",")]
    entry = entries[logical] if logical < len(entries) else ""
    if entry.isdigit():
        return int(entry)
    prefix = SIM_UUID[: SIM_UUID.index("%")]
    if entry.startswith(prefix):
        try:
            return int(entry[len(prefix):], 16)
        except ValueError:
            pass
    return 0


def split_alloc_conf(value):
    """PYTORCH_ALLOC_CONF items: comma-separated key:value, lists in [..], whitespace ignored."""
    items, depth, current = [], 0, ""
    for c in "".join(value.split()):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        if c == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += c
    items.append(current)
    return [i for i in items if i]


def torch_allocator(env):
    """(expandable segments?, async backend?, error text or None, warning lines) from the env."""
    primary, legacy = env.get("PYTORCH_ALLOC_CONF"), env.get("PYTORCH_CUDA_ALLOC_CONF")
    warnings = []
    value = primary if primary is not None else legacy
    if primary is not None and legacy is not None and primary != legacy:
        warnings.append(
            "[W simgpu] PYTORCH_CUDA_ALLOC_CONF and PYTORCH_ALLOC_CONF differ; using PYTORCH_ALLOC_CONF"
        )
    expandable, async_backend = False, False
    for item in split_alloc_conf(value or ""):
        key, sep, val = item.partition(":")
        if key not in TORCH_ALLOC_KEYS:
            return False, False, "Unrecognized CachingAllocator option: %s" % key, warnings
        if not sep:
            return False, False, "Expected ':' after %s in PYTORCH_CUDA_ALLOC_CONF" % key, warnings
        if key == "expandable_segments":
            if val not in ("True", "False"):
                return False, False, "Expected a single True/False argument for expandable_segments", warnings
            expandable = val == "True"
        if key == "backend":
            if val not in ("native", "cudaMallocAsync"):
                return False, False, "Unknown allocator backend, options are native and cudaMallocAsync", warnings
            async_backend = val == "cudaMallocAsync"
    return expandable, async_backend, None, warnings


class GPUSpec:
    """The simulated device as one process sees it: capacity, neighbours, budget, allocator waste."""

    def __init__(self, env, fmt, device=0):
        self.format = fmt
        self.runtime = simgpu_oom.RUNTIME_OF_FORMAT[fmt]
        self.device = device
        self.capacity = parse_size(env.get("SIMGPU_CAPACITY", DEFAULT_CAPACITY), "SIMGPU_CAPACITY")
        self.others = parse_others(env.get("SIMGPU_OTHER", ""), physical_device(env, device))
        self.weights = parse_size(env.get("SIMGPU_MODEL", DEFAULT_MODEL), "SIMGPU_MODEL")
        self.act = parse_size(env.get("SIMGPU_ACT", DEFAULT_ACT), "SIMGPU_ACT")
        self.eval_act = parse_size(env.get("SIMGPU_EVAL_ACT", DEFAULT_EVAL_ACT), "SIMGPU_EVAL_ACT")
        self.logits_share = parse_share(env.get("SIMGPU_LOGITS_SHARE", "0"), "SIMGPU_LOGITS_SHARE")
        self.eval_preds = parse_size(env.get("SIMGPU_EVAL_PREDS", "0"), "SIMGPU_EVAL_PREDS")
        self.warnings, self.config_error, self.allowed = [], None, None
        self.tf_allocator = "bfc"
        budget = self.capacity - sum(used for _, used in self.others)
        self.waste = WASTE
        if self.runtime == "pytorch":
            expandable, async_backend, self.config_error, self.warnings = torch_allocator(env)
            if async_backend and fmt == "pytorch":
                self.format = "pytorch-async"
            if expandable or async_backend:
                self.waste = WASTE_LOW
            fraction = env.get("SIMGPU_FRACTION")
            if fraction is not None:
                self.allowed = int(self.capacity * _fraction(fraction, "SIMGPU_FRACTION"))
                budget = min(budget, self.allowed)
        elif self.runtime == "tensorflow":
            growth = env.get("TF_FORCE_GPU_ALLOW_GROWTH")
            if env.get("TF_GPU_ALLOCATOR") == "cuda_malloc_async":
                self.tf_allocator, self.waste = "cuda_malloc_async", WASTE_LOW
            if growth == "true":
                self.waste = WASTE_LOW
            elif growth not in (None, "false"):
                self.warnings.append(
                    simgpu_oom.tf_log_prefix("E", "tensorflow/core/common_runtime/gpu/gpu_bfc_allocator.cc", 47)
                    + 'The TF_FORCE_GPU_ALLOW_GROWTH environment variable is set but could not be parsed: "%s". '
                    'Valid values are "true" or "false". Using original config value of allow_growth.' % growth
                )
        else:
            self.waste = Fraction(0)
            if env.get("XLA_PYTHON_CLIENT_ALLOCATOR") != "platform":
                raw = env.get("XLA_CLIENT_MEM_FRACTION", env.get("XLA_PYTHON_CLIENT_MEM_FRACTION"))
                fraction = JAX_DEFAULT_FRACTION if raw is None else _fraction(raw, "XLA_PYTHON_CLIENT_MEM_FRACTION")
                budget = min(budget, int(self.capacity * fraction))
        self.budget = max(0, budget)

    def reserved(self, allocated):
        return allocated + int(allocated * self.waste)


def _fraction(text, source):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise UsageError("%s: expected a fraction in (0, 1], got %r" % (source, text))
    return value


class UsageReport:
    """What vramrun's built-in simulated GPU reads: with VRAMRUN_SIMGPU=<dir> set, the job keeps
    its current usage (reserved bytes) in <dir>/<pid>.mem, as NVML would report it for a process.
    Written at most every 10 ms, atomically (temp file and rename), and always at the end."""

    INTERVAL = 0.01

    def __init__(self, env):
        folder = env.get("VRAMRUN_SIMGPU", "")
        self.path = os.path.join(folder, "%d.mem" % os.getpid()) if folder else ""
        self.last = 0.0
        self.value = None
        # held: the value stays until the process exits (a CUDA context broken by an illegal memory
        # access keeps its memory until then), so the end of the job shows the GPU full.
        self.held = False

    def update(self, used, force=False):
        if not self.path or used == self.value or self.held:
            return
        now = time.monotonic()
        if not force and now - self.last < self.INTERVAL:
            return
        self.last, self.value = now, used
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write("%d\n" % used)
            os.replace(tmp, self.path)
        except OSError:
            self.path = ""  # the folder went away: stop reporting, keep training

    def vanish(self):
        """Publish nothing from now on and take the usage file away: vramrun's simulated NVML lists the
        process no more, as NVML would a job that ended before its next sample (--sim-unseen-step)."""
        if self.path:
            try:
                os.remove(self.path)
            except OSError:
                pass
        self.held = True

    def wait_seen(self, timeout=10.0, times=1):
        """Wait until vramrun's simulated NVML has read the current value in `times` process listings
        in a row, one a sampler's tick (it writes the value it read and that count to <pid>.seen), and
        say whether it did; give up after timeout seconds (no vramrun)."""
        if not self.path or self.value is None:
            return False
        seen = self.path[: -len(".mem")] + ".seen"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(seen) as f:
                    value, _, count = f.read().strip().partition("\n")
                if value == str(self.value) and int(count or "1") >= times:
                    return True
            except (OSError, ValueError):
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)


class Device:
    """Allocation bookkeeping on the simulated GPU; a failed request raises the runtime's OOM."""

    def __init__(self, spec, env=None):
        self.spec = spec
        self.allocated = 0
        self.peak = 0  # of reserved memory: allocated plus the allocator's waste
        self.peak_allocated = 0
        self.count = 0
        self.before_log = None  # called before the runtime's log lines, to end a progress bar's line
        self.usage = UsageReport(os.environ if env is None else env)

    def allocate(self, nbytes, shape=None, dtype="float", op="MatMul", context=None):
        """Take nbytes; when that would pass the budget, print the runtime's log lines and return
        nothing but raise its OOM. context() gives the TensorFlow-only figures (tf_function,
        tf_defined_at), computed only for a failing request."""
        spec = self.spec
        if spec.config_error:
            raise RuntimeError(spec.config_error)
        if spec.format == "tensorflow":
            nbytes = -(-nbytes // 256) * 256
        if spec.reserved(self.allocated + nbytes) > spec.budget:
            if spec.format == "silent":
                # The process grabs what is left and fails later, without an OOM text; make sure
                # vramrun's sampler saw the full GPU first, as it would have on a real one.
                self.usage.update(spec.capacity - sum(used for _, used in spec.others), force=True)
                self.usage.wait_seen()
                self.usage.held = True
            else:
                # The GPU is as full as it gets when the request fails; vramrun's sampler sees it
                # before the process exits, as it would a real step's rise, whatever the timing.
                self.usage.update(spec.reserved(self.allocated), force=True)
                self.usage.wait_seen()
            extra = context() if context is not None else {}
            raise self.out_of_memory(nbytes, shape, dtype, op, **extra)
        self.allocated += nbytes
        self.count += 1
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.peak = max(self.peak, spec.reserved(self.allocated))
        self.usage.update(spec.reserved(self.allocated))

    def loaded(self):
        """The job is loaded and its first step comes next: publish what it holds (the weights, and
        whatever the framework allocated before training; optimizer state comes at the first step, as
        PyTorch's Adam creates it) and wait until vramrun's sampler has seen it at two ticks in a row,
        so that the plateau before the step's rise is there to read, whatever the timing."""
        self.usage.update(self.spec.reserved(self.allocated), force=True)
        self.usage.wait_seen(times=2)

    def finished(self):
        """Training is over and the process is about to exit: publish the attempt's peak, which a
        caching allocator (PyTorch's, TensorFlow's) keeps reserved until the process exits, and wait
        until vramrun's sampler has seen it, so that the NVML peak of an attempt that fit is its
        step's peak whatever the timing (a short job could otherwise end between two ticks)."""
        if self.peak and not self.usage.held:
            self.usage.update(self.peak, force=True)
            self.usage.wait_seen()

    def release(self, nbytes):
        if self.spec.format == "tensorflow":
            nbytes = -(-nbytes // 256) * 256
        self.allocated -= nbytes
        self.usage.update(self.spec.reserved(self.allocated))

    def figures(self, nbytes, shape=None, dtype="float", op="MatMul", **extra):
        """The allocator's view of a failing request of nbytes."""
        spec = self.spec
        held = spec.reserved(self.allocated)
        others = sum(used for _, used in spec.others)
        return simgpu_oom.Figures(
            device=spec.device, capacity=spec.capacity, others=spec.others, allowed=spec.allowed,
            allocated=self.allocated, reserved_unallocated=held - self.allocated,
            free=max(0, spec.capacity - others - held),
            tried=spec.reserved(self.allocated + nbytes) - held, tensor_bytes=nbytes,
            shape=shape or (nbytes // 4,), dtype=dtype, op=op, budget=spec.budget, peak=self.peak_allocated,
            allocations=self.count, tf_allocator=spec.tf_allocator, **extra
        )

    def out_of_memory(self, nbytes, shape, dtype, op, **extra):
        lines, err = simgpu_oom.build(self.spec.format, self.figures(nbytes, shape, dtype, op, **extra))
        if lines and self.before_log is not None:
            self.before_log()
        for line in lines:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        return err


def spread(total, parts):
    """total split into `parts` whole numbers that differ by at most one."""
    q, r = divmod(total, parts)
    return [q + 1] * r + [q] * (parts - r)


class Job:
    """What a script was asked to train, in the sim's terms."""

    def __init__(self, script, micro_batch, accumulation=1, eval_batch=None, precision="fp32",
                 checkpointing=False, optimizer="adamw", optimizer_kind="adam", offload=False, zero_stage=0,
                 steps=20, eval_every=0, eval_at_end=False, eval_batches=2, env=None,
                 fused_loss=False, activation_offload=False, eval_accumulation=None):
        if precision not in PRECISION_BYTES:
            raise ValueError("unknown precision %r" % precision)
        env = os.environ if env is None else env
        self.script = script
        self.micro_batch = micro_batch
        self.accumulation = accumulation
        self.eval_batch = micro_batch if eval_batch is None else eval_batch
        self.precision = precision
        self.checkpointing = checkpointing
        self.optimizer = optimizer
        self.optimizer_kind = optimizer_kind
        self.offload = offload
        self.zero_stage = zero_stage
        # fused_loss: the loss is computed chunk by chunk (Liger, chunked cross-entropy);
        # activation_offload: saved activations go to host memory; eval_accumulation: None for a
        # framework that keeps no predictions, else the HF Trainer's eval_accumulation_steps (0 =
        # unset: every prediction of the evaluation stays on the GPU until it ends).
        self.fused_loss = fused_loss
        self.activation_offload = activation_offload
        self.eval_accumulation = eval_accumulation
        self.steps = steps
        self.eval_every = eval_every
        self.eval_at_end = eval_at_end
        self.eval_batches = eval_batches
        self.world_size = _env_int(env, "WORLD_SIZE", 1)
        self.rank = _env_int(env, "RANK", 0)
        self.local_rank = _env_int(env, "LOCAL_RANK", 0)

    @property
    def effective_batch(self):
        return self.world_size * self.micro_batch * self.accumulation

    def optimizer_label(self):
        return self.optimizer + ("+cpu_offload" if self.offload else "")


def _env_int(env, name, default):
    text = env.get(name, "")
    if not text:
        return default
    if not text.strip().isdigit():
        raise UsageError("%s: expected a non-negative integer, got %r" % (name, text))
    return int(text)


def parse_share(text, name):
    """A share between 0 and 1 (inclusive of 0, exclusive of 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise UsageError("%s: expected a share from 0 up to (not including) 1, got %r" % (name, text))
    return Fraction(text.strip()) if value else Fraction(0)


class Plan:
    """The byte sizes of every tensor the job allocates, per layer. act_scale multiplies the training
    activations (a long batch: the same samples, longer sequences)."""

    def __init__(self, job, spec, act_scale=1):
        param_elem, self.act_elem = PRECISION_BYTES[job.precision]
        world = max(1, job.world_size)
        div_w = world if job.zero_stage >= 3 else 1
        div_g = world if job.zero_stage >= 2 else 1
        self.div_state = world if job.zero_stage >= 1 else 1
        self.param_elem = param_elem
        self.param_elements = spread(spec.weights // 4, LAYERS)
        self.weights = [n * param_elem // div_w for n in self.param_elements]
        self.grads = [n * param_elem // div_g for n in self.param_elements]
        checkpoint = CHECKPOINT_FACTOR if job.checkpointing else Fraction(1)
        train_elements = int(Fraction(job.micro_batch * spec.act) * checkpoint * Fraction(act_scale) / 4)
        # SIMGPU_LOGITS_SHARE of the activations come as one tensor at the end of the forward
        # pass, like a language model's logits: the allocation PyTorch's message then names is
        # most of what the batch costs.
        self.logits_elements = int(train_elements * spec.logits_share)
        train_elements -= self.logits_elements
        if job.fused_loss:
            self.logits_elements //= FUSED_LOSS_CHUNKS
        if job.activation_offload:
            train_elements = int(train_elements * OFFLOAD_FACTOR)
        self.logits = self.logits_elements * self.act_elem
        self.train_act = [n * self.act_elem for n in spread(train_elements, 2 * LAYERS)]
        self.train_act_elements = spread(train_elements, 2 * LAYERS)
        eval_elements = job.eval_batch * spec.eval_act // 4
        # The predictions an HF-style evaluation gathers: SIMGPU_EVAL_PREDS for the whole
        # evaluation, in equal parts per batch, moved to the host every eval_accumulation batches.
        self.eval_pred_part = 0
        self.eval_preds_held = 0
        if job.eval_accumulation is not None and spec.eval_preds:
            self.eval_pred_part = spec.eval_preds // max(1, job.eval_batches)
            held = job.eval_accumulation or job.eval_batches
            self.eval_preds_held = self.eval_pred_part * min(held, job.eval_batches)
        self.eval_act = [n * self.act_elem for n in spread(eval_elements, LAYERS)]
        self.eval_act_elements = spread(eval_elements, LAYERS)
        self.offload = job.offload
        self.kind = job.optimizer_kind

    def state_bytes(self, layer, dtype_bytes=None):
        """One optimizer-state tensor for `layer`; dtype_bytes None means the parameter's dtype."""
        if self.offload:
            return 0
        per_element = self.param_elem if dtype_bytes is None else dtype_bytes
        return self.param_elements[layer] * per_element // self.div_state

    def state_tensors(self):
        """Element size of each state tensor per parameter, as the optimizers allocate them."""
        if self.kind == "8bit":
            return [1, 1]
        if self.kind == "adafactor":
            return [2]
        return [None, None]

    def totals(self):
        state = sum(self.state_bytes(layer, d) for layer in range(LAYERS) for d in self.state_tensors())
        weights, grads = sum(self.weights), sum(self.grads)
        return {
            "weights": weights, "grads": grads, "optimizer": state, "activations": sum(self.train_act) + self.logits,
            "eval_activations": sum(self.eval_act),
            "train_need": weights + grads + state + sum(self.train_act) + self.logits,
            "eval_need": weights + sum(self.eval_act) + self.eval_preds_held,
        }


def estimate(job, env=None, fmt="pytorch", act_scale=1):
    """The model's numbers for a job, without running it: needs, budget, waste and whether each fits.
    act_scale: the training activations' factor (a --sim-long-batch step)."""
    env = os.environ if env is None else env
    spec = GPUSpec(env, fmt)
    totals = Plan(job, spec, act_scale).totals()
    totals.update(budget=spec.budget, waste_rate=float(spec.waste), capacity=spec.capacity)
    totals["train_fits"] = spec.reserved(totals["train_need"]) <= spec.budget
    totals["eval_fits"] = spec.reserved(totals["eval_need"]) <= spec.budget
    return totals

