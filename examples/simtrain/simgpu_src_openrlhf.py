"""The simulated OpenRLHF SFT trainer's framework-shaped modules (site-packages path -> text), compiled by
simgpu_src_openrlhf_load.py so that tracebacks go through OpenRLHF's files and functions.

Shaped after OpenRLHF/OpenRLHF, read at: openrlhf/cli/train_sft.py (f2afba47b67b163bf19221d46e61c2ac4c2a8413,
the older flag names; the FSDP2 generation's text as stored under id 55108796881), openrlhf/trainer/sft_trainer.py
(01f3ad7db36dd89988182f05369b76bbd86302be: the "Train epoch" and "Train step of epoch %d" bars, eval and save
steps of -1, "global_step%d" tags) and openrlhf/utils/deepspeed/deepspeed.py
(39dfc6df096d7f7972fe47925252e8a4f8036bf5: setup_distributed's accumulated_gradient, prepare,
get_ds_train_config's train_micro_batch_size_per_gpu and train_batch_size, save_model). The texts are the
sim's own, in those modules' shape: one trainer text serves the three flag generations, reading the
arguments in their dotted form (the loader maps the older names onto it).
"""

SOURCES = {}

SOURCES["openrlhf/cli/train_sft.py"] = '''
def train(args):
    # configure strategy
    strategy = get_strategy(args)
    strategy.setup_distributed()

    # configure model
    model = Actor(
        args.model.model_name_or_path,
        param_dtype=strategy.param_dtype,
        use_liger_kernel=strategy.use_liger_kernel,
    )
    tokenizer = get_tokenizer(args.model.model_name_or_path, model.model, "right", strategy)

    # gradient_checkpointing
    if args.model.gradient_checkpointing_enable:
        model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": args.model.gradient_checkpointing_reentrant}
        )

    # configure optimizer
    optim = strategy.create_optimizer(model, lr=args.adam.lr, betas=args.adam.betas, weight_decay=args.adam.weight_decay)

    # prepare for data and dataset
    train_dataset = SFTDataset(blending_datasets(args.data.dataset, strategy, max_count=args.data.max_samples), strategy)
    train_dataloader = strategy.setup_dataloader(train_dataset, args.train.micro_batch_size, True, True)

    eval_dataloader = None
    if getattr(args.eval, "dataset", None):
        eval_dataset = SFTDataset(blending_datasets(args.eval.dataset, strategy), strategy, eval=True)
        eval_dataloader = strategy.setup_dataloader(eval_dataset, args.train.micro_batch_size, True, False)

    # scheduler
    num_update_steps_per_epoch = len(train_dataset) // args.train.batch_size
    max_steps = math.ceil(args.train.max_epochs * num_update_steps_per_epoch)
    scheduler = get_scheduler(
        args.lr_scheduler,
        optim,
        num_warmup_steps=math.ceil(max_steps * args.lr_warmup_ratio),
        num_training_steps=max_steps,
        scheduler_specific_kwargs={"min_lr": args.adam.lr * 0.1},
    )

    # prepare models
    (model, optim, scheduler) = strategy.prepare((model, optim, scheduler))

    # load checkpoint
    consumed_samples = 0
    if args.ckpt.load_enable and os.path.exists(args.ckpt.path):
        _, states = strategy.load_ckpt(model.model, args.ckpt.path)
        consumed_samples = states["consumed_samples"]
        strategy.print(f"Loaded the checkpoint: {args.ckpt.path}, consumed_samples: {consumed_samples}")

    os.makedirs(args.ckpt.output_dir, exist_ok=True)

    # configure Trainer
    trainer = SFTTrainer(
        model=model,
        strategy=strategy,
        optim=optim,
        train_dataloader=train_dataloader,
        eval_dataloader=eval_dataloader,
        scheduler=scheduler,
        max_epochs=args.train.max_epochs,
        tokenizer=tokenizer,
    )

    trainer.fit(args, consumed_samples, num_update_steps_per_epoch)

    # save model checkpoint after fitting on only rank0
    strategy.save_model(model, tokenizer, args.ckpt.output_dir)
'''

