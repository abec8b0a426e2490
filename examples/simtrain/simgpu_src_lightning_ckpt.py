"""Source text of the simulated Lightning checkpoint save and restore.

The checkpoint connector (the checkpoint's content, `fit --ckpt_path` restore), the torch I/O plugin
and cloud_io (atomic save, load) and the TensorBoard logger's version folders. simgpu_src_lightning
merges these SOURCES into its own (see simgpu_src_torch.py).
"""

SOURCES = {}

SOURCES["lightning/pytorch/trainer/connectors/checkpoint_connector.py"] = '''
class _CheckpointConnector:
    def __init__(self, trainer):
        self.trainer = trainer
        self._ckpt_path = None
        # Restored checkpoint
        self._loaded_checkpoint = {}

    def resume_start(self, checkpoint_path=None):
        """Attempts to pre-load the checkpoint file to memory, with the source path determined in this priority:

        1. from HPC weights if `checkpoint_path` is ``None`` and on SLURM or passed keyword `"hpc"`.
        2. from fault-tolerant auto-saved checkpoint if found
        3. from `checkpoint_path` file if provided
        4. don't restore

        """
        self._ckpt_path = checkpoint_path
        if not checkpoint_path:
            log.debug("`checkpoint_path` not specified. Skipping checkpoint loading.")
            return

        rank_zero_info(f"Restoring states from the checkpoint path at {checkpoint_path}")
        with pl_legacy_patch():
            loaded_checkpoint = self.trainer.strategy.load_checkpoint(checkpoint_path)
        self._loaded_checkpoint = _pl_migrate_checkpoint(loaded_checkpoint, checkpoint_path)

    def resume_end(self):
        """Signal the connector that all states have resumed and memory for the checkpoint object can be released."""
        assert self.trainer.state.fn is not None
        if self._ckpt_path:
            message = "Restored all states" if self.trainer.state.fn == TrainerFn.FITTING else "Loaded model weights"
            rank_zero_info(f"{message} from the checkpoint at {self._ckpt_path}")

        # free memory
        self._loaded_checkpoint = {}
        torch.cuda.empty_cache()

        # wait for all to catch up
        self.trainer.strategy.barrier("_CheckpointConnector.resume_end")

    def _restore_modules_and_callbacks(self, checkpoint_path=None):
        # restore modules after setup
        self.resume_start(checkpoint_path)
        self.restore_model()
        self.restore_datamodule()
        self.restore_callbacks()

    def restore_model(self):
        if not self._loaded_checkpoint:
            return

    def restore_datamodule(self):
        if not self._loaded_checkpoint:
            return

    def restore_callbacks(self):
        """Restores all callbacks from the pre-loaded checkpoint."""
        if not self._loaded_checkpoint:
            return

        trainer = self.trainer
        call._call_callbacks_load_state_dict(trainer, self._loaded_checkpoint)

    def restore_training_state(self):
        """Restore the trainer state from the pre-loaded checkpoint.

        This includes the precision settings, loop progress, optimizer states and learning rate scheduler states.

        """
        if not self._loaded_checkpoint:
            return

        # restore loops and their progress
        self.restore_loops()

    def restore_loops(self):
        """Restores the loop progress from the pre-loaded checkpoint.

        Calls hooks on the loops to give it a chance to restore its state from the checkpoint.

        """
        if not self._loaded_checkpoint:
            return

        fit_loop = self.trainer.fit_loop
        assert self.trainer.state.fn is not None
        if self.trainer.state.fn == TrainerFn.FITTING:
            # (the sim's loops count only optimizer steps: the checkpoint's global_step)
            fit_loop.load_state_dict({"global_step": self._loaded_checkpoint["global_step"]})

    def dump_checkpoint(self, weights_only=False):
        """Creating a model checkpoint dictionary object from various component states."""
        trainer = self.trainer
        model = trainer.lightning_module

        checkpoint = {
            # the epoch and global step are saved for compatibility but they are not relevant for restoration
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "pytorch-lightning_version": pl.__version__,
            "loops": self._get_loops_state_dict(),
        }

        if not weights_only:
            # dump callbacks
            checkpoint["callbacks"] = call._call_callbacks_state_dict(trainer)
            checkpoint["optimizer"] = type(trainer.optimizers[0].optimizer).__name__.lower()
            checkpoint["precision"] = trainer.precision

        # dump hyper-parameters
        if model.hparams:
            checkpoint["hparams_name"] = "kwargs"
            checkpoint["hyper_parameters"] = dict(model.hparams)

        return checkpoint

    def _get_loops_state_dict(self):
        return {
            "fit_loop": self.trainer.fit_loop.state_dict(),
        }
'''

