"""The simulated Unsloth CLI (bin/unsloth: `unsloth train --config cfg.yaml [--batch-size N
--gradient-accumulation-steps M ...]`): the CLI's config model and flags (unsloth_cli/config.py,
options.py), `unsloth train` (unsloth_cli/commands/train.py), Studio's training backend
(studio/backend/core/training/trainer.py, worker.py) over a TRL/transformers Trainer and Unsloth's
Llama forward, on the simulated GPU. SOURCES holds the framework-shaped modules, compiled under
site-packages/ names; the rest of this file is machinery, whose frames are left out of the tracebacks
it prints.

How a training-time CUDA OOM ends (SIMTRAIN_UNSLOTH_OOM, see README.md, "Unsloth"):
  worker (default)  Studio's training worker (worker.py run_training_process) catches it, logs
                    "Training stopped: GPU OOM — <exception>" and reports "GPU ran out of VRAM during
                    training.\\nTo fix: ..."; the CLI prints "Training error: <that>" and exits 1.
  quiet             the same without the worker's log line (no raw CUDA text at all).
  thread            today's unsloth_cli path: UnslothTrainer._train_worker (trainer.py) logs
                    "Training error: <exception>" and "Full traceback:\\n<traceback>", and the CLI
                    prints "Training error: <exception>" (the raw CUDA text), exit 1.
In the real code _train_worker catches every training exception itself, so the worker's OOM branch
only sees what escapes it; the sim lets the OOM escape in the worker modes.

The job, in the sim's terms: micro-batch training.batch_size, accumulation
training.gradient_accumulation_steps, precision bf16 (Unsloth picks bf16 where supported), optimizer
adamw_8bit (fixed by Studio's trainer; 8-bit state, no bitsandbytes module needed), checkpointing on
unless training.gradient_checkpointing is none; SIMGPU_ACT is per sample at max_seq_length 2048 and
scales with training.max_seq_length, and "unsloth" (offloaded) checkpointing keeps 70 % of what
"true" keeps. load_in_4bit, training_type and the lora section do not change memory.
"""

import contextlib
import dataclasses
import functools
import io
import json
import math
import os
import sys
import threading
import time
import traceback
import typing
from pathlib import Path
from types import SimpleNamespace as NS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_oom  # noqa: E402
import simgpu_proc  # noqa: E402
import simgpu_run  # noqa: E402
import simgpu_yaml  # noqa: E402
from simgpu_frames import load_source  # noqa: E402
from simgpu_model import LAYERS, hidden_file  # noqa: E402

SCRIPT = "unsloth"
UNSLOTH_VERSION = "2026.8.1"
THIS_FILE = os.path.abspath(__file__)
# The simulated dataset's rows (steps per epoch = ceil(rows / batch) / accumulation, rounded up).
DATASET_ROWS = 64
OOM_MODES = ("worker", "quiet", "thread")

SOURCES = {}

SOURCES["unsloth_cli/commands/train.py"] = '''
def _create_cli_trainer(model_name, hf_token):
    if _should_use_studio_worker_for_cli():
        # Studio's training worker (core/training/worker.py) runs the job and reports its events.
        return create_worker_trainer_adapter()

    ensure_studio_backend_path()
    with studio_backend_imports("unsloth train"):
        return UnslothTrainer()


@add_options_from_config(Config)
def train(
    config=None,
    hf_token=None,
    wandb_token=None,
    dry_run=False,
    resume=False,
    resume_from_checkpoint=None,
    config_overrides=None,
):
    """Launch training using the existing Unsloth training backend."""
    try:
        cfg = load_config(config)
    except FileNotFoundError as e:
        typer.echo(f"Error: {e}", err = True)
        raise typer.Exit(code = 2)
    except ConfigError as e:
        typer.echo(f"Error: {e}", err = True)
        raise typer.Exit(code = 2)

    config_overrides = config_overrides or {}
    try:
        cfg.apply_overrides(**config_overrides)
    except ConfigError as e:
        typer.echo(f"Error: {e}", err = True)
        raise typer.Exit(code = 2)

    hf_token = hf_token or cfg.logging.hf_token
    wandb_token = wandb_token or cfg.logging.wandb_token

    if resume or resume_from_checkpoint:
        typer.echo("Error: simtrain: --resume and --resume-from-checkpoint are not simulated.", err = True)
        raise typer.Exit(code = 2)

    if dry_run:
        data = cfg.model_dump()
        data["training"]["output_dir"] = str(data["training"]["output_dir"])
        typer.echo(yaml.dump(data, default_flow_style = False, sort_keys = False))
        raise typer.Exit(code = 0)

    if not cfg.model:
        typer.echo("Error: provide --model or set model in --config", err = True)
        raise typer.Exit(code = 2)

    if not cfg.data.dataset and not cfg.data.local_dataset:
        typer.echo("Error: provide --dataset or --local-dataset (or via --config)", err = True)
        raise typer.Exit(code = 2)

    # A LoRA adapter dir has adapter_config.json
    model_path = Path(cfg.model) if cfg.model else None
    model_is_lora = (
        model_path and model_path.is_dir() and (model_path / "adapter_config.json").exists()
    )
    use_lora = cfg.training.training_type.lower() == "lora"

    if model_is_lora and not use_lora:
        typer.echo(
            "Error: Cannot do full finetuning on a LoRA adapter. "
            "Use --training-type lora or provide a base model.",
            err = True,
        )
        raise typer.Exit(code = 2)

    trainer = _create_cli_trainer(cfg.model, hf_token)

    # Load model (trainer.is_vlm is set after this)
    if not trainer.load_model(
        model_name = cfg.model,
        max_seq_length = cfg.training.max_seq_length,
        load_in_4bit = cfg.training.load_in_4bit if use_lora else False,
        hf_token = hf_token,
    ):
        typer.echo("Model load failed", err = True)
        raise typer.Exit(code = 1)

    is_vision = trainer.is_vlm

    if not trainer.prepare_model_for_training(**cfg.model_kwargs(use_lora, is_vision)):
        typer.echo("Model preparation failed", err = True)
        raise typer.Exit(code = 1)

    result = trainer.load_and_format_dataset(
        dataset_source = cfg.data.dataset or "",
        format_type = cfg.data.format_type,
        local_datasets = cfg.data.local_dataset,
    )
    if result is None:
        typer.echo("Dataset load failed", err = True)
        raise typer.Exit(code = 1)

    ds, eval_ds = result

    training_kwargs = cfg.training_kwargs()
    training_kwargs["wandb_token"] = wandb_token  # CLI/env takes precedence
    started = trainer.start_training(dataset = ds, eval_dataset = eval_ds, **training_kwargs)

    if not started:
        typer.echo("Training failed to start", err = True)
        raise typer.Exit(code = 1)

    try:
        while trainer.training_thread and trainer.training_thread.is_alive():
            progress = trainer.get_training_progress()
            if getattr(progress, "error", None):
                break
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("Stopping training (Ctrl+C detected)...")
        trainer.stop_training()
    finally:
        if trainer.training_thread:
            progress = trainer.get_training_progress()
            if getattr(progress, "error", None):
                trainer.training_thread.join(timeout = 5)
            else:
                trainer.training_thread.join()

    final = trainer.get_training_progress()
    if getattr(final, "error", None):
        typer.echo(f"Training error: {final.error}", err = True)
        raise typer.Exit(code = 1)
'''

