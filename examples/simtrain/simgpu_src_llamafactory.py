"""Source text of the simulated LLaMA-Factory (`llamafactory-cli`) and the transformers pieces it
adds to the simulated Trainer (Seq2SeqTrainer, trainer_pt_utils, utils/versions).

Shaped after hiyouga/LlamaFactory src/llamafactory/{cli,launcher}.py, train/tuner.py,
train/sft/{workflow,trainer}.py, train/pt/{workflow,trainer}.py, model/loader.py,
model/model_utils/checkpointing.py and extras/{misc,logging}.py. The code keeps the real call
structure and messages; what needs the sim (the GPU count, package checks, the session on the
simulated GPU) is supplied by simgpu_src_llamafactory_load, whose frames are hidden from
tracebacks. SOURCES also holds simgpu_src_llamafactory_args's modules (hparams, OmegaConf).
"""

import simgpu_src_llamafactory_args

SOURCES = {}

SOURCES.update(simgpu_src_llamafactory_args.SOURCES)

SOURCES["transformers/utils/versions.py"] = '''
ops = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


def require_version(requirement, hint=None):
    """
    Perform a runtime check of the dependency versions, using the exact same syntax used by pip.
    """

    hint = f"\\n{hint}" if hint is not None else ""

    # non-versioned check
    if re.match(r"^[\\w_\\-\\d]+$", requirement):
        pkg, op, want_ver = requirement, None, None
    else:
        match = re.findall(r"^([^!=<>\\s]+)([\\s!=<>]{1,2}.+)", requirement)
        if not match:
            raise ValueError(
                "requirement needs to be in the pip package format, .e.g., package_a==1.23, or package_b>=1.23, but"
                f" got {requirement}"
            )
        pkg, want_full = match[0]

    # check if any version is installed
    try:
        got_ver = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        raise importlib.metadata.PackageNotFoundError(
            f"The '{requirement}' distribution was not found and is required by this application. {hint}"
        )
'''

SOURCES["transformers/trainer_pt_utils.py"] = '''
def log_metrics(self, split, metrics):
    if not self.is_world_process_zero():
        return

    logger.info(f"***** {split} metrics *****")
    metrics_formatted = metrics_format(metrics)
    k_width = max(len(str(x)) for x in metrics_formatted) if metrics_formatted else 0
    v_width = max(len(str(x)) for x in metrics_formatted.values()) if metrics_formatted else 0
    for key in sorted(metrics_formatted.keys()):
        logger.info(f"  {key: <{k_width}} = {metrics_formatted[key]:>{v_width}}")


def metrics_format(metrics):
    metrics_copy = metrics.copy()
    for k, v in metrics_copy.items():
        if isinstance(v, float):
            metrics_copy[k] = round(v, 4)
    return metrics_copy


def save_metrics(self, split, metrics, combined=True):
    if not self.is_world_process_zero():
        return

    path = os.path.join(self.args.output_dir, f"{split}_results.json")
    with open(path, "w") as f:
        json.dump(metrics, f, indent=4, sort_keys=True)

    if combined:
        path = os.path.join(self.args.output_dir, "all_results.json")
        if os.path.exists(path):
            with open(path) as f:
                all_metrics = json.load(f)
        else:
            all_metrics = {}

        all_metrics.update(metrics)
        with open(path, "w") as f:
            json.dump(all_metrics, f, indent=4, sort_keys=True)


def save_state(self):
    if not self.is_world_process_zero():
        return

    path = os.path.join(self.args.output_dir, "trainer_state.json")
    self.state.save_to_json(path)
'''

SOURCES["transformers/trainer_seq2seq.py"] = '''
class Seq2SeqTrainer(Trainer):
    def __init__(
        self,
        model=None,
        args=None,
        data_collator=None,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        model_init=None,
        compute_loss_func=None,
        compute_metrics=None,
        callbacks=None,
        optimizers=(None, None),
        preprocess_logits_for_metrics=None,
    ):
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
        )

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval", **gen_kwargs):
        gen_kwargs = gen_kwargs.copy()
        self._gen_kwargs = gen_kwargs

        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(
                model, inputs, prediction_loss_only=prediction_loss_only, ignore_keys=ignore_keys
            )
        return super().prediction_step(model, inputs, prediction_loss_only=True, ignore_keys=ignore_keys)
'''

