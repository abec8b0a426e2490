"""What the simulated NeMo 1 script (simgpu_src_nemo1_load) prints and writes besides its training: NeMo's
logger (nemo/utils/nemo_logging.py: '[NeMo I 2026-01-02 10:00:00 exp_manager:396] ...', INFO on stdout, the
rest on stderr, and the log files exp_manager adds), the loggers exp_manager configures (configure_loggers:
TensorBoard and W&B under the log folder; MLflow's ./mlruns and DLLogger's ./dllogger.json in the working
folder, their defaults), NeMoModelCheckpoint's checkpoints (nemo/utils/callbacks/nemo_model_checkpoint.py: a
distributed checkpoint folder after every validation, and the -last one, also at the end of training when
the last step did not validate) and CustomProgressBar (nemo/collections/nlp/parts/nlp_overrides.py), whose
postfix carries the metrics logged with prog_bar=True, TimingCallback's "train_step_timing in s" among them.
Frames of this file are hidden from printed tracebacks.
"""

import datetime
import inspect
import json
import os
import shutil
import sys
from pathlib import Path

import simgpu_run
import simgpu_speed
from simgpu_model import hidden_file

# --- NeMo's logger ---------------------------------------------------------------------------------------


class NeMoLogging:
    """nemo.utils.logging: rank 0's lines (the sim's other ranks log nothing), and the files it is given."""

    def __init__(self):
        self.rank = 0
        self.files = []

    def _log(self, level, message):
        caller = inspect.currentframe().f_back.f_back
        while caller.f_back is not None and hidden_file(caller.f_code.co_filename):
            caller = caller.f_back
        module = os.path.splitext(os.path.basename(caller.f_code.co_filename))[0]
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        line = "[NeMo %s %s %s:%d] %s\n" % (level, stamp, module, caller.f_lineno, message)
        for path in self.files:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
        if int(os.environ.get("RANK", "0") or 0) != 0:
            return
        stream = sys.stdout if level == "I" else sys.stderr
        sys.stdout.flush()
        stream.write(line)
        stream.flush()

    def info(self, message):
        self._log("I", message)

    def warning(self, message):
        self._log("W", message)

    def error(self, message):
        self._log("E", message)

    def debug(self, message):
        pass

    def add_file_handler(self, path):
        open(str(path), "a").close()
        self.files.append(str(path))

    def add_err_file_handler(self, path):
        open(str(path), "a").close()


LOGGING = NeMoLogging()


def add_filehandlers_to_pl_logger(all_log_file, err_log_file):
    for path in (all_log_file, err_log_file):
        open(str(path), "a").close()


def _write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w", encoding="utf-8") as f:
        f.write(text)


# --- exp_manager's loggers -------------------------------------------------------------------------------

class _Logger:
    def __init__(self, name, save_dir, version):
        self.name, self.save_dir, self.version = name, save_dir, version


def configure_loggers(trainer, exp_dir, log_dir, cfg):
    """exp_manager's configure_loggers: each logger the config turns on, attached to the trainer."""
    loggers = []
    if cfg.create_tensorboard_logger:
        # TensorBoardLogger(save_dir=exp_dir, name=name, version=version): its folder is the log folder.
        _write(Path(log_dir) / "events.out.tfevents.simtrain", "")
        _write(Path(log_dir) / "hparams.yaml", "cfg: {}\n")
        loggers.append(_Logger(cfg.name, exp_dir, cfg.version))
        LOGGING.info("TensorboardLogger has been set up")
    if cfg.create_wandb_logger:
        _write(Path(exp_dir) / "wandb" / "run-simtrain" / "config.yaml", "name: %s\n" % cfg.name)
        loggers.append(_Logger(cfg.name, exp_dir, cfg.version))
        LOGGING.info("WandBLogger has been set up")
    if cfg.create_mlflow_logger:
        kwargs = cfg.mlflow_logger_kwargs or {}
        uri = str(kwargs.get("tracking_uri") or "file:./mlruns")
        _write(Path(uri[len("file:"):] if uri.startswith("file:") else uri) / "0" / "meta.yaml", "name: Default\n")
        loggers.append(_Logger(cfg.name, exp_dir, cfg.version))
        LOGGING.info("MLFlowLogger has been set up")
    if cfg.create_dllogger_logger:
        kwargs = cfg.dllogger_logger_kwargs or {}
        _write(Path(str(kwargs.get("json_file") or "./dllogger.json")), "")
        loggers.append(_Logger(cfg.name, exp_dir, cfg.version))
        LOGGING.info("DLLogger has been set up")
    for service in ("clearml", "neptune"):
        if cfg.get("create_%s_logger" % service):
            raise NotImplementedError("simtrain: exp_manager.create_%s_logger (a logging service) is not simulated"
                                      % service)
    trainer.loggers = loggers