SOURCES["studio/backend/core/training/trainer.py"] = '''
def _build_report_targets(training_args) -> list[str] | str:
    report_to: list[str] = []
    if training_args.get("enable_wandb", False):
        report_to.append("wandb")
    if training_args.get("enable_tensorboard", False):
        report_to.append("tensorboard")
    return report_to or "none"


@dataclass
class TrainingProgress:
    """Training progress tracking"""

    epoch: float = 0
    step: int = 0
    total_steps: int = 0
    loss: Optional[float] = None
    learning_rate: Optional[float] = None
    is_training: bool = False
    is_completed: bool = False
    error: Optional[str] = None
    status_message: str = "Ready to train"  # Current stage message


class UnslothTrainer:
    """
    Unsloth Training Backend
    """

    def __init__(self):
        _register_trainer(self)
        self.model = None
        self.tokenizer = None
        self.trainer = None
        self.training_thread = None
        self.training_progress = TrainingProgress()
        self.progress_callbacks = []
        self.is_training = False
        self.should_stop = False
        self.save_on_stop = True
        self.load_in_4bit = True  # Track quantization mode for metadata
        self.is_vlm = False
        self.model_name = None
        self.training_start_time = None
        self.batch_size = None
        self.max_seq_length = None
        self.gradient_accumulation_steps = None

        # Thread safety
        self._lock = threading.Lock()

    def _update_progress(self, **kwargs):
        """Update training progress and notify callbacks"""
        with self._lock:
            for key, value in kwargs.items():
                if hasattr(self.training_progress, key):
                    setattr(self.training_progress, key, value)

            # Notify all callbacks
            for callback in self.progress_callbacks:
                try:
                    callback(self.training_progress)
                except Exception as e:
                    logger.error(f"Error in progress callback: {e}")

    def load_model(self, model_name, max_seq_length=2048, load_in_4bit=True, hf_token=None, **kwargs):
        """Load the model and tokenizer with Unsloth's FastLanguageModel."""
        self.model_name = model_name
        self.max_seq_length = max_seq_length
        self.load_in_4bit = load_in_4bit
        try:
            self.model, self.tokenizer = FastLanguageModel.from_pretrained(
                model_name = model_name,
                max_seq_length = max_seq_length,
                dtype = None,
                load_in_4bit = load_in_4bit,
                token = hf_token,
            )
            return True
        except Exception as e:
            logger.error(f"Error loading model: {e}")
            self._update_progress(error = str(e))
            return False

    def prepare_model_for_training(self, use_lora=True, use_gradient_checkpointing="unsloth", **kwargs):
        """Add LoRA adapters (or prepare a full finetune) and gradient checkpointing."""
        self._use_gradient_checkpointing = use_gradient_checkpointing
        if use_lora:
            self.model = FastLanguageModel.get_peft_model(
                self.model,
                r = kwargs.get("lora_r", 64),
                target_modules = kwargs.get("target_modules"),
                lora_alpha = kwargs.get("lora_alpha", 16),
                lora_dropout = kwargs.get("lora_dropout", 0.0),
                bias = "none",
                use_gradient_checkpointing = normalize_gradient_checkpointing(use_gradient_checkpointing),
                random_state = 3407,
                use_rslora = kwargs.get("use_rslora", False),
            )
        return True

    def load_and_format_dataset(self, dataset_source, format_type="auto", local_datasets=None):
        """Load a Hugging Face or local dataset and format it with the model's chat template."""
        dataset = load_dataset(dataset_source or (local_datasets or [""])[0], split = "train")
        return {"dataset": dataset, "final_format": format_type}, None

    def start_training(self, dataset, eval_dataset=None, **training_args):
        """Start training in a background thread"""
        if self.is_training:
            logger.warning("Training already in progress")
            return False
        self.is_training = True
        self.should_stop = False
        self._update_progress(is_training = True, error = None, status_message = "Starting training...")
        self.training_thread = threading.Thread(
            target = self._train_worker, args = (dataset,), kwargs = dict(eval_dataset = eval_dataset, **training_args)
        )
        self.training_thread.start()
        return True

    def _calculate_total_steps(self, num_samples, batch_size, grad_accum, num_epochs, max_steps):
        """Calculate total training steps from dataset size and training params."""
        if max_steps and max_steps > 0:
            return max_steps
        len_dataloader = math.ceil(num_samples / batch_size)
        steps_per_epoch = max(len_dataloader // grad_accum + int(len_dataloader % grad_accum > 0), 1)
        return steps_per_epoch * num_epochs

    def _train_worker(self, dataset, output_dir="./outputs", eval_dataset=None, **training_args):
        """Training worker function that runs in separate thread"""
        try:
            self.training_start_time = time.time()
            self.batch_size = training_args.get("batch_size", 2)
            self.gradient_accumulation_steps = training_args.get("gradient_accumulation_steps", 4)

            # Setup logging
            if training_args.get("enable_wandb", False) and training_args.get("wandb_token"):
                os.environ["WANDB_API_KEY"] = training_args["wandb_token"]
                wandb.init(project = training_args.get("wandb_project", "unsloth-training"))

            # Create output directory
            output_dir = str(resolve_output_dir(output_dir))
            ensure_dir(Path(output_dir))

            config_args = {
                "per_device_train_batch_size": self.batch_size,
                "gradient_accumulation_steps": self.gradient_accumulation_steps,
                "warmup_steps": training_args.get("warmup_steps", 5),
                "learning_rate": training_args.get("learning_rate", 2e-4),
                "fp16": not is_bfloat16_supported(),
                "bf16": is_bfloat16_supported(),
                "logging_steps": 1,
                "optim": training_args.get("optim", "adamw_8bit"),
                "weight_decay": training_args.get("weight_decay", 0.001),
                "lr_scheduler_type": training_args.get("lr_scheduler_type", "linear"),
                "seed": training_args.get("random_seed", 3407),
                "output_dir": output_dir,
                "max_seq_length": training_args.get("max_seq_length", 2048),
                "report_to": _build_report_targets(training_args),
            }
            if training_args.get("enable_tensorboard", False):
                config_args["logging_dir"] = str(resolve_tensorboard_dir(training_args.get("tensorboard_dir")))

            # Add save_steps if specified
            save_steps_val = training_args.get("save_steps", 0)
            if save_steps_val and save_steps_val > 0:
                config_args["save_steps"] = save_steps_val
                config_args["save_strategy"] = "steps"

            max_steps = training_args.get("max_steps", 0)
            if max_steps and max_steps > 0:
                config_args["max_steps"] = max_steps
            else:
                config_args["num_train_epochs"] = training_args.get("num_epochs", 3)

            logger.info("Training configuration prepared\\n")
            self.trainer = SFTTrainer(
                model = self.model,
                tokenizer = self.tokenizer,
                train_dataset = dataset["dataset"],
                args = SFTConfig(**config_args),
            )
            logger.info("Trainer initialized\\n")

            num_samples = len(dataset["dataset"])
            total_steps = self._calculate_total_steps(
                num_samples,
                self.batch_size,
                self.gradient_accumulation_steps,
                training_args.get("num_epochs", 3),
                max_steps,
            )
            self._update_progress(total_steps = total_steps)

            # ========== START TRAINING ==========
            self._update_progress(status_message = "Starting training...")
            logger.info("Starting training...\\n")
            self.trainer.train(resume_from_checkpoint = training_args.get("resume_from_checkpoint"))
            self._finalize_training(output_dir)
        except Exception as e:
            if _escape_to_worker(e):
                raise
            logger.error(f"Training error: {e}")
            logger.error(f"Full traceback:\\n{traceback.format_exc()}")
            self._update_progress(is_training = False, error = str(e))

        finally:
            self.is_training = False

    def _finalize_training(self, output_dir, label = ""):
        """Save model after training and update progress. Used by all training branches."""
        if self.should_stop and self.save_on_stop:
            self.trainer._save_checkpoint(self.trainer.model, trial = None)
            self.trainer.save_model()
            self.tokenizer.save_pretrained(output_dir)
            msg = f"{label} training stopped" if label else "Training stopped"
            logger.info(f"\\n{msg}. Model saved to {output_dir}\\n")
            self._update_progress(is_training = False, status_message = f"Training stopped. Model saved to {output_dir}")
        elif self.should_stop:
            self._update_progress(is_training = False, status_message = "Training cancelled.")
        else:
            self.trainer.save_model()
            self.tokenizer.save_pretrained(output_dir)
            msg = f"{label} training completed" if label else "Training completed"
            logger.info(f"\\n{msg}! Model saved to {output_dir}\\n")
            self._update_progress(is_training = False, is_completed = True,
                                  status_message = f"Training completed! Model saved to {output_dir}")

    def stop_training(self, save=True):
        """Stop ongoing training"""
        self.should_stop = True
        self.save_on_stop = save

    def get_training_progress(self):
        """Get current training progress"""
        with self._lock:
            return self.training_progress
'''

