#!/usr/bin/env python3
"""A JAX training script on the simulated GPU; it fails with XLA's RESOURCE_EXHAUSTED text.

    python3 examples/simtrain/jax_train.py --batch_size 256 [--steps N] [--dtype bfloat16]
        [--eval_every N [--eval_batch_size N]]

JAX preallocates a fraction of the GPU (XLA_PYTHON_CLIENT_MEM_FRACTION or XLA_CLIENT_MEM_FRACTION,
default .75) and that fraction is the budget. Also takes simtrain's --sim-* options (see README.md).
"""

import argparse
import os
import sys

try:
    import jax as real_jax  # real jax when present
except ImportError:
    real_jax = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402

parser = argparse.ArgumentParser(description="JAX training (simulated GPU)")
parser.add_argument("--batch_size", type=int, default=256, help="training batch size (default: 256)")
parser.add_argument("--steps", type=int, default=20, help="training steps (default: 20)")
parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="activation dtype (default: float32)")
parser.add_argument("--eval_every", type=int, default=0, help="evaluate every N steps, 0 = never")
parser.add_argument("--eval_batch_size", type=int, default=None, help="evaluation batch size (default: batch size)")
parser.add_argument("--learning_rate", type=float, default=1e-3, help="AdamW learning rate")


def train_step(state, batch):
    params, opt_state = state
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)  # noqa: F821  (traced by jit, never run)
    updates, opt_state = tx.update(grads, opt_state, params)  # noqa: F821
    return (optax.apply_updates(params, updates), opt_state), loss  # noqa: F821


def eval_step(params, batch):
    return loss_fn(params, batch)  # noqa: F821


def evaluate(eval_fn, state, loader):
    losses = []
    for batch in loader.eval_batches():
        losses.append(eval_fn(state[0], batch))
    return losses


def main():
    sim = simgpu.start(default_format="jax")
    args = parser.parse_args(sim.argv)
    for flag, value in (("--batch_size", args.batch_size), ("--steps", args.steps)):
        if value < 1:
            parser.error("argument %s: must be at least 1, got %d" % (flag, value))
    if args.eval_every < 0 or (args.eval_batch_size is not None and args.eval_batch_size < 1):
        parser.error("argument --eval_every/--eval_batch_size: must be positive")
    job = simgpu.Job(
        "jax_train.py", micro_batch=args.batch_size, eval_batch=args.eval_batch_size,
        precision={"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[args.dtype], optimizer="adamw",
        steps=args.steps, eval_every=args.eval_every,
    )
    session = sim.session(job)
    fake = sim.frameworks.jax
    jax, optax = fake.jax, fake.optax

    params = jax.device_put(jax.model.init(jax.random.PRNGKey(0)))
    tx = optax.adamw(learning_rate=args.learning_rate)
    opt_state = tx.init(params)
    state = (params, opt_state)
    train = jax.jit(train_step)
    evaluate_fn = jax.jit(eval_step)
    loader = session.driver
    for step in loader.steps():
        for batch in loader.micro_batches():
            state, loss = train(state, batch)
        if loader.eval_due():
            evaluate(evaluate_fn, state, loader)
    session.finish()


if __name__ == "__main__":
    main()