SOURCES["llamafactory/extras/logging.py"] = '''
class _Logger:
    r"""LLaMA-Factory's library logger: `[LEVEL|time] name:line >> message` on stdout."""

    def __init__(self, name):
        self.name = name

    def _log(self, level, msg):
        caller = sys._getframe(2)
        sys.stderr.flush()
        sys.stdout.write(
            f"[{level}|{time.strftime('%Y-%m-%d %H:%M:%S')}] {self.name}:{caller.f_lineno} >> {msg}\\n"
        )
        sys.stdout.flush()

    def info(self, msg):
        self._log("INFO", msg)

    def warning(self, msg):
        self._log("WARNING", msg)

    def info_rank0(self, msg):
        if int(os.getenv("LOCAL_RANK", "0")) == 0:
            self._log("INFO", msg)

    def warning_rank0(self, msg):
        if int(os.getenv("LOCAL_RANK", "0")) == 0:
            self._log("WARNING", msg)

    def warning_rank0_once(self, msg):
        if msg not in _warned and int(os.getenv("LOCAL_RANK", "0")) == 0:
            _warned.add(msg)
            self._log("WARNING", msg)


_warned = set()


def get_logger(name=None):
    r"""Return a logger with the specified name. It it not supposed to be accessed externally."""
    return _Logger(name or "llamafactory")
'''

SOURCES["llamafactory/extras/constants.py"] = '''
CHECKPOINT_NAMES = {
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
}


class EngineName:
    HF = "huggingface"
    VLLM = "vllm"
    SGLANG = "sglang"


IGNORE_INDEX = -100
'''

SOURCES["llamafactory/extras/misc.py"] = '''
logger = logging.get_logger(__name__)


def check_version(requirement, mandatory=False):
    r"""Optionally check the package version."""
    if is_env_enabled("DISABLE_VERSION_CHECK") and not mandatory:
        logger.warning_rank0_once("Version checking has been disabled, may lead to unexpected behaviors.")
        return

    if "gptmodel" in requirement or "autoawq" in requirement:
        pip_command = f"pip install {requirement} --no-build-isolation"
    else:
        pip_command = f"pip install {requirement}"

    if mandatory:
        hint = f"To fix: run `{pip_command}`."
    else:
        hint = f"To fix: run `{pip_command}` or set `DISABLE_VERSION_CHECK=1` to skip this check."

    require_version(requirement, hint)


def check_dependencies():
    r"""Check the version of the required packages."""
    pass  # the sim's transformers, datasets, accelerate, peft and trl are whatever it simulates


def get_current_device():
    r"""Get the current available device."""
    return "cuda:{}".format(os.getenv("LOCAL_RANK", "0"))


def get_device_count():
    r"""Get the number of available devices."""
    return torch.cuda.device_count()


def is_env_enabled(env_var, default="0"):
    r"""Check if the environment variable is enabled."""
    return os.getenv(env_var, default).lower() in ["true", "y", "1"]


def use_ray():
    return is_env_enabled("USE_RAY")


def use_kt():
    return is_env_enabled("USE_KT")


def find_available_port():
    r"""Find an available port on the local machine."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
'''

SOURCES["llamafactory/extras/env.py"] = '''
VERSION = "0.9.6.dev0"
'''

