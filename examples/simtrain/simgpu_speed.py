"""The simulated GPU's ground-truth speed model, its simulated clock's bar, and the speed lines of the
frameworks (timm, the HF Trainer and DeepSpeed, Lightning, nanoGPT, Keras 3, torchtune).

The model (seconds; parameters from the environment, defaults in brackets)

  t(b)   = SIMGPU_BATCH_OVERHEAD [0.02] + b * SIMGPU_SAMPLE_TIME [0.002] * factor     one micro-batch of b
  factor = 0.45 for 16-bit precision (fp16, bf16, their -true forms; fp64-true 2.0, fp32 1.0)
           x 1.30 checkpointing x 1.15 activation offload x 0.97 fused loss x 1.10 optimizer CPU offload
  step   = accumulation * t(micro) + SIMGPU_OPTIM_TIME [0.03] * (1.03 8-bit optimizer, 8.0 CPU offload)
  warm-up: the process's first optimizer step takes 4x, its 2nd and 3rd 1.5x, then the steady time
  samples/s (global) = micro * accumulation * world size / step

The Driver (simgpu_run) keeps a simulated clock that every step advances by its step time (and every
micro-batch by its part of it); every rate and time printed comes from that clock, never from the
wall clock. SIMGPU_PACE [0] makes the job really sleep PACE x the step's time.
"""

import datetime
import math
import sys

from simgpu_proc import UsageError

# name -> (default, smallest allowed, the smallest is allowed itself, what the number is)
PARAMS = {
    "SIMGPU_SAMPLE_TIME": (0.002, 0.0, False, "a number of seconds"),
    "SIMGPU_BATCH_OVERHEAD": (0.02, 0.0, True, "a number of seconds"),
    "SIMGPU_OPTIM_TIME": (0.03, 0.0, True, "a number of seconds"),
    "SIMGPU_PACE": (0.0, 0.0, True, "a factor of the simulated time"),
}
HALF_FACTOR = 0.45
FP64_FACTOR = 2.0
CHECKPOINT_FACTOR = 1.30
ACT_OFFLOAD_FACTOR = 1.15
FUSED_LOSS_FACTOR = 0.97
OFFLOAD_MICRO_FACTOR = 1.10
EIGHT_BIT_OPTIM_FACTOR = 1.03
OFFLOAD_OPTIM_FACTOR = 8.0
WARMUP = {1: 4.0, 2: 1.5, 3: 1.5}


class SpeedParams:
    """The model's parameters: sample_time, batch_overhead, optim_time (seconds) and pace."""

    def __init__(self, sample_time=0.002, batch_overhead=0.02, optim_time=0.03, pace=0.0):
        self.sample_time = sample_time
        self.batch_overhead = batch_overhead
        self.optim_time = optim_time
        self.pace = pace

    @classmethod
    def from_env(cls, env):
        values = []
        for name, (default, least, inclusive, what) in PARAMS.items():
            text = env.get(name, "")
            if text.strip() == "":
                values.append(default)
                continue
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not (math.isfinite(value) and (value >= least if inclusive else value > least)):
                raise UsageError("%s: expected %s %s %g, got %r" % (name, what, ">=" if inclusive else ">", least, text))
            values.append(value)
        return cls(*values)


def params(env=None):
    """SpeedParams from env (os.environ when None; a SpeedParams passes through). Bad values: UsageError."""
    if isinstance(env, SpeedParams):
        return env
    if env is None:
        import os
        env = os.environ
    return SpeedParams.from_env(env)


def compute_factor(job):
    """What multiplies the per-sample time of one micro-batch."""
    factor = 1.0
    if job.precision in ("fp16", "bf16", "fp16-true", "bf16-true"):
        factor *= HALF_FACTOR
    elif job.precision == "fp64-true":
        factor *= FP64_FACTOR
    if job.checkpointing:
        factor *= CHECKPOINT_FACTOR
    if job.activation_offload:
        factor *= ACT_OFFLOAD_FACTOR
    if job.fused_loss:
        factor *= FUSED_LOSS_FACTOR
    return factor


