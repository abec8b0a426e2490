"""The simulated Megatron-Bridge's newer release (SIMTRAIN_BRIDGE_RELEASE=0.4, see simgpu_src_bridge_load): its
source texts are the 0.2-era ones of simgpu_src_bridge*.py with these edits, each (old, new, count) found exactly
count times.

What changed, read in NVIDIA-NeMo/Megatron-Bridge (training/config.py, eval.py, train.py, data/loaders.py,
recipes/common.py): PR #2282 (February 2026) moved the evaluation settings out of TrainingConfig into a
ValidationConfig under ConfigContainer.validation, the recipes setting validation.eval_interval and
validation.eval_iters; TrainingConfig keeps eval_iters, eval_interval and skip_train as deprecated fields, None by
default, which validate() copies over validation's (with a UserWarning) when they are set. PR #2838 (March 2026)
added eval_micro_batch_size and eval_global_batch_size (the training ones unless set; validate() asserts that the
global one divides by micro x data-parallel size, and evaluate runs at them) and start_eval_at_iter. The sim takes
both in one release it calls 0.4 (0.4.0 came out in April 2026; the PRs were merged before it). ValidationConfig's
defaults are Bridge's own (eval_iters 100, eval_interval None) from before it took Megatron-LM's class.
"""

EDITS = {}

EDITS["megatron/bridge/training/config.py"] = [
    ('''    eval_iters: int = 100
    eval_interval: Optional[int] = 1000
    skip_train: bool = False
''', '''    # ---------------- Validation config. ----------------
    eval_iters: Optional[int] = None
    """Number of iterations to run for evaluation validation/test for. Deprecated in favor of ValidationConfig."""
    eval_interval: Optional[int] = None
    """Interval between running evaluation on validation set. Deprecated in favor of ValidationConfig."""
    skip_train: Optional[bool] = None
    """If set, bypass the training loop, optionally do evaluation for validation/test, and exit. Deprecated in favor of ValidationConfig."""


@dataclass
class ValidationConfig:
    """Configuration settings related to validation during or after model training."""

    eval_iters: Optional[int] = 100
    eval_interval: Optional[int] = None
    skip_train: bool = False
    eval_micro_batch_size: Optional[int] = None
    eval_global_batch_size: Optional[int] = None
    start_eval_at_iter: int = 0
''', 1),
    ('''    ddp: DistributedDataParallelConfig = field(default_factory=DistributedDataParallelConfig)
''', '''    ddp: DistributedDataParallelConfig = field(default_factory=DistributedDataParallelConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
''', 1),
    ('''        self.scheduler.lr_warmup_steps = self.scheduler.lr_warmup_iters * self.train.global_batch_size
''', '''        self.scheduler.lr_warmup_steps = self.scheduler.lr_warmup_iters * self.train.global_batch_size

        # Resolve eval batch size defaults from training config
        if self.validation.eval_global_batch_size is None:
            self.validation.eval_global_batch_size = self.train.global_batch_size
        if self.validation.eval_micro_batch_size is None:
            self.validation.eval_micro_batch_size = self.train.micro_batch_size
        eval_dp_product = self.validation.eval_micro_batch_size * self.data_parallel_size
        assert self.validation.eval_global_batch_size % eval_dp_product == 0, (
            f"eval_global_batch_size ({self.validation.eval_global_batch_size}) must be divisible by "
            f"eval_micro_batch_size * eval_data_parallel_size ({self.validation.eval_micro_batch_size} * "
            f"{self.data_parallel_size} = {eval_dp_product})"
        )

        for f in fields(ValidationConfig):
            train_val = getattr(self.train, f.name, None)
            if train_val is not None:
                warnings.warn(
                    f"TrainingConfig.{f.name} is deprecated and will be removed in a future release. Use ValidationConfig.{f.name} instead.",
                    stacklevel=2,
                )
                setattr(self.validation, f.name, train_val)
''', 1),
]

EDITS["megatron/bridge/recipes/common.py"] = [
    ('''            train_iters=300000,
            eval_interval=500,
            eval_iters=32,
            global_batch_size=32,
            micro_batch_size=2,
            manual_gc=True,
            manual_gc_interval=100,
            manual_gc_eval=100,
        ),
''', '''            train_iters=300000,
            global_batch_size=32,
            micro_batch_size=2,
            manual_gc=True,
            manual_gc_interval=100,
            manual_gc_eval=100,
        ),
        validation=ValidationConfig(
            eval_interval=500,
            eval_iters=32,
        ),
''', 1),
]

EDITS["megatron/bridge/recipes/llama/llama3.py"] = [
    ("    cfg.train.eval_interval = 2000\n", "    cfg.validation.eval_interval = 2000\n", 1),
]

EDITS["megatron/bridge/training/eval.py"] = [
    ('''    eval_batch_size = state.cfg.train.global_batch_size
    eval_num_microbatches = eval_batch_size // (state.cfg.train.micro_batch_size * state.cfg.data_parallel_size)
''', '''    eval_batch_size = state.cfg.validation.eval_global_batch_size
    eval_micro_batch_size = state.cfg.validation.eval_micro_batch_size
    eval_num_microbatches = eval_batch_size // (eval_micro_batch_size * state.cfg.data_parallel_size)
''', 1),
    ("state.cfg.train.eval_iters", "state.cfg.validation.eval_iters", 3),
    ("                micro_batch_size=state.cfg.train.micro_batch_size,\n",
     "                micro_batch_size=eval_micro_batch_size,\n", 1),
]

EDITS["megatron/bridge/training/train.py"] = [
    ('''    train_config = config.train
    timers = global_state.timers
''', '''    train_config = config.train
    val_config = config.validation
    timers = global_state.timers
''', 1),
    ('''            and train_config.eval_interval
            and global_state.train_state.step % train_config.eval_interval == 0
''', '''            and val_config.eval_interval
            and global_state.train_state.step % val_config.eval_interval == 0
            and global_state.train_state.step >= val_config.start_eval_at_iter
''', 1),
]

EDITS["megatron/bridge/training/pretrain.py"] = [
    ("config.train.skip_train", "config.validation.skip_train", 3),
]

RELEASES = ("0.2", "0.4")


def source(relpath, text, release):
    """The source text of `relpath` in `release`: the 0.2-era text, with the newer release's edits."""
    if release == "0.2":
        return text
    for old, new, count in EDITS.get(relpath, ()):
        found = text.count(old)
        if found != count:
            raise AssertionError("%s: %r found %d times, not %d" % (relpath, old[:60], found, count))
        text = text.replace(old, new)
    return text