SOURCES["studio/backend/core/training/worker.py"] = '''
def run_training_process(
    *,
    event_queue,
    stop_queue,
    config,
):
    """Subprocess entrypoint. Fresh Python — no stale module state.

    Args:
        event_queue: mp.Queue for sending progress/status/error events to parent.
        stop_queue: mp.Queue for receiving stop commands from parent.
        config: Training configuration dict with all parameters.
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    model_name = config["model_name"]

    try:
        trainer = config["trainer"]
        dataset = config["dataset"]
        output_dir = config.get("output_dir") or "./outputs"
        _send_status(event_queue, f'Training "{model_name}"')
        max_steps = config.get("max_steps", 0)
        save_steps = config.get("save_steps", 0)

        trainer._train_worker(
            dataset,
            output_dir = output_dir,
            num_epochs = config.get("num_epochs", 3),
            learning_rate = config.get("learning_rate", 2e-4),
            batch_size = config.get("batch_size", 2),
            gradient_accumulation_steps = config.get("gradient_accumulation_steps", 4),
            warmup_steps = config.get("warmup_steps"),
            max_steps = max_steps if max_steps and max_steps > 0 else 0,
            save_steps = save_steps if save_steps and save_steps > 0 else 0,
            weight_decay = config.get("weight_decay", 0.001),
            random_seed = config.get("random_seed", 3407),
            enable_wandb = config.get("enable_wandb", False),
            wandb_project = config.get("wandb_project", "unsloth-training"),
            wandb_token = config.get("wandb_token"),
            enable_tensorboard = config.get("enable_tensorboard", False),
            tensorboard_dir = config.get("tensorboard_dir"),
            max_seq_length = config.get("max_seq_length", 2048),
            optim = config.get("optim", "adamw_8bit"),
        )

        progress = trainer.get_training_progress()
        if progress.error:
            event_queue.put(
                {
                    "type": "error",
                    "error": progress.error,
                    "stack": "",
                    "ts": time.time(),
                }
            )
        else:
            event_queue.put(
                {
                    "type": "complete",
                    "output_dir": output_dir,
                    "status_message": progress.status_message or "Training completed",
                    "ts": time.time(),
                }
            )

    except Exception as exc:
        _exc_str = str(exc).lower()
        _is_oom = (
            "out of memory" in _exc_str
            or "hip out of memory" in _exc_str
            or "cuda out of memory" in _exc_str
            or type(exc).__name__ == "OutOfMemoryError"
        )
        if _is_oom:
            _oom_msg = (
                "GPU ran out of VRAM during training.\\n"
                "To fix: reduce max_seq_length (e.g. 2048–4096), enable "
                "gradient_checkpointing=True, lower per_device_train_batch_size, "
                "or use a smaller model / higher quantization."
            )
            logger.error("Training stopped: GPU OOM — %s", exc)
            event_queue.put(
                {
                    "type": "error",
                    "error": _oom_msg,
                    "stack": traceback.format_exc(limit = 20),
                    "ts": time.time(),
                }
            )
        else:
            event_queue.put(
                {
                    "type": "error",
                    "error": str(exc),
                    "stack": traceback.format_exc(limit = 20),
                    "ts": time.time(),
                }
            )


def _send_status(event_queue, message):
    """Send a status update to the parent process."""
    event_queue.put(
        {
            "type": "status",
            "message": message,
            "ts": time.time(),
        }
    )
'''

SOURCES["transformers/trainer.py"] = '''
class Trainer:
    def __init__(self, model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, callbacks=None, optimizers=(None, None), **kwargs):
        self.args = args
        self.model = model
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.optimizer, self.lr_scheduler = optimizers
        self.accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps)
        self.callbacks = list(callbacks or [])
        self._train_batch_size = args.per_device_train_batch_size

    def create_optimizer(self):
        opt_model = self.model
        if self.optimizer is None:
            optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(opt_model.parameters(), **optimizer_kwargs)
        return self.optimizer

    def train(self, resume_from_checkpoint=None, trial=None, ignore_keys_for_eval=None, **kwargs):
        args = self.args
        self.is_in_train = True
        inner_training_loop = find_executable_batch_size(
            self._inner_training_loop, self._train_batch_size, args.auto_find_batch_size
        )
        return inner_training_loop(
            args=args,
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
        )

    def _inner_training_loop(self, batch_size=None, args=None, resume_from_checkpoint=None, trial=None,
                             ignore_keys_for_eval=None):
        self._train_batch_size = batch_size
        train_dataloader = self.get_train_dataloader()
        self.create_optimizer()
        model = self.model
        model.train()
        for step in train_dataloader.steps():
            for inputs in train_dataloader.micro_batches():
                with self.accelerator.accumulate(model):
                    tr_loss_step = self.training_step(model, inputs)
            self.optimizer.step()
            model.zero_grad()
            self.state.global_step += 1
            if args.save_strategy == "steps" and args.save_steps > 0 and self.state.global_step % args.save_steps == 0:
                self._save_checkpoint(model, trial)
        return TrainOutput(self.state.global_step, 0.0, {})

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)

        del inputs
        kwargs = {}
        if self.args.n_gpu > 1:
            loss = loss.mean()  # mean() to average on multi-gpu parallel training

        self.accelerator.backward(loss, **kwargs)
        return loss.detach()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        return (loss, outputs) if return_outputs else loss
'''

SOURCES["trl/trainer/sft_trainer.py"] = '''
class SFTTrainer(Trainer):
    """
    Trainer for Supervised Fine-Tuning (SFT) method.
    """

    _tag_names = ["trl", "sft"]

    def __init__(self, model, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, tokenizer=None, **kwargs):
        if args is None:
            model_name = model if isinstance(model, str) else model.config._name_or_path
            model_name = model_name.split("/")[-1]
            args = SFTConfig(f"{model_name}-SFT")
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class or tokenizer,
            **kwargs,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """
        Compute training loss and additionally compute token accuracies
        """
        mode = "train" if self.model.training else "eval"
        (loss, outputs) = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        return (loss, outputs) if return_outputs else loss
'''

