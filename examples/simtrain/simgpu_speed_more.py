"""The speed lines of more simulated frameworks (verl's SFT trainer, NeMo 2), on the simulated clock of
simgpu_speed, as the frameworks print them:

  verl   its console logger (verl/utils/tracking.py's Tracking with backend "console", which prints
         verl/utils/logger/aggregate_logger.py's concat_dict_to_str): "step:3 - train/loss:2.31 -
         train/lr(1e-3):0.01 - train/time(s):0.21", each value pprint.pformat'ed; and its epoch bar,
         tqdm(train_dataloader, desc="Epoch 1/4", total=steps_per_epoch, initial=...) in
         verl/trainer/fsdp_sft_trainer.py, one tick per training step.
  NeMo 2 ProgressPrinter (nemo/lightning/pytorch/callbacks/progress_printer.py), which MegatronStrategy puts
         in place of Lightning's bar (replace_progress_bar, progress_interval 1): on rank 0, after every
         optimizer step, "Training epoch 0, iteration 0/19 | lr: 0.0001 | global_batch_size: 128 |
         global_step: 0 | reduced_train_loss: 2.64 | train_step_timing in s: 10.82 | consumed_samples: 128",
         train_step_timing being TimingCallback's (nemo/utils/exp_manager.py) time of the step.
"""

import numbers
import pprint
import sys

import simgpu_speed


# --- verl --------------------------------------------------------------------------------------------

def verl_console_line(data, step):
    """concat_dict_to_str: 'step:N' and each numeric value as 'key:pformat(value)', joined by ' - '."""
    output = ["step:%s" % step]
    for key, value in data.items():
        if isinstance(value, numbers.Number):
            output.append("%s:%s" % (key, pprint.pformat(value)))
    return " - ".join(output)


def verl_step_seconds(driver):
    """What training_step measures around the current step with time.time(): its simulated time (micro-batches
    and optimizer step, warm-up included), as the driver will advance its clock by at the step's end."""
    return simgpu_speed.step_seconds(driver.job, driver.local_steps, driver.speed)


class EpochBar(simgpu_speed.Progress):
    """tqdm over one epoch's dataloader: its position is the driver's step less the steps of the epochs before
    (offset)."""

    def __init__(self, offset, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offset = offset

    def show(self, n, loss=None, postfix=None):
        super().show(n - self.offset, loss, postfix)


def verl_epoch_bar(driver, desc, total, initial=0, disable=False):
    """The bar of a new epoch in place of the driver's: the step before it is reported first (on the bar of the
    epoch it ends), then the new bar starts at `initial` of `total` steps. tqdm draws it at once; the driver
    draws the first epoch's when its first step begins."""
    if driver.step > driver.ended:
        driver.end_step(driver.step)
    driver.progress.close()
    driver.bar_style = simgpu_speed.BarStyle(desc=desc, charset=simgpu_speed.UNICODE, postfix=lambda step: "")
    bar = EpochBar(driver.step - initial, total, desc, sys.stderr, driver.session.main and not disable,
                   clock=lambda: driver.clock, charset=simgpu_speed.UNICODE)
    bar.initial = initial
    driver.session.sim.before_traceback.append(bar.close)
    driver.progress = bar
    if driver.step > driver.start:
        bar.show(driver.step, postfix="")
    return bar


# --- NeMo 2 ------------------------------------------------------------------------------------------

def nemo_number(value):
    """ProgressPrinter.format_string's value: an integral float as an int, any other as '{:.4}'."""
    value = float(value)
    return str(int(value)) if value.is_integer() else "{:.4}".format(value)


class NeMoProgressPrinter:
    """NeMo 2's ProgressPrinter with log_interval 1 on rank 0 (the others' is disabled). Its metrics are those the
    run logs with prog_bar=True, in the order they are logged: the scheduler's lr, the global batch, the step,
    the reduced loss, TimingCallback's 'train_step_timing in s' when the trainer has the callback (timing), and
    consumed_samples once a step has been consumed. The lr is the optimizer config's (the sim does not simulate
    the schedule)."""

    def __init__(self, driver, global_batch, lr, timing):
        self.driver = driver
        self.global_batch = global_batch
        self.lr = lr
        self.timing = timing
        driver.progress.enabled = False  # the printer is in place of Lightning's bar
        driver.step_end_hooks.append(self.step_end)

    def metrics(self, step):
        import simgpu_run
        n = step - 1
        out = [("lr", self.lr), ("global_batch_size", float(self.global_batch)), ("global_step", float(n)),
               ("reduced_train_loss", simgpu_run.loss_at(step))]
        if self.timing:
            out.append(("train_step_timing in s", self.driver.step_seconds))
        if n > 0:
            out.append(("consumed_samples", float(step * self.global_batch)))
        return out

    def line(self, step):
        prefix = "Training epoch 0, iteration %d/%d" % (step - 1, self.driver.job.steps)
        return prefix + "".join(" | %s: %s" % (name, nemo_number(value)) for name, value in self.metrics(step))

    def step_end(self, step):
        if self.driver.session.main:
            sys.stdout.write(self.line(step) + "\n")
            sys.stdout.flush()
