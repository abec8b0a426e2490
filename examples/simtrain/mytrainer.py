#!/usr/bin/env python3
"""An in-house trainer whose flags nobody could guess, on the simulated GPU (for external plugins).

    python3 examples/simtrain/mytrainer.py --mb 64 [--accum-steps N] [--half] [--steps N]

--mb is the micro-batch, --accum-steps the gradient accumulation, --half trains in fp16.
Also takes simtrain's --sim-* options (see README.md).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402

parser = argparse.ArgumentParser(description="mytrainer (simulated GPU)")
parser.add_argument("--mb", type=int, default=64, help="micro-batch size (default: 64)")
parser.add_argument("--accum-steps", type=int, default=1, help="micro-batches per update (default: 1)")
parser.add_argument("--half", action="store_true", help="train in half precision")
parser.add_argument("--steps", type=int, default=20, help="updates to run (default: 20)")


def training_step(model, criterion, batch):
    inputs, labels = batch
    scores = model(inputs)
    loss = criterion(scores, labels)
    loss.backward()
    return loss


def main():
    sim = simgpu.start(default_format="pytorch")
    args = parser.parse_args(sim.argv)
    for flag, value in (("--mb", args.mb), ("--accum-steps", args.accum_steps), ("--steps", args.steps)):
        if value < 1:
            parser.error("argument %s: must be at least 1, got %d" % (flag, value))
    job = simgpu.Job("mytrainer.py", micro_batch=args.mb, accumulation=args.accum_steps,
                     precision="fp16" if args.half else "fp32", steps=args.steps)
    simgpu.train(sim.session(job), training_step)


if __name__ == "__main__":
    main()
