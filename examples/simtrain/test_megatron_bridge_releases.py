"""The simulated Megatron-Bridge's two releases (SIMTRAIN_BRIDGE_RELEASE: 0.2, evaluation in TrainingConfig; 0.4,
ValidationConfig with its own batch sizes, train.eval_* deprecated) and Megatron-Core's optimizer CPU offload in
both: the optimizer state off the GPU, and the checks of it and of the precision-aware optimizer it needs."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_megatron_bridge import ONE, Bridge, done  # noqa: E402

NEWER = {"SIMTRAIN_BRIDGE_RELEASE": "0.4"}
SHORT = ("train.micro_batch_size=2", "train.global_batch_size=8", "train.train_iters=2", "checkpoint.load=null",
         "checkpoint.save=null")
OFFLOAD = ("optimizer.optimizer_cpu_offload=true", "optimizer.optimizer_offload_fraction=1.0",
           "optimizer.use_precision_aware_optimizer=true", "optimizer.use_distributed_optimizer=true")
DEPRECATED = ("UserWarning: TrainingConfig.eval_iters is deprecated and will be removed in a future release. Use "
              "ValidationConfig.eval_iters instead.\n")


class ReleaseTest(Bridge):
    def test_older_release_has_no_validation_group(self):
        code, out, err = self.run_script(*ONE, "validation.eval_iters=0")
        self.failed_with(code, err, "OverridesError: Failed to parse Hydra overrides: Could not override "
                                    "'validation.eval_iters'.\nTo append to your config use +validation.eval_iters=0\n")
        out, err = self.train(*SHORT, "train.eval_iters=0")
        self.assertNotIn("validation loss", out)
        self.assertNotIn("deprecated", err)

    def test_newer_release_moves_evaluation_to_validation(self):
        out, err = self.train(*SHORT, "validation.eval_iters=1", "validation.eval_interval=1", env=NEWER)
        # The recipe sets validation's keys; TrainingConfig's deprecated ones stay unset.
        self.assertIn("\nvalidation:\n  eval_iters: 32\n  eval_interval: 2000\n", out)
        self.assertIn("  eval_iters: null\n  eval_interval: null\n", out)
        self.assertIn(" validation loss at iteration 1 | ", out)
        self.assertIn(" validation loss at iteration 2 on test set | ", out)
        out, err = self.train(*SHORT, "validation.eval_iters=0", env=NEWER)
        self.assertNotIn("validation loss", out)
        # The old key still works, with a warning, and a set one wins over validation's.
        out, err = self.train(*SHORT, "train.eval_iters=0", "validation.eval_iters=2", env=NEWER)
        self.assertIn(DEPRECATED, err)
        self.assertNotIn("validation loss", out)

    def test_newer_release_evaluates_at_its_own_batch(self):
        big = ("train.micro_batch_size=32", "train.global_batch_size=256", "train.train_iters=2", "checkpoint.load=null",
               "checkpoint.save=null", "validation.eval_iters=1", "validation.eval_interval=2")
        env = dict(NEWER, SIMGPU_EVAL_ACT="1600MiB")
        code, out, err = self.run_script(*ONE, *big, env=env)
        self.assertEqual(code, 1)
        self.assertIn("in evaluate\n", err)
        out, err = self.train(*big, "validation.eval_micro_batch_size=8", env=env)
        # Training keeps its micro-batch; only the evaluation's came down.
        self.assertEqual((done(out)["micro"], done(out)["accum"]), ("32", "8"))
        self.assertIn(" validation loss at iteration 2 | ", out)
        code, out, err = self.run_script(*ONE, *big, "validation.eval_micro_batch_size=7", env=NEWER)
        self.failed_with(code, err, "AssertionError: eval_global_batch_size (256) must be divisible by "
                                    "eval_micro_batch_size * eval_data_parallel_size (7 * 1 = 7)\n")
        out, err = self.train(*SHORT, "train.train_iters=3", "validation.eval_iters=1", "validation.eval_interval=1",
                              "validation.start_eval_at_iter=2", env=NEWER)
        self.assertNotIn(" validation loss at iteration 1 | ", out)
        self.assertIn(" validation loss at iteration 2 | ", out)

    def test_unknown_release(self):
        code, out, err = self.run_script(*ONE, env={"SIMTRAIN_BRIDGE_RELEASE": "0.3"})
        self.assertEqual(code, 2)
        self.assertEqual(err, "simtrain: SIMTRAIN_BRIDGE_RELEASE='0.3': the simulated releases are 0.2, 0.4\n")


class OptimizerOffloadTest(Bridge):
    def peak(self, *overrides, env=None):
        out, err = self.train(*SHORT, "train.eval_iters=0", *overrides, env=env)
        return int(done(out)["peak"]), done(out)["optimizer"]

    def test_the_state_leaves_the_gpu(self):
        on_gpu, optimizer = self.peak()
        self.assertEqual(optimizer, "adam")
        for env in (None, NEWER):
            offloaded, optimizer = self.peak(*OFFLOAD, env=env)
            self.assertEqual(optimizer, "adam+cpu_offload")
            self.assertLess(offloaded, on_gpu)
        # optimizer_offload_fraction is 0.0 unless set: the HybridDeviceOptimizer keeps it all on the GPU.
        self.assertEqual(self.peak("optimizer.optimizer_cpu_offload=true"), (on_gpu, "adam"))
        code, out, err = self.run_script(*ONE, *SHORT, "optimizer.optimizer_cpu_offload=true",
                                         "optimizer.optimizer_offload_fraction=0.5")
        self.assertEqual(code, 2)
        self.assertIn("simtrain: optimizer.optimizer_offload_fraction=0.5: a share of the optimizer state on the host "
                      "is not simulated (use 0 or 1)\n", err)

    def test_megatron_checks(self):
        for overrides, last in (
            (("optimizer.use_distributed_optimizer=false", "ddp.use_distributed_optimizer=false"),
             "AssertionError: --use-precision-aware-optimizer only supported with distributed optimizer\n"),
            (("optimizer.optimizer=sgd",), "AssertionError: --use-precision-aware-optimizer only supported with adam\n"),
            (("optimizer.decoupled_weight_decay=false",),
             "AssertionError: CPU offloading only supported with decoupled_weight_decay enabled (AdamW mode).\n"),
            (("mixed_precision=null",), "AssertionError: optimizer.bf16 and optimizer.fp16 must both be False when model "
                                        "is using fp32 precision (model.bf16=False, model.fp16=False) and "
                                        "use_precision_aware_optimizer=True.\n"),
        ):
            code, out, err = self.run_script(*ONE, *SHORT, *OFFLOAD, *overrides)
            self.failed_with(code, err, last)
        # fp32 with the optimizer's bf16 off passes; ddp's switch alone is synced back on, with a warning.
        self.assertEqual(self.peak(*OFFLOAD, "mixed_precision=null", "optimizer.bf16=false")[1], "adam+cpu_offload")
        out, err = self.train(*SHORT, "train.eval_iters=0", "ddp.use_distributed_optimizer=false")
        self.assertIn("UserWarning: Distributed optimizer settings were not in sync: ddp.use_distributed_optimizer=False, "
                      "optimizer.use_distributed_optimizer=True. Automatically enabling distributed optimizer for both "
                      "settings.\n", err)


if __name__ == "__main__":
    unittest.main()
