#!/usr/bin/env python3
"""A LightningCLI-style training script on the simulated GPU.

    python3 examples/simtrain/lightning_main.py fit [-c cfg.yaml]... [--trainer.precision bf16-mixed]
        [--trainer.accumulate_grad_batches N] [--data.batch_size N] [--trainer.strategy NAME]
        [--trainer.max_steps N] [--trainer.val_check_interval N] [--model.gradient_checkpointing true] \\
        [--trainer.callbacks+=ModelCheckpoint --trainer.callbacks.every_n_train_steps=N
         --trainer.callbacks.save_last=true --trainer.callbacks.dirpath=D] [--ckpt_path PATH]

Arguments apply left to right as jsonargparse applies them: a --key after a --config overrides it.
Values are read as YAML scalars; "--key value" and "--key=value" both work. Differences from the
real defaults, so that a large batch first fails in training: trainer.max_steps 20, no validation
unless trainer.val_check_interval is set, trainer.num_sanity_val_steps 0. data.val_batch_size
defaults to data.batch_size. No ModelCheckpoint unless one is given in trainer.callbacks (Lightning
adds a default one); then checkpoints go to <default_root_dir>/lightning_logs/version_<v>/checkpoints.
[--trainer.devices auto|N|-1|"0,1"|[0, 1]] [--trainer.accelerator auto|gpu|cuda|cpu] [--trainer.num_nodes 1]:
the Trainer starts trainer.devices processes as Lightning's subprocess launcher does (this one is rank 0 and
runs the command again for the others; none under torchrun), and the done line counts them all.
Also takes simtrain's --sim-* options (see README.md).
"""

import os
import importlib.metadata
import sys

try:
    import lightning  # real lightning when present
except ImportError:
    lightning = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402

FW = simgpu.Frameworks()
L = FW.lightning
nn = FW.torch.nn
optim = FW.torch.optim

PRECISION = {
    "32-true": "fp32", "32": "fp32", 32: "fp32", "16-mixed": "fp16", "16": "fp16", 16: "fp16",
    "bf16-mixed": "bf16", "bf16": "bf16", "16-true": "fp16-true", "bf16-true": "bf16-true",
    "64-true": "fp64-true", "64": "fp64-true", 64: "fp64-true", "transformer-engine": "bf16",
    "transformer-engine-float16": "fp16",
}
STRATEGIES = {"auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "dp", "single_device", "fsdp",
              "fsdp_cpu_offload", "deepspeed", "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload",
              "deepspeed_stage_3", "deepspeed_stage_3_offload", "deepspeed_stage_3_offload_nvme"}
DEFAULTS = {
    "trainer": {"accelerator": "auto", "strategy": "auto", "devices": "auto", "num_nodes": 1, "precision": "32-true",
                "logger": None, "callbacks": None, "fast_dev_run": False, "max_epochs": None, "min_epochs": None,
                "max_steps": 20, "min_steps": None, "max_time": None, "limit_train_batches": None,
                "limit_val_batches": None, "limit_test_batches": None, "limit_predict_batches": None,
                "overfit_batches": 0.0, "val_check_interval": None, "check_val_every_n_epoch": 1,
                "num_sanity_val_steps": 0, "log_every_n_steps": None, "enable_checkpointing": None,
                "enable_progress_bar": None, "enable_model_summary": None, "accumulate_grad_batches": 1,
                "gradient_clip_val": None, "gradient_clip_algorithm": None, "deterministic": None,
                "benchmark": None, "inference_mode": True, "use_distributed_sampler": True, "profiler": None,
                "detect_anomaly": False, "barebones": False, "plugins": None, "sync_batchnorm": False,
                "reload_dataloaders_every_n_epochs": 0, "default_root_dir": None},
    "model": {"learning_rate": 1e-3, "gradient_checkpointing": False},
    "data": {"batch_size": 16, "val_batch_size": None, "num_workers": 0, "data_dir": "data"},
    "seed_everything": True,
    "ckpt_path": None,
}
SUBCOMMANDS = ("fit", "validate", "test", "predict")
# trainer.callbacks: class paths by their short names, as jsonargparse resolves them
MODEL_CHECKPOINT = "lightning.pytorch.callbacks.ModelCheckpoint"
CALLBACKS = {name: "lightning.pytorch.callbacks." + name for name in (
    "ModelCheckpoint", "LearningRateMonitor", "TQDMProgressBar", "RichProgressBar", "ModelSummary",
    "RichModelSummary")}