def micro_batch_seconds(job, env=None, micro_batch=None):
    """Steady seconds of one training micro-batch (the job's, or of micro_batch samples)."""
    p = params(env)
    b = job.micro_batch if micro_batch is None else micro_batch
    seconds = p.batch_overhead + b * p.sample_time * compute_factor(job)
    return seconds * (OFFLOAD_MICRO_FACTOR if job.offload else 1.0)


def optimizer_seconds(job, env=None):
    """Steady seconds of the optimizer's step itself."""
    factor = EIGHT_BIT_OPTIM_FACTOR if job.optimizer_kind == "8bit" else 1.0
    if job.offload:
        factor *= OFFLOAD_OPTIM_FACTOR
    return params(env).optim_time * factor


def warmup_factor(step):
    """The multiplier of the process's step-th optimizer step (1-based): 4, 1.5, 1.5, then 1."""
    return WARMUP.get(step, 1.0)


def steady_step_seconds(job, env=None):
    p = params(env)
    return job.accumulation * micro_batch_seconds(job, p) + optimizer_seconds(job, p)


def step_seconds(job, step, env=None):
    """Seconds of the process's step-th optimizer step (1-based, counted from the process's start, so a
    resumed job warms up again)."""
    return warmup_factor(step) * steady_step_seconds(job, env)


def samples_per_step(job, world_size=None):
    """Samples of one optimizer step over all processes."""
    world = job.world_size if world_size is None else world_size
    return job.micro_batch * job.accumulation * max(1, world)


def steady_samples_per_second(job, env=None, world_size=None):
    """Global samples a second once warmed up."""
    return samples_per_step(job, world_size) / steady_step_seconds(job, env)


def run_seconds(job, steps, env=None):
    """Simulated seconds of a process's first `steps` optimizer steps, warm-up included."""
    return sum(step_seconds(job, i, env) for i in range(1, steps + 1))


# --- tqdm ------------------------------------------------------------------------------------------

ASCII = " 123456789#"
UNICODE = " " + "".join(chr(c) for c in range(0x258F, 0x2587, -1))


