"""Source text of the simulated transformers and deepspeed modules (see simgpu_src_torch.py).

This file holds the model and the Trainer (training loop, evaluation, checkpoint save and resume);
SOURCES also includes simgpu_src_hf_args's argument parser, TrainingArguments and DeepSpeed checks
and simgpu_src_hf_state's checkpoint names and TrainerState.
"""

import simgpu_src_hf_args
import simgpu_src_hf_state

SOURCES = {}

SOURCES.update(simgpu_src_hf_args.SOURCES)

SOURCES["transformers/models/gpt2/modeling_gpt2.py"] = '''
class GPT2MLP(nn.Module):
    def __init__(self, c_fc):
        super().__init__()
        self.c_fc = c_fc
        self.add_module("c_fc", c_fc)
        self.act = ACT2FN["gelu_new"]

    def forward(self, hidden_states):
        hidden_states = self.c_fc(hidden_states)
        hidden_states = self.act(hidden_states)
        return hidden_states


class GPT2Block(nn.Module):
    def __init__(self, c_fc):
        super().__init__()
        self.mlp = GPT2MLP(c_fc)
        self.add_module("mlp", self.mlp)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        residual = hidden_states
        feed_forward_hidden_states = self.mlp(hidden_states)
        # residual connection
        hidden_states = residual + feed_forward_hidden_states
        return (hidden_states,)


class GPT2Model(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.h = blocks
        for i, block in enumerate(blocks):
            self.add_module(str(i), block)

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden_states = input_ids
        for i, block in enumerate(self.h):
            outputs = block(hidden_states, attention_mask=attention_mask)
            hidden_states = outputs[0]
        return (hidden_states,)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, transformer):
        super().__init__()
        self.transformer = transformer
        self.add_module("transformer", transformer)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.is_gradient_checkpointing = True

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        transformer_outputs = self.transformer(input_ids, attention_mask=attention_mask)
        hidden_states = transformer_outputs[0]
        lm_logits = hidden_states

        loss = None
        if labels is not None:
            # Flatten the tokens
            loss = self.loss_function(lm_logits, labels)

        return {"loss": loss, "logits": lm_logits}

    def loss_function(self, logits, labels):
        return nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="mean")
'''

SOURCES.update(simgpu_src_hf_state.SOURCES)

