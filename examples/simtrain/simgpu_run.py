"""Running a simulated job: options, the step driver, the progress bar, tracebacks, the done line."""

import math
import os
import signal
import sys
import time
import traceback

import simgpu_frames
import simgpu_model
import simgpu_oom
import simgpu_proc
import simgpu_speed
from simgpu_model import LAYERS, hidden_file
from simgpu_proc import UsageError


def _filter(te, seen):
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if not hidden_file(f.filename)])
    _filter(te.__cause__, seen)
    _filter(te.__context__, seen)


def format_exception(exc):
    """The traceback Python would print, without the sim's own frames."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _filter(te, set())
    return "".join(te.format())


def print_exception(exc, file=None):
    (file or sys.stderr).write(format_exception(exc))


def gpu_fault(xid, env):
    """A hardware fault: the driver logs Xid xid, then the next CUDA call fails. With vramrun's
    simulated GPU, the Xid goes to <VRAMRUN_SIMGPU>/xid-<pid>, which its NVML reports and removes;
    the job waits for that (up to 10 s), as a real job's failure follows the driver's report."""
    folder = env.get("VRAMRUN_SIMGPU", "")
    if folder:
        path = os.path.join(folder, "xid-%d" % os.getpid())
        with open(path, "w") as f:
            f.write("%d\n" % xid)
        deadline = time.monotonic() + 10
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
    raise RuntimeError("CUDA error: unspecified launch failure\nCUDA kernel errors might be asynchronously "
                       "reported at some other API call, so the stacktrace below might be incorrect.\n"
                       "For debugging consider passing CUDA_LAUNCH_BLOCKING=1")


def fail_usage(message):
    sys.stderr.write("simtrain: %s\n" % message)
    sys.exit(2)


def oom_kill_self(env):
    """Die as the kernel's OOM killer kills: SIGKILL, and its record in the
    kernel log. The record goes to VRAMRUN_KERNEL_LOG when that names a file
    (a real kernel log cannot be written by a test), in /dev/kmsg's format
    and on its clock (CLOCK_MONOTONIC)."""
    path = env.get("VRAMRUN_KERNEL_LOG", "")
    if path:
        usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        record = "3,1,%d,-;Out of memory: Killed process %d (python3) total-vm:1048576kB, anon-rss:1048576kB\n" % (usec, os.getpid())
        with open(path, "a") as f:
            f.write(record)
    os.kill(os.getpid(), signal.SIGKILL)


class Sim:
    """A started simulated job: its process options and the script's own arguments."""

    def __init__(self, options, argv, env, script):
        self.options = options
        self.argv = argv
        self.env = env
        self.script = script
        self.before_traceback = []
        self._frameworks = None

    @property
    def frameworks(self):
        """The fake framework modules (torch, transformers, lightning, keras, jax) of this process."""
        if self._frameworks is None:
            self._frameworks = simgpu_frames.Frameworks()
        return self._frameworks

    def excepthook(self, exc_type, exc, tb):
        for cleanup in self.before_traceback:
            cleanup()
        sys.stdout.flush()
        print_exception(exc)
        sys.stderr.flush()
        if self.options.hang_after_oom and isinstance(exc, simgpu_oom.SimulatedOOM):
            simgpu_proc.hang_forever()

    def session(self, job):
        """Open the GPU for `job`: print allocator warnings, start workers, return the Session."""
        try:
            return Session(self, job)
        except UsageError as err:
            fail_usage(str(err))


def start(argv=None, default_format="pytorch", env=None, script=None, frameworks=None):
    """Take the --sim-* options out of argv and apply the ones that act at once.

    Returns a Sim whose .argv is what the script's own parser should read. `frameworks` is a
    simgpu.Frameworks the script made earlier (to subclass its classes at import time).
    """
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    try:
        options, rest = simgpu_proc.parse(argv, env, default_format)
    except UsageError as err:
        fail_usage(str(err))
    if options.format not in simgpu_oom.FORMATS:
        fail_usage("--sim-format: %r is not one of %s" % (options.format, ", ".join(simgpu_oom.FORMATS)))
    sim = Sim(options, rest, env, script or os.path.basename(sys.argv[0]))
    sim._frameworks = frameworks
    sys.excepthook = sim.excepthook
    if options.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if options.big_output is not None:
        simgpu_proc.big_output(options.big_output)
        sys.exit(0)
    return sim