SOURCES["llamafactory/launcher.py"] = '''
USAGE = (
    "-" * 70
    + "\\n"
    + "| Usage:                                                             |\\n"
    + "|   llamafactory-cli api -h: launch an OpenAI-style API server       |\\n"
    + "|   llamafactory-cli chat -h: launch a chat interface in CLI         |\\n"
    + "|   llamafactory-cli export -h: merge LoRA adapters and export model |\\n"
    + "|   llamafactory-cli train -h: train models                          |\\n"
    + "|   llamafactory-cli webchat -h: launch a chat interface in Web UI   |\\n"
    + "|   llamafactory-cli webui: launch LlamaBoard                        |\\n"
    + "|   llamafactory-cli env: show environment info                      |\\n"
    + "|   llamafactory-cli version: show version info                      |\\n"
    + "| Hint: You can use `lmf` as a shortcut for `llamafactory-cli`.      |\\n"
    + "-" * 70
)


def launch():
    logger = logging.get_logger(__name__)
    WELCOME = (
        "-" * 58
        + "\\n"
        + f"| Welcome to LLaMA Factory, version {VERSION}"
        + " " * (21 - len(VERSION))
        + "|\\n|"
        + " " * 56
        + "|\\n"
        + "| Project page: https://github.com/hiyouga/LLaMA-Factory |\\n"
        + "-" * 58
    )

    command = sys.argv.pop(1) if len(sys.argv) > 1 else "help"
    if is_env_enabled("USE_MCA") or is_env_enabled("USE_MEGATRON_BRIDGE"):  # force use torchrun
        os.environ["FORCE_TORCHRUN"] = "1"

    if command == "train" and (
        is_env_enabled("FORCE_TORCHRUN") or (get_device_count() > 1 and not use_ray() and not use_kt())
    ):
        # launch distributed training
        nnodes = os.getenv("NNODES", "1")
        node_rank = os.getenv("NODE_RANK", "0")
        nproc_per_node = os.getenv("NPROC_PER_NODE", str(get_device_count()))
        master_addr = os.getenv("MASTER_ADDR", "127.0.0.1")
        master_port = os.getenv("MASTER_PORT", str(find_available_port()))
        logger.info_rank0(f"Initializing {nproc_per_node} distributed tasks at: {master_addr}:{master_port}")
        if int(nnodes) > 1:
            logger.info_rank0(f"Multi-node training enabled: num nodes: {nnodes}, node rank: {node_rank}")

        # elastic launch support
        max_restarts = os.getenv("MAX_RESTARTS", "0")
        rdzv_id = os.getenv("RDZV_ID")
        min_nnodes = os.getenv("MIN_NNODES")
        max_nnodes = os.getenv("MAX_NNODES")

        env = deepcopy(os.environ)
        if is_env_enabled("OPTIM_TORCH", "1"):
            # optimize DDP, see https://zhuanlan.zhihu.com/p/671834539
            env["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
            env["TORCH_NCCL_AVOID_RECORD_STREAMS"] = "1"

        if rdzv_id is not None:
            # launch elastic job with fault tolerant support when possible
            # see also https://docs.pytorch.org/docs/stable/elastic/train_script.html
            rdzv_nnodes = nnodes
            # elastic number of nodes if MIN_NNODES and MAX_NNODES are set
            if min_nnodes is not None and max_nnodes is not None:
                rdzv_nnodes = f"{min_nnodes}:{max_nnodes}"

            process = subprocess.run(
                [
                    "torchrun",
                    "--nnodes",
                    rdzv_nnodes,
                    "--nproc-per-node",
                    nproc_per_node,
                    "--rdzv-id",
                    rdzv_id,
                    "--rdzv-backend",
                    "c10d",
                    "--rdzv-endpoint",
                    f"{master_addr}:{master_port}",
                    "--max-restarts",
                    max_restarts,
                    __file__,
                    *sys.argv[1:],
                ],
                env=env,
                check=True,
            )
        else:
            # NOTE: DO NOT USE shell=True to avoid security risk
            process = subprocess.run(
                [
                    "torchrun",
                    "--nnodes",
                    nnodes,
                    "--node_rank",
                    node_rank,
                    "--nproc_per_node",
                    nproc_per_node,
                    "--master_addr",
                    master_addr,
                    "--master_port",
                    master_port,
                    __file__,
                    *sys.argv[1:],
                ],
                env=env,
                check=True,
            )

        sys.exit(process.returncode)

    elif command == "api":
        run_api()

    elif command == "chat":
        run_chat()

    elif command == "eval":
        raise NotImplementedError("Evaluation will be deprecated in the future.")

    elif command == "export":
        export_model()

    elif command == "train":
        run_exp()

    elif command == "webchat":
        run_web_demo()

    elif command == "webui":
        run_web_ui()

    elif command == "env":
        print_env()

    elif command == "version":
        print(WELCOME)

    elif command == "help":
        print(USAGE)

    else:
        print(f"Unknown command: {command}.\\n{USAGE}")
'''

SOURCES["llamafactory/cli.py"] = '''
def main():
    launcher.launch()


if __name__ == "__main__":
    from multiprocessing import freeze_support

    freeze_support()
    main()
'''

