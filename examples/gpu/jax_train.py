"""A token MLP language model in plain JAX, trained on random tokens.

It is one of vramrun's real-GPU examples. JAX keeps its own memory pool, sized
by XLA_PYTHON_CLIENT_MEM_FRACTION (75 % of the GPU when unset, all of it at
once unless XLA_PYTHON_CLIENT_PREALLOCATE=false). With a small fraction the
job runs out of memory at its default batch; vramrun's allocator fix raises
the fraction to .95. Its flags are the ones vramrun's JAX plugin knows:

  --batch_size                   micro-batch per step (default 64)
  --gradient_accumulation_steps  micro-batches per optimizer step (default 1)

Nothing is downloaded and no library beyond jax is needed: the model, Adam
and the data are written here. It prints a `start:` line when it begins and a
`done:` line when it ends; the acceptance check reads those lines.

Try it: XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=.05 \
            vramrun -- python3 jax_train.py
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a token MLP language model in JAX on random tokens.")
    p.add_argument("--batch_size", type=int, default=64, help="micro-batch per step (default 64)")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1, help="micro-batches per optimizer step (default 1)")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps (default 6)")
    p.add_argument("--seq_len", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--d_model", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("batch_size", "gradient_accumulation_steps", "steps", "seq_len", "layers", "d_model", "vocab"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    return args


def init_params(key, args):
    keys = jax.random.split(key, 2 * args.layers + 2)
    d, h = args.d_model, 4 * args.d_model

    def dense(k, n_in, n_out):
        return jax.random.normal(k, (n_in, n_out), jnp.float32) / jnp.sqrt(n_in)

    return {
        "embed": jax.random.normal(keys[0], (args.vocab, d), jnp.float32) * 0.02,
        "blocks": [
            {"up": dense(keys[1 + 2 * i], d, h), "down": dense(keys[2 + 2 * i], h, d),
             "scale": jnp.ones((d,), jnp.float32)}
            for i in range(args.layers)
        ],
        "out": dense(keys[-1], d, args.vocab),
    }


def rms_norm(x, scale):
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * scale


def loss_fn(params, tokens):
    """Next-token cross entropy of a residual MLP over each token's embedding."""
    x = params["embed"][tokens[:, :-1]]
    for block in params["blocks"]:
        x = x + jax.nn.gelu(rms_norm(x, block["scale"]) @ block["up"]) @ block["down"]
    logits = x @ params["out"]
    targets = tokens[:, 1:]
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


grad_fn = jax.jit(jax.value_and_grad(loss_fn))


@jax.jit
def add_grads(acc, grads):
    return jax.tree_util.tree_map(jnp.add, acc, grads)


@jax.jit
def adam_update(params, grads, m, v, step, scale):
    """One Adam step on the accumulated gradients (scaled by 1/accumulation)."""
    b1, b2, lr, eps = 0.9, 0.999, 3e-4, 1e-8
    grads = jax.tree_util.tree_map(lambda g: g * scale, grads)
    m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
    mhat = jax.tree_util.tree_map(lambda a: a / (1 - b1 ** step), m)
    vhat = jax.tree_util.tree_map(lambda a: a / (1 - b2 ** step), v)
    params = jax.tree_util.tree_map(lambda p, a, b: p - lr * a / (jnp.sqrt(b) + eps), params, mhat, vhat)
    return params, m, v


def allocator_setting():
    return os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION") or os.environ.get("XLA_CLIENT_MEM_FRACTION") or "none"


def summary(args):
    return (
        f"micro_batch={args.batch_size} accumulation={args.gradient_accumulation_steps} world=1 "
        f"effective_batch={args.batch_size * args.gradient_accumulation_steps} precision=fp32 "
        f"checkpointing=false optimizer=adam eval_batch=none allocator={allocator_setting()}"
    )


def main(argv=None):
    args = parse_args(argv)
    print("start: " + summary(args), flush=True)
    key = jax.random.key(args.seed)
    key, init_key = jax.random.split(key)
    params = init_params(init_key, args)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)

    began = time.monotonic()
    for step in range(1, args.steps + 1):
        acc, total = None, 0.0
        for _ in range(args.gradient_accumulation_steps):
            key, data_key = jax.random.split(key)
            tokens = jax.random.randint(data_key, (args.batch_size, args.seq_len + 1), 0, args.vocab)
            loss, grads = grad_fn(params, tokens)
            acc = grads if acc is None else add_grads(acc, grads)
            total += float(loss) / args.gradient_accumulation_steps
        params, m, v = adam_update(params, acc, m, v, step, 1.0 / args.gradient_accumulation_steps)
        print(f"step {step}/{args.steps} loss {total:.4f}", flush=True)

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use", 0) / 2**30
    print(f"done: {summary(args)} steps={args.steps} seconds={time.monotonic() - began:.1f} "
          f"jax_peak_gib={peak:.2f} backend={jax.default_backend()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
