#!/usr/bin/env python3
"""A TensorFlow/Keras training script on the simulated GPU; it fails with TensorFlow's OOM texts.

    python3 examples/simtrain/keras_train.py --batch_size 256 [--epochs N] [--steps N] [--mixed_precision]
        [--validation_steps N [--validation_batch_size N]] [--predict]

TF_GPU_ALLOCATOR=cuda_malloc_async or TF_FORCE_GPU_ALLOW_GROWTH=true lower the allocator waste.
Validation (model.evaluate inside fit) runs at the end of each epoch when --validation_steps > 0;
--predict runs model.predict on one batch at the end. Also takes simtrain's --sim-* options.
"""

import argparse
import os
import sys

try:
    import tensorflow  # real tensorflow when present
except ImportError:
    tensorflow = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402

parser = argparse.ArgumentParser(description="Keras training (simulated GPU)")
parser.add_argument("--batch_size", "--batch-size", type=int, default=256, help="training batch size (default: 256)")
parser.add_argument("--epochs", type=int, default=1, help="epochs (default: 1)")
parser.add_argument("--steps", type=int, default=20, help="steps per epoch (default: 20)")
parser.add_argument("--mixed_precision", action="store_true", help="use the mixed_float16 policy")
parser.add_argument("--validation_steps", type=int, default=0, help="validation batches per epoch, 0 = none")
parser.add_argument("--validation_batch_size", type=int, default=None, help="validation batch size (default: batch size)")
parser.add_argument("--predict", action="store_true", help="run model.predict on one batch after training")


def main():
    sim = simgpu.start(default_format="tensorflow")
    args = parser.parse_args(sim.argv)
    for flag, value in (("--batch_size", args.batch_size), ("--epochs", args.epochs), ("--steps", args.steps)):
        if value < 1:
            parser.error("argument %s: must be at least 1, got %d" % (flag, value))
    if args.validation_steps < 0 or (args.validation_batch_size is not None and args.validation_batch_size < 1):
        parser.error("argument --validation_steps/--validation_batch_size: must be positive")
    job = simgpu.Job(
        "keras_train.py", micro_batch=args.batch_size, eval_batch=args.validation_batch_size,
        precision="fp16" if args.mixed_precision else "fp32", optimizer="adam",
        steps=args.epochs * args.steps, eval_every=args.steps if args.validation_steps else 0,
        eval_batches=args.validation_steps or 1,
    )
    session = sim.session(job)
    keras = sim.frameworks.keras

    model = keras.Sequential([keras.layers.Dense(4096, activation="relu") for _ in range(simgpu.LAYERS)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None, 4096))
    x_train = y_train = x_val = y_val = None
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps,
        validation_data=(x_val, y_val) if args.validation_steps else None, validation_steps=args.validation_steps,
        validation_batch_size=args.validation_batch_size,
    )
    if args.predict:
        model.predict(x_val, batch_size=args.validation_batch_size or args.batch_size, steps=1)
    session.finish()


if __name__ == "__main__":
    main()
