"""A small GPT-2 trained with the Hugging Face Trainer on random tokens.

It is one of vramrun's real-GPU examples. The command line is the Trainer's
own: TrainingArguments are read by HfArgumentParser, so the flags vramrun's
transformers plugin rewrites are the standard ones
(--per_device_train_batch_size, --gradient_accumulation_steps, --bf16,
--gradient_checkpointing, --optim, --per_device_eval_batch_size). The model is
built from a GPT2Config in code and the data are random tokens: nothing is
downloaded.

It prints a `start:` line when it begins and a `done:` line when training
ends, with the micro-batch, accumulation, world size, effective batch
(micro x accumulation x world), precision, checkpointing, optimizer and
evaluation batch it ran with; the acceptance check reads those lines.

Try it (evaluation every 2 steps, with a large evaluation batch):
  vramrun -- python3 hf_trainer.py --output_dir /tmp/hf-out --report_to none \
      --per_device_train_batch_size 64 --max_steps 4 \
      --eval_strategy steps --eval_steps 2 --per_device_eval_batch_size 256
"""

import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    default_data_collator,
)


@dataclass
class ModelArguments:
    """The model and data sizes. vramrun never changes these: they are what is trained."""

    n_layer: int = field(default=12, metadata={"help": "transformer blocks"})
    n_embd: int = field(default=768, metadata={"help": "model width"})
    n_head: int = field(default=12, metadata={"help": "attention heads"})
    seq_len: int = field(default=512, metadata={"help": "tokens per sample"})
    vocab_size: int = field(default=32768, metadata={"help": "vocabulary size"})
    train_samples: int = field(default=4096, metadata={"help": "samples in the random training set"})
    eval_samples: int = field(default=512, metadata={"help": "samples in the random evaluation set"})


class RandomTokens(torch.utils.data.Dataset):
    """Random token sequences, the same for the same seed and index."""

    def __init__(self, samples, seq_len, vocab_size, seed):
        self.samples, self.seq_len, self.vocab_size, self.seed = samples, seq_len, vocab_size, seed

    def __len__(self):
        return self.samples

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        ids = torch.randint(0, self.vocab_size, (self.seq_len,), generator=g)
        return {"input_ids": ids, "labels": ids.clone()}


def keep_predicted_ids(logits, labels):
    """Keeps the predicted token ids instead of the full logits, so that
    evaluation does not gather batch x seq x vocab floats on the GPU."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def optimizer_name(args):
    return str(getattr(args.optim, "value", args.optim))


def allocator_setting():
    conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF") or "none"
    return conf.replace(" ", "")


def summary(args):
    """The key=value fields of the start: and done: lines."""
    world = max(args.world_size, 1)
    micro, accum = args.per_device_train_batch_size, args.gradient_accumulation_steps
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    evaluates = str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "no"
    eval_batch = args.per_device_eval_batch_size if evaluates else "none"
    return (
        f"micro_batch={micro} accumulation={accum} world={world} effective_batch={micro * accum * world} "
        f"precision={precision} checkpointing={str(bool(args.gradient_checkpointing)).lower()} "
        f"optimizer={optimizer_name(args)} eval_batch={eval_batch} allocator={allocator_setting()}"
    )


def main():
    parser = HfArgumentParser((ModelArguments, TrainingArguments))
    model_args, args = parser.parse_args_into_dataclasses()
    for name in ("n_layer", "n_embd", "n_head", "seq_len", "vocab_size", "train_samples", "eval_samples"):
        if getattr(model_args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(model_args, name)}")
    if args.process_index == 0:
        print("start: " + summary(args), flush=True)

    config = GPT2Config(
        vocab_size=model_args.vocab_size,
        n_positions=model_args.seq_len,
        n_embd=model_args.n_embd,
        n_layer=model_args.n_layer,
        n_head=model_args.n_head,
    )
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    train = RandomTokens(model_args.train_samples, model_args.seq_len, model_args.vocab_size, seed=1)
    evaluation = RandomTokens(model_args.eval_samples, model_args.seq_len, model_args.vocab_size, seed=2)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=default_data_collator,
        preprocess_logits_for_metrics=keep_predicted_ids,
    )
    result = trainer.train()
    if args.process_index == 0:
        print(f"done: {summary(args)} steps={result.global_step} loss={result.training_loss:.4f} "
              f"seconds={result.metrics.get('train_runtime', 0.0):.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