Progress = simgpu_speed.Progress  # the bar, on the simulated clock (simgpu_speed)


def loss_at(step):
    """A made-up loss curve, the same on every run."""
    return 0.8 + 2.0 * math.exp(-step / 12.0)


def eval_loss_at(step):
    """The evaluation loss after `step` (the 'eval after step' line's)."""
    return loss_at(step) + 0.1


class StepMemory:
    """The activations of one micro-batch (train), one evaluation batch (eval) or an OOM spike."""

    def __init__(self, session, kind):
        self.session = session
        self.kind = kind
        # A training micro-batch of a --sim-long-batch step is bigger; the plan is the step's.
        self.plan = session.step_plan() if kind == "train" else session.plan

    def forward(self, layer):
        session = self.session
        plan = self.plan
        if self.kind == "spike":
            session.allocate(session.spec.budget + 1, layer, "forward")
        elif self.kind == "eval":
            session.allocate_activation(plan.eval_act[layer], plan.eval_act_elements[layer], layer, "eval")
        else:
            session.allocate_activation(plan.train_act[layer], plan.train_act_elements[layer], layer, "forward")
            if layer == LAYERS - 1 and plan.logits:
                session.allocate_activation(plan.logits, plan.logits_elements, layer, "logits")

    def backward(self):
        session = self.session
        plan = self.plan
        for layer in reversed(range(LAYERS)):
            index = LAYERS + layer
            session.allocate_activation(plan.train_act[index], plan.train_act_elements[index], layer, "backward")
            if not session.grads[layer]:
                session.allocate(plan.grads[layer], layer, "grad")
                session.grads[layer] = True


class Session:
    """One job on the simulated GPU: device, sizes, driver and the fake frameworks bound to them."""

    def __init__(self, sim, job):
        self.sim = sim
        self.job = job
        self.options = sim.options
        self.spec = simgpu_model.GPUSpec(sim.env, sim.options.format, device=job.local_rank)
        self.device = simgpu_model.Device(self.spec, sim.env)
        self.plan = simgpu_model.Plan(job, self.spec)
        self.long_plan = None
        self.grads = [False] * LAYERS
        self.live = []
        self.phase = "train"
        self.tf_function = None
        self.main = job.rank == 0
        self.device_name = "cuda:%d" % job.local_rank
        for line in self.spec.warnings:
            sys.stderr.write(line + "\n")
        if self.options.workers:
            self.workers = simgpu_proc.spawn_workers(self.options.workers, self.options.pidfile)
        else:
            self.workers = []
        if self.options.double_fork:
            simgpu_proc.double_fork(self.options.pidfile)
        self.driver = Driver(self)
        self.device.before_log = lambda: self.driver.progress.close()
        self.frameworks = sim.frameworks
        self.frameworks.bind(self)

    def step_plan(self):
        """The plan of the current step's training micro-batches: the long one at --sim-long-batch's step."""
        long_batch = self.options.long_batch
        if long_batch is None or self.driver.step != long_batch[0]:
            return self.plan
        if self.long_plan is None:
            self.long_plan = simgpu_model.Plan(self.job, self.spec, act_scale=long_batch[1])
        return self.long_plan

    def use_micro_batch(self, micro_batch):
        """The framework trains at another micro-batch than the job was started with (a restored
        checkpoint's): memory and the done line follow it. Only before the first step."""
        if micro_batch == self.job.micro_batch:
            return
        self.job.micro_batch = micro_batch
        self.plan = simgpu_model.Plan(self.job, self.spec)
        self.long_plan = None

    def dtype_name(self):
        return {2: "half" if self.job.precision.startswith("fp16") else "bfloat16", 4: "float", 8: "double"}[
            self.plan.act_elem
        ]

    def allocate(self, nbytes, layer, what):
        """Allocate a weight, gradient or optimizer-state tensor of `layer` (or a spike)."""
        elements = nbytes // self.plan.param_elem if nbytes else 0
        shape = _shape(elements, 4096)
        dtype = {2: "half", 4: "float", 8: "double"}.get(self.plan.param_elem, "float")
        self._allocate(nbytes, shape, dtype, _op_name(what, layer))

    def allocate_activation(self, nbytes, elements, layer, what):
        batch = self.job.eval_batch if what == "eval" else self.job.micro_batch
        self._allocate(nbytes, _shape(elements, batch, leading=True), self.dtype_name(), _op_name(what, layer))
        self.live.append(nbytes)

    def _allocate(self, nbytes, shape, dtype, op):
        self.device.allocate(nbytes, shape=shape, dtype=dtype, op=op, context=self.tf_context)

    def tf_context(self):
        """TensorFlow's extra figures for a failing op: its tf.function and where it was defined."""
        function = self.tf_function or "__inference_%s_function_2417" % ("test" if self.phase == "eval" else "train")
        frames = [f for f in traceback.extract_stack()
                  if not hidden_file(f.filename) and "/site-packages/tensorflow/" not in f.filename]
        listing = "".join('    File "%s", line %d, in %s\n      %s\n'
                          % (f.filename, f.lineno, f.name, (f.line or "").strip()) for f in frames)
        return {"tf_function": function, "tf_defined_at": listing}

    def free_activations(self):
        for nbytes in self.live:
            self.device.release(nbytes)
        self.live = []

    def batch(self, kind):
        """(inputs, targets) fake tensors whose forward and backward allocate `kind` activations."""
        return self.frameworks.batch(StepMemory(self, kind))

    def finish(self):
        """The last stdout line, which tests parse."""
        job = self.job
        self.driver.progress.close()
        self.device.finished()
        if self.main:
            sys.stdout.write(
                "done: micro_batch=%d accumulation=%d effective_batch=%d precision=%s checkpointing=%s "
                "optimizer=%s peak=%d\n"
                % (job.micro_batch, job.accumulation, job.effective_batch, job.precision,
                   "true" if job.checkpointing else "false", job.optimizer_label(), self.device.peak)
            )
            sys.stdout.flush()