# --- NeMoModelCheckpoint -----------------------------------------------------------------------------------

class ModelCheckpoint:
    """Lightning's ModelCheckpoint, as a type to tell one in trainer.callbacks (the default one a Trainer with
    enable_checkpointing=True adds saves 'epoch=0-step=N.ckpt' under the trainer's default_root_dir, which
    exp_manager sets to the log folder, after each validation and at the end of training)."""

    def __init__(self, dirpath=None):
        self.dirpath = dirpath
        self.trainer = None

    def _folder(self, trainer):
        return Path(str(self.dirpath or Path(str(trainer._default_root_dir)) / "checkpoints"))

    def _save_default(self, trainer, step):
        if int(os.environ.get("RANK", "0") or 0) == 0:
            _write(self._folder(trainer) / ("epoch=0-step=%d.ckpt" % step), "simulated checkpoint\n")

    def on_validation_end(self, trainer, step):
        self._save_default(trainer, step)

    def on_train_end(self, trainer, step):
        self._save_default(trainer, step)


class CustomProgressBar:
    """The callback MegatronTrainerBuilder adds (drawn by BarLine)."""


class NeMoModelCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint as NeMo 1's exp_manager configures it (monitor val_loss, save_last): after
    every validation a distributed checkpoint folder named by the filename template, and the -last one in place
    of the previous -last; at the end of training a -last one when the last step did not validate; a .nemo file
    with save_nemo_on_train_end. Each checkpoint is rank 0's (a folder of small files)."""

    CHECKPOINT_NAME_LAST = None

    def __init__(self, n_resume=False, **params):
        self.params = params
        self.dirpath = Path(str(params.get("dirpath")))
        self.filename = params.get("filename") or "{epoch}"
        self.save_last = params.get("save_last", True)
        self.save_top_k = params.get("save_top_k", 3)
        self.verbose = params.get("verbose", True)
        self.last_model_path = ""
        self.saved_step = 0
        self.validated = 0  # the step of the last validation

    def format_checkpoint_name(self, metrics):
        """ModelCheckpoint.format_checkpoint_name with auto_insert_metric_name: '{val_loss:.2f}' becomes
        'val_loss=2.41'."""
        name = self.filename
        for key, value in metrics.items():
            for spec in ("{%s:.2f}" % key, "{%s:.4f}" % key, "{%s}" % key):
                if spec in name:
                    fmt = spec[len(key) + 1:-1] or ""
                    name = name.replace(spec, "%s=%s" % (key, ("{%s}" % fmt).format(value)))
        return name

    def _metrics(self, trainer, step):
        # The monitored value is the last validation's (a candidate missing from the metrics formats as 0).
        val_loss = simgpu_run.eval_loss_at(self.validated) if self.validated else 0.0
        return {"val_loss": val_loss, "step": step, "epoch": 0,
                "consumed_samples": float(step * trainer.sim_global_batch)}

    def _save(self, name, step):
        if int(os.environ.get("RANK", "0") or 0) != 0:
            return None
        folder = self.dirpath / name
        _write(folder / "metadata.json", json.dumps({"sharded_backend": "torch_dist", "step": step}) + "\n")
        _write(folder / "common.pt", "simulated checkpoint, step %d\n" % step)
        return folder

    def _save_last(self, trainer, step):
        if not self.save_last:
            return
        name = self.format_checkpoint_name(self._metrics(trainer, step)) + "-last"
        if self.dirpath.is_dir():
            for old in self.dirpath.glob("*-last"):
                if old.name != name and int(os.environ.get("RANK", "0") or 0) == 0:
                    shutil.rmtree(str(old))
        self.last_model_path = str(self._save(name, step))

    def on_validation_end(self, trainer, step):
        self.validated = step
        metrics = self._metrics(trainer, step)
        folder = self._save(self.format_checkpoint_name(metrics), step)
        if folder is not None and self.verbose:
            sys.stderr.write("Epoch 0, global step %d: 'val_loss' reached %.5f (best %.5f), saving model to %r as top %d\n"
                             % (step, metrics["val_loss"], metrics["val_loss"], str(folder), self.save_top_k))
            sys.stderr.flush()
        self._save_last(trainer, step)
        self.saved_step = step

    def on_train_end(self, trainer, step):
        if step and step != self.saved_step:
            self._save_last(trainer, step)
        if self.params.get("save_nemo_on_train_end") and int(os.environ.get("RANK", "0") or 0) == 0:
            _write(self.dirpath / ("%s.nemo" % (self.params.get("prefix") or "model")), "simulated .nemo\n")


