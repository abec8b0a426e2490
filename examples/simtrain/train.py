#!/usr/bin/env python3
"""Image-classification training in the style of timm's train.py, on the simulated GPU.

    python3 examples/simtrain/train.py --batch-size 256 [--grad-accum-steps N] [-vb N]
        [--amp [--amp-dtype bfloat16]] [--grad-checkpointing] [--steps N] [--eval-every N] [--log-interval N]

Also takes simtrain's --sim-* options (see README.md).
"""

import argparse
import os
import sys

try:
    import torch  # real torch when present
except ImportError:
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402

parser = argparse.ArgumentParser(description="PyTorch ImageNet Training (simulated GPU)")
parser.add_argument("-b", "--batch-size", type=int, default=256, metavar="N",
                    help="Input batch size for training (default: 256)")
parser.add_argument("--batch_size", type=int, dest="batch_size", default=argparse.SUPPRESS,
                    help="Alias of --batch-size")
parser.add_argument("--grad-accum-steps", type=int, default=1, metavar="N",
                    help="The number of steps to accumulate gradients (default: 1)")
parser.add_argument("-vb", "--validation-batch-size", type=int, default=None, metavar="N",
                    help="Validation batch size override (default: the training batch size)")
parser.add_argument("--amp", action="store_true", default=False,
                    help="use Native AMP for mixed precision training")
parser.add_argument("--amp-dtype", default="float16", type=str, choices=["float16", "bfloat16"],
                    help="lower precision AMP dtype (default: float16)")
parser.add_argument("--grad-checkpointing", action="store_true", default=False,
                    help="Enable gradient checkpointing through model blocks/stages")
parser.add_argument("--steps", type=int, default=20, help="optimizer steps to run (default: 20)")
parser.add_argument("--log-interval", type=int, default=5, metavar="N",
                    help="how many batches to wait before logging training status (default: 5)")
parser.add_argument("--eval-every", type=int, default=0, help="validate every N steps, 0 = never (default: 0)")
parser.add_argument("--local_rank", "--local-rank", type=int, default=0,
                    help="set by the deepspeed launcher; ranks come from LOCAL_RANK")


def training_step(model, criterion, batch):
    images, target = batch
    output = model(images)
    loss = criterion(output, target)
    loss.backward()
    return loss


def validate(model, criterion, batch):
    images, target = batch
    output = model(images)
    return criterion(output, target)


def main():
    sim = simgpu.start(default_format="pytorch")
    args = parser.parse_args(sim.argv)
    for flag, value in (("-b/--batch-size", args.batch_size), ("--grad-accum-steps", args.grad_accum_steps),
                        ("--steps", args.steps), ("--log-interval", args.log_interval)):
        if value < 1:
            parser.error("argument %s: must be at least 1, got %d" % (flag, value))
    if args.validation_batch_size is not None and args.validation_batch_size < 1:
        parser.error("argument -vb/--validation-batch-size: must be at least 1")
    if args.eval_every < 0:
        parser.error("argument --eval-every: must be 0 or more")
    precision = "fp32"
    if args.amp:
        precision = "bf16" if args.amp_dtype == "bfloat16" else "fp16"
    job = simgpu.Job(
        "train.py", micro_batch=args.batch_size, accumulation=args.grad_accum_steps,
        eval_batch=args.validation_batch_size, precision=precision, checkpointing=args.grad_checkpointing,
        steps=args.steps, eval_every=args.eval_every,
    )
    session = sim.session(job)
    simgpu_speed.TimmLog(session.driver, args.log_interval)  # timm's "Train: ..." line, on stdout
    simgpu.train(session, training_step, validate)


if __name__ == "__main__":
    main()