SOURCES["openrlhf/trainer/sft_trainer.py"] = '''
class SFTTrainer(ABC):
    """
    Trainer for supervised fine-tuning (SFT).
    """

    def __init__(self, model, strategy, optim, train_dataloader, eval_dataloader, scheduler, max_epochs=2,
                 tokenizer=None):
        super().__init__()
        self.strategy = strategy
        self.epochs = max_epochs
        self.train_dataloader = train_dataloader
        self.eval_dataloader = eval_dataloader
        self.scheduler = scheduler
        self.model = model
        self.tokenizer = tokenizer
        self.optimizer = optim
        self.args = strategy.args
        self.loss_fn = GPTLMLoss()

        # wandb/tensorboard setting
        self._wandb = None
        self._tensorboard = None
        if self.strategy.args.logger.wandb.key and self.strategy.is_rank_0():
            self._wandb = wandb_init(strategy.args)
        if self.strategy.args.logger.tensorboard_dir and self._wandb is None and self.strategy.is_rank_0():
            os.makedirs(self.strategy.args.logger.tensorboard_dir, exist_ok=True)
            log_dir = os.path.join(self.strategy.args.logger.tensorboard_dir, strategy.args.logger.wandb.run_name)
            self._tensorboard = SummaryWriter(log_dir=log_dir)

    def fit(self, args, consumed_samples=0, num_update_steps_per_epoch=None):
        # get eval and save steps
        if args.eval.steps == -1:
            args.eval.steps = num_update_steps_per_epoch  # Evaluate once per epoch
        if args.ckpt.save_steps == -1:
            args.ckpt.save_steps = float("inf")  # do not save ckpt

        # Restore step and start_epoch
        step = consumed_samples // args.train.batch_size * self.strategy.accumulated_gradient + 1
        start_epoch = consumed_samples // args.train.batch_size // num_update_steps_per_epoch
        consumed_samples = consumed_samples % (num_update_steps_per_epoch * args.train.batch_size)

        epoch_bar = tqdm(
            range(start_epoch, self.epochs),
            desc="Train epoch",
            disable=not self.strategy.is_rank_0(),
        )
        loss_sum = 0
        for epoch in range(start_epoch, self.epochs):
            self.train_dataloader.sampler.set_epoch(
                epoch, consumed_samples=0 if epoch > start_epoch else consumed_samples
            )
            step_bar = tqdm(
                range(self.train_dataloader.__len__()),
                desc="Train step of epoch %d" % epoch,
                disable=not self.strategy.is_rank_0(),
            )

            # train
            self.model.train()
            for inputs, attention_mask, loss_mask in self.train_dataloader:
                inputs = inputs.to(torch.cuda.current_device())
                output = self.model(inputs, attention_mask=attention_mask, return_output=True)
                gpt_loss = self.loss_fn(output.logits, loss_mask)
                self.strategy.backward(gpt_loss, self.model, self.optimizer)
                self.strategy.optimizer_step(self.optimizer, self.model, self.scheduler)

                loss_sum += gpt_loss.item()
                logs_dict = {"gpt_loss": gpt_loss.item(), "lr": self.scheduler.get_last_lr()[0]}
                step_bar.update()

                # logs/checkpoints/evaluation
                if step % self.strategy.accumulated_gradient == 0:
                    logs_dict["loss_mean"] = loss_sum / self.strategy.accumulated_gradient
                    loss_sum = 0
                    global_step = step // self.strategy.accumulated_gradient
                    client_states = {"consumed_samples": global_step * args.train.batch_size}
                    self.save_logs_and_checkpoints(args, global_step, step_bar, logs_dict, client_states)

                step += 1

            epoch_bar.update()

        if self._tensorboard is not None:
            self._tensorboard.close()

    # logs/checkpoints/evaluation
    def save_logs_and_checkpoints(self, args, global_step, step_bar, logs_dict={}, client_states={}):
        if global_step % args.logger.logging_steps == 0:
            # step bar
            logs_dict = self.strategy.all_reduce(logs_dict)
            step_bar.set_postfix(logs_dict)
            if self._tensorboard is not None:
                for k, v in logs_dict.items():
                    self._tensorboard.add_scalar(f"train/{k}", v, global_step)

        # eval
        if global_step % args.eval.steps == 0 and self.eval_dataloader is not None:
            if len(self.eval_dataloader) > 0:
                self.evaluate(self.eval_dataloader, global_step)

        # save ckpt
        if global_step % args.ckpt.save_steps == 0:
            tag = f"global_step{global_step}"
            self.strategy.save_ckpt(
                self.model.model, args.ckpt.path, tag, args.ckpt.max_num, args.ckpt.max_mem, client_states
            )

    def evaluate(self, eval_dataloader, steps=0):
        times = 0
        self.model.eval()
        with torch.no_grad():
            loss_sum = 0
            step_bar = tqdm(
                range(eval_dataloader.__len__()),
                desc="Eval stage of steps %d" % steps,
                disable=not self.strategy.is_rank_0(),
            )
            for inputs, attention_mask, loss_mask in eval_dataloader:
                inputs = inputs.to(torch.cuda.current_device())
                output = self.model(inputs, attention_mask=attention_mask, return_output=True)
                loss = self.loss_fn(output.logits, loss_mask)

                times += 1
                loss_sum += loss.item()
                bar_dict = {"eval gpt_loss": loss_sum / times}
                step_bar.update()
                logs = self.strategy.all_reduce(bar_dict)
                step_bar.set_postfix(logs)
        self.model.train()  # reset model state
'''