# --- CustomProgressBar -------------------------------------------------------------------------------------

def tqdm_format_num(n):
    """tqdm.format_num: '{:.3g}' with the exponent's zeros dropped, unless str(n) is no longer."""
    f = "{0:.3g}".format(n).replace("+0", "+").replace("-0", "-")
    s = str(n)
    return f if len(f) < len(s) else s


def lightning_format_num(n):
    """Lightning's Tqdm.format_num: tqdm's, floats padded with zeros to 5 characters."""
    text = tqdm_format_num(n)
    if isinstance(n, float) and "e" not in text:
        if "." not in text and len(text) < 5:
            text += "."
        text += "0" * (5 - len(text))
    return text


class BarLine(simgpu_speed.Progress):
    """CustomProgressBar's line: the bar NeMo 1's MegatronTrainerBuilder adds: one tick per global batch (optimizer step), the total the
    trainer's max_steps, smoothing 0 (Lightning's), and bar_format '{desc}: {percentage:3.0f}%|{bar}|
    {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]' with desc 'Epoch 0: ' (tqdm's set_description
    adds the ': '), so no rate: 'Epoch 0: :  40%|████      | 2/5 [00:01<00:01, reduced_train_loss=2.640,
    global_step=1.000, consumed_samples=512.0, train_step_timing in s=0.213]'."""

    def show(self, n, loss=None, postfix=None):
        if not self.enabled or self.closed:
            return
        now = self.clock()
        rate = self.rate(n, now)
        frac = min(1.0, n / self.total) if self.total else 1.0
        remaining = simgpu_speed.format_interval((self.total - n) / rate) if rate else "?"
        self.stream.write("\r%s: : %3.0f%%|%s| %d/%d [%s<%s%s]" % (
            self.desc, frac * 100, self.bar(frac), n, self.total, simgpu_speed.format_interval(now - self.started),
            remaining, ", " + postfix if postfix else ""))
        self.stream.flush()
        self.shown = True


class BarMetrics:
    """Lightning's progress_bar_metrics: what the run logged with prog_bar=True, in the order first logged, with
    the sim's values (the fake tensors carry none), read when the bar is drawn at a step's end: the loss curve,
    the step, the consumed samples and the step's simulated time (TimingCallback's, measured around the step);
    the validation loss is the last validation's."""

    def __init__(self, driver, global_batch):
        self.driver = driver
        self.global_batch = global_batch
        self.values = {}

    def log(self, name, value, prog_bar=False):
        if not prog_bar:
            return
        driver = self.driver
        live = {"reduced_train_loss": lambda: simgpu_run.loss_at(driver.step),
                "global_step": lambda: float(driver.step - 1),
                "consumed_samples": lambda: float(driver.step * self.global_batch),
                "train_step_timing in s": lambda: driver.step_seconds}
        if name == "val_loss":
            value = simgpu_run.eval_loss_at(driver.step)
        self.values[name] = live.get(name, value)

    def postfix(self, step):
        return ", ".join("%s=%s" % (name, lightning_format_num(value() if callable(value) else value))
                         for name, value in self.values.items())


def attach_bar(driver, total, metrics):
    """The driver's bar becomes CustomProgressBar (rank 0's; Lightning draws none on the others)."""
    driver.bar_style = simgpu_speed.BarStyle(desc="Epoch 0", charset=simgpu_speed.UNICODE, smoothing=0,
                                             postfix=metrics.postfix, invert=False)
    bar = BarLine(total, "Epoch 0", sys.stderr, driver.session.main, clock=lambda: driver.clock,
                            smoothing=0, charset=simgpu_speed.UNICODE, invert=False)
    bar.initial = driver.start
    driver.progress.closed = True
    driver.session.sim.before_traceback.append(bar.close)
    driver.progress = bar
