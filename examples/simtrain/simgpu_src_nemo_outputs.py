"""Where the simulated NeMo 2 job (bin/nemo) writes and what it reads back: NeMoLogger.setup's log
folder and loggers (nemo/lightning/nemo_logger.py), the ModelCheckpoint the recipes' log carries
(nemo/collections/llm/recipes/log/default.py) or Lightning's default one, and AutoResume's search for a
checkpoint to resume from (nemo/lightning/resume.py). Machinery of simgpu_src_nemo_load; what it does,
in the sim's terms, is in README.md, "NeMo 2" (Outputs).
"""

import json
import os
import re
import sys
import time
from pathlib import Path


def _is_cfg(value):
    """A config of simgpu_src_nemo_load's (Cfg: a class name and its parameters)."""
    return hasattr(value, "params") and hasattr(value, "target")


def _get(cfg, name, default=None):
    return cfg.get(name, default) if _is_cfg(cfg) else default


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class NotFoundError(Exception):
    pass


NotFoundError.__module__ = "nemo.utils.exp_manager"


class Outputs:
    """One run's NeMoLogger, checkpoint callback and AutoResume, from the task's configs."""

    def __init__(self, task):
        self.log = task.params.get("log")
        self.trainer_cfg = task.params["trainer"]
        self.resume = task.params.get("resume")
        self.model_name = task.params["model"].target
        self.log_dir = self.base = None
        self.checkpoint = None  # (every_n_train_steps, save_last) or "lightning"
        self.resume_from = None
        self.global_batch = 1
        self.saved = 0  # the step of the last checkpoint saved

    # --- NeMoLogger.setup ---------------------------------------------------------------------------

    def setup(self, trainer, resume_if_exists=False, task_config=None):
        log = self.log
        explicit = _get(log, "explicit_log_dir")
        if explicit:
            self.log_dir = self.base = Path(str(explicit))
            name, version = "", ""
        else:
            self.base = Path(str(_get(log, "dir") or Path.cwd() / "nemo_experiments"))
            name = _get(log, "name") or "default"
            version = _get(log, "version")
            if not version and not resume_if_exists and _get(log, "use_datetime_version", True):
                version = time.strftime("%Y-%m-%d_%H-%M-%S")
            self.log_dir = self.base / name / (version or "")
        os.makedirs(self.log_dir, exist_ok=True)
        sys.stdout.write("Experiments will be logged at %s\n" % self.log_dir)
        _write(str(self.log_dir / "nemo_log_globalrank-0_localrank-0.txt"), "")
        self._loggers(name, version)
        ckpt = _get(log, "ckpt")
        if _is_cfg(ckpt):
            self.checkpoint = (_get(ckpt, "every_n_train_steps") or 0, bool(_get(ckpt, "save_last", True)))
        elif self.trainer_cfg.get("enable_checkpointing") in (None, True):
            self.checkpoint = "lightning"
        return type("AppState", (), {"exp_dir": str(self.base), "log_dir": self.log_dir})()

    def _loggers(self, name, version):
        """The recipe's TensorBoard and W&B loggers, and Lightning's default one (logger None or True: a
        TensorBoardLogger at the working folder) when the log has no TensorBoard; update_logger_directory
        roots each logger's save_dir in the log's base folder (an absolute save_dir stays as it is)."""
        tb, wandb = _get(self.log, "tensorboard"), _get(self.log, "wandb")
        save_dirs = []
        default = self.trainer_cfg.get("logger") in (None, True)
        if _is_cfg(tb):
            save_dirs.append(str(_get(tb, "save_dir") or "tb_logs"))
        elif default:
            save_dirs.append(str(Path.cwd()))
        for save_dir in save_dirs:
            folder = self.base / save_dir / name / (version or "")
            _write(str(folder / "events.out.tfevents.simtrain"), "")
        if _is_cfg(wandb):
            _write(str(self.base / str(_get(wandb, "save_dir") or ".") / "wandb" / "run-simtrain" / "config.yaml"),
                   "project: %s\n" % _get(wandb, "project"))

    # --- AutoResume.setup ---------------------------------------------------------------------------

    def resume_setup(self, trainer, model=None):
        if os.environ.get("RANK", "0") != "0" and "SIMTRAIN_RESUME_FROM" in os.environ:
            self.resume_from = os.environ["SIMTRAIN_RESUME_FROM"] or None
            return
        resume = self.resume
        path = _get(resume, "resume_from_path")
        if path:
            if not os.path.isdir(str(path)):
                raise FileNotFoundError("Checkpoint at %s not found. Aborting training." % path)
            self.resume_from = str(path)
            return
        if not _get(resume, "resume_if_exists"):
            return
        folder = Path(str(_get(resume, "resume_from_directory") or self.log_dir / "checkpoints"))
        last = sorted(d for d in folder.glob("*last") if d.is_dir()) if folder.is_dir() else []
        if not last:
            message = ("There were no checkpoints found in checkpoint_dir or no checkpoint folder at checkpoint_dir "
                       ":%s. " % folder)
            if not _get(resume, "resume_ignore_no_checkpoint"):
                raise NotFoundError(message + "Cannot resume.")
            sys.stdout.write(message + "Training from scratch.\n")
            return
        self.resume_from = str(last[-1])

    def resume_step(self):
        """The optimizer step the run restores (Lightning's ckpt_path), or 0."""
        if self.resume_from is None:
            return 0
        sys.stdout.write("Restoring states from the checkpoint path at %s\n" % self.resume_from)
        match = re.search(r"step=([0-9]+)", self.resume_from)
        return int(match.group(1)) if match else 0

    # --- the checkpoint callback --------------------------------------------------------------------

    def _save(self, step, last):
        if os.environ.get("RANK", "0") != "0":
            # The simulated checkpoint is rank 0's alone: NeMo's ranks write their shards of one
            # distributed checkpoint between barriers, and rank 0 removes the old -last one; with
            # both ranks removing and writing unsynchronised, one rank deleted the folder the other
            # was writing into (a failure seen once in CI).
            return
        name = "%s--val_loss=0.00-step=%d-consumed_samples=%.1f" % (self.model_name, step, step * self.global_batch)
        folder = self.log_dir / "checkpoints"
        if last:
            for old in folder.glob("*-last") if folder.is_dir() else []:
                for root, dirs, files in os.walk(str(old), topdown=False):
                    for f in files:
                        os.remove(os.path.join(root, f))
                    for d in dirs:
                        os.rmdir(os.path.join(root, d))
                os.rmdir(str(old))
            name += "-last"
        _write(str(folder / name / "weights" / "metadata.json"), json.dumps({"step": step}) + "\n")
        sys.stdout.write("Saving checkpoint %s\n" % (folder / name))
        self.saved = step

    def on_train_step_end(self, step):
        if isinstance(self.checkpoint, tuple):
            every, save_last = self.checkpoint
            if every and step % every == 0:
                self._save(step, False)
                if save_last:
                    self._save(step, True)

    def on_validation_end(self, step):
        if self.checkpoint == "lightning":
            name = "epoch=0-step=%d.ckpt" % step
            _write(str(self.log_dir / "checkpoints" / name), "")
            sys.stdout.write("Saving checkpoint %s\n" % (self.log_dir / "checkpoints" / name))

    def on_train_end(self, step):
        if isinstance(self.checkpoint, tuple) and self.checkpoint[1] and step and step != self.saved:
            self._save(step, True)