SOURCES["llamafactory/train/callbacks.py"] = '''
logger = logging.get_logger(__name__)


class LogCallback(TrainerCallback):
    r"""A callback for logging training and evaluation status."""

    def __init__(self):
        self.start_time = 0
        self.cur_steps = 0
        self.max_steps = 0


class ReporterCallback(TrainerCallback):
    r"""A callback for reporting training status to external logger."""

    def __init__(self, model_args, data_args, finetuning_args, generating_args):
        self.model_args = model_args
        self.data_args = data_args
        self.finetuning_args = finetuning_args
        self.generating_args = generating_args
'''

SOURCES["llamafactory/train/trainer_utils.py"] = '''
logger = logging.get_logger(__name__)


def create_modelcard_and_push(trainer, model_args, data_args, training_args, finetuning_args):
    kwargs = {
        "tasks": "text-generation",
        "finetuned_from": model_args.model_name_or_path,
        "tags": ["llama-factory", finetuning_args.finetuning_type],
    }
    if data_args.dataset is not None:
        kwargs["dataset"] = data_args.dataset

    if not training_args.do_train:
        pass
    elif training_args.push_to_hub:
        trainer.push_to_hub(**kwargs)


def create_custom_optimizer(model, training_args, finetuning_args):
    if finetuning_args.use_galore or finetuning_args.use_apollo or finetuning_args.use_badam:
        raise NotImplementedError("GaLore, APOLLO and BAdam optimizers are not simulated.")

    if finetuning_args.loraplus_lr_ratio is not None:
        return None  # LoRA+ only changes learning rates

    if finetuning_args.use_adam_mini or finetuning_args.use_muon:
        raise NotImplementedError("Adam-mini and Muon optimizers are not simulated.")


def create_custom_scheduler(training_args, num_training_steps, optimizer=None):
    pass
'''

SOURCES["llamafactory/train/sft/trainer.py"] = '''
logger = logging.get_logger(__name__)


class CustomSeq2SeqTrainer(Seq2SeqTrainer):
    r"""Inherits Seq2SeqTrainer to compute generative metrics such as BLEU and ROUGE."""

    def __init__(self, finetuning_args, processor, gen_kwargs=None, ref_model=None, **kwargs):
        kwargs["processing_class"] = kwargs.pop("tokenizer")
        super().__init__(**kwargs)
        if processor is not None:
            # avoid wrong loss under gradient accumulation
            # https://github.com/huggingface/transformers/pull/36044#issuecomment-2746657112
            self.model_accepts_loss_kwargs = False

        self.finetuning_args = finetuning_args
        if gen_kwargs is not None:
            # https://github.com/huggingface/transformers/blob/v4.45.0/src/transformers/trainer_seq2seq.py#L287
            self._gen_kwargs = gen_kwargs

        if processor is not None:
            self.add_callback(SaveProcessorCallback(processor))

    def create_optimizer(self):
        if self.optimizer is None:
            self.optimizer = create_custom_optimizer(self.model, self.args, self.finetuning_args)
        return super().create_optimizer()

    def compute_loss(self, model, inputs, *args, **kwargs):
        if self.finetuning_args.use_dft_loss:
            raise NotImplementedError("The DFT loss is not simulated.")
        return super().compute_loss(model, inputs, *args, **kwargs)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        r"""Remove the prompt part in the generated tokens.

        Subclass and override to inject custom behavior.
        """
        if self.args.predict_with_generate:  # do not pass labels to model when generate
            labels = inputs.pop("labels", None)
        else:
            labels = inputs.get("labels")

        loss, generated_tokens, _ = super().prediction_step(
            model, inputs, prediction_loss_only=prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs
        )
        return loss, generated_tokens, labels
'''

