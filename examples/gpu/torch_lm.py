"""A small GPT-style language model in plain PyTorch, trained on random tokens.

It is one of vramrun's real-GPU examples: at its default batch it needs far
more GPU memory than the acceptance run leaves it, and it exposes the flags
vramrun's PyTorch plugin knows from timm-style scripts, so every fix has a
knob:

  -b/--batch-size        micro-batch per step (default 64)
  --grad-accum-steps     micro-batches per optimizer step (default 1)
  --amp, --amp-dtype     autocast to float16 or bfloat16
  --grad-checkpointing   recompute each block's activations in backward

Nothing is downloaded: the model is built from the sizes below and the data
is random tokens made on the device. It prints a `start:` line when it
begins and a `done:` line when it ends, with the micro-batch, accumulation,
effective batch, precision and checkpointing it ran with; the acceptance
check reads those lines.

Try it: vramrun -- python3 torch_lm.py
"""

import argparse
import contextlib
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a small GPT on random tokens.")
    p.add_argument("-b", "--batch-size", type=int, default=64, help="micro-batch per step (default 64)")
    p.add_argument("--grad-accum-steps", type=int, default=1, help="micro-batches per optimizer step (default 1)")
    p.add_argument("--amp", action="store_true", help="mixed precision with torch.autocast")
    p.add_argument("--amp-dtype", default="float16", choices=sorted(AMP_DTYPES), help="autocast dtype (default float16)")
    p.add_argument("--grad-checkpointing", action="store_true", help="recompute block activations in backward")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps (default 6)")
    p.add_argument("--seq-len", type=int, default=512, help="tokens per sample (default 512)")
    p.add_argument("--layers", type=int, default=12, help="transformer blocks (default 12)")
    p.add_argument("--d-model", type=int, default=768, help="model width (default 768)")
    p.add_argument("--heads", type=int, default=12, help="attention heads (default 12)")
    p.add_argument("--vocab", type=int, default=32768, help="vocabulary size (default 32768)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("batch_size", "grad_accum_steps", "steps", "seq_len", "layers", "d_model", "heads", "vocab"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.d_model % args.heads:
        p.error(f"--d-model {args.d_model} is not a multiple of --heads {args.heads}")
    return args


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then an MLP."""

    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class TinyGPT(nn.Module):
    """A GPT-2-like decoder with tied input and output embeddings."""

    def __init__(self, vocab, seq_len, d_model, layers, heads):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.tok.weight
        # GPT-2's initialisation: with nn.Embedding's N(0, 1) the tied output
        # layer would start with huge logits.
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.grad_checkpointing = False

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            if self.grad_checkpointing and self.training:
                # Only the block's input is kept; its activations are
                # recomputed in backward.
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.head(self.ln_f(x))


def allocator_setting():
    """The allocator configuration the job was started with, as one word."""
    conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF") or "none"
    return conf.replace(" ", "")


def summary(args, world=1):
    """The key=value fields of the start: and done: lines."""
    precision = {"float16": "fp16", "bfloat16": "bf16"}[args.amp_dtype] if args.amp else "fp32"
    return (
        f"micro_batch={args.batch_size} accumulation={args.grad_accum_steps} world={world} "
        f"effective_batch={args.batch_size * args.grad_accum_steps * world} precision={precision} "
        f"checkpointing={str(args.grad_checkpointing).lower()} optimizer=adamw eval_batch=none "
        f"allocator={allocator_setting()}"
    )


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print("start: " + summary(args), flush=True)

    model = TinyGPT(args.vocab, args.seq_len, args.d_model, args.layers, args.heads).to(device)
    model.grad_checkpointing = args.grad_checkpointing
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    amp_dtype = AMP_DTYPES[args.amp_dtype]
    # Loss scaling is needed for float16 only; bfloat16 has float32's range.
    scaler = torch.amp.GradScaler(device, enabled=args.amp and amp_dtype == torch.float16)
    autocast = torch.autocast(device_type=device, dtype=amp_dtype) if args.amp else contextlib.nullcontext()

    began = time.monotonic()
    for step in range(1, args.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(args.grad_accum_steps):
            tokens = torch.randint(0, args.vocab, (args.batch_size, args.seq_len + 1), device=device)
            with autocast:
                logits = model(tokens[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, args.vocab), tokens[:, 1:].reshape(-1))
            scaler.scale(loss / args.grad_accum_steps).backward()
            total += loss.item() / args.grad_accum_steps
        scaler.step(optimizer)
        scaler.update()
        print(f"step {step}/{args.steps} loss {total:.4f}", flush=True)

    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    print(f"done: {summary(args)} steps={args.steps} seconds={time.monotonic() - began:.1f} "
          f"torch_peak_gib={peak:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
