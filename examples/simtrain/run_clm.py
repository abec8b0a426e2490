#!/usr/bin/env python3
"""Causal language-model fine-tuning in the style of Hugging Face's examples/pytorch/language-modeling/run_clm.py,
on the simulated GPU.

    python3 examples/simtrain/run_clm.py --output_dir out --do_train --per_device_train_batch_size 8 \\
        [--gradient_accumulation_steps N] [--bf16|--fp16] [--gradient_checkpointing] [--optim NAME] \\
        [--deepspeed ds.json] [--eval_strategy steps --eval_steps N] [--do_eval] [--max_steps N] \\
        [--save_strategy no|steps|epoch --save_steps N --save_total_limit K] \\
        [--resume_from_checkpoint OUT/checkpoint-N [--ignore_data_skip]]
    python3 examples/simtrain/run_clm.py args.json

As in the real script, it trains only with --do_train and evaluates at the end only with --do_eval.
Checkpoints go to <output_dir>/checkpoint-<step>/ (trainer_state.json written last); unlike the real
script, it never resumes by itself from the last checkpoint in output_dir.
Flags are TrainingArguments' (HfArgumentParser rules: hyphenated aliases, bare or valued bools,
abbreviations, unknown arguments refused). Also takes simtrain's --sim-* options (see README.md).
"""

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

try:
    import transformers  # real transformers when present
except ImportError:
    transformers = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_memfixes  # noqa: E402


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(
        default=None, metadata={"help": "The model checkpoint for weights initialization."}
    )
    model_type: Optional[str] = field(default=None, metadata={"help": "If training from scratch, pass a model type."})
    config_name: Optional[str] = field(default=None, metadata={"help": "Pretrained config name or path"})
    tokenizer_name: Optional[str] = field(default=None, metadata={"help": "Pretrained tokenizer name or path"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "Where to store the pretrained models"})
    use_fast_tokenizer: bool = field(default=True, metadata={"help": "Whether to use a fast tokenizer."})
    model_revision: str = field(default="main", metadata={"help": "The specific model version to use."})
    token: Optional[str] = field(default=None, metadata={"help": "The token to use as HTTP bearer authorization."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Whether to trust remote code."})
    torch_dtype: Optional[str] = field(
        default=None,
        metadata={"help": "Override the default dtype to load the model under.",
                  "choices": ["auto", "bfloat16", "float16", "float32"]},
    )
    low_cpu_mem_usage: bool = field(default=False, metadata={"help": "Create the model as an empty shell."})


@dataclass
class DataTrainingArguments:
    dataset_name: Optional[str] = field(default=None, metadata={"help": "The name of the dataset to use."})
    dataset_config_name: Optional[str] = field(default=None, metadata={"help": "The configuration of the dataset."})
    train_file: Optional[str] = field(default=None, metadata={"help": "The input training data file."})
    validation_file: Optional[str] = field(default=None, metadata={"help": "An optional evaluation data file."})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Truncate the training set."})
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "Truncate the evaluation set."})
    streaming: bool = field(default=False, metadata={"help": "Enable streaming mode"})
    block_size: Optional[int] = field(default=None, metadata={"help": "Input sequence length after tokenization."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Overwrite the cached datasets"})
    validation_split_percentage: Optional[int] = field(default=5, metadata={"help": "Validation split percentage"})
    preprocessing_num_workers: Optional[int] = field(default=None, metadata={"help": "Preprocessing processes"})
    keep_linebreaks: bool = field(default=True, metadata={"help": "Keep line breaks with TXT files."})


def deepspeed_settings(training_args):
    """(ZeRO stage, optimizer state offloaded?) from the DeepSpeed config (--deepspeed, or accelerate's)."""
    stage, device = 0, None
    ds = training_args.hf_deepspeed_config
    if ds is not None:
        stage = ds.get_value("zero_optimization.stage", 0)
        device = ds.get_value("zero_optimization.offload_optimizer.device")
    if not isinstance(stage, int) or isinstance(stage, bool) or not 0 <= stage <= 3:
        raise ValueError("zero_optimization.stage must be 0, 1, 2 or 3, got %r" % (stage,))
    offload = device in ("cpu", "nvme")
    if offload and stage == 0:
        sys.stderr.write("[WARNING] [config.py:760:__init__] offload_optimizer needs ZeRO stage 1, 2 or 3; ignored at stage 0\n")
        offload = False
    return stage, offload


def eval_schedule(training_args):
    """(evaluate every N steps, evaluate at the end) from eval_strategy; 'epoch' is the end of the run."""
    if training_args.eval_strategy == "steps":
        steps = training_args.eval_steps
        every = math.ceil(training_args.max_steps * steps) if steps < 1 else int(steps)
        return max(1, every), False
    return 0, training_args.eval_strategy == "epoch"


def main():
    sim = simgpu.start(default_format="pytorch")
    hf = sim.frameworks.transformers
    parser = hf.HfArgumentParser((ModelArguments, DataTrainingArguments, hf.TrainingArguments))
    if len(sim.argv) == 1 and sim.argv[0].endswith(".json"):
        # If we pass only one argument to the script and it's the path to a json file,
        # let's parse it to get our arguments.
        model_args, data_args, training_args = parser.parse_json_file(json_file=os.path.abspath(sim.argv[0]))
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=sim.argv)

    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                 "max_steps"):
        if getattr(training_args, name) < 1:
            parser.error("argument --%s: must be at least 1, got %r" % (name, getattr(training_args, name)))
    precision = {"fp16": "fp16", "bf16": "bf16"}.get(training_args.mixed_precision, "fp32")
    stage, offload = deepspeed_settings(training_args)
    every, at_end = eval_schedule(training_args)
    job = simgpu.Job(
        "run_clm.py", micro_batch=training_args.per_device_train_batch_size,
        accumulation=training_args.gradient_accumulation_steps,
        eval_batch=training_args.per_device_eval_batch_size, precision=precision,
        checkpointing=training_args.gradient_checkpointing, optimizer=training_args.optim,
        optimizer_kind=simgpu.optimizer_kind(training_args.optim), offload=offload, zero_stage=stage,
        steps=training_args.max_steps, eval_every=every if training_args.do_train else 0,
        eval_at_end=at_end and training_args.do_train, fused_loss=training_args.use_liger_kernel,
        eval_accumulation=simgpu_memfixes.hf_eval_accumulation(training_args.eval_accumulation_steps),
    )
    session = sim.session(job)

    model = hf.AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path)
    trainer = hf.Trainer(model=model, args=training_args)

    if not (training_args.do_train or training_args.do_eval):
        sys.stderr.write("run_clm.py: neither --do_train nor --do_eval: nothing to run (as in the real script)\n")
    # Training
    if training_args.do_train:
        checkpoint = None
        if training_args.resume_from_checkpoint is not None:
            checkpoint = training_args.resume_from_checkpoint
        train_result = trainer.train(resume_from_checkpoint=checkpoint)  # noqa: F841
    # Evaluation
    if training_args.do_eval:
        metrics = trainer.evaluate()  # noqa: F841
    session.finish()


if __name__ == "__main__":
    main()