SOURCES["llamafactory/train/sft/workflow.py"] = '''
logger = get_logger(__name__)


def run_sft(model_args, data_args, training_args, finetuning_args, generating_args, callbacks=None):
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    dataset_module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    model = load_model(tokenizer, model_args, finetuning_args, training_args.do_train)

    data_collator = SFTDataCollatorWith4DAttentionMask(
        template=template,
        model=model if not training_args.predict_with_generate else None,
        pad_to_multiple_of=8 if training_args.do_train else None,  # for shift short attention
        label_pad_token_id=IGNORE_INDEX if data_args.ignore_pad_token_for_loss else tokenizer.pad_token_id,
        block_diag_attn=model_args.block_diag_attn,
        compute_dtype=model_args.compute_dtype,
        **tokenizer_module,
    )

    # Metric utils
    metric_module = {}

    # Keyword arguments for `model.generate`
    gen_kwargs = generating_args.to_dict(obey_generation_config=True)
    gen_kwargs["eos_token_id"] = [tokenizer.eos_token_id] + tokenizer.additional_special_tokens_ids
    gen_kwargs["pad_token_id"] = tokenizer.pad_token_id

    # Initialize our Trainer
    trainer = CustomSeq2SeqTrainer(
        model=model,
        args=training_args,
        finetuning_args=finetuning_args,
        data_collator=data_collator,
        callbacks=callbacks,
        gen_kwargs=gen_kwargs,
        **dataset_module,
        **tokenizer_module,
        **metric_module,
    )

    # Training
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.log_metrics("train", train_result.metrics)
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
        if trainer.is_world_process_zero() and finetuning_args.plot_loss:
            keys = ["loss"]
            keys += ["eval_loss", "eval_accuracy"]
            plot_loss(training_args.output_dir, keys=keys)

    if training_args.predict_with_generate:
        tokenizer.padding_side = "left"  # use left-padding in generation

    # Evaluation
    if training_args.do_eval:
        metrics = trainer.evaluate(metric_key_prefix="eval", **gen_kwargs)
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)

    # Create model card
    create_modelcard_and_push(trainer, model_args, data_args, training_args, finetuning_args)
'''

SOURCES["llamafactory/train/pt/trainer.py"] = '''
class CustomTrainer(Trainer):
    r"""Inherit Trainer for custom optimizer."""

    def __init__(self, finetuning_args, processor, gen_kwargs=None, **kwargs):
        kwargs["processing_class"] = kwargs.pop("tokenizer")
        super().__init__(**kwargs)
        if processor is not None:
            # avoid wrong loss under gradient accumulation
            # https://github.com/huggingface/transformers/pull/36044#issuecomment-2746657112
            self.model_accepts_loss_kwargs = False

        self.finetuning_args = finetuning_args
        if gen_kwargs is not None:
            # https://github.com/huggingface/transformers/blob/v4.45.0/src/transformers/trainer_seq2seq.py#L287
            self._gen_kwargs = gen_kwargs

    def create_optimizer(self):
        if self.optimizer is None:
            self.optimizer = create_custom_optimizer(self.model, self.args, self.finetuning_args)
        return super().create_optimizer()

    def compute_loss(self, model, inputs, *args, **kwargs):
        if self.finetuning_args.use_dft_loss:
            raise NotImplementedError("The DFT loss is not simulated.")
        return super().compute_loss(model, inputs, *args, **kwargs)
'''

SOURCES["llamafactory/train/pt/workflow.py"] = '''
def run_pt(model_args, data_args, training_args, finetuning_args, callbacks=None):
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    dataset_module = get_dataset(template, model_args, data_args, training_args, stage="pt", **tokenizer_module)
    model = load_model(tokenizer, model_args, finetuning_args, training_args.do_train)
    data_collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)

    # Initialize our Trainer
    trainer = CustomTrainer(
        model=model,
        args=training_args,
        finetuning_args=finetuning_args,
        data_collator=data_collator,
        callbacks=callbacks,
        **dataset_module,
        **tokenizer_module,
    )

    # Training
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.log_metrics("train", train_result.metrics)
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
        if trainer.is_world_process_zero() and finetuning_args.plot_loss:
            plot_loss(training_args.output_dir, keys=["loss", "eval_loss"])

    # Evaluation
    if training_args.do_eval:
        metrics = trainer.evaluate(metric_key_prefix="eval")
        try:
            perplexity = math.exp(metrics["eval_loss"])
        except (OverflowError, TypeError):
            perplexity = float("inf")

        metrics["perplexity"] = perplexity
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)

    # Create model card
    create_modelcard_and_push(trainer, model_args, data_args, training_args, finetuning_args)
'''

