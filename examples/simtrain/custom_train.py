#!/usr/bin/env python3
"""A project's own training script with its own flag names, on the simulated GPU.

    python3 examples/simtrain/custom_train.py --bsz 128 [--accum N] [--ckpt] [--eval-bsz N --eval-every N]
        [--amp --amp-dtype bf16|fp16] [--optim adamw|adamw8bit] [--offload] [--steps N]

These are the flags of the `flags:` example in the design's vramrun.yaml, so a profile can teach
vramrun every knob. Also takes simtrain's --sim-* options (see README.md).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402

parser = argparse.ArgumentParser(description="custom training script (simulated GPU)")
parser.add_argument("--bsz", type=int, default=128, help="batch size per step (default: 128)")
parser.add_argument("--accum", type=int, default=1, help="gradient accumulation steps (default: 1)")
parser.add_argument("--ckpt", action="store_true", help="activation checkpointing")
parser.add_argument("--eval-bsz", type=int, default=None, help="evaluation batch size (default: --bsz)")
parser.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps, 0 = never")
parser.add_argument("--amp", action="store_true", help="mixed precision")
parser.add_argument("--amp-dtype", default="fp16", choices=["fp16", "bf16"], help="mixed precision dtype")
parser.add_argument("--optim", default="adamw", choices=["adamw", "adamw8bit"], help="optimizer")
parser.add_argument("--offload", action="store_true", help="keep the optimizer state in host memory")
parser.add_argument("--steps", type=int, default=20, help="steps to run (default: 20)")


def training_step(model, criterion, batch):
    features, targets = batch
    predictions = model(features)
    loss = criterion(predictions, targets)
    loss.backward()
    return loss


def evaluate(model, criterion, batch):
    features, targets = batch
    predictions = model(features)
    return criterion(predictions, targets)


def main():
    sim = simgpu.start(default_format="pytorch")
    args = parser.parse_args(sim.argv)
    for flag, value in (("--bsz", args.bsz), ("--accum", args.accum), ("--steps", args.steps)):
        if value < 1:
            parser.error("argument %s: must be at least 1, got %d" % (flag, value))
    if (args.eval_bsz is not None and args.eval_bsz < 1) or args.eval_every < 0:
        parser.error("argument --eval-bsz/--eval-every: must be positive")
    job = simgpu.Job(
        "custom_train.py", micro_batch=args.bsz, accumulation=args.accum, eval_batch=args.eval_bsz,
        precision=args.amp_dtype if args.amp else "fp32", checkpointing=args.ckpt, optimizer=args.optim,
        optimizer_kind="8bit" if args.optim == "adamw8bit" else "adam", offload=args.offload, steps=args.steps,
        eval_every=args.eval_every,
    )
    simgpu.train(sim.session(job), training_step, evaluate)


if __name__ == "__main__":
    main()