SOURCES["unsloth/models/llama.py"] = '''
def LlamaDecoderLayer_fast_forward(
    self,
    hidden_states,
    causal_mask=None,
    attention_mask=None,
    position_ids=None,
    past_key_value=None,
    output_attentions=False,
    use_cache=False,
    padding_mask=None,
    position_embeddings=None,
    *args,
    **kwargs,
):
    """
    Args:
        hidden_states (`torch.FloatTensor`): input to the layer of shape `(batch, seq_len, embed_dim)`
        attention_mask (`torch.FloatTensor`, *optional*): attention mask of size
            `(batch, 1, tgt_len, src_len)` where padding elements are indicated by very large negative values.
    """
    # Fully Connected
    residual = hidden_states
    hidden_states = fast_rms_layernorm(self.post_attention_layernorm, hidden_states)
    hidden_states = self.mlp(hidden_states)
    hidden_states = residual + hidden_states

    outputs = (hidden_states,)
    return outputs


def LlamaModel_fast_forward(
    self,
    input_ids=None,
    causal_mask=None,
    attention_mask=None,
    position_ids=None,
    past_key_values=None,
    inputs_embeds=None,
    use_cache=None,
    output_attentions=None,
    output_hidden_states=None,
    return_dict=None,
    *args,
    **kwargs,
):
    hidden_states = inputs_embeds if inputs_embeds is not None else input_ids

    # Gradient checkpointing methods (ie sqrt)
    if hasattr(self, "_gradient_checkpointing_boundaries"):
        boundaries = self._gradient_checkpointing_boundaries
    else:
        boundaries = None

    for idx, decoder_layer in enumerate(self.layers):
        if offloaded_gradient_checkpointing:
            hidden_states = Unsloth_Offloaded_Gradient_Checkpointer.apply(
                decoder_layer,
                hidden_states,
                mask,
                attention_mask,
                position_ids,
                past_key_values,
                output_attentions,
                use_cache,
                None,
                position_embeddings,
            )[0]
        else:
            layer_outputs = decoder_layer(
                hidden_states,
                causal_mask=mask,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_value=past_key_values,
                output_attentions=output_attentions,
                use_cache=use_cache,
                padding_mask=padding_mask,
                position_embeddings=position_embeddings,
            )
            hidden_states = layer_outputs[0]

    return BaseModelOutputWithPast(last_hidden_state=hidden_states)


def CausalLM_fast_forward(fast_forward_inference):
    def _CausalLM_fast_forward(
        self,
        input_ids=None,
        causal_mask=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        inputs_embeds=None,
        labels=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        num_logits_to_keep=0,
        logits_to_keep=0,
        *args,
        **kwargs,
    ):
        outputs = self.model(
            input_ids = input_ids,
            causal_mask = causal_mask,
            attention_mask = attention_mask,
            position_ids = position_ids,
            past_key_values = past_key_values,
            inputs_embeds = inputs_embeds,
            use_cache = use_cache,
            output_attentions = output_attentions,
            output_hidden_states = output_hidden_states,
            return_dict = return_dict,
        )

        hidden_states = outputs[0]
        logits = hidden_states
        loss = None
        if labels is not None:
            loss = fast_cross_entropy_loss(
                logits = logits,
                labels = labels,
                logit_softcapping = logit_softcapping,
                n_items = kwargs.get("num_items_in_batch", None) or kwargs.get("n_items", None),
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    return _CausalLM_fast_forward
'''

SOURCES["unsloth/kernels/cross_entropy_loss.py"] = '''
def fast_cross_entropy_loss(
    logits,
    labels,
    logit_softcapping=0,
    logit_scaling=0,
    n_items=None,
):
    """
    Arguments:
        logits: (batch, seq_len, vocab_size)
        labels: (batch, seq_len,)
    Returns:
        losses: float
    """
    batch, seq_len, d = 1, 1, 1
    loss = Fast_CrossEntropyLoss.apply(
        logits,
        labels,
        logit_softcapping,
        logit_scaling,
    )
    if n_items is None:
        n_items = torch.count_nonzero(labels != -100)
    return loss.sum() / n_items
'''


# --- the CLI's config model (pydantic-like) --------------------------------------------------------------