SOURCES["transformers/trainer.py"] = '''
TRAINING_ARGS_NAME = "training_args.bin"
TRAINER_STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
SAFE_WEIGHTS_NAME = "model.safetensors"

logger = logging.get_logger(__name__)


class Trainer:
    def __init__(self, model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, compute_metrics=None, callbacks=None):
        self.args = args
        self.model = model
        self.compute_metrics = compute_metrics
        self.is_deepspeed_enabled = args.hf_deepspeed_config is not None
        if self.args.use_liger_kernel:
            if is_liger_kernel_available():
                pass  # the simulated model's loss is fused (liger_kernel's _apply_liger_kernel_to_instance)
            else:
                raise ImportError(
                    "You have set `use_liger_kernel` to `True` but liger-kernel >= 0.3.0 is not available. "
                    "Please install it with `pip install liger-kernel`"
                )
        self.accelerator = Accelerator(
            gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision
        )
        if args.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        # one place to sort out whether to place the model on device or not
        self.place_model_on_device = True
        if self.place_model_on_device:
            self._move_model_to_device(model, args.device)
        self.optimizer = None
        self.lr_scheduler = None
        default_callbacks = DEFAULT_CALLBACKS
        callbacks = default_callbacks if callbacks is None else default_callbacks + callbacks
        self.callback_handler = CallbackHandler(
            callbacks, self.model, processing_class, self.optimizer, self.lr_scheduler
        )
        self.control = TrainerControl()
        self.state = TrainerState(
            is_local_process_zero=self.is_local_process_zero(),
            is_world_process_zero=self.is_world_process_zero(),
        )
        self._train_batch_size = args.train_batch_size

    def is_local_process_zero(self):
        return self.args.process_index == 0

    def is_world_process_zero(self):
        return self.args.process_index == 0

    def _move_model_to_device(self, model, device):
        model = model.to(device)

    @staticmethod
    def get_optimizer_cls_and_kwargs(args, model=None):
        optimizer_kwargs = {"lr": args.learning_rate}
        if args.optim == "adafactor":
            optimizer_cls = Adafactor
            optimizer_kwargs.update({"scale_parameter": False, "relative_step": False})
        elif args.optim in BNB_OPTIMIZERS:
            if not is_bitsandbytes_available():
                raise ImportError(
                    "Trainer tried to instantiate bnb optimizer but bitsandbytes is not installed! You need to "
                    "install `bitsandbytes` in order to use bitsandbytes optimizers: `pip install -U bitsandbytes`"
                )
            optimizer_cls = bnb_optim.AdamW8bit
        else:
            optimizer_cls = torch.optim.AdamW
        return optimizer_cls, optimizer_kwargs

    def create_optimizer(self):
        opt_model = self.model
        if self.optimizer is None:
            optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(opt_model.parameters(), **optimizer_kwargs)
        return self.optimizer

    def train(self, resume_from_checkpoint=None, trial=None, ignore_keys_for_eval=None, **kwargs):
        args = self.args
        self.is_in_train = True

        # Load potential model checkpoint
        if isinstance(resume_from_checkpoint, bool) and resume_from_checkpoint:
            resume_from_checkpoint = get_last_checkpoint(args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No valid checkpoint found in output directory ({args.output_dir})")

        if resume_from_checkpoint is not None:
            self._load_from_checkpoint(resume_from_checkpoint)
            # In case of repeating the find_executable_batch_size, set `self._train_batch_size` properly
            state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME))
            if state.train_batch_size is not None and (RESTORE_TRAIN_BATCH_SIZE or args.auto_find_batch_size):
                self._train_batch_size = state.train_batch_size

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
        # Data loader and number of training steps
        train_dataloader = self.get_train_dataloader()
        max_steps = args.max_steps
        # (the simulated dataset is one epoch of max_steps updates)
        num_update_steps_per_epoch = max_steps
        num_train_epochs = max_steps // num_update_steps_per_epoch + int(max_steps % num_update_steps_per_epoch > 0)
        if self.is_deepspeed_enabled:
            self.optimizer, self.lr_scheduler = deepspeed_init(self, num_training_steps=max_steps)
        self.create_optimizer()
        optimizer = AcceleratedOptimizer(self.optimizer, scaler=None)

        total_train_batch_size = self._train_batch_size * args.gradient_accumulation_steps * args.world_size
        num_train_samples = args.max_steps * total_train_batch_size
        self.state = TrainerState()
        self.state.train_batch_size = self._train_batch_size
        # Compute absolute values for logging, eval, and save if given as ratio
        self.state.compute_steps(args, max_steps)

        model = self.model
        model.train()
        epochs_trained = 0
        steps_trained_in_current_epoch = 0
        resumed = False

        # Check if continuing training from a checkpoint
        if resume_from_checkpoint is not None and os.path.isfile(
            os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)
        ):
            resumed = True
            self.state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME))
            self.state.train_batch_size = self._train_batch_size
            self.state.compute_steps(args, max_steps)
            epochs_trained = int(self.state.global_step // num_update_steps_per_epoch)
            if not args.ignore_data_skip:
                steps_trained_in_current_epoch = self.state.global_step % (num_update_steps_per_epoch)
                steps_trained_in_current_epoch *= args.gradient_accumulation_steps
            else:
                steps_trained_in_current_epoch = 0

            logger.info("  Continuing training from checkpoint, will skip to saved global_step")
            logger.info(f"  Continuing training from epoch {epochs_trained}")
            logger.info(f"  Continuing training from global step {self.state.global_step}")
            if not args.ignore_data_skip:
                logger.info(
                    f"  Will skip the first {epochs_trained} epochs then the first"
                    f" {steps_trained_in_current_epoch} batches in the first epoch."
                )

        # Update the references
        self.state.init_training_references(self, max_steps, num_train_epochs, trial)
        self.control._new_training()

        tr_loss = 0.0
        self._total_loss_scalar = 0.0
        self._globalstep_last_logged = self.state.global_step
        start_time = time.time()
        epoch_iterator = train_dataloader
        if resumed:
            epoch_iterator.skip_first_batches(self.state.global_step, steps_trained_in_current_epoch)
        if args.eval_on_start:
            self._evaluate(trial, ignore_keys_for_eval, skip_scheduler=True)
        for update_step in epoch_iterator.steps():
            self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
            batch_samples = epoch_iterator.micro_batches()
            num_items_in_batch = None
            for i, inputs in enumerate(batch_samples):
                tr_loss_step = self.training_step(model, inputs, num_items_in_batch)
                tr_loss = tr_loss + tr_loss_step

            optimizer.step()
            model.zero_grad()
            self.state.global_step += 1
            self.state.epoch = self.state.global_step / num_update_steps_per_epoch
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            if self.state.global_step % num_update_steps_per_epoch == 0:
                self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
            self.control.should_evaluate = epoch_iterator.eval_due()
            self._maybe_log_save_evaluate(tr_loss, None, model, trial, 0, ignore_keys_for_eval, start_time)

        # add remaining tr_loss
        self._total_loss_scalar += self._nested_gather(tr_loss).mean().item()
        effective_global_step = max(self.state.global_step, 0.001)  # Avoid ZeroDivisionError
        train_loss = self._total_loss_scalar / effective_global_step

        metrics = speed_metrics(
            "train",
            start_time,
            num_samples=num_train_samples,
            num_steps=self.state.max_steps,
        )
        metrics["total_flos"] = self.state.total_flos
        metrics["train_loss"] = train_loss
        self.is_in_train = False
        self.log(metrics)
        return TrainOutput(self.state.global_step, train_loss, {})

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        if model is None:
            model = self.model
        # trainer_state.json is written last: without it the checkpoint is incomplete
        if not os.path.isfile(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)):
            raise ValueError(f"Can't find a valid checkpoint at {resume_from_checkpoint}")

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)

        del inputs
        kwargs = {}
        self.accelerator.backward(loss, **kwargs)
        return loss.detach() / self.args.gradient_accumulation_steps

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        # We don't use .loss here since the model may return tuples instead of ModelOutput.
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        return (loss, outputs) if return_outputs else loss

    def _get_learning_rate(self):
        return get_scheduler_lr(self.args, self.state.global_step, self.state.max_steps)

    def log(self, logs, start_time=None):
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        output = {**logs, **{"step": self.state.global_step}}
        self.state.log_history.append(output)
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    def _maybe_log_save_evaluate(self, tr_loss, grad_norm, model, trial, epoch, ignore_keys_for_eval, start_time):
        if self.control.should_log and self.state.global_step > self._globalstep_last_logged:
            logs = {}
            tr_loss_scalar = self._nested_gather(tr_loss).mean().item()
            logs["loss"] = round(tr_loss_scalar / (self.state.global_step - self._globalstep_last_logged), 4)
            if grad_norm is not None:
                logs["grad_norm"] = grad_norm
            logs["learning_rate"] = self._get_learning_rate()
            self._total_loss_scalar += tr_loss_scalar
            self._globalstep_last_logged = self.state.global_step
            self.log(logs, start_time)

        metrics = None
        if self.control.should_evaluate:
            metrics = self._evaluate(trial, ignore_keys_for_eval)

        if self.control.should_save:
            self._save_checkpoint(model, trial)
            self.control = self.callback_handler.on_save(self.args, self.state, self.control)
        return metrics

    def _get_output_dir(self, trial):
        return self.args.output_dir

    def _save_checkpoint(self, model, trial):
        # Save model checkpoint
        checkpoint_folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"

        run_dir = self._get_output_dir(trial=trial)
        output_dir = os.path.join(run_dir, checkpoint_folder)
        self.save_model(output_dir, _internal_call=True)

        # Save optimizer and scheduler
        self._save_optimizer_and_scheduler(output_dir)
        # Save RNG state (the sim's ranks do not wait for each other: only the main process writes)
        if self.args.should_save:
            self._save_rng_state(output_dir)

        # Save the Trainer state
        if self.args.should_save:
            self.state.stateful_callbacks["TrainerControl"] = self.control.state()
            self.state.save_to_json(os.path.join(output_dir, TRAINER_STATE_NAME))

        # Maybe delete some older checkpoints.
        if self.args.should_save:
            # Solely rely on numerical checkpoint id for rotation.
            # mtime is not reliable especially on some fuse fs in cloud environments.
            self._rotate_checkpoints(use_mtime=False, output_dir=run_dir)

    def save_model(self, output_dir=None, _internal_call=False):
        if output_dir is None:
            output_dir = self.args.output_dir
        if self.args.should_save:
            self._save(output_dir)

    def _save(self, output_dir=None, state_dict=None):
        # If we are executing this function, we are the process zero, so we don't check for that.
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        if state_dict is None:
            state_dict = self.model.state_dict()
        safetensors.torch.save_file(
            state_dict, os.path.join(output_dir, SAFE_WEIGHTS_NAME), metadata={"format": "pt"}
        )

        # Good practice: save your training arguments together with the trained model
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    def _save_optimizer_and_scheduler(self, output_dir):
        if self.args.should_save:
            # deepspeed.save_checkpoint above saves model/optim/sched
            torch.save({"optimizer": self.args.optim}, os.path.join(output_dir, OPTIMIZER_NAME))
            torch.save(
                {"lr_scheduler_type": self.args.lr_scheduler_type, "last_epoch": self.state.global_step},
                os.path.join(output_dir, SCHEDULER_NAME),
            )

    def _save_rng_state(self, output_dir):
        # Save RNG state in non-distributed training
        rng_states = {"python": self.args.seed, "cpu": self.args.seed}
        if self.args.world_size <= 1:
            torch.save(rng_states, os.path.join(output_dir, "rng_state.pth"))
        else:
            torch.save(rng_states, os.path.join(output_dir, f"rng_state_{self.args.process_index}.pth"))

    def _sorted_checkpoints(self, output_dir=None, checkpoint_prefix=PREFIX_CHECKPOINT_DIR, use_mtime=False):
        ordering_and_checkpoint_path = []

        glob_checkpoints = [str(x) for x in Path(output_dir).glob(f"{checkpoint_prefix}-*") if os.path.isdir(x)]

        for path in glob_checkpoints:
            if use_mtime:
                ordering_and_checkpoint_path.append((os.path.getmtime(path), path))
            else:
                regex_match = re.match(f".*{checkpoint_prefix}-([0-9]+)", path)
                if regex_match is not None and regex_match.groups() is not None:
                    ordering_and_checkpoint_path.append((int(regex_match.groups()[0]), path))

        checkpoints_sorted = sorted(ordering_and_checkpoint_path)
        checkpoints_sorted = [checkpoint[1] for checkpoint in checkpoints_sorted]
        return checkpoints_sorted

    def _rotate_checkpoints(self, use_mtime=False, output_dir=None):
        if self.args.save_total_limit is None or self.args.save_total_limit <= 0:
            return

        # Check if we should delete older checkpoint(s)
        checkpoints_sorted = self._sorted_checkpoints(use_mtime=use_mtime, output_dir=output_dir)
        if len(checkpoints_sorted) <= self.args.save_total_limit:
            return

        save_total_limit = self.args.save_total_limit
        number_of_checkpoints_to_delete = max(0, len(checkpoints_sorted) - save_total_limit)
        checkpoints_to_be_deleted = checkpoints_sorted[:number_of_checkpoints_to_delete]
        for checkpoint in checkpoints_to_be_deleted:
            shutil.rmtree(checkpoint, ignore_errors=True)

    def _evaluate(self, trial, ignore_keys_for_eval, skip_scheduler=False):
        metrics = self.evaluate(ignore_keys=ignore_keys_for_eval)
        return metrics

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        eval_dataloader = self.get_eval_dataloader(eval_dataset)
        eval_loop = self.evaluation_loop
        output = eval_loop(
            eval_dataloader,
            description="Evaluation",
            # No point gathering the predictions if there are no metrics, otherwise we defer to
            # self.args.prediction_loss_only
            prediction_loss_only=True if self.compute_metrics is None else None,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        return output

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        model = self.model
        model.eval()
        losses = []
        for step, inputs in enumerate(dataloader):
            # Prediction step
            losses, logits, labels = self.prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        return {f"{metric_key_prefix}_loss": losses}

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        loss = loss.mean().detach()
        return (loss, None, None)
'''