SOURCES["openrlhf/models/actor.py"] = '''
class Actor(nn.Module):
    """
    Base class for Actor models in reinforcement learning.
    """

    def __init__(self, pretrain_or_model, param_dtype="bf16", use_liger_kernel=False, **kwargs):
        super().__init__()
        if use_liger_kernel:
            from liger_kernel.transformers import AutoLigerKernelForCausalLM

            model_class = AutoLigerKernelForCausalLM
        else:
            model_class = AutoModelForCausalLM
        self.model = model_class.from_pretrained(pretrain_or_model, torch_dtype=param_dtype)

    def forward(self, sequences, attention_mask=None, return_output=False, **kwargs):
        output = self.model(sequences, attention_mask=attention_mask)
        return output if return_output else output.logits

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs={"use_reentrant": False}):
        self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)
'''

SOURCES["openrlhf/utils/deepspeed/deepspeed.py"] = '''
class DeepspeedStrategy(ABC):
    """
    The strategy for training with Accelerator.
    """

    def __init__(self, seed=42, max_norm=0.0, micro_train_batch_size=1, train_batch_size=1, zero_stage=2,
                 param_dtype="bf16", args=None):
        super().__init__()
        self.args = args
        self.stage = zero_stage
        self.train_batch_size = train_batch_size
        self.micro_train_batch_size = micro_train_batch_size
        self.param_dtype = param_dtype
        self.seed = seed
        self.max_norm = max_norm
        self.adam_offload = backend_flag(args, "adam_offload")
        self.use_liger_kernel = backend_flag(args, "use_liger_kernel")

    def setup_distributed(self, timeout=timedelta(minutes=60)):
        # Take the local rank from args as first priority
        if self.args.local_rank != -1:
            os.environ["LOCAL_RANK"] = str(self.args.local_rank)
        deepspeed.init_distributed(timeout=timeout)
        self.ring_attn_size = 1
        self.world_size = dist.get_world_size()
        self.accumulated_gradient = (
            self.train_batch_size * self.ring_attn_size // self.micro_train_batch_size // self.world_size
        )

    def create_optimizer(self, model, **kwargs):
        if isinstance(model, Actor):
            model = model.model
        AdamOptimizer = DeepSpeedCPUAdam if self.adam_offload else FusedAdam
        return AdamOptimizer(model.parameters(), **kwargs)

    def backward(self, loss, model, optimizer, **kwargs):
        if isinstance(model, Actor):
            model = model.model
        model.backward(loss)

    def optimizer_step(self, optimizer, model, scheduler, name="model", **kwargs):
        if isinstance(model, Actor):
            model = model.model
        model.step()

    def setup_dataloader(self, replay_buffer, batch_size, pin_memory=False, shuffle=True, drop_last=True):
        sampler = DistributedSampler(replay_buffer, num_replicas=dist.get_world_size(), rank=dist.get_rank(),
                                     shuffle=shuffle, seed=self.seed, drop_last=drop_last)
        return DataLoader(replay_buffer, batch_size=batch_size, sampler=sampler, drop_last=drop_last)

    def prepare(self, *models_or_model_optim_pairs, is_rlhf=False):
        ret = []
        for arg in models_or_model_optim_pairs:
            ret.append(self._ds_init_train_model(*arg))
        return ret[0] if len(ret) == 1 else ret

    def _ds_init_train_model(self, model, optim, scheduler):
        ds_config = self.get_ds_train_config(is_actor=True)
        engine, optim, _, scheduler = deepspeed.initialize(
            model=model.model,
            optimizer=optim,
            lr_scheduler=scheduler,
            config=ds_config,
            args={"local_rank": int(os.environ.get("LOCAL_RANK", "-1"))},
            dist_init_required=True,
        )
        model.model = engine
        return model, optim, scheduler

    def get_ds_train_config(self, is_actor):
        ds_config = get_train_ds_config(offload=False, adam_offload=self.adam_offload, stage=self.stage,
                                        param_dtype=self.param_dtype, max_norm=self.max_norm)
        ds_config["train_micro_batch_size_per_gpu"] = self.micro_train_batch_size
        ds_config["train_batch_size"] = self.train_batch_size * self.ring_attn_size
        return ds_config

    def save_ckpt(self, model, save_dir, tag=None, max_num=3, max_mem=1000, client_state={}, save_latest=True):
        if self.is_rank_0():
            os.makedirs(save_dir, exist_ok=True)
            MAX_SIZE = max_mem * 1024**3  # Convert GB to bytes
            while True:
                subdirs = sorted(
                    [(os.path.join(save_dir, d), os.path.getmtime(os.path.join(save_dir, d)))
                     for d in os.listdir(save_dir) if os.path.isdir(os.path.join(save_dir, d))],
                    key=lambda x: x[1],
                )
                total_size = sum(folder_size(subdir) for subdir, _ in subdirs)
                if len(subdirs) >= max_num or total_size > MAX_SIZE:
                    oldest_dir = subdirs[0][0]
                    if os.path.exists(oldest_dir):
                        shutil.rmtree(oldest_dir)
                else:
                    break
        dist.barrier()
        model.save_checkpoint(save_dir, tag=tag, client_state=client_state, save_latest=save_latest)

    def load_ckpt(self, model, load_dir, tag=None, load_module_strict=True, load_optimizer_states=True,
                  load_lr_scheduler_states=True, load_module_only=False):
        load_path, states = model.load_checkpoint(load_dir, tag)
        if load_path is None:
            raise Exception(f"[deepspeed] failed to resume from checkpoint {load_dir}")
        return load_path, states

    def save_model(self, model, tokenizer, output_dir, **kwargs):
        if self.is_rank_0():
            os.makedirs(output_dir, exist_ok=True)
            model_to_save = model.model.module
            model_to_save.save_pretrained(output_dir)
            tokenizer.save_pretrained(output_dir)
        dist.barrier()

    def all_reduce(self, data, op="mean"):
        return data

    def print(self, *msg):
        if self.is_rank_0():
            print(*msg)

    def is_rank_0(self):
        return dist.get_rank() == 0
'''