FIELDS = {
    # section: [(name, type, default, choices)]
    None: [("model", "str", None, None)],
    "data": [("dataset", "str", None, None), ("local_dataset", "list", None, None),
             ("format_type", "literal", "auto", ("auto", "alpaca", "chatml", "sharegpt", "conversational", "raw"))],
    "training": [("training_type", "literal", "lora", ("lora", "full")), ("max_seq_length", "int", 2048, None),
                 ("load_in_4bit", "bool", True, None), ("output_dir", "path", "outputs", None),
                 ("num_epochs", "int", 3, None), ("learning_rate", "float", 2e-4, None), ("batch_size", "int", 2, None),
                 ("gradient_accumulation_steps", "int", 4, None), ("warmup_steps", "int", 5, None),
                 ("max_steps", "int", 0, None), ("save_steps", "int", 0, None), ("weight_decay", "float", 0.01, None),
                 ("random_seed", "int", 3407, None), ("packing", "bool", False, None),
                 ("train_on_completions", "bool", False, None),
                 ("gradient_checkpointing", "literal", "unsloth", ("unsloth", "true", "none"))],
    "lora": [("lora_r", "int", 64, None), ("lora_alpha", "int", 16, None), ("lora_dropout", "float", 0.0, None),
             ("target_modules", "str", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", None),
             ("vision_all_linear", "bool", False, None), ("use_rslora", "bool", False, None),
             ("use_loftq", "bool", False, None), ("use_dora", "bool", False, None),
             ("finetune_vision_layers", "bool", True, None), ("finetune_language_layers", "bool", True, None),
             ("finetune_attention_modules", "bool", True, None), ("finetune_mlp_modules", "bool", True, None)],
    "logging": [("enable_wandb", "bool", False, None), ("wandb_project", "str", "unsloth-training", None),
                ("wandb_token", "str", None, None), ("enable_tensorboard", "bool", False, None),
                ("tensorboard_dir", "str", "runs", None), ("hf_token", "str", None, None)],
}
FIELD_INFO = {name: (section, kind, default, choices) for section, fields in FIELDS.items()
              for name, kind, default, choices in fields}


class ConfigError(ValueError):
    pass


ConfigError.__module__ = "unsloth_cli.config"


def _literal_message(choices):
    quoted = ["'%s'" % c for c in choices]
    return "Input should be " + (", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0])


def _normalize_gc(value):
    if isinstance(value, bool):
        return "true" if value else "none"
    text = value.strip().lower() if isinstance(value, str) else value
    if text == "":
        return "unsloth"
    if text in ("1", "yes"):
        return "true"
    if text in ("false", "0", "no", "off"):
        return "none"
    return text


def validate(name, value):
    """A field's value as pydantic validates it; raises ValueError(msg) like pydantic's errors."""
    section, kind, default, choices = FIELD_INFO[name]
    if value is None:
        if default is None or kind in ("str", "list"):
            return None
    if kind == "literal":
        if name == "gradient_checkpointing":
            value = _normalize_gc(value)
        elif isinstance(value, str):
            value = value.strip().lower()
        if value not in choices:
            raise ValueError(_literal_message(choices))
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("Input should be a valid integer")
        try:
            number = int(str(value).strip()) if not isinstance(value, float) else value
        except ValueError:
            raise ValueError("Input should be a valid integer, unable to parse string as an integer") from None
        if isinstance(number, float):
            if number != int(number):
                raise ValueError("Input should be a valid integer, got a number with a fractional part")
            number = int(number)
        return number
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("Input should be a valid number, unable to parse string as a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on", "y", "t"):
            return True
        if text in ("0", "false", "no", "off", "n", "f"):
            return False
        raise ValueError("Input should be a valid boolean, unable to interpret input")
    if kind == "list":
        if isinstance(value, str):
            raise ValueError("Input should be a valid list")
        return [str(v) for v in value]
    if kind == "path":
        return Path(str(value))
    if not isinstance(value, str):
        raise ValueError("Input should be a valid string")
    return value


class Section(NS):
    pass


class Config:
    """unsloth_cli.config.Config: model, data, training, lora and logging sections."""

    def __init__(self):
        self.model = None
        for section in ("data", "training", "lora", "logging"):
            setattr(self, section, Section(**{name: validate(name, default) if default is not None else None
                                              for name, kind, default, choices in FIELDS[section]}))

    def apply_overrides(self, **kwargs):
        """Apply CLI overrides by matching arg names to config fields."""
        errors = []
        for key, value in kwargs.items():
            if value is None:
                continue
            section = FIELD_INFO[key][0]
            try:
                value = validate(key, value)
            except ValueError as err:
                errors.append("  - --%s: %s" % (key.replace("_", "-"), err))
                continue
            setattr(self if section is None else getattr(self, section), key, value)
        if errors:
            raise ConfigError("\n".join(["Invalid command line options:"] + errors))

    def model_dump(self):
        out = {"model": self.model}
        for section in ("data", "training", "lora", "logging"):
            out[section] = dict(vars(getattr(self, section)))
        return out

    def model_kwargs(self, use_lora, is_vision):
        parsed = [m.strip() for m in str(self.lora.target_modules).split(",") if m and m.strip()]
        return {"use_lora": use_lora, "target_modules": parsed or None, "lora_r": self.lora.lora_r,
                "lora_alpha": self.lora.lora_alpha, "lora_dropout": self.lora.lora_dropout,
                "use_gradient_checkpointing": self.training.gradient_checkpointing,
                "use_rslora": self.lora.use_rslora, "use_loftq": self.lora.use_loftq, "use_dora": self.lora.use_dora}

    def training_kwargs(self):
        t, log = self.training, self.logging
        return {"output_dir": str(t.output_dir), "num_epochs": t.num_epochs, "learning_rate": t.learning_rate,
                "batch_size": t.batch_size, "gradient_accumulation_steps": t.gradient_accumulation_steps,
                "warmup_steps": t.warmup_steps, "max_steps": t.max_steps, "save_steps": t.save_steps,
                "weight_decay": t.weight_decay, "random_seed": t.random_seed, "packing": t.packing,
                "train_on_completions": t.train_on_completions, "max_seq_length": t.max_seq_length,
                "enable_wandb": log.enable_wandb, "wandb_project": log.wandb_project, "wandb_token": log.wandb_token,
                "enable_tensorboard": log.enable_tensorboard, "tensorboard_dir": log.tensorboard_dir}


def _describe_unknown_key(key, parent):
    where = "in section '%s'" % parent if parent else "at the top level"
    canonical = key.replace("-", "_")
    section = FIELD_INFO[canonical][0] if canonical in FIELD_INFO else None
    subject = "it" if canonical == key else "'%s'" % canonical
    if canonical in FIELD_INFO and section == parent:
        return "unknown key '%s' %s: did you mean '%s'?" % (key, where, canonical)
    if canonical in FIELD_INFO and section is not None:
        return "unknown key '%s' %s: %s belongs under '%s:'" % (key, where, subject, section)
    if canonical in FIELDS or canonical == "model":
        if parent is None:
            return "unknown key '%s' %s: did you mean '%s'?" % (key, where, canonical)
        return "unknown key '%s' %s: %s belongs at the top level" % (key, where, subject)
    return "unknown key '%s' %s" % (key, where)


def load_config(path):
    """Load config from YAML/JSON file, or return defaults if no path given."""
    cfg = Config()
    if not path:
        return cfg
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError("Config file not found: %s" % path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as error:
        raise ConfigError("Could not read config file: %s\n  - %s" % (path, error)) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = simgpu_yaml.loads(text)
        except simgpu_yaml.YAMLError as error:
            raise ConfigError("Could not parse config file: %s\n  - %s" % (path, error)) from None
    else:
        try:
            data = json.loads(text.strip() or "{}")
        except json.JSONDecodeError as error:
            raise ConfigError("Could not parse config file: %s\n  - %s" % (path, error)) from None
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("Invalid config file: %s\n  - the top level must be a mapping of keys and sections, not a %s"
                          % (path, type(data).__name__))
    lines = []
    for key, value in data.items():
        if key == "model":
            try:
                cfg.model = validate("model", value)
            except ValueError as err:
                lines.append("  - model: %s" % err)
        elif key in ("data", "training", "lora", "logging"):
            if not isinstance(value, dict):
                lines.append("  - %s: Input should be a valid dictionary or instance of %sConfig"
                             % (key, key.capitalize()))
                continue
            for name, item in value.items():
                if name not in FIELD_INFO or FIELD_INFO[name][0] != key:
                    lines.append("  - " + _describe_unknown_key(name, key))
                    continue
                try:
                    setattr(getattr(cfg, key), name, validate(name, item))
                except ValueError as err:
                    lines.append("  - %s.%s: %s" % (key, name, err))
        else:
            lines.append("  - " + _describe_unknown_key(key, None))
    if lines:
        raise ConfigError("\n".join(["Invalid config file: %s" % path] + lines))
    return cfg


def _yaml_dump(data, indent=0):
    """yaml.dump(data, default_flow_style=False, sort_keys=False) for the config's plain values."""
    out = ""
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            out += "%s%s:\n%s" % (pad, key, _yaml_dump(value, indent + 2))
        elif isinstance(value, list):
            out += "%s%s:\n" % (pad, key) + "".join("%s- %s\n" % (pad, _yaml_scalar(v)) for v in value)
        else:
            out += "%s%s: %s\n" % (pad, key, _yaml_scalar(value))
    return out


def _yaml_scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if simgpu_yaml.parse_scalar(text) != text or text == "" or text[0] in "'\"[]{}&*!|>%@`#,?:-":
        return "'%s'" % text.replace("'", "''")
    return text


# --- the command line (typer, flags generated from the config) ------------------------------------------

class TyperExit(Exception):
    def __init__(self, code=0):
        super().__init__(code)
        self.exit_code = code


TyperExit.__module__ = "click.exceptions"
TyperExit.__name__ = TyperExit.__qualname__ = "Exit"


class _State:
    sim = None
    session = None
    fw = None
    oom_mode = "worker"


STATE = _State()


def _cleanup():
    if STATE.sim is not None:
        for cleanup in STATE.sim.before_traceback:
            cleanup()


def _write(stream, text):
    _cleanup()
    sys.stdout.flush()
    stream.write(text)
    stream.flush()


def _echo(message=None, file=None, nl=True, err=False, color=None):
    _write(sys.stderr if err else sys.stdout, (message or "") + ("\n" if nl else ""))


TYPER = NS(echo=_echo, Exit=TyperExit)

USAGE = "unsloth train [OPTIONS]"
OWN_OPTIONS = {"--config": "config", "-c": "config", "--hf-token": "hf_token", "--wandb-token": "wandb_token",
               "--resume-from-checkpoint": "resume_from_checkpoint"}
OWN_FLAGS = {"--dry-run": "dry_run", "--resume": "resume"}


def _usage_error(message):
    sys.stderr.write("Usage: %s\nTry 'unsloth train --help' for help.\n\nError: %s\n" % (USAGE, message))
    sys.exit(2)


def _flag_table():
    valued, flags = {}, {}
    for name, (section, kind, default, choices) in FIELD_INFO.items():
        flag = "--" + name.replace("_", "-")
        if kind == "bool":
            flags[flag] = (name, True)
            flags["--no-" + name.replace("_", "-")] = (name, False)
        else:
            valued[flag] = (name, kind)
    return valued, flags


def _help_text():
    lines = ["Usage: %s" % USAGE, "", "  Launch training using the existing Unsloth training backend.", "", "Options:"]
    for name, (section, kind, default, choices) in FIELD_INFO.items():
        flag = "--" + name.replace("_", "-")
        if kind == "bool":
            flag += " / --no-" + name.replace("_", "-")
        lines.append("  %s" % flag)
    lines += ["  -c, --config PATH  Path to YAML/JSON config file. CLI flags override config values.",
              "  --hf-token TEXT", "  --wandb-token TEXT", "  --dry-run  Show resolved config and exit without training.",
              "  --help  Show this message and exit.", ""]
    return "\n".join(lines)


def parse_train_args(argv):
    """click's parsing of `unsloth train`'s options: (keyword arguments of train(), config overrides)."""
    valued, flags = _flag_table()
    kwargs = {"config": None, "hf_token": os.environ.get("HF_TOKEN"), "wandb_token": os.environ.get("WANDB_API_KEY"),
              "dry_run": False, "resume": False, "resume_from_checkpoint": None}
    overrides = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--help":
            sys.stdout.write(_help_text())
            sys.exit(0)
        flag, eq, inline = arg.partition("=")
        if flag in OWN_OPTIONS or flag in valued:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            else:
                _usage_error("Option '%s' requires an argument." % flag)
            if flag in OWN_OPTIONS:
                kwargs[OWN_OPTIONS[flag]] = value
            else:
                name, kind = valued[flag]
                if kind == "int":
                    try:
                        value = int(value)
                    except ValueError:
                        _usage_error("Invalid value for '%s': '%s' is not a valid integer." % (flag, value))
                elif kind == "float":
                    try:
                        value = float(value)
                    except ValueError:
                        _usage_error("Invalid value for '%s': '%s' is not a valid float." % (flag, value))
                if kind == "list":
                    overrides.setdefault(name, []).append(value)
                else:
                    overrides[name] = value
        elif arg in OWN_FLAGS:
            kwargs[OWN_FLAGS[arg]] = True
        elif arg in flags:
            name, value = flags[arg]
            overrides[name] = value
        elif arg.startswith("-"):
            _usage_error("No such option: %s" % flag)
        else:
            _usage_error("Got unexpected extra argument (%s)" % arg)
        i += 1
    return kwargs, overrides


# --- Unsloth, TRL, transformers and datasets as the sim provides them --------------------------------------

class Logger:
    """Studio's structlog logger: errors and warnings to stderr (the message alone), info dropped."""

    def info(self, msg, *args, **kwargs):
        pass

    debug = info

    def warning(self, msg, *args, **kwargs):
        _write(sys.stderr, (msg % args if args else msg) + "\n")

    def error(self, msg, *args, **kwargs):
        if STATE.oom_mode == "quiet" and msg.startswith("Training stopped: GPU OOM"):
            return
        _write(sys.stderr, (msg % args if args else msg) + "\n")


def _escape_to_worker(exc):
    """Whether the exception leaves _train_worker for the worker's handler (the sim's worker modes)."""
    STATE.last_error = exc
    return STATE.oom_mode != "thread" and isinstance(exc, simgpu_oom.SimulatedOOM)


def _sleep(seconds):
    """time.sleep for the CLI's polling loop: wakes up when the training thread ends."""
    trainer = STATE.studio_trainer
    thread = getattr(trainer, "training_thread", None)
    if thread is not None and thread.is_alive():
        thread.join(seconds)
    else:
        time.sleep(seconds)


def _format_exc(limit=None, chain=True):
    """traceback.format_exc without the sim's frames (simgpu*.py and this file)."""
    exc = sys.exc_info()[1]
    return format_exception(exc)


def format_exception(exc):
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _drop_frames(te, set())
    return "".join(te.format())


def _drop_frames(te, seen):
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not hidden_file(f.filename) and os.path.abspath(f.filename) != THIS_FILE])
    _drop_frames(te.__cause__, seen)
    _drop_frames(te.__context__, seen)


def _excepthook(exc_type, exc, tb):
    _cleanup()
    sys.stdout.flush()
    sys.stderr.write(format_exception(exc))
    sys.stderr.flush()
    if STATE.sim is not None and STATE.sim.options.hang_after_oom and isinstance(exc, simgpu_oom.SimulatedOOM):
        simgpu_proc.hang_forever()


# --- where Studio and the libraries under it write (studio/backend/utils/paths/storage_roots.py) ------------

def studio_root():
    """Studio's home: UNSLOTH_STUDIO_HOME, else ~/.unsloth/studio."""
    home = os.environ.get("UNSLOTH_STUDIO_HOME", "").strip()
    return Path(home).expanduser() if home else Path.home() / ".unsloth" / "studio"


def _resolve_under_root(path_value, root, strip_prefixes=()):
    """An absolute path as it is; a relative one under root, a leading prefix folder dropped."""
    if not path_value or not str(path_value).strip():
        return root
    path = Path(str(path_value).strip()).expanduser()
    if path.is_absolute():
        return path
    parts = [part for part in path.parts if part not in ("", ".")]
    while parts and parts[0] in strip_prefixes:
        parts = parts[1:]
    return root / Path(*parts) if parts else root


def resolve_output_dir(path_value=None):
    return _resolve_under_root(path_value, studio_root() / "outputs", ("outputs",))


def resolve_tensorboard_dir(path_value=None):
    return _resolve_under_root(path_value, studio_root() / "runs", ("runs", "tensorboard"))


def ensure_dir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def compile_location():
    """unsloth_zoo/compiler.py's UNSLOTH_COMPILE_LOCATION: relative to the working folder by default."""
    return os.environ.get("UNSLOTH_COMPILE_LOCATION") or "unsloth_compiled_cache"


def _wandb_init(project=None, **kwargs):
    """wandb.init: a run folder under ./wandb (wandb's default dir); the upload is not simulated."""
    _write_file(os.path.join("wandb", "run-simtrain", "files", "config.yaml"), "project: %s\n" % project)
    sys.stdout.write("wandb: Tracking run with wandb version 0.21.0 (simtrain: nothing is uploaded)\n")


class Tokenizer(NS):
    def save_pretrained(self, save_directory):
        _write_file(os.path.join(str(save_directory), "tokenizer_config.json"), "{}\n")


def _save_model(self, output_dir=None, _internal_call=False):
    """Trainer.save_model: the (LoRA) model into args.output_dir."""
    out = str(output_dir or self.args.output_dir)
    _write_file(os.path.join(out, "adapter_config.json"), "{}\n")
    _write_file(os.path.join(out, "adapter_model.safetensors"), "simtrain\n")
    sys.stdout.write("Saving model to %s\n" % out)


def _save_checkpoint(self, model, trial=None):
    """Trainer._save_checkpoint: checkpoint-N/ in args.output_dir."""
    out = os.path.join(str(self.args.output_dir), "checkpoint-%d" % self.state.global_step)
    _write_file(os.path.join(out, "trainer_state.json"), json.dumps({"global_step": self.state.global_step}) + "\n")
    sys.stdout.write("Saving model checkpoint to %s\n" % out)


def _report_start(args):
    """The HF Trainer's TensorBoardCallback: an events file in logging_dir (output_dir/runs/... by default)."""
    targets = args.report_to if isinstance(args.report_to, list) else [args.report_to]
    if "tensorboard" in targets:
        logdir = args.logging_dir or os.path.join(str(args.output_dir), "runs", "simtrain")
        _write_file(os.path.join(str(logdir), "events.out.tfevents.simtrain"), "")


class SFTConfig(NS):
    """trl's SFTConfig (TrainingArguments): what the sim's Trainer reads."""

    def __init__(self, output_dir=None, **kwargs):
        defaults = dict(per_device_train_batch_size=8, gradient_accumulation_steps=1, max_steps=-1,
                        num_train_epochs=3.0, bf16=False, fp16=False, optim="adamw_torch", n_gpu=1,
                        auto_find_batch_size=False, gradient_checkpointing=False, save_strategy="steps",
                        save_steps=500, logging_dir=None, report_to="none")
        defaults.update(kwargs)
        super().__init__(output_dir=output_dir, **defaults)


class _TrainLoader:
    def __init__(self, driver):
        self.driver = driver

    def steps(self):
        return self.driver.steps()

    def micro_batches(self):
        for inputs, labels in self.driver.micro_batches():
            yield dict(input_ids=inputs, labels=labels, attention_mask=STATE.fw.tensor())


def _open_session(trainer, training):
    """The job on the simulated GPU, when the Trainer starts (Studio's config is known by then)."""
    sim = STATE.sim
    args = trainer.args
    gc = STATE.gradient_checkpointing
    for name, value in (("training.batch_size", args.per_device_train_batch_size),
                        ("training.gradient_accumulation_steps", args.gradient_accumulation_steps),
                        ("training.max_seq_length", STATE.max_seq_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            simgpu_run.fail_usage("%s: must be an integer of at least 1, got %r" % (name, value))
    act = simgpu.parse_size(sim.env.get("SIMGPU_ACT", simgpu.DEFAULT_ACT), "SIMGPU_ACT")
    act = act * STATE.max_seq_length // 2048
    if gc == "unsloth":
        act = act * 7 // 10
    sim.env = dict(sim.env, SIMGPU_ACT=str(max(1, act)))
    steps = STATE.total_steps
    if steps < 1:
        simgpu_run.fail_usage("training: the run has no steps (max_steps %r, num_epochs %r)"
                              % (STATE.max_steps, STATE.num_epochs))
    job = simgpu.Job(SCRIPT, micro_batch=args.per_device_train_batch_size,
                     accumulation=args.gradient_accumulation_steps, precision="bf16" if args.bf16 else "fp16",
                     checkpointing=gc != "none", optimizer=args.optim, optimizer_kind="8bit", steps=steps,
                     env=sim.env)
    STATE.session = sim.session(job)
    gpus = 1
    total = args.per_device_train_batch_size * args.gradient_accumulation_steps * gpus
    epochs = "%d" % args.num_train_epochs if args.max_steps in (None, -1) else "%d" % math.ceil(
        steps / max(1, STATE.steps_per_epoch))
    sys.stdout.write(
        "==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = %d\n"
        "   \\\\   /|    Num examples = %d | Num Epochs = %s | Total steps = %d\n"
        "O^O/ \\_/ \\    Batch size per device = %d | Gradient accumulation steps = %d\n"
        "\\        /    Data Parallel GPUs = %d | Total batch size (%d x %d x %d) = %d\n"
        ' "-____-"     Trainable parameters = 41,943,040 of 8,072,204,288 (0.52%% trained)\n'
        % (gpus, DATASET_ROWS, epochs, steps, args.per_device_train_batch_size, args.gradient_accumulation_steps,
           gpus, args.per_device_train_batch_size, args.gradient_accumulation_steps, gpus, total))
    sys.stdout.flush()
    return STATE.session


def load(fw):
    """Compile the simulated Unsloth CLI, Studio trainer, TRL and transformers pieces over fw's torch."""
    torch = fw.torch
    Module = torch.nn.Module
    Tensor = torch.Tensor
    for name, method in {"sum": lambda t, *a, **k: t, "__ne__": lambda t, o: t, "__rtruediv__": lambda t, o: t}.items():
        if name not in vars(Tensor):
            setattr(Tensor, name, method)
    base = dict(os=os, sys=sys, time=NS(time=time.time, sleep=_sleep), math=math, json=json, threading=threading,
                Path=Path, torch=torch, logger=Logger(), typer=TYPER, Optional=typing.Optional,
                dataclass=dataclasses.dataclass)

    def compile_(relpath, names):
        return NS(**load_source(relpath, SOURCES[relpath], names))

    # transformers / accelerate / trl
    class SimAccelerator(fw.torch.accelerate.Accelerator):
        def accumulate(self, *models):
            return contextlib.nullcontext()

    def find_executable_batch_size(function, starting_batch_size, auto_find_batch_size=False):
        return functools.partial(function, batch_size=starting_batch_size)

    def get_optimizer_cls_and_kwargs(args, model=None):
        return torch.bnb_optim.AdamW8bit, {"lr": 2e-4}

    tf = compile_("transformers/trainer.py", dict(
        base, Accelerator=SimAccelerator, find_executable_batch_size=find_executable_batch_size,
        TrainOutput=lambda *a: a))
    Trainer = tf.Trainer
    Trainer.get_optimizer_cls_and_kwargs = staticmethod(get_optimizer_cls_and_kwargs)
    Trainer._prepare_inputs = lambda self, inputs: inputs
    Trainer.compute_loss_context_manager = lambda self: contextlib.nullcontext()
    Trainer.state = NS(global_step=0)
    Trainer.save_model = _save_model
    Trainer._save_checkpoint = _save_checkpoint

    def get_train_dataloader(self):
        _report_start(self.args)
        _open_session(self, None)
        self.model.to(fw.session.device_name)
        return _TrainLoader(STATE.session.driver)

    Trainer.get_train_dataloader = get_train_dataloader
    sft = compile_("trl/trainer/sft_trainer.py", dict(base, Trainer=Trainer, SFTConfig=SFTConfig))

    # Unsloth's model
    class FastCrossEntropyLoss:
        @staticmethod
        def apply(logits, labels, logit_softcapping=0, logit_scaling=0):
            return fw._cross_entropy(logits, labels)

    kernels = compile_("unsloth/kernels/cross_entropy_loss.py", dict(
        base, Fast_CrossEntropyLoss=FastCrossEntropyLoss))
    torch.count_nonzero = lambda t: 1
    llama_names = dict(base, fast_rms_layernorm=lambda norm, x: x, fast_cross_entropy_loss=kernels.fast_cross_entropy_loss,
                       logit_softcapping=0, BaseModelOutputWithPast=lambda **k: (k["last_hidden_state"],),
                       CausalLMOutputWithPast=lambda **k: dict(k), offloaded_gradient_checkpointing=False,
                       Unsloth_Offloaded_Gradient_Checkpointer=None, mask=None, padding_mask=None,
                       position_embeddings=None)
    llama = compile_("unsloth/models/llama.py", llama_names)

    class LlamaMLP(Module):
        def __init__(self, down_proj):
            super().__init__()
            self.down_proj = down_proj

        def forward(self, x):
            return self.down_proj(x)

    class LlamaDecoderLayer(Module):
        def __init__(self, mlp):
            super().__init__()
            self.mlp = mlp
            self.post_attention_layernorm = None

    LlamaDecoderLayer.forward = llama.LlamaDecoderLayer_fast_forward

    class LlamaModel(Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = layers
            for index, layer in enumerate(layers):
                self.add_module(str(index), layer)

    LlamaModel.forward = llama.LlamaModel_fast_forward

    class LlamaForCausalLM(Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.config = NS(_name_or_path=STATE.model_name)

        def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
            pass

    LlamaForCausalLM.forward = llama.CausalLM_fast_forward(None)

    def from_pretrained(model_name=None, max_seq_length=2048, dtype=None, load_in_4bit=True, token=None, **kwargs):
        STATE.model_name = model_name
        # Unsloth's patched trainers, compiled into its cache folder
        _write_file(os.path.join(compile_location(), "UnslothSFTTrainer.py"), "# simtrain\n")
        capacity = simgpu.parse_size(STATE.sim.env.get("SIMGPU_CAPACITY", simgpu.DEFAULT_CAPACITY), "SIMGPU_CAPACITY")
        sys.stdout.write(
            "\U0001f9a5 Unsloth: Will patch your computer to enable 2x faster free finetuning.\n"
            "==((====))==  Unsloth %s: Fast Llama patching. Transformers: 4.57.1.\n"
            "   \\\\   /|    NVIDIA simulated GPU. Num GPUs = 1. Max memory: %.3f GB. Platform: Linux.\n"
            "O^O/ \\_/ \\    Torch: 2.8.0+cu128. CUDA: 8.9. CUDA Toolkit: 12.8. Triton: 3.4.0\n"
            "\\        /    Bfloat16 = TRUE. FA [Xformers = None. FA2 = False]\n"
            ' "-____-"     Free license: http://github.com/unslothai/unsloth\n'
            % (UNSLOTH_VERSION, capacity / 1024 ** 3))
        sys.stdout.flush()
        layers = [LlamaDecoderLayer(LlamaMLP(torch.nn.Linear(fw.parameter(i)))) for i in range(LAYERS)]
        model = LlamaForCausalLM(LlamaModel(layers))
        fw.model = model
        return model, Tokenizer(pad_token_id=0, eos_token_id=1)

    def get_peft_model(model, use_gradient_checkpointing="unsloth", **kwargs):
        return model

    class Dataset:
        def __len__(self):
            return DATASET_ROWS

    studio = compile_("studio/backend/core/training/trainer.py", dict(
        base, _register_trainer=lambda trainer: setattr(STATE, "studio_trainer", trainer), FastLanguageModel=NS(from_pretrained=from_pretrained, get_peft_model=get_peft_model),
        normalize_gradient_checkpointing=lambda value: value, load_dataset=lambda *a, **k: Dataset(),
        is_bfloat16_supported=lambda: True, SFTTrainer=sft.SFTTrainer, SFTConfig=SFTConfig,
        wandb=NS(init=_wandb_init), resolve_output_dir=resolve_output_dir,
        resolve_tensorboard_dir=resolve_tensorboard_dir, ensure_dir=ensure_dir,
        _escape_to_worker=_escape_to_worker, traceback=NS(format_exc=_format_exc)))
    worker = compile_("studio/backend/core/training/worker.py", dict(
        base, traceback=NS(format_exc=_format_exc)))

    class WorkerAdapter:
        """The CLI's view of a Studio training worker: start, then the events it reported."""

        is_vlm = False
        training_thread = None

        def __init__(self):
            self.trainer = studio.UnslothTrainer()
            self.progress = studio.TrainingProgress()

        def load_model(self, **kwargs):
            return self.trainer.load_model(**kwargs)

        def prepare_model_for_training(self, **kwargs):
            return self.trainer.prepare_model_for_training(**kwargs)

        def load_and_format_dataset(self, **kwargs):
            return self.trainer.load_and_format_dataset(**kwargs)

        def start_training(self, dataset, eval_dataset=None, **training_args):
            events = []
            config = dict(training_args, model_name=self.trainer.model_name, trainer=self.trainer, dataset=dataset)
            worker.run_training_process(event_queue=NS(put=events.append), stop_queue=None, config=config)
            for event in events:
                if event["type"] == "error":
                    self.progress.error = event["error"]
                    self.stack = event.get("stack", "")
            return True

        def get_training_progress(self):
            return self.progress

        def stop_training(self):
            pass

    def add_options_from_config(config_class):
        return lambda fn: fn

    train_mod = compile_("unsloth_cli/commands/train.py", dict(
        base, Config=Config, ConfigError=ConfigError, load_config=load_config, add_options_from_config=add_options_from_config,
        yaml=NS(dump=lambda data, **k: _yaml_dump(data)), UnslothTrainer=studio.UnslothTrainer,
        create_worker_trainer_adapter=WorkerAdapter, ensure_studio_backend_path=lambda: None,
        studio_backend_imports=lambda name: contextlib.nullcontext(),
        _should_use_studio_worker_for_cli=lambda: STATE.oom_mode != "thread"))
    STATE.studio = studio
    return train_mod


def _steps(training):
    """Studio's _calculate_total_steps over the sim's dataset."""
    batch, accum = training.batch_size, training.gradient_accumulation_steps
    if not (isinstance(batch, int) and batch > 0 and isinstance(accum, int) and accum > 0):
        return 0, 0
    length = math.ceil(DATASET_ROWS / batch)
    per_epoch = max(length // accum + int(length % accum > 0), 1)
    if training.max_steps and training.max_steps > 0:
        return training.max_steps, per_epoch
    return per_epoch * training.num_epochs, per_epoch


# --- entry point ----------------------------------------------------------------------------------------

def main(argv=None):
    """bin/unsloth: `unsloth train ...` (the other commands are not simulated)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
        except (AttributeError, io.UnsupportedOperation):
            pass
    argv = sys.argv[1:] if argv is None else argv
    sim = simgpu.start(argv=list(argv), default_format="pytorch", script=SCRIPT)
    sys.excepthook = _excepthook
    STATE.sim = sim
    STATE.fw = sim.frameworks
    mode = sim.env.get("SIMTRAIN_UNSLOTH_OOM", "worker").strip().lower() or "worker"
    if mode not in OOM_MODES:
        simgpu_run.fail_usage("SIMTRAIN_UNSLOTH_OOM: expected one of %s, got %r" % (", ".join(OOM_MODES), mode))
    STATE.oom_mode = mode
    args = sim.argv
    if not args or args[0] in ("--help", "-h"):
        sys.stdout.write("Usage: unsloth [OPTIONS] COMMAND [ARGS]...\n\nCommands:\n  train  Launch training "
                         "using the existing Unsloth training backend.\n")
        return 0 if args else 2
    if args[0] != "train":
        sys.stderr.write("unsloth (simtrain): '%s' is not simulated (train is)\n" % args[0])
        return 2
    kwargs, overrides = parse_train_args(args[1:])
    train_mod = load(sim.frameworks)

    # what the Trainer needs to know before it opens the session: the resolved config's training section
    original_apply = Config.apply_overrides

    def apply_and_remember(self, **kw):
        original_apply(self, **kw)
        t = self.training
        STATE.gradient_checkpointing = t.gradient_checkpointing
        STATE.max_seq_length = t.max_seq_length
        STATE.max_steps, STATE.num_epochs = t.max_steps, t.num_epochs
        STATE.total_steps, STATE.steps_per_epoch = _steps(t)

    Config.apply_overrides = apply_and_remember
    try:
        train_mod.train(config_overrides=overrides, **kwargs)
    except TyperExit as ex:
        sys.stdout.flush()
        if ex.exit_code == 1 and isinstance(STATE.last_error, simgpu_oom.SimulatedOOM) and sim.options.hang_after_oom:
            simgpu_proc.hang_forever()
        return ex.exit_code
    finally:
        Config.apply_overrides = original_apply
    if STATE.session is not None:
        STATE.session.finish()
    return 0


_State.last_error = None
_State.studio = None
_State.studio_trainer = None