SOURCES["llamafactory/train/tuner.py"] = '''
logger = logging.get_logger(__name__)


def _training_function(config):
    args = config.get("args")
    callbacks = config.get("callbacks")
    model_args, data_args, training_args, finetuning_args, generating_args = get_train_args(args)

    callbacks.append(LogCallback())
    if finetuning_args.early_stopping_steps is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=finetuning_args.early_stopping_steps))

    callbacks.append(ReporterCallback(model_args, data_args, finetuning_args, generating_args))  # add to last

    if finetuning_args.stage == "pt":
        run_pt(model_args, data_args, training_args, finetuning_args, callbacks)
    elif finetuning_args.stage == "sft":
        run_sft(model_args, data_args, training_args, finetuning_args, generating_args, callbacks)
    elif finetuning_args.stage == "rm":
        run_rm(model_args, data_args, training_args, finetuning_args, callbacks)
    elif finetuning_args.stage == "ppo":
        run_ppo(model_args, data_args, training_args, finetuning_args, generating_args, callbacks)
    elif finetuning_args.stage == "dpo":
        run_dpo(model_args, data_args, training_args, finetuning_args, callbacks)
    elif finetuning_args.stage == "kto":
        run_kto(model_args, data_args, training_args, finetuning_args, callbacks)
    else:
        raise ValueError(f"Unknown task: {finetuning_args.stage}.")

    try:
        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception as e:
        logger.warning(f"Failed to destroy process group: {e}.")


def run_exp(args=None, callbacks=None):
    args = read_args(args)
    if "-h" in args or "--help" in args:
        get_train_args(args)

    ray_args = get_ray_args(args)
    callbacks = callbacks or []
    if ray_args.use_ray:
        _ray_training_function(ray_args, config={"args": args, "callbacks": callbacks})
    else:
        _training_function(config={"args": args, "callbacks": callbacks})
'''

SOURCES["llamafactory/model/model_utils/checkpointing.py"] = '''
logger = logging.get_logger(__name__)


def _gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None, use_unsloth_gc=False):
    r"""Activates gradient checkpointing for the current model.

    Modification of the original method to enable gradient checkpointing for block-wise optimizer.
    """
    if not self.supports_gradient_checkpointing:
        raise ValueError(f"{self.__class__.__name__} does not support gradient checkpointing.")

    if gradient_checkpointing_kwargs is None:
        gradient_checkpointing_kwargs = {"use_reentrant": True}

    self.is_gradient_checkpointing = True


def prepare_model_for_training(model, model_args):
    r"""Prepare the model before training.

    Include:
    (1) cast the layernorm in fp32
    (2) make output embedding layer require grads
    (3) add the upcasting of the lm_head in fp32.
    """
    if model_args.upcast_layernorm:
        logger.info_rank0("Upcasting layernorm weights in float32.")

    if not model_args.disable_gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            logger.warning_rank0("Current model does not support gradient checkpointing.")
        else:
            # use_reentrant=False might increase VRAM usage (have not been empirically verified yet)
            # According to: https://github.com/huggingface/transformers/issues/28339
            gradient_checkpointing_enable = partial(
                _gradient_checkpointing_enable, use_unsloth_gc=model_args.use_unsloth_gc
            )
            model.gradient_checkpointing_enable = MethodType(gradient_checkpointing_enable, model)
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": model_args.use_reentrant_gc}
            )
            setattr(model.config, "use_cache", False)  # turn off when gradient checkpointing is enabled
            logger.info_rank0("Gradient checkpointing enabled.")

    if model_args.upcast_lmhead_output:
        logger.info_rank0("Upcasting lm_head outputs in float32.")
'''

SOURCES["llamafactory/model/model_utils/quantization.py"] = '''
logger = logging.get_logger(__name__)


def configure_quantization(config, tokenizer, model_args, is_trainable, init_kwargs):
    r"""Prepare the quantization configuration for on-the-fly quantization (bitsandbytes)."""
    if model_args.quantization_bit is not None:  # on-the-fly
        if model_args.quantization_method == QuantizationMethod.BNB:
            if model_args.quantization_bit == 8:
                check_version("bitsandbytes>=0.37.0", mandatory=True)
                init_kwargs["quantization_config"] = {"load_in_8bit": True}
            elif model_args.quantization_bit == 4:
                check_version("bitsandbytes>=0.39.0", mandatory=True)
                init_kwargs["quantization_config"] = {"load_in_4bit": True}
            else:
                raise ValueError("Bitsandbytes only accepts 4-bit or 8-bit quantization.")

        logger.info_rank0(f"Quantizing model to {model_args.quantization_bit} bit with bitsandbytes.")
'''