def _shape(elements, lead, leading=False):
    if elements and lead and elements % lead == 0:
        return (lead, elements // lead) if leading else (elements // lead, lead)
    return (elements,)


def _op_name(what, layer):
    return {
        "forward": "sequential/dense_%d/MatMul" % layer,
        "eval": "sequential/dense_%d/MatMul" % layer,
        "backward": "gradient_tape/sequential/dense_%d/MatMul/MatMul" % layer,
        "grad": "gradient_tape/sequential/dense_%d/MatMul/MatMul_1" % layer,
        "weight": "sequential/dense_%d/kernel/Initializer/random_uniform" % layer,
        "state": "Adam/m/sequential/dense_%d/kernel/Initializer/zeros" % layer,
    }.get(what, "sequential/dense_%d/MatMul" % layer)


class Driver:
    """Paces the steps: sim events, freeing activations, the simulated clock, the bar, stdout lines and
    evaluations. The clock (simulated seconds since the job started) advances by simgpu_speed's time of
    each micro-batch and optimizer step; step_end_hooks(step) run after each step's report,
    micro_end_hooks(k) after micro-batch k (1..accumulation-1) of a step."""

    def __init__(self, session):
        self.session = session
        self.job = session.job
        self.options = session.options
        self.step = 0
        self.start = 0  # the step a resumed job starts after
        self.ended = 0  # the last step end_step finished
        self.failure_pending = False
        self.speed = simgpu_speed.params(session.sim.env)
        self.clock = 0.0
        self.local_steps = 0  # optimizer steps this process began (the warm-up counts these)
        self.begun = 0  # the step begin_step began last
        self.step_started = 0.0
        self.step_seconds = 0.0  # the simulated time of the last step ended
        self.evals = 0
        self.step_end_hooks = []
        self.micro_end_hooks = []
        self.bar_metrics = []  # names of metrics a framework shows in its bar (Lightning's prog_bar)
        self.bar_style = simgpu_speed.BarStyle()
        self.progress = self._new_progress()

    def _new_progress(self):
        style = self.bar_style
        total = self.job.steps * (self.job.accumulation if style.per_micro else 1)
        bar = Progress(total, style.desc, sys.stderr, self.session.main, clock=lambda: self.clock,
                       smoothing=style.smoothing, charset=style.charset, invert=style.invert)
        bar.initial = self.bar_n(self.start)
        self.session.sim.before_traceback.append(bar.close)
        return bar

    def style_bar(self, style):
        """Draw the bar as a framework does (simgpu_speed.BarStyle); before it is first shown."""
        self.bar_style = style
        if not self.progress.shown:
            self.progress.closed = True
            self.progress = self._new_progress()

    def bar_n(self, step, micro=None):
        """The bar's position after `step` (or after micro-batch `micro` of it, per-micro bars)."""
        if not self.bar_style.per_micro:
            return step
        return (step - 1) * self.job.accumulation + micro if micro is not None else step * self.job.accumulation

    def show_bar(self, step, micro=None, initial=False):
        style = self.bar_style
        if initial:
            self.progress.show(self.bar_n(step))
        elif style.postfix is not None:
            self.progress.show(self.bar_n(step, micro), postfix=style.postfix(step))
        else:
            self.progress.show(self.bar_n(step, micro), loss_at(step))

    def resume(self, step):
        """The job resumes from a checkpoint of optimizer step `step`: it trains steps step+1..steps,
        the same schedule as a fresh run. Rank 0 says so on stdout before training."""
        self.start = self.step = self.ended = step
        self.progress.initial = self.bar_n(step)
        if self.session.main:
            sys.stdout.write("resumed at step %d of %d\n" % (step, self.job.steps))
            sys.stdout.flush()

    def steps(self):
        """Yield start+1..steps (1..steps unless resumed), with begin_step before and end_step after each."""
        for step in range(self.start + 1, self.job.steps + 1):
            self.begin_step(step)
            yield step
            self.end_step(step)
        self.progress.close()

    def begin_step(self, step):
        """The sim events due at the start of a step."""
        options = self.options
        self.step = step
        self._begin_clock(step)
        if step == self.start + 1:
            self.session.device.loaded()
            if options.unseen_step:
                self.session.device.usage.vanish()
            self.show_bar(self.start, initial=True)
        if step == 2 and options.sigkill_self:
            sys.stdout.flush()
            sys.stderr.flush()
            oom_kill_self(self.session.sim.env)
        if step == 2 and options.xid:
            gpu_fault(options.xid, self.session.sim.env)
        if step == 2 and options.fail:
            self.failure_pending = True
        if step == options.survive_oom:
            self.survive_oom()

    def end_step(self, step):
        """Free the step's activations, report it, and wait --sim-step-time (once per step)."""
        if self.ended == step:
            return
        self.ended = step
        job = self.job
        self.session.free_activations()
        if self.failure_pending:
            # The framework had no loss computation to fail in; fail here instead.
            self.failure_pending = False
            raise ValueError("Expected input batch_size (%d) to match target batch_size (%d)."
                             % (job.micro_batch, max(0, job.micro_batch - 1)))
        self._begin_clock(step)
        self.step_seconds = simgpu_speed.step_seconds(job, self.local_steps, self.speed)
        self.clock = self.step_started + self.step_seconds
        self.report(step)
        for hook in self.step_end_hooks:
            hook(step)
        if self.options.step_time:
            time.sleep(self.options.step_time)
        if self.speed.pace:
            time.sleep(self.speed.pace * self.step_seconds)

    def _begin_clock(self, step):
        if self.begun != step:
            self.begun = step
            self.local_steps += 1
            self.step_started = self.clock

    def _micro_done(self, micro):
        """Micro-batch `micro` (1-based) of the current step is done: its time passes."""
        per_micro = simgpu_speed.micro_batch_seconds(self.job, self.speed)
        factor = simgpu_speed.warmup_factor(self.local_steps)
        self.clock = max(self.clock, self.step_started + micro * per_micro * factor)
        if self.session.main and self.bar_style.per_micro:
            self.show_bar(self.step, micro)
        for hook in self.micro_end_hooks:
            hook(micro)

    def report(self, step):
        if not self.session.main:
            return
        loss = loss_at(step)
        sys.stdout.write("step %d/%d loss %.3f\n" % (step, self.job.steps, loss))
        sys.stdout.flush()
        self.show_bar(step)

    def take_failure(self):
        """True once, at step 2 with --sim-fail: the framework raises its own ValueError there."""
        pending, self.failure_pending = self.failure_pending, False
        return pending

    def micro_batches(self):
        """The step's micro-batches; at step 2 with --sim-dataloader-killed, the DataLoader dies."""
        for micro in range(self.job.accumulation):
            if micro and self.begun == self.step:
                self._micro_done(micro)
            self.session.free_activations()
            if self.step == 2 and micro == 0 and self.options.dataloader_killed:
                self.session.frameworks.kill_dataloader(self.session.workers)
            yield self.session.batch("train")

    def eval_due(self):
        job = self.job
        return bool(job.eval_every and self.step % job.eval_every == 0) or (
            job.eval_at_end and self.step == job.steps
        )

    def eval_batches(self, count=None, sanity=False):
        """Evaluation batches, on top of the weights alone (see the memory model): count of them (the job's
        eval_batches unless given). sanity: Lightning's sanity check before the first step, which reports
        its batches on a 'Sanity Checking' line rather than an eval line."""
        session = self.session
        device = session.device
        count = self.job.eval_batches if count is None else count
        if self.step and not sanity:
            # The step is over when its evaluation starts: report it first, as trainers log.
            self.end_step(self.step)
        session.free_activations()
        saved, session.phase = device.allocated, "eval"
        device.allocated = sum(session.plan.weights)
        preds = []
        for n in range(count):
            session.free_activations()
            yield session.batch("eval")
            preds.append(self._gather_predictions(n))
            if self.job.eval_accumulation and len(preds) == self.job.eval_accumulation:
                self._release(preds)
        session.free_activations()
        self._release(preds)
        device.allocated, session.phase = saved, "train"
        if sanity:
            if session.main:
                sys.stderr.write("Sanity Checking DataLoader 0: %d validation batches before the first step\n" % count)
                sys.stderr.flush()
            return
        self.evals += 1
        if session.main:
            sys.stdout.write("eval after step %d: loss %.3f\n" % (self.step, eval_loss_at(self.step)))
            sys.stdout.flush()

    def _gather_predictions(self, n):
        """An HF-style evaluation loop keeps batch n's predictions (logits) on the GPU."""
        session = self.session
        part = session.plan.eval_pred_part
        if part:
            # Not a live activation: it stays across batches until _release.
            elements = part // session.plan.act_elem
            session._allocate(part, _shape(elements, self.job.eval_batch, leading=True), session.dtype_name(),
                              _op_name("eval", LAYERS - 1))
        return part

    def _release(self, preds):
        """The predictions go to the host (eval_accumulation_steps reached, or the evaluation ended)."""
        for part in preds:
            if part:
                self.session.device.release(part)
        del preds[:]

    def survive_oom(self):
        """fairseq style: log the OOM of an oversized batch, skip it and go on."""
        session = self.session
        try:
            session.frameworks.spike(StepMemory(session, "spike"))
        except simgpu_oom.SimulatedOOM as err:
            session.free_activations()
            self.progress.close()
            started = self.progress.started
            self.progress = self._new_progress()
            self.progress.started = started
            sys.stderr.write("| WARNING: ran out of memory, skipping batch\n")
            sys.stderr.write(format_exception(err))
            sys.stderr.flush()


def train(session, training_step, eval_step=None, after_eval=None):
    """The plain PyTorch loop: the script's training_step(model, criterion, batch) per micro-batch,
    then the optimizer step, and eval_step(model, criterion, batch) when an evaluation is due, then
    after_eval(step) (e.g. a checkpoint). A resumed job has called session.driver.resume(S) first."""
    fw = session.frameworks
    driver = session.driver
    model = fw.torch_model()
    model.to("cuda:%d" % session.job.local_rank)
    optimizer = fw.optimizer(model)
    criterion = fw.torch.nn.CrossEntropyLoss()
    for _ in driver.steps():
        for batch in driver.micro_batches():
            training_step(model, criterion, batch)
        optimizer.step()
        optimizer.zero_grad()
        if eval_step is not None and driver.eval_due():
            for batch in driver.eval_batches():
                eval_step(model, criterion, batch)
            if after_eval is not None:
                after_eval(driver.step)
    session.finish()