# ModelCheckpoint's parameters (and their defaults); the sim acts on those with a comment
CHECKPOINT_ARGS = {
    "dirpath": None,  # the folder
    "filename": None,  # with {epoch} and {step}
    "monitor": None,  # only None: the sim's model logs no metrics
    "verbose": False, "save_last": None,  # true: also last.ckpt
    "save_top_k": 1,  # -1 all, 0 none, 1 the newest
    "save_weights_only": False, "mode": "min", "auto_insert_metric_name": True,
    "every_n_train_steps": None,  # a checkpoint every N optimizer steps
    "train_time_interval": None, "every_n_epochs": None, "save_on_train_epoch_end": None,
    "enable_version_counter": True,
}
USAGE = "usage: lightning_main.py [-h] [-c CONFIG] {fit,validate,test,predict} ..."


class SimLanguageModel(L.LightningModule):
    def __init__(self, learning_rate=1e-3, gradient_checkpointing=False):
        super().__init__()
        self.save_hyperparameters(learning_rate=learning_rate, gradient_checkpointing=gradient_checkpointing)
        self.learning_rate = learning_rate
        self.model = FW.torch_model()

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y)
        return loss

    def configure_optimizers(self):
        return optim.AdamW(self.parameters(), lr=self.learning_rate)


class SimDataModule(L.LightningDataModule):
    def __init__(self, batch_size=16, val_batch_size=None, num_workers=0, data_dir="data"):
        super().__init__()
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.data_dir = data_dir


def fail(message):
    sys.stderr.write("%s\nlightning_main.py: error: %s\n" % (USAGE, message))
    sys.exit(2)