def format_interval(seconds):
    """tqdm.format_interval: [H:]MM:SS."""
    mins, s = divmod(int(seconds), 60)
    h, m = divmod(mins, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%02d:%02d" % (m, s)


def rate_text(rate, invert=True):
    """tqdm's rate_fmt: '{rate:5.2f}it/s', or '{1/rate:5.2f}s/it' below 1 it/s; '?it/s' without a rate.
    invert False is rate_noinv_fmt, which Lightning's bar format shows: never s/it."""
    if not rate:
        return "?it/s"
    if invert and 1 / rate > 1:
        return "%5.2fs/it" % (1 / rate)
    return "%5.2fit/s" % rate


class EMA:
    """tqdm.utils.EMA: an exponential moving average with bias correction."""

    def __init__(self, smoothing=0.3):
        self.alpha = smoothing
        self.last = 0.0
        self.calls = 0

    def __call__(self, x=None):
        beta = 1 - self.alpha
        if x is not None:
            self.last = self.alpha * x + beta * self.last
            self.calls += 1
        return self.last / (1 - beta ** self.calls) if self.calls else self.last


class Progress:
    """A tqdm bar on the simulated clock, redrawn with '\\r' on its stream at every show():
    '\\rtrain:  35%|###5      | 7/20 [00:02<00:04,  2.91it/s, loss=2.31]'. smoothing 0.3 is tqdm's
    default (an EMA of the latest updates' rate, as tqdm with mininterval 0); 0 is the mean since the
    start (Lightning's bar). desc '' draws no 'desc: ' (the HF Trainer's bar)."""

    WIDTH = 10

    def __init__(self, total, desc, stream, enabled, clock=None, smoothing=0.3, charset=ASCII, invert=True):
        self.total = total
        self.invert = invert
        self.desc = desc
        self.stream = stream
        self.enabled = enabled
        self.clock = clock or (lambda: 0.0)
        self.smoothing = smoothing
        self.charset = charset
        self.started = self.clock()
        self.initial = 0  # tqdm's initial: a resumed job's bar starts at its step
        self.shown = False
        self.closed = False
        self._last = None  # (n, time) of the previous show
        self._ema_dn, self._ema_dt = EMA(smoothing), EMA(smoothing)

    def rate(self, n, now):
        """What tqdm shows after an update to n at time now (and remembers it)."""
        last_n, last_t = self._last if self._last is not None else (self.initial, self.started)
        dn, dt = n - last_n, now - last_t
        if self.smoothing and dn > 0 and dt > 0:
            self._ema_dn(dn)
            self._ema_dt(dt)
        self._last = (n, now)
        if self.smoothing and self._ema_dt():
            return self._ema_dn() / self._ema_dt()
        elapsed = now - self.started
        return (n - self.initial) / elapsed if elapsed > 0 and n > self.initial else None

    def bar(self, frac):
        nsyms = len(self.charset) - 1
        full, part = divmod(int(frac * self.WIDTH * nsyms), nsyms)
        text = self.charset[-1] * full
        if full < self.WIDTH:
            text += self.charset[part] + self.charset[0] * (self.WIDTH - full - 1)
        return text

    def show(self, n, loss=None, postfix=None):
        if not self.enabled or self.closed:
            return
        now = self.clock()
        rate = self.rate(n, now)
        frac = min(1.0, n / self.total) if self.total else 1.0
        elapsed = now - self.started
        remaining = format_interval((self.total - n) / rate) if rate else "?"
        if postfix is None and loss is not None:
            postfix = "loss=%.2f" % loss
        head = "%s: " % self.desc if self.desc else ""
        self.stream.write("\r%s%3.0f%%|%s| %d/%d [%s<%s, %s%s]" % (
            head, frac * 100, self.bar(frac), n, self.total, format_interval(elapsed), remaining, rate_text(rate, self.invert),
            ", " + postfix if postfix else ""))
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown and not self.closed:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True


class BarStyle:
    """How the Driver draws its bar: desc, charset, smoothing, one tick per micro-batch or per
    optimizer step, a postfix(step) function (None: ', loss=L'), and whether a rate below 1 it/s is
    shown as s/it (tqdm's default; Lightning's bar format never inverts it)."""

    def __init__(self, desc="train", charset=ASCII, smoothing=0.3, per_micro=False, postfix=None, invert=True):
        self.desc = desc
        self.invert = invert
        self.charset = charset
        self.smoothing = smoothing
        self.per_micro = per_micro
        self.postfix = postfix


def _write(text, stream=None):
    stream = stream or sys.stdout
    stream.write(text)
    stream.flush()


def _loss(step):
    import simgpu_run
    return simgpu_run.loss_at(step)


# --- timm ------------------------------------------------------------------------------------------

class TimmLog:
    """timm train.py's train_one_epoch line, on stdout, at update_idx % log_interval == 0 and at the last
    update: Train: 0 [  10/20 ( 53%)]  Loss: 2.44 (2.49)  Time: 0.318s,  805.13/s  (0.330s,  775.71/s)
    LR: 1.000e-05  Data: 0.000 (0.000). update_sample_count is global (x world size, as timm does when
    distributed); LR is timm's warm-up LR of epoch 0 (warmup_lr 1e-5); data loading takes no time."""

    def __init__(self, driver, log_interval, lr=1e-5):
        self.driver = driver
        self.log_interval = max(1, log_interval)
        self.lr = lr
        self.times = []
        self.losses = []
        driver.step_end_hooks.append(self.step_end)

    def step_end(self, step):
        driver = self.driver
        self.times.append(driver.step_seconds)
        self.losses.append(_loss(step))
        updates = driver.job.steps
        update_idx = step - 1
        if not driver.session.main or not (update_idx % self.log_interval == 0 or step == updates):
            return
        count = samples_per_step(driver.job)
        val, avg = self.times[-1], sum(self.times) / len(self.times)
        _write("Train: 0 [%4d/%d (%3.0f%%)]  Loss: %#.3g (%#.3g)  Time: %.3fs, %7.2f/s  (%.3fs, %7.2f/s)  "
               "LR: %.3e  Data: %.3f (%.3f)\n"
               % (update_idx, updates, 100.0 * update_idx / max(1, updates - 1), self.losses[-1],
                  sum(self.losses) / len(self.losses), val, count / val, avg, count / avg, self.lr, 0.0, 0.0))


# --- nanoGPT ---------------------------------------------------------------------------------------

def nanogpt_num_params(model_args, non_embedding=True):
    """GPT.get_num_params of nanoGPT's model (weight-tied lm_head; without the position embeddings)."""
    n, L, V, T = model_args["n_embd"], model_args["n_layer"], model_args["vocab_size"], model_args["block_size"]
    bias = 1 if model_args.get("bias") else 0
    block = 2 * n * (1 + bias) + (3 * n * n + 3 * n * bias) + (n * n + n * bias) + (4 * n * n + 4 * n * bias) \
        + (4 * n * n + n * bias)
    total = V * n + T * n + L * block + n * (1 + bias)
    return total - T * n if non_embedding else total


def nanogpt_mfu(model_args, fwdbwd_per_iter, dt):
    """GPT.estimate_mfu: model flops utilization against an A100's 312 TFLOPS bf16."""
    N = nanogpt_num_params(model_args)
    L, H, T = model_args["n_layer"], model_args["n_head"], model_args["block_size"]
    Q = model_args["n_embd"] // H
    flops_per_iter = (6 * N + 12 * L * H * Q * T) * T * fwdbwd_per_iter
    return flops_per_iter * (1.0 / dt) / 312e12


class NanoGPTLog:
    """nanoGPT train.py's per-iteration line, on stdout (master process): iter N: loss X, time Yms,
    mfu Z% -- iter_num from 0 (the sim's step s is iter s-1), mfu -100.00% for the process's first 5
    iterations, then a running average (0.9/0.1)."""

    def __init__(self, driver, model_args, fwdbwd_per_iter, log_interval=1, master=True):
        self.driver = driver
        self.model_args = model_args
        self.fwdbwd_per_iter = fwdbwd_per_iter
        self.log_interval = max(1, log_interval)
        self.master = master
        self.running_mfu = -1.0
        driver.step_end_hooks.append(self.step_end)

    def step_end(self, step):
        driver = self.driver
        iter_num, local_iter_num, dt = step - 1, driver.local_steps - 1, driver.step_seconds
        if iter_num % self.log_interval == 0 and self.master:
            if local_iter_num >= 5:  # let the training loop settle a bit
                mfu = nanogpt_mfu(self.model_args, self.fwdbwd_per_iter, dt)
                self.running_mfu = mfu if self.running_mfu == -1.0 else 0.9 * self.running_mfu + 0.1 * mfu
            _write("iter %d: loss %.4f, time %.2fms, mfu %.2f%%\n"
                   % (iter_num, _loss(step), dt * 1000, self.running_mfu * 100))


# --- Hugging Face Trainer and DeepSpeed --------------------------------------------------------------

class HFLoss:
    """The sum of the losses of optimizer steps first+1..last (what Trainer._nested_gather(tr_loss) holds
    between two logs), with tensor-like mean() and item()."""

    def __init__(self, first, last):
        self.value = sum(_loss(s) for s in range(first + 1, last + 1))

    def mean(self):
        return self

    def item(self):
        return self.value


def hf_learning_rate(args, step, max_steps):
    """The learning rate after `step` under TrainingArguments' scheduler (linear, constant, cosine;
    warmup_steps, else warmup_ratio)."""
    lr = args.learning_rate
    warmup = args.warmup_steps or math.ceil(max_steps * (args.warmup_ratio or 0))
    if step < warmup:
        return lr * step / max(1, warmup)
    kind = str(args.lr_scheduler_type)
    if "constant" in kind:
        return lr
    progress = (step - warmup) / max(1, max_steps - warmup)
    if "cosine" in kind:
        return lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return lr * max(0.0, (max_steps - step) / max(1, max_steps - warmup))


class DeepSpeedTimer:
    """DeepSpeed's ThroughputTimer (engine.tput_timer, start_step 2), logged by rank 0 every steps_per_print
    optimizer steps on stdout: [date] [INFO] [timer.py:260:stop] epoch=0/micro_step=20/global_step=10,
    RunningAvgSamplesPerSec=..., CurrSamplesPerSec=..., MemAllocated=...GB, MaxMemAllocated=...GB, with
    train_batch_size (global) samples a step. Its steps are the process's own (from 1 after a resume)."""

    START_STEP = 2
    EPOCH = datetime.datetime(2026, 1, 1, 12, 0, 0)

    def __init__(self, driver, steps_per_print=10):
        self.driver = driver
        self.steps_per_print = steps_per_print
        self.total_elapsed = 0.0
        driver.step_end_hooks.append(self.step_end)

    def step_end(self, step):
        driver = self.driver
        count = driver.local_steps
        if count > self.START_STEP:
            self.total_elapsed += driver.step_seconds
        if not driver.session.main or not self.steps_per_print or count % self.steps_per_print:
            return
        batch = samples_per_step(driver.job)
        timed = count - self.START_STEP
        running = batch / (self.total_elapsed / timed) if timed > 0 and self.total_elapsed > 0 else float("-inf")
        current = batch / driver.step_seconds if count > self.START_STEP else 0.0
        device = driver.session.device
        stamp = self.EPOCH + datetime.timedelta(seconds=driver.clock)
        _write("[%s,%03d] [INFO] [timer.py:260:stop] epoch=0/micro_step=%d/global_step=%d, "
               "RunningAvgSamplesPerSec=%s, CurrSamplesPerSec=%s, MemAllocated=%sGB, MaxMemAllocated=%sGB\n"
               % (stamp.strftime("%Y-%m-%d %H:%M:%S"), stamp.microsecond // 1000, count * driver.job.accumulation,
                  count, running, current, round(device.allocated / 1024 ** 3, 2),
                  round(device.peak_allocated / 1024 ** 3, 2)))


def hf_attach(trainer, driver):
    """The Trainer's bar (tqdm without a desc, one tick per optimizer step) and, with DeepSpeed, its timer."""
    driver.style_bar(BarStyle(desc="", charset=UNICODE, postfix=lambda step: ""))
    ds = getattr(trainer.args, "hf_deepspeed_config", None)
    if ds is not None and not getattr(driver, "_deepspeed_timer", None):
        steps = ds.get_value("steps_per_print", 10)
        driver._deepspeed_timer = DeepSpeedTimer(driver, steps if isinstance(steps, int) else 10)


# --- Lightning ---------------------------------------------------------------------------------------

def lightning_number(value):
    """Lightning's Tqdm.format_num: tqdm's '{:.3g}', floats padded to 5 characters ('2.310')."""
    text = "%.3g" % value if isinstance(value, float) else str(value)
    if isinstance(value, float) and "e" not in text:
        if "." not in text and len(text) < 5:
            text += "."
        text += "0" * (5 - len(text))
    return text


def lightning_attach(trainer, driver):
    """Lightning's TQDMProgressBar training bar: desc 'Epoch 0', one tick per batch (micro-batch),
    smoothing 0 (the mean rate since the epoch began), postfix v_num (the logger's version) and the
    metrics logged with prog_bar=True (the step's loss)."""
    metrics = driver.bar_metrics

    def postfix(step):
        items = []
        loggers = getattr(trainer, "loggers", None) or []
        if loggers:
            version = loggers[0].version
            items.append("v_num=%s" % (version[-10:] if isinstance(version, str) else version))
        items.extend("%s=%s" % (name, lightning_number(_loss(step))) for name in metrics)
        return ", ".join(items)

    driver.style_bar(BarStyle(desc="Epoch 0", charset=UNICODE, smoothing=0, per_micro=True, postfix=postfix, invert=False))


# --- Keras 3 ---------------------------------------------------------------------------------------

class KerasProgbar:
    """Keras 3's fit progress (ProgbarLogger, Progbar verbose=1) on stdout: 'Epoch 1/2' before each epoch
    when there are several, and the epoch's final update at its end (after its validation):
    '\\r\\x1b[1m20/20\\x1b[0m \\x1b[32m━━...\\x1b[0m\\x1b[37m\\x1b[0m \\x1b[1m1s\\x1b[0m 52ms/step - loss: 2.3100'
    (dynamic display, as on Linux; the per-batch updates in between are not drawn). ms/step leaves
    the epoch's first step out, as Keras's _estimate_step_duration does."""

    WIDTH = 20

    def __init__(self, driver, epochs, steps_per_epoch):
        self.driver = driver
        self.epochs = epochs
        self.target = steps_per_epoch

    def epoch_begin(self, epoch):
        d = self.driver
        self.start, self.after_first, self.first_step = d.clock, None, d.step + 1
        self.eval_seen = d.evals
        if d.session.main and self.epochs > 1:
            _write("Epoch %d/%d\n" % (epoch + 1, self.epochs))

    def step_end(self, step):
        if step == self.first_step:
            self.after_first = self.driver.clock

    def epoch_end(self, epoch):
        d = self.driver
        current = d.step - self.first_step + 1
        if not d.session.main or current < 1:
            return
        now = d.clock
        if self.after_first is not None and current > 1:
            per_step = (now - self.after_first) / (current - 1)
        else:
            per_step = (now - self.start) / current
        digits = int(math.log10(self.target)) + 1
        width = int(self.WIDTH * min(1.0, current / self.target))
        bar = "\x1b[1m%*d/%d\x1b[0m " % (digits, current, self.target)
        if width > 0:
            bar += "\x1b[32m" + "━" * width + "\x1b[0m"
        bar += "\x1b[37m" + "━" * (self.WIDTH - width) + "\x1b[0m"
        info = " \x1b[1m%.0fs\x1b[0m%s" % (now - self.start, keras_time(per_step))
        losses = [_loss(s) for s in range(self.first_step, d.step + 1)]
        info += " - loss: %s" % keras_number(sum(losses) / len(losses))
        if d.evals > self.eval_seen:
            import simgpu_run
            info += " - val_loss: %s" % keras_number(simgpu_run.eval_loss_at(d.step))
        _write("\r" + bar + info + "\n")


def keras_time(seconds):
    """Progbar._format_time: ' 1s/step', ' 52ms/step' or ' 830us/step'."""
    if seconds >= 1 or seconds == 0:
        return " %.0fs/step" % seconds
    if seconds >= 1e-3:
        return " %.0fms/step" % (seconds * 1000)
    return " %.0fus/step" % (seconds * 1e6)


def keras_number(value):
    return "%.4f" % value if abs(value) > 1e-3 else "%.4e" % value


# --- torchtune ---------------------------------------------------------------------------------------

TORCHTUNE_SEQ_LEN = 2048


def torchtune_tokens_per_step(job, max_seq_len=None):
    """Tokens one process trains in an optimizer step: samples x tokenizer.max_seq_len (the sim's
    samples are full rows; 2048 when unset, the length SIMGPU_ACT is given for)."""
    return job.micro_batch * job.accumulation * (max_seq_len or TORCHTUNE_SEQ_LEN)


def torchtune_line(step, payload):
    """StdoutLogger.log_dict: 'Step 3 | loss:2.35 lr:2e-05 tokens_per_second_per_gpu:1234.5 '."""
    return "Step %s | %s\n" % (step, "".join("%s:%s " % (name, value) for name, value in payload.items()))


def torchtune_payload(driver, payload, max_seq_len=None, lr=None):
    """The recipe's log_dict with the simulated numbers in place of the fake tensors: the step's loss, the
    learning rate and tokens_per_second_per_gpu (this process's tokens over the step's simulated time)."""
    out = dict(payload)
    if "loss" in out:
        out["loss"] = _loss(driver.step)
    if "lr" in out and lr is not None:
        out["lr"] = lr
    if "tokens_per_second_per_gpu" in out:
        out["tokens_per_second_per_gpu"] = torchtune_tokens_per_step(driver.job, max_seq_len) / driver.step_seconds
    return out