# The FSDP2 generation's strategy: the accumulation is max(1, train_batch // (micro x world)), with no
# DeepSpeed config to check it; checkpoints are torch.distributed.checkpoint folders.
SOURCES["openrlhf/utils/fsdp/strategy.py"] = '''
class FSDPStrategy(DeepspeedStrategy):
    """
    The strategy for training with FSDP2 (NeMo Automodel).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stage = 3
        self.adam_offload = backend_flag(self.args, "cpu_offload")

    def setup_distributed(self, timeout=timedelta(minutes=60)):
        if self.args.local_rank != -1:
            os.environ["LOCAL_RANK"] = str(self.args.local_rank)
        dist.init_process_group(backend="nccl", timeout=timeout)
        self.ring_attn_size = 1
        self.world_size = dist.get_world_size()
        self._compute_grad_accumulation()

    def _compute_grad_accumulation(self):
        effective_batch = self.micro_train_batch_size * self.world_size
        self.accumulated_gradient = max(1, self.train_batch_size // effective_batch)

    def _ds_init_train_model(self, model, optim, scheduler):
        model.model = fully_shard(model.model, self.accumulated_gradient, optim, scheduler)
        return model, optim, scheduler
'''

SOURCES["deepspeed/runtime/engine.py"] = '''
class DeepSpeedEngine(Module):
    """DeepSpeed engine for training."""

    def __init__(self, model, optimizer, lr_scheduler, config, gradient_accumulation_steps):
        super().__init__()
        self.module = model
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self._config = config
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.micro_steps = 0
        self.global_steps = 0

    def forward(self, *inputs, **kwargs):
        loss = self.module(*inputs, **kwargs)
        return loss

    def backward(self, loss, retain_graph=False, scale_wrt_gas=True):
        loss.backward(retain_graph=retain_graph)
        return loss

    def is_gradient_accumulation_boundary(self):
        return (self.micro_steps + 1) % self.gradient_accumulation_steps == 0

    def step(self, lr_kwargs=None):
        if self.is_gradient_accumulation_boundary():
            self._take_model_step(lr_kwargs)
        self.micro_steps += 1

    def _take_model_step(self, lr_kwargs, block_eigenvalue={}):
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.lr_scheduler.step(**(lr_kwargs or {}))
        self.global_steps += 1

    def save_checkpoint(self, save_dir, tag=None, client_state={}, save_latest=True):
        return write_checkpoint(self, save_dir, tag, client_state, save_latest)

    def load_checkpoint(self, load_dir, tag=None):
        return read_checkpoint(self, load_dir, tag)
'''