SOURCES["llamafactory/model/loader.py"] = '''
logger = logging.get_logger(__name__)


def _get_init_kwargs(model_args):
    r"""Get arguments to load config/tokenizer/model."""
    return {
        "trust_remote_code": model_args.trust_remote_code,
        "cache_dir": model_args.cache_dir,
        "revision": model_args.model_revision,
        "token": model_args.hf_hub_token,
    }


def load_tokenizer(model_args):
    r"""Load pretrained tokenizer and optionally loads processor."""
    init_kwargs = _get_init_kwargs(model_args)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        use_fast=model_args.use_fast_tokenizer,
        split_special_tokens=model_args.split_special_tokens,
        padding_side="right",
        **init_kwargs,
    )
    return {"tokenizer": tokenizer, "processor": None}


def load_config(model_args):
    r"""Load model config."""
    return AutoConfig.from_pretrained(model_args.model_name_or_path, **_get_init_kwargs(model_args))


def load_model(tokenizer, model_args, finetuning_args, is_trainable=False, add_valuehead=False):
    r"""Load pretrained model."""
    init_kwargs = _get_init_kwargs(model_args)
    config = load_config(model_args)
    configure_quantization(config, tokenizer, model_args, is_trainable, init_kwargs)

    init_kwargs["config"] = config
    init_kwargs["pretrained_model_name_or_path"] = model_args.model_name_or_path
    if model_args.train_from_scratch:
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=model_args.trust_remote_code)
    else:
        model = AutoModelForCausalLM.from_pretrained(**init_kwargs)

    if is_trainable:
        prepare_model_for_training(model, model_args)

    model = init_adapter(config, model, model_args, finetuning_args, is_trainable)

    if not is_trainable:
        model.requires_grad_(False)
        model.eval()
    else:
        model.train()

    return model
'''

SOURCES["llamafactory/model/adapter.py"] = '''
logger = logging.get_logger(__name__)


def init_adapter(config, model, model_args, finetuning_args, is_trainable):
    r"""Initialize the adapters.

    Support full-parameter, freeze and LoRA training.

    Note that the trainable parameters must be cast to float32.
    """
    if not is_trainable and model_args.adapter_name_or_path is None:
        logger.info_rank0("Adapter is not found at evaluation, load the base model.")
        return model

    if finetuning_args.finetuning_type == "full":
        logger.info_rank0("Fine-tuning method: Full")
    elif finetuning_args.finetuning_type == "freeze":
        logger.info_rank0("Fine-tuning method: Freeze")
    elif finetuning_args.finetuning_type == "oft":
        logger.info_rank0("Fine-tuning method: OFT")
    else:
        logger.info_rank0("Fine-tuning method: {}".format("DoRA" if finetuning_args.use_dora else "LoRA"))

    return model
'''

SOURCES["llamafactory/data/template.py"] = '''
logger = logging.get_logger(__name__)


def get_template_and_fix_tokenizer(tokenizer, data_args):
    r"""Get chat template and fixes the tokenizer."""
    if data_args.template is None:
        logger.warning_rank0("`template` was not specified, use `empty` template.")
        template = TEMPLATES["empty"]  # placeholder
    else:
        if data_args.template not in TEMPLATES:
            TEMPLATES[data_args.template] = {"name": data_args.template}

        template = TEMPLATES[data_args.template]

    return template


TEMPLATES = {"empty": {"name": "empty"}}
'''

SOURCES["llamafactory/data/loader.py"] = '''
logger = logging.get_logger(__name__)


def get_dataset(template, model_args, data_args, training_args, stage, tokenizer, processor=None):
    r"""Get the train dataset and optionally gets the evaluation dataset."""
    dataset_module = {}
    if training_args.do_train:
        dataset_module["train_dataset"] = data_args.dataset

    if data_args.val_size > 1e-6 or data_args.eval_dataset is not None:
        dataset_module["eval_dataset"] = data_args.eval_dataset or data_args.dataset

    return dataset_module
'''
