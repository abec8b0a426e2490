"""The simulated Megatron-Bridge recipe script (megatron_bridge/examples/recipes/llama/pretrain_llama3_8b.py over
the llama3_8b recipe): its Hydra-style overrides and errors, Megatron-Core's batch and parallel-size checks, the
memory by micro-batch and fixes, the last rank's iteration line with its time, validation every train.eval_interval
and at the end, checkpoints with their resume, the TensorBoard and W&B writers, and torchrun's ranks."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import DONE, HERE, TORCH2, clean_env  # noqa: E402

import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402

SCRIPT = os.path.join(HERE, "megatron_bridge", "examples", "recipes", "llama", "pretrain_llama3_8b.py")
TORCHRUN = os.path.join(HERE, "bin", "torchrun")
# One GPU: the recipe's context parallel 2 needs two.
ONE = ("model.context_parallel_size=1",)
# Megatron-Bridge's iteration line as vramrun's hydra plugin reads it (plugins/hydra/progress.go).
ITERATION = re.compile(r" iteration +([0-9]+)/ *([0-9]+) \| consumed samples: +([0-9]+) \|.*? elapsed time per iteration "
                       r"\(ms\): (?P<ms_per>[0-9]+(?:\.[0-9]+)?)")


def done(out):
    """The done line's fields (under torchrun the last rank prints after rank 0's done line)."""
    found = [DONE.match(line) for line in out.splitlines() if line.startswith("done: ")]
    if len(found) != 1 or found[0] is None:
        raise AssertionError("not one done line: %r" % out[-2000:])
    return found[0].groupdict()


class Bridge(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.cwd = self.tmp.name

    def run_script(self, *overrides, env=None, ranks=0):
        command = [sys.executable, SCRIPT]
        if ranks:
            command = [sys.executable, TORCHRUN, "--nproc_per_node=%d" % ranks, SCRIPT]
            env = dict({"SIMGPU_COUNT": str(ranks)}, **(env or {}))
        proc = subprocess.run(command + list(overrides), capture_output=True, env=clean_env(env), cwd=self.cwd,
                              timeout=120)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def train(self, *overrides, env=None):
        code, out, err = self.run_script(*(ONE + overrides), env=env)
        self.assertEqual(code, 0, err)
        return out, err

    def files(self, under=""):
        root = os.path.join(self.cwd, under)
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)

    def failed_with(self, code, err, last):
        self.assertEqual(code, 1, err)
        self.assertTrue(err.rstrip("\n").endswith(last.rstrip("\n")), err[-1500:])


class ConfigTest(Bridge):
    def test_recipe_defaults(self):
        out, err = self.train("train.micro_batch_size=2", "train.global_batch_size=8", "train.eval_iters=1")
        # The recipe trains in bf16; the sim's override file cuts it to 20 iterations.
        self.assertEqual(done(out)["micro"], "2")
        self.assertEqual((done(out)["accum"], done(out)["effective"], done(out)["precision"]), ("4", "8", "bf16"))
        self.assertIn("step 20/20 ", out)
        # The configuration as the recipe makes it, then as merged (print_yaml, rank 0).
        self.assertEqual(out.count("\nmixed_precision: bf16_mixed\n"), 2)
        self.assertIn("  context_parallel_size: 2\n", out)
        self.assertIn("  context_parallel_size: 1\n", out)
        # The recipe saves and loads under ./nemo_experiments/default.
        self.assertIn("WARNING: could not find the metadata file %s\n    will not load any checkpoints and will start "
                      "from random" % os.path.join(os.path.realpath(self.cwd), "nemo_experiments", "default",
                                                   "checkpoints", "latest_checkpointed_iteration.txt"), out)
        self.assertEqual(self.files("nemo_experiments/default"), [
            "checkpoints/iter_0000020/__0_0.distcp", "checkpoints/iter_0000020/common.pt",
            "checkpoints/iter_0000020/metadata.json", "checkpoints/iter_0000020/run_config.yaml",
            "checkpoints/iter_0000020/train_state.pt", "checkpoints/latest_checkpointed_iteration.txt",
            "checkpoints/latest_train_state.pt", "tb_logs/events.out.tfevents.simtrain"])

    def test_context_parallel_needs_its_gpus(self):
        code, out, err = self.run_script("train.micro_batch_size=2", "train.global_batch_size=8")
        self.failed_with(code, err, "world size (1) is not divisible by total_model_size (model_cfg.tensor_model_"
                                    "parallel_size=1 * model_cfg.pipeline_model_parallel_size=1 * "
                                    "model_cfg.context_parallel_size=2)\n        \n")
        self.assertIn("in get_data_parallel_size", err)

    def test_override_rules(self):
        code, out, err = self.run_script(*ONE, "train.foo=1")
        self.failed_with(code, err, "megatron.bridge.training.utils.omegaconf_utils.OverridesError: Failed to parse Hydra "
                                    "overrides: Could not override 'train.foo'.\nTo append to your config use "
                                    "+train.foo=1\n")
        self.assertIn("The above exception was the direct cause of the following exception:", err)
        out, err = self.train("+train.foo=1", "train.eval_iters=0", "train.train_iters=1")
        self.assertIn("Key 'foo' in overrides not found in config TrainingConfig. Skipping.\n", err)
        code, out, err = self.run_script("--config-file", "missing.yaml")
        self.failed_with(code, err, "Override YAML file not found: missing.yaml\n")

    def test_global_batch_divides_by_micro_times_data_parallel(self):
        code, out, err = self.run_script(*ONE, "train.micro_batch_size=3", "train.global_batch_size=8")
        self.failed_with(code, err, "AssertionError: global batch size (8) is not divisible by micro batch size (3) times "
                                    "data parallel size (1)\n")
        self.assertIn("megatron/bridge/training/initialize.py", err)

    def test_precision_presets(self):
        for preset, precision in (("null", "fp32"), ("fp16_mixed", "fp16"), ("bf16_with_fp8_delayed_scaling_mixed", "bf16")):
            out, err = self.train("mixed_precision=" + preset, "train.train_iters=1", "train.eval_iters=0")
            self.assertEqual(done(out)["precision"], precision, preset)
        code, out, err = self.run_script(*ONE, "mixed_precision=fp8")
        self.assertIn("ValueError: Unknown mixed-precision recipe 'fp8'. Available recipes: bf16_mixed, "
                      "bf16_with_fp8_current_scaling_mixed, bf16_with_fp8_delayed_scaling_mixed, fp16_mixed.", err)


class MemoryTest(Bridge):
    def peak(self, *overrides):
        # Each run afresh: the recipe loads from where it saves.
        out, err = self.train("train.train_iters=2", "train.eval_iters=0", "checkpoint.load=null", *overrides)
        return int(done(out)["peak"])

    def test_micro_batch_and_fixes(self):
        code, out, err = self.run_script(*ONE, "train.micro_batch_size=128", "train.global_batch_size=256")
        self.assertEqual(code, 1)
        self.assertRegex(err, TORCH2)
        for frame in ("megatron/bridge/training/train.py", "in train_step\n", "in forward_backward_no_pipelining"):
            self.assertIn(frame, err)
        at64 = self.peak("train.micro_batch_size=64", "train.global_batch_size=256")
        self.assertLess(self.peak("train.micro_batch_size=32", "train.global_batch_size=256"), at64)
        recompute = ("model.recompute_granularity=full", "model.recompute_method=uniform", "model.recompute_num_layers=1")
        out, err = self.train("train.micro_batch_size=128", "train.global_batch_size=256", "train.train_iters=2",
                              "train.eval_iters=0", *recompute)
        self.assertEqual(done(out)["checkpointing"], "true")
        # cpu_offloading moves cpu_offloading_num_layers layers (0 unless set) of the 32.
        self.assertEqual(self.peak("train.micro_batch_size=64", "train.global_batch_size=256", "model.cpu_offloading=True"),
                         at64)
        self.assertLess(self.peak("train.micro_batch_size=64", "train.global_batch_size=256", "model.cpu_offloading=True",
                                  "model.cpu_offloading_num_layers=31"), at64)

    def test_megatron_core_checks(self):
        code, out, err = self.run_script(*ONE, "model.recompute_granularity=full")
        self.failed_with(code, err, "ValueError: Using recompute_granularity: full so recompute_method must be \"block\" "
                                    "or \"uniform\"\n")
        self.assertIn("megatron/bridge/models/transformer_config.py", err)
        code, out, err = self.run_script(*ONE, "model.recompute_granularity=selective", "model.cpu_offloading=True")
        self.failed_with(code, err, "ValueError: CPU offloading does not work when activation recomputation is enabled\n")
        code, out, err = self.run_script(*ONE, "model.cpu_offloading=True", "model.cpu_offloading_num_layers=32")
        self.failed_with(code, err, "ValueError: CPU offloading can be done only for layers less than 32\n")
        code, out, err = self.run_script(*ONE, "model.pipeline_model_parallel_size=2", "model.cpu_offloading=True")
        self.failed_with(code, err, "ValueError: Currently there is no support for Pipeline parallelism with CPU offloading\n")

    def test_validation_runs_at_the_micro_batch(self):
        code, out, err = self.run_script(*ONE, "train.micro_batch_size=32", "train.global_batch_size=256",
                                         "train.eval_interval=2", env={"SIMGPU_EVAL_ACT": "1600MiB"})
        self.assertEqual(code, 1)
        self.assertIn("in evaluate_and_print_results\n", err)
        self.assertIn("megatron/bridge/training/eval.py", err)
        self.assertIn("step 2/20 ", out)
        self.assertNotIn("step 3/20 ", out)


class ProgressTest(Bridge):
    def test_iteration_lines_and_validation(self):
        out, err = self.train("train.micro_batch_size=4", "train.global_batch_size=32", "train.train_iters=6",
                              "train.eval_interval=3", "train.eval_iters=2", "logger.log_interval=2")
        lines = ITERATION.findall(out)
        self.assertEqual([(it, total, samples) for it, total, samples, _ in lines],
                         [("2", "6", "64"), ("4", "6", "128"), ("6", "6", "192")])
        steady = simgpu_speed.steady_step_seconds(simgpu.Job("t.py", micro_batch=4, accumulation=8, precision="bf16"))
        # The interval's mean: steps 1-2 are warm-up (4 and 1.5 times), 3-4 (1.5 and 1), then steady.
        for (_, _, _, ms), factor in zip(lines, [2.75, 1.25, 1]):
            self.assertAlmostEqual(float(ms) / (1000 * factor * steady), 1, places=2)
        self.assertRegex(out, r"\n validation loss at iteration 3 \| lm loss value: [0-9.]+E[-+][0-9]+ \| lm loss PPL: "
                              r"[0-9.]+E[-+][0-9]+ \| \n")
        # After training: the validation and test splits, verbose.
        self.assertIn(" validation loss at iteration 6 on validation set | ", out)
        self.assertIn(" validation loss at iteration 6 on test set | ", out)
        self.assertEqual(out.count("Evaluating iter 2/2\n"), 2)

    def test_last_rank_logs_under_torchrun(self):
        code, out, err = self.run_script("model.tensor_model_parallel_size=2", *ONE, "train.micro_batch_size=2",
                                         "train.global_batch_size=8", "train.train_iters=2", "train.eval_iters=1",
                                         "logger.log_interval=1", ranks=2)
        self.assertEqual(code, 0, err)
        # Tensor parallel 2 of 2 GPUs: one replica, the global batch over the micro-batch.
        self.assertEqual((done(out)["accum"], done(out)["effective"]), ("4", "8"))
        self.assertEqual(len(ITERATION.findall(out)), 2)
        self.assertEqual(out.count("> setting tensorboard ...\n"), 1)
        code, out, err = self.run_script("train.micro_batch_size=2", "train.global_batch_size=8", "train.train_iters=1",
                                         "train.eval_iters=0", ranks=2)
        self.assertEqual(code, 0, err)
        self.assertEqual(done(out)["accum"], "4")  # the recipe's context parallel 2
        code, out, err = self.run_script("train.micro_batch_size=2", ranks=2, env={"SIMGPU_COUNT": "1"})
        self.assertIn("RuntimeError: CUDA error: invalid device ordinal", err)


class CheckpointTest(Bridge):
    def test_save_interval_and_resume(self):
        out, err = self.train("train.micro_batch_size=2", "train.global_batch_size=8", "train.train_iters=4",
                              "checkpoint.save_interval=2", "train.eval_iters=0")
        self.assertIn("  successfully saved checkpoint from iteration       2 to ", out)
        folder = os.path.join("nemo_experiments", "default", "checkpoints")
        self.assertEqual(sorted(os.listdir(os.path.join(self.cwd, folder))), [
            "iter_0000002", "iter_0000004", "latest_checkpointed_iteration.txt", "latest_train_state.pt"])
        out, err = self.train("train.micro_batch_size=2", "train.global_batch_size=8", "train.train_iters=6",
                              "train.eval_iters=0")
        self.assertIn(" loading distributed checkpoint from %s at iteration 4\n" % os.path.join(
            os.path.realpath(self.cwd), folder), out)
        self.assertIn("resumed at step 4 of 6\n", out)
        self.assertNotIn("step 4/6 ", out)
        self.assertIn("step 5/6 ", out)
        # load null reads nothing back; a pretrained checkpoint gives weights only.
        out, err = self.train("train.micro_batch_size=2", "train.global_batch_size=8", "train.train_iters=2",
                              "train.eval_iters=0", "checkpoint.load=null", "checkpoint.save=null")
        self.assertNotIn("loading distributed checkpoint", out)
        self.assertIn("step 1/2 ", out)
        out, err = self.train("train.train_iters=2", "train.eval_iters=0", "checkpoint.load=null",
                              "checkpoint.pretrained_checkpoint=" + folder, "checkpoint.save=null")
        self.assertIn(" loading distributed checkpoint from %s at iteration 6\n" % folder, out)
        self.assertNotIn("resumed at step", out)

    def test_writers(self):
        out, err = self.train("train.train_iters=1", "train.eval_iters=0", "logger.wandb_project=p",
                              "logger.wandb_exp_name=e", "logger.tensorboard_dir=null", "checkpoint.save=ck")
        self.assertNotIn("setting tensorboard", out)
        self.assertEqual(self.files(), ["ck/iter_0000001/__0_0.distcp", "ck/iter_0000001/common.pt",
                                        "ck/iter_0000001/metadata.json", "ck/iter_0000001/run_config.yaml",
                                        "ck/iter_0000001/train_state.pt", "ck/latest_checkpointed_iteration.txt",
                                        "ck/latest_train_state.pt", "ck/wandb/wandb/run-simtrain/config.yaml"])


if __name__ == "__main__":
    unittest.main()