def merge(config, loaded, source):
    if loaded is None:
        return
    if not isinstance(loaded, dict):
        fail("%s: expected a mapping with trainer:, model: and data: sections" % source)
    for key, value in loaded.items():
        if key not in config:
            fail("%s: unexpected key %r (known: %s)" % (source, key, ", ".join(config)))
        if isinstance(config[key], dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                fail("%s: %s: expected a mapping" % (source, key))
            for sub, sub_value in value.items():
                set_key(config, "%s.%s" % (key, sub), sub_value, source)
        else:
            config[key] = value


def set_key(config, dotted, value, source):
    section, _, key = dotted.partition(".")
    if dotted == "trainer.callbacks":
        config["trainer"]["callbacks"] = callback_list(value, source)
        return
    if section not in ("trainer", "model", "data") or key not in config[section]:
        fail("%s: unrecognized key %r" % (source, dotted))
    config[section][key] = value


def class_path(name, source):
    """A callback's full class path from what jsonargparse accepts: the class name or its import path."""
    if not isinstance(name, str):
        fail("%s: expected a callback class, got %r" % (source, name))
    short = name.rpartition(".")[2]
    prefixes = ("lightning.pytorch.callbacks.", "pytorch_lightning.callbacks.",
                "lightning.pytorch.callbacks.model_checkpoint.", "pytorch_lightning.callbacks.model_checkpoint.")
    if short in CALLBACKS and (name == short or any(name == p + short for p in prefixes)):
        return CALLBACKS[short]
    fail('%s: Import path %r does not correspond to a subclass of "Callback" (the sim knows %s)'
         % (source, name, ", ".join(sorted(CALLBACKS))))


def callback_entry(value, source):
    """One trainer.callbacks entry: a class name, or {class_path: ..., init_args: {...}}."""
    if isinstance(value, dict):
        unknown = set(value) - {"class_path", "init_args"}
        if unknown or "class_path" not in value:
            fail("%s: a callback is {class_path: ..., init_args: {...}}, got keys %s" % (source, sorted(value)))
        entry = {"class_path": class_path(value["class_path"], source), "init_args": {}}
        init_args = value.get("init_args") or {}
        if not isinstance(init_args, dict):
            fail("%s: init_args: expected a mapping" % source)
        for key, arg in init_args.items():
            set_callback_arg(entry, key, arg, source)
        return entry
    return {"class_path": class_path(value, source), "init_args": {}}


def callback_list(value, source):
    if value is None:
        return None
    if isinstance(value, list):
        return [callback_entry(item, source) for item in value]
    return [callback_entry(value, source)]


def flow_value(text):
    """A command-line value: a YAML scalar, or a flow mapping/sequence ('{class_path: ...}')."""
    if text.strip()[:1] in "[{":
        return simgpu.load_yaml("value: " + text.strip(), "command line")["value"]
    return simgpu.parse_yaml_scalar(text)


def set_callback_arg(entry, key, value, source):
    if entry["class_path"] != MODEL_CHECKPOINT:
        entry["init_args"][key] = value  # the sim's other callbacks do nothing
        return
    if key not in CHECKPOINT_ARGS:
        fail("%s: ModelCheckpoint has no parameter %r (known: %s)" % (source, key, ", ".join(CHECKPOINT_ARGS)))
    ok = {
        "dirpath": lambda v: v is None or isinstance(v, str),
        "filename": lambda v: v is None or isinstance(v, str),
        "monitor": lambda v: v is None,
        "save_last": lambda v: v is None or isinstance(v, bool),
        "save_top_k": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "every_n_train_steps": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
        "every_n_epochs": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    }.get(key, lambda v: True)
    if not ok(value):
        fail("%s: ModelCheckpoint(%s=%r) is not supported by the sim (see README.md)" % (source, key, value))
    entry["init_args"][key] = value


def add_callbacks(config, flag, value):
    """--trainer.callbacks(+)=X and --trainer.callbacks.KEY=V (KEY also init_args.KEY): jsonargparse's list
    appending and the arguments of the last callback given."""
    trainer = config["trainer"]
    if flag == "--trainer.callbacks+":
        trainer["callbacks"] = (trainer["callbacks"] or []) + callback_list(flow_value(value), flag)
    elif flag == "--trainer.callbacks":
        trainer["callbacks"] = callback_list(flow_value(value), flag)
    else:
        key = flag[len("--trainer.callbacks."):]
        if key.startswith("init_args."):
            key = key[len("init_args."):]
        if not trainer["callbacks"]:
            fail("%s: give a callback first (--trainer.callbacks+=ModelCheckpoint)" % flag)
        set_callback_arg(trainer["callbacks"][-1], key, simgpu.parse_yaml_scalar(value), flag)


def make_callbacks(config):
    """The callback objects LightningCLI would instantiate from trainer.callbacks."""
    callbacks = []
    for entry in config["trainer"]["callbacks"] or []:
        if entry["class_path"] == MODEL_CHECKPOINT:
            callbacks.append(L.ModelCheckpoint(**entry["init_args"]))
    return callbacks


def parse(argv):
    """(subcommand, config) the way LightningCLI reads them."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in DEFAULTS.items()}
    pending = []
    i = 0
    while i < len(argv) and argv[i] not in SUBCOMMANDS:
        pending.append(argv[i])
        i += 1
    if i == len(argv):
        fail('expected "subcommand" to be one of {fit,validate,test,predict}, but it was not provided.')
    subcommand, args = argv[i], pending + argv[i + 1:]
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in ("-h", "--help"):
            sys.stdout.write(USAGE + "\n")
            sys.exit(0)
        if not flag.startswith("-"):
            fail("Unrecognized arguments: %s" % " ".join(args[i:]))
        if not eq:
            if i + 1 >= len(args):
                fail("expected one argument for %s" % flag)
            value = args[i + 1]
            i += 1
        i += 1
        if flag in ("-c", "--config"):
            try:
                merge(config, simgpu.load_yaml_file(value), value)
            except simgpu.YAMLError as err:
                fail(str(err))
        elif flag in ("--seed_everything", "--ckpt_path"):
            config[flag[2:]] = simgpu.parse_yaml_scalar(value)
        elif flag in ("--trainer.callbacks", "--trainer.callbacks+") or flag.startswith("--trainer.callbacks."):
            add_callbacks(config, flag, value)
        elif flag.startswith("--") and "." in flag:
            set_key(config, flag[2:], flow_value(value), flag)
        else:
            fail("Unrecognized arguments: %s" % arg)
    return subcommand, config


def positive_int(config, dotted):
    section, key = dotted.split(".")
    value = config[section][key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail("Key %r: expected an integer >= 1, got %r" % (dotted, value))
    return value


def deepspeed_installed():
    try:
        importlib.metadata.distribution("deepspeed")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def make_job(config):
    trainer = config["trainer"]
    if trainer["precision"] not in PRECISION:
        fail("Key 'trainer.precision': %r is not one of %s" % (trainer["precision"], ", ".join(map(str, PRECISION))))
    strategy = trainer["strategy"]
    if strategy not in STRATEGIES:
        fail("Key 'trainer.strategy': unknown strategy %r (known: %s)" % (strategy, ", ".join(sorted(STRATEGIES))))
    if strategy.startswith("deepspeed") and not deepspeed_installed():
        # Lightning's DeepSpeedStrategy refuses to start without DeepSpeed:
        # its RequirementCache("deepspeed") asks the package metadata, so a
        # deepspeed module with no installed distribution (a source
        # checkout on PYTHONPATH) does not count.
        sys.stderr.write("Traceback (most recent call last):\n  File \"lightning_main.py\", line 1, in <module>\n"
                         "lightning.fabric.utilities.exceptions.MisconfigurationException: To use the `DeepSpeedStrategy`, "
                         "you must have DeepSpeed installed. Install it by running `pip install -U deepspeed`.\n")
        sys.exit(1)
    stage = 2 if strategy == "deepspeed" else int(strategy[len("deepspeed_stage_")]) if strategy.startswith(
        "deepspeed_stage_") else 0
    batch = positive_int(config, "data.batch_size")
    steps = positive_int(config, "trainer.max_steps")
    interval = trainer["val_check_interval"]
    if isinstance(interval, float):
        interval = max(1, round(interval * steps))
    if interval is not None and (not isinstance(interval, int) or interval < 1):
        fail("Key 'trainer.val_check_interval': expected a positive number, got %r" % (interval,))
    if trainer["logger"] not in (None, True, False):
        fail("Key 'trainer.logger': the sim takes only true or false, got %r" % (trainer["logger"],))
    root = trainer["default_root_dir"]
    if root is not None and not isinstance(root, str):
        fail("Key 'trainer.default_root_dir': expected a path, got %r" % (root,))
    if config["ckpt_path"] is not None and not isinstance(config["ckpt_path"], str):
        config["ckpt_path"] = str(config["ckpt_path"])
    checkpointing = config["model"]["gradient_checkpointing"]
    if not isinstance(checkpointing, bool):
        fail("Key 'model.gradient_checkpointing': expected true or false, got %r" % (checkpointing,))
    return simgpu.Job(
        "lightning_main.py", micro_batch=batch, accumulation=positive_int(config, "trainer.accumulate_grad_batches"),
        eval_batch=config["data"]["val_batch_size"] or batch, precision=PRECISION[trainer["precision"]],
        checkpointing=checkpointing, optimizer="adamw", offload="offload" in strategy, zero_stage=stage,
        steps=steps, eval_every=interval or 0,
    )


def open_session(sim, job, strategy):
    """The job on this process's simulated GPU, once the Trainer has started its processes (devices x num_nodes,
    the ones after the first re-running this command): its world size, its rank and its GPU."""
    job.world_size, job.rank = strategy.world_size, strategy.global_rank
    job.local_rank = strategy.root_device.index  # the Session's cuda:<index>
    return sim.session(job)


def main():
    sim = simgpu.start(default_format="pytorch", frameworks=FW)
    subcommand, config = parse(sim.argv)
    if subcommand != "fit":
        fail("the simulated CLI runs only 'fit', not %r" % subcommand)
    job = make_job(config)
    L.open_session = lambda strategy: open_session(sim, job, strategy)
    trainer_config = config["trainer"]
    model = SimLanguageModel(**config["model"])
    datamodule = SimDataModule(**config["data"])
    trainer = L.Trainer(
        accelerator=trainer_config["accelerator"], devices=trainer_config["devices"],
        num_nodes=trainer_config["num_nodes"], precision=trainer_config["precision"],
        accumulate_grad_batches=job.accumulation, strategy=trainer_config["strategy"], max_steps=job.steps,
        num_sanity_val_steps=trainer_config["num_sanity_val_steps"], val_check_interval=job.eval_every or None,
        callbacks=make_callbacks(config), logger=trainer_config["logger"],
        default_root_dir=trainer_config["default_root_dir"],
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=config["ckpt_path"])
    FW.session.finish()


if __name__ == "__main__":
    main()