SOURCES["lightning/fabric/plugins/io/torch_io.py"] = '''
class TorchCheckpointIO(CheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError(
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
                f" is not supported for `{self.__class__.__name__}`. Please implement your custom `CheckpointIO`"
                " to define how you'd like to use `storage_options`."
            )
        fs = get_filesystem(path)
        fs.makedirs(os.path.dirname(path), exist_ok=True)
        _atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        # Try to read the checkpoint at `path`. If not exist, do not restore checkpoint.
        fs = get_filesystem(path)
        if not fs.exists(path):
            raise FileNotFoundError(f"Checkpoint file not found: {path}")

        return pl_load(path, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path):
        fs = get_filesystem(path)
        if fs.exists(path):
            fs.rm(path, recursive=True)
            log.debug(f"Removed checkpoint: {path}")
'''

SOURCES["lightning/fabric/utilities/cloud_io.py"] = '''
def _load(path_or_url, map_location=None, weights_only=None):
    """Loads a checkpoint.

    Args:
        path_or_url: Path or URL of the checkpoint.
        map_location: a function, ``torch.device``, string or a dict specifying how to remap storage locations.

    """
    if not isinstance(path_or_url, (str, Path)):
        # any sort of BytesIO or similar
        return torch.load(path_or_url, map_location=map_location, weights_only=weights_only)
    fs = get_filesystem(path_or_url)
    with fs.open(path_or_url, "rb") as f:
        return torch.load(f, map_location=map_location, weights_only=weights_only)


def _atomic_save(checkpoint, filepath):
    """Saves a checkpoint atomically, avoiding the creation of incomplete checkpoints.

    Args:
        checkpoint: The object to save.
            Built to be used with the ``dump_checkpoint`` method, but can deal with anything which ``torch.save``
            accepts.
        filepath: The path to which the checkpoint will be saved.
            This points to the file that the checkpoint will be stored in.

    """
    bytesbuffer = io.BytesIO()
    log.debug(f"Saving checkpoint: {filepath}")
    torch.save(checkpoint, bytesbuffer)
    # We write to a temporary file in the same folder and rename it over the target
    # to avoid file corruption if the save gets interrupted
    directory, name = os.path.split(os.fspath(filepath))
    tmp_path = os.path.join(directory, f".{name}.tmp")
    with open(tmp_path, "wb") as f:
        f.write(bytesbuffer.getvalue())
    os.replace(tmp_path, filepath)
'''

SOURCES["lightning/pytorch/loggers/tensorboard.py"] = '''
class TensorBoardLogger(Logger):
    def __init__(self, save_dir, name="lightning_logs", version=None, **kwargs):
        super().__init__()
        save_dir = os.fspath(save_dir) if isinstance(save_dir, Path) else save_dir
        self._root_dir = save_dir
        self._name = name or ""
        self._version = version
        self._fs = get_filesystem(save_dir)

    @property
    def name(self):
        return self._name

    @property
    def root_dir(self):
        return os.path.join(self.save_dir, self.name)

    @property
    def save_dir(self):
        return self._root_dir

    @property
    def log_dir(self):
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        return os.path.join(self.root_dir, version)

    @property
    def version(self):
        if self._version is None:
            self._version = self._get_next_version()
        return self._version

    @rank_zero_only
    def log_hyperparams(self, params, metrics=None):
        self._fs.makedirs(self.log_dir, exist_ok=True)
        hparams_file = os.path.join(self.log_dir, "hparams.yaml")
        with self._fs.open(hparams_file, "w", newline="") as fp:
            for key, value in params.items():
                fp.write(f"{key}: {_yaml_scalar(value)}\\n")

    def _get_next_version(self):
        root_dir = self.root_dir

        try:
            listdir_info = self._fs.listdir(root_dir)
        except OSError:
            # Directory doesn't exist yet
            return 0

        existing_versions = []
        for listing in listdir_info:
            d = listing["name"]
            bn = os.path.basename(d)
            if self._fs.isdir(d) and bn.startswith("version_"):
                dir_ver = bn.split("_")[1].replace("/", "")
                if dir_ver.isdigit():
                    existing_versions.append(int(dir_ver))
        if len(existing_versions) == 0:
            return 0

        return max(existing_versions) + 1
'''
