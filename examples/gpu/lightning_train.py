"""The GPT of torch_lm.py trained with Lightning, from plain argparse flags.

It is one of vramrun's real-GPU examples. Its flags are the script's own
(not LightningCLI's --data.batch_size style), so vramrun learns them from the
`lightning` profile in this folder's vramrun.yaml:

  --batch_size               micro-batch per step (default 64)
  --accumulate_grad_batches  micro-batches per optimizer step (default 1)
  --precision                Lightning's precision: 32-true, bf16-mixed, 16-mixed, ...
                             (fp16-mixed is taken as 16-mixed)
  --grad_checkpointing       recompute each block's activations in backward

Nothing is downloaded: the model is built in code and the data are random
tokens. It prints a `start:` line when it begins and a `done:` line when it
ends; the acceptance check reads those lines.

Try it, from this folder: vramrun --profile lightning -- python3 lightning_train.py
"""

import argparse
import os
import sys

import lightning as L
import torch
import torch.nn.functional as F

from torch_lm import TinyGPT

# Lightning's precision values, plus fp16-mixed: what vramrun's profile
# template "--precision {dtype}-mixed" gives for fp16.
PRECISIONS = {
    "32-true": "32-true", "32": "32-true",
    "bf16-mixed": "bf16-mixed", "bf16": "bf16-mixed", "bf16-true": "bf16-true",
    "16-mixed": "16-mixed", "16": "16-mixed", "fp16-mixed": "16-mixed", "16-true": "16-true",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a small GPT with Lightning on random tokens.")
    p.add_argument("--batch_size", type=int, default=64, help="micro-batch per step (default 64)")
    p.add_argument("--accumulate_grad_batches", type=int, default=1, help="micro-batches per optimizer step (default 1)")
    p.add_argument("--precision", default="32-true", choices=sorted(PRECISIONS), help="Lightning precision (default 32-true)")
    p.add_argument("--grad_checkpointing", action="store_true", help="recompute block activations in backward")
    p.add_argument("--max_steps", type=int, default=6, help="optimizer steps (default 6)")
    p.add_argument("--seq_len", type=int, default=512)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--d_model", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("batch_size", "accumulate_grad_batches", "max_steps", "seq_len", "layers", "d_model", "heads", "vocab"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.d_model % args.heads:
        p.error(f"--d_model {args.d_model} is not a multiple of --heads {args.heads}")
    args.precision = PRECISIONS[args.precision]
    return args


class RandomTokens(torch.utils.data.Dataset):
    """Random token sequences of seq_len+1 (input and shifted target)."""

    def __init__(self, samples, seq_len, vocab, seed):
        self.samples, self.seq_len, self.vocab, self.seed = samples, seq_len, vocab, seed

    def __len__(self):
        return self.samples

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        return torch.randint(0, self.vocab, (self.seq_len + 1,), generator=g)


class LitLM(L.LightningModule):
    def __init__(self, args):
        super().__init__()
        self.vocab = args.vocab
        self.model = TinyGPT(args.vocab, args.seq_len, args.d_model, args.layers, args.heads)
        self.model.grad_checkpointing = args.grad_checkpointing

    def training_step(self, batch, batch_idx):
        logits = self.model(batch[:, :-1])
        return F.cross_entropy(logits.float().reshape(-1, self.vocab), batch[:, 1:].reshape(-1))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=3e-4)


def normalized_precision(precision):
    if precision.startswith("bf16"):
        return "bf16"
    if precision.startswith("16"):
        return "fp16"
    return "fp32"


def allocator_setting():
    conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF") or "none"
    return conf.replace(" ", "")


def summary(args, world):
    return (
        f"micro_batch={args.batch_size} accumulation={args.accumulate_grad_batches} world={world} "
        f"effective_batch={args.batch_size * args.accumulate_grad_batches * world} "
        f"precision={normalized_precision(args.precision)} lightning_precision={args.precision} "
        f"checkpointing={str(args.grad_checkpointing).lower()} optimizer=adamw eval_batch=none "
        f"allocator={allocator_setting()}"
    )


def main(argv=None):
    args = parse_args(argv)
    L.seed_everything(args.seed, verbose=False)
    print("start: " + summary(args, 1), flush=True)
    samples = args.max_steps * args.accumulate_grad_batches * args.batch_size
    loader = torch.utils.data.DataLoader(RandomTokens(samples, args.seq_len, args.vocab, seed=1),
                                         batch_size=args.batch_size, num_workers=0)
    trainer = L.Trainer(
        max_steps=args.max_steps,
        accumulate_grad_batches=args.accumulate_grad_batches,
        precision=args.precision,
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(LitLM(args), train_dataloaders=loader)
    if trainer.is_global_zero:
        print(f"done: {summary(args, trainer.world_size)} steps={trainer.global_step}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
