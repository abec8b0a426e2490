"""The simulated NeMo 1 Megatron GPT pretraining (nemo1/examples/nlp/language_modeling/megatron_gpt_pretraining.py
with conf/megatron_gpt_config.yaml): Hydra's overrides and errors, NeMo's batch and model checks, the memory by
micro-batch and fixes, CustomProgressBar with TimingCallback's step time, exp_manager's folders, checkpoints and
resume, and Lightning's launch of the other ranks."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, TORCH2, clean_env, done_line  # noqa: E402

import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402

SCRIPT = os.path.join(HERE, "nemo1", "examples", "nlp", "language_modeling", "megatron_gpt_pretraining.py")
# A prefix without a weight: whole epochs of the sim's corpus, much longer than the runs (a weighted blend holds
# max_steps global batches, which ValidationTest shows).
DATA = "model.data.data_prefix=[/data/gpt_text_document]"
WEIGHTED = "model.data.data_prefix=[1.0,/data/gpt_text_document]"
# The shipped config leaves num_sanity_val_steps to Lightning (2): not a key of it.
NO_SANITY = "+trainer.num_sanity_val_steps=0"
# TimingCallback's figure as vramrun's hydra plugin reads it (plugins/hydra/progress.go).
STEP_TIMING = re.compile(r"train_step_timing in s(?:=|: )(?P<s_per>[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)")
BAR = re.compile(r"Epoch 0: : +(\d+)%\|[^|]*\| (\d+)/(\d+) \[[0-9:]+<[0-9:?]+(?:, ([^\]\r]*))?\]")
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


class Nemo1(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.cwd = self.tmp.name

    def gpt(self, *overrides, env=None, data=True):
        args = ([DATA] if data else []) + list(overrides)
        proc = subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, env=clean_env(env), cwd=self.cwd,
                              timeout=120)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def files(self, under=""):
        root = os.path.join(self.cwd, under)
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)

    def failed_with(self, code, err, last):
        self.assertEqual(code, 1, err)
        lines = err.rstrip("\n").splitlines()
        self.assertEqual(lines[-1], HYDRA_HINT)
        self.assertIn(last, err)


class ConfigTest(Nemo1):
    def test_shipped_config(self):
        code, out, err = self.gpt()
        self.assertEqual(code, 0, err)
        done = done_line(out)
        # megatron_gpt_config.yaml: micro 4, global 8 on one GPU, bf16, no recompute, distributed_fused_adam.
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("4", "2", "8", "bf16", "false"))
        self.assertIn("step 20/20 ", out)
        log_dir = os.path.join(os.path.realpath(self.cwd), "nemo_experiments", "megatron_gpt")
        self.assertRegex(out, r"\[NeMo I [0-9-]+ [0-9:]+ exp_manager:[0-9]+\] Experiments will be logged at %s\n"
                         % re.escape(log_dir))
        self.assertIn("No version folders would be created under the log folder as 'resume_if_exists' is enabled.", err)
        # No .hydra folder and no Hydra log file (hydra_runner: output_subdir null, job_logging stdout, run.dir .).
        self.assertEqual(self.files(), [os.path.join("nemo_experiments", "megatron_gpt", f) for f in (
            "checkpoints/megatron_gpt--val_loss=0.00-step=20-consumed_samples=160.0-last/common.pt",
            "checkpoints/megatron_gpt--val_loss=0.00-step=20-consumed_samples=160.0-last/metadata.json",
            "cmd-args.log", "events.out.tfevents.simtrain", "hparams.yaml", "lightning_logs.txt", "nemo_error_log.txt",
            "nemo_log_globalrank-0_localrank-0.txt")])

    def test_mandatory_data_prefix(self):
        code, out, err = self.gpt(data=False)
        self.failed_with(code, err, "omegaconf.errors.MissingMandatoryValue: Missing mandatory value: "
                                    "model.data.data_prefix\n    full_key: model.data.data_prefix\n")
        self.assertIn("in setup\n    self.build_train_valid_test_datasets()", err)

    def test_hydra_override_rules(self):
        code, out, err = self.gpt("model.foo=1")
        self.failed_with(code, err, "Could not override 'model.foo'.\nTo append to your config use +model.foo=1\n"
                                    "Key 'foo' is not in struct\n    full_key: model.foo\n")
        self.assertNotIn("Traceback", err)
        code, out, err = self.gpt("+model.foo=1", "++trainer.max_steps=2", "+exp_manager.version=v1")
        self.assertEqual(code, 0, err)
        self.assertIn("step 2/2 ", out)
        # A key ExpManagerConfig lacks fails exp_manager's merge with its schema.
        code, out, err = self.gpt("++exp_manager.create_foo_logger=true")
        self.failed_with(code, err, "omegaconf.errors.ConfigKeyError: Key 'create_foo_logger' not in 'ExpManagerConfig'\n"
                                    "    full_key: create_foo_logger\n    object_type=ExpManagerConfig\n")

    def test_interpolations_and_resolvers(self):
        # cpu_offloading_num_layers: ${sum:${.num_layers},-1}: all but the last of 12 layers offload.
        code, out, err = self.gpt("model.cpu_offloading=True", "trainer.max_steps=1")
        self.assertEqual(code, 0, err)
        self.assertIn("  cpu_offloading_num_layers: 11\n", out)
        self.assertIn("    model_parallel_size: 1\n", out)


class BatchTest(Nemo1):
    def test_global_batch_divides_by_micro_times_data_parallel(self):
        code, out, err = self.gpt("model.micro_batch_size=3", "model.global_batch_size=10")
        self.failed_with(code, err, "AssertionError: global batch size (10) is not divisible by micro batch size (3) "
                                    "times data parallel size (1)\n")
        code, out, err = self.gpt("model.micro_batch_size=2", "model.global_batch_size=10", "trainer.devices=2",
                                  "trainer.max_steps=2", env={"SIMGPU_COUNT": "2"})
        self.failed_with(code, err, "AssertionError: global batch size (10) is not divisible by micro batch size (2) "
                                    "times data parallel size (2)\n")
        code, out, err = self.gpt("model.micro_batch_size=5", "model.global_batch_size=10", "trainer.devices=2",
                                  "trainer.max_steps=2", env={"SIMGPU_COUNT": "2"})
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("5", "1", "10"))

    def test_devices_are_lightnings_processes(self):
        code, out, err = self.gpt("trainer.devices=2", "model.global_batch_size=16", "trainer.max_steps=3",
                                  env={"SIMGPU_COUNT": "2"})
        self.assertEqual(code, 0, err)
        self.assertEqual((done_line(out)["accum"], done_line(out)["effective"]), ("2", "16"))
        self.assertIn("Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2\n", err)
        self.assertEqual(len(re.findall(r"^done: ", out, re.M)), 1)
        self.assertEqual(len(BAR.findall(err)), 4)  # rank 0's bar alone: 0/3 .. 3/3
        logs = os.path.join("nemo_experiments", "megatron_gpt")
        self.assertIn(os.path.join(logs, "nemo_log_globalrank-1_localrank-1.txt"), self.files())
        code, out, err = self.gpt("trainer.devices=2", env={"SIMGPU_COUNT": "1"})
        self.failed_with(code, err, "MisconfigurationException: You requested gpu: [0, 1]\n But your machine only has: [0]")

    def test_precision_values(self):
        for value, trains in (("16", "fp16"), ("bf16", "bf16"), ("32", "fp32"), ("16-mixed", "fp16")):
            code, out, err = self.gpt("trainer.precision=" + value, "trainer.max_steps=1")
            self.assertEqual(code, 0, err)
            self.assertEqual(done_line(out)["precision"], trains, value)
        code, out, err = self.gpt("trainer.precision=fp16")
        self.failed_with(code, err, "ValueError: Precision 'fp16' is invalid. Allowed precision values: ")


class MemoryTest(Nemo1):
    def oom(self, *overrides, env=None):
        code, out, err = self.gpt(*overrides, env=env)
        self.assertEqual(code, 1, err)
        match = TORCH2.search(err)
        self.assertIsNotNone(match, err)
        self.assertIn("torch.OutOfMemoryError: CUDA out of memory.", err)
        self.assertIn("Error executing job with overrides: ['%s', " % DATA, err)
        return err

    def peak(self, *overrides):
        """The training's peak: no sanity check, whose validation peaks apart from the fixes."""
        code, out, err = self.gpt("trainer.max_steps=2", NO_SANITY, *overrides)
        self.assertEqual(code, 0, err)
        return int(done_line(out)["peak"])

    def test_micro_batch_and_fixes(self):
        # Lightning's sanity check validates first, at the micro-batch, and runs out of memory there.
        err = self.oom("model.micro_batch_size=128", "model.global_batch_size=256")
        for frame in ("in _run_sanity_check\n    val_loop.run()",
                      "in validation_step\n    loss = self.fwd_bwd_step(dataloader_iter, True)"):
            self.assertIn(frame, err)
        err = self.oom("model.micro_batch_size=128", "model.global_batch_size=256", NO_SANITY)
        for frame in ("in training_step\n    loss_mean = self.fwd_bwd_step(dataloader_iter, False)",
                      "megatron/core/pipeline_parallel/schedules.py", "in forward_backward_no_pipelining"):
            self.assertIn(frame, err)
        self.assertNotIn("in _run_sanity_check", err)
        at64 = self.peak("model.micro_batch_size=64", "model.global_batch_size=256")
        at32 = self.peak("model.micro_batch_size=32", "model.global_batch_size=256")
        self.assertLess(at32, at64)
        recompute = ("model.activations_checkpoint_granularity=full", "model.activations_checkpoint_method=uniform",
                     "model.activations_checkpoint_num_layers=1")
        code, out, err = self.gpt("model.micro_batch_size=128", "model.global_batch_size=256", "trainer.max_steps=2",
                                  NO_SANITY, *recompute)
        self.assertEqual(code, 0, err)
        self.assertEqual(done_line(out)["checkpointing"], "true")
        self.assertLess(self.peak("model.micro_batch_size=64", "model.global_batch_size=256", "model.cpu_offloading=True"),
                        at64)

    def test_megatron_core_checks(self):
        code, out, err = self.gpt("model.activations_checkpoint_granularity=full")
        self.failed_with(code, err, "ValueError: Using recompute_granularity: full so recompute_method must be \"block\" "
                                    "or \"uniform\"")
        code, out, err = self.gpt("model.activations_checkpoint_granularity=full", "model.activations_checkpoint_method=block",
                                  "model.activations_checkpoint_num_layers=1", "model.cpu_offloading=True")
        self.failed_with(code, err, "ValueError: CPU offloading does not work when activation recomputation is enabled")

    def test_validation_runs_at_the_micro_batch(self):
        err = self.oom("model.micro_batch_size=32", "model.global_batch_size=256", "trainer.val_check_interval=2",
                       env={"SIMGPU_EVAL_ACT": "1600MiB"})
        self.assertIn("in validation_step\n    loss = self.fwd_bwd_step(dataloader_iter, True)", err)


class ProgressTest(Nemo1):
    def steady(self, micro, accumulation):
        return simgpu_speed.steady_step_seconds(simgpu.Job("t.py", micro_batch=micro, accumulation=accumulation,
                                                           precision="bf16"))

    def test_bar_and_step_timing(self):
        code, out, err = self.gpt("trainer.max_steps=5", "trainer.val_check_interval=2", "model.micro_batch_size=4",
                                  "model.global_batch_size=32")
        self.assertEqual(code, 0, err)
        bars = BAR.findall(err)
        self.assertEqual([(n, total) for _, n, total, _ in bars], [(str(i), "5") for i in range(6)])
        self.assertEqual(bars[1][3].split(", ")[:3], ["reduced_train_loss=2.640", "global_step=0.000",
                                                      "consumed_samples=32.00"])
        self.assertTrue(bars[3][3].endswith(", val_loss=2.590"), bars[3][3])
        self.assertNotIn("it/s", err)
        seconds = [float(m.group("s_per")) for m in STEP_TIMING.finditer(err)]
        self.assertEqual(len(seconds), 5)
        for got, factor in zip(seconds, [4, 1.5, 1.5, 1, 1]):
            self.assertAlmostEqual(got / (factor * self.steady(4, 8)), 1, places=2)
        self.assertIn("eval after step 2: loss", out)
        self.assertIn("eval after step 4: loss", out)


class ValidationTest(Nemo1):
    """Lightning's validation as NeMo 1 sets it up: the sanity check before the first step, validation every
    val_check_interval steps over limit_val_batches global batches, and the split MegatronGPTModel sizes by them."""

    def job(self, *overrides, data=DATA):
        """A run that resumes nothing (each test's runs share a folder)."""
        return self.gpt(data, "exp_manager.resume_if_exists=false", *overrides, data=False)

    def evals(self, out):
        return re.findall(r"^eval after step (\d+): ", out, re.M)

    def test_sanity_check_and_interval(self):
        code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=2")
        self.assertEqual(code, 0, err)
        # Lightning's 2 steps, which NeMo multiplies by the microbatches (2) for each of the train and validation
        # limits it reconfigures.
        self.assertIn("Sanity Checking DataLoader 0: 8 validation batches before the first step\n", err)
        self.assertEqual(self.evals(out), ["2", "4"])
        code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.limit_val_batches=1")
        self.assertIn("Sanity Checking DataLoader 0: 2 validation batches before the first step\n", err)
        code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=2", NO_SANITY)
        self.assertNotIn("Sanity Checking", err)
        self.assertEqual(self.evals(out), ["2", "4"])

    def test_the_trial_overrides_validate_nothing(self):
        # vramrun's trial: the interval past the run (null check_val_every_n_epoch lets it pass the data's end) and
        # no sanity check; limit_val_batches as configured.
        code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=1000000000",
                                  "++trainer.check_val_every_n_epoch=null", NO_SANITY)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.evals(out), [])
        self.assertNotIn("Sanity Checking", err)
        code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=1000000000")
        self.failed_with(code, err, "ValueError:  `val_check_interval` (1000000000) must be less than or equal to the "
                                    "number of the training batches (")
        code, out, err = self.job("trainer.val_check_interval=0.5", "++trainer.check_val_every_n_epoch=null")
        self.failed_with(code, err, "MisconfigurationException: `val_check_interval` should be an integer when "
                                    "`check_val_every_n_epoch=None`, found 0.5.")

    def test_limit_val_batches_zero(self):
        # Lightning's switch, fine for a prefix without a weight: one epoch of its validation split is built.
        for zero in ("0", "0.0"):
            code, out, err = self.job("trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.limit_val_batches=" + zero)
            self.assertEqual(code, 0, err)
            self.assertEqual(self.evals(out), [])
            self.assertNotIn("Sanity Checking", err)
        # A weighted blend: 0 asks Megatron-Core for no validation samples, and NeMo's sampler refuses the empty
        # split; a float asks for one epoch (None), which Megatron-Core refuses for weights.
        code, out, err = self.job("trainer.max_steps=2", "trainer.val_check_interval=2",
                                  "trainer.limit_val_batches=0", data=WEIGHTED)
        self.failed_with(code, err, "RuntimeError: no sample to consume: 0")
        self.assertIn("in setup_validation_data\n", err)
        code, out, err = self.job("trainer.max_steps=2", "trainer.val_check_interval=2",
                                  "trainer.limit_val_batches=0.0", data=WEIGHTED)
        self.failed_with(code, err, "AssertionError: size_is_none => weights_are_none fails for valid split")
        code, out, err = self.job("trainer.limit_val_batches=1.5")
        self.failed_with(code, err, "MisconfigurationException: You have passed invalid value 1.5 for limit_val_batches, "
                                    "it has to be in [0.0, 1.0] or an int.")
        code, out, err = self.job("model.data.splits_string='1000,0,0'")
        self.failed_with(code, err, "TypeError: object of type 'NoneType' has no len()")

    def test_a_weighted_blend_ends_with_the_run(self):
        # Its training split holds max_steps global batches (4 micro-batches here): Lightning refuses the shipped
        # interval of 100 beyond them, and validates at the last batch NeMo's steps fetch.
        code, out, err = self.job("trainer.max_steps=2", data=WEIGHTED)
        self.failed_with(code, err, "ValueError:  `val_check_interval` (100) must be less than or equal to the number "
                                    "of the training batches (4).")
        code, out, err = self.job("trainer.max_steps=3", "trainer.val_check_interval=2", data=WEIGHTED)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.evals(out), ["2", "3"])
        code, out, err = self.job("trainer.max_steps=2", "trainer.val_check_interval=1000000000",
                                  "++trainer.check_val_every_n_epoch=null", NO_SANITY, data=WEIGHTED)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.evals(out), ["2"])


class ExpManagerTest(Nemo1):
    def test_checkpoints_and_resume(self):
        code, out, err = self.gpt("trainer.max_steps=3", "trainer.val_check_interval=2")
        self.assertEqual(code, 0, err)
        ckpt = os.path.join(os.path.realpath(self.cwd), "nemo_experiments", "megatron_gpt", "checkpoints")
        self.assertIn("Epoch 0, global step 2: 'val_loss' reached 2.59296 (best 2.59296), saving model to '%s' as top 10"
                      % os.path.join(ckpt, "megatron_gpt--val_loss=2.59-step=2-consumed_samples=16.0"), err)
        self.assertEqual(sorted(os.listdir(ckpt)), ["megatron_gpt--val_loss=2.59-step=2-consumed_samples=16.0",
                                                    "megatron_gpt--val_loss=2.59-step=3-consumed_samples=24.0-last"])
        code, out, err = self.gpt("trainer.max_steps=5")
        self.assertEqual(code, 0, err)
        last = os.path.join(ckpt, "megatron_gpt--val_loss=2.59-step=3-consumed_samples=24.0-last")
        self.assertIn("Resuming training from checkpoint: %s\n" % last, out)
        self.assertIn("Restoring states from the checkpoint path at %s\n" % last, err)
        self.assertIn("resumed at step 3 of 5\n", out)
        self.assertIn(os.path.join("nemo_experiments", "megatron_gpt", "run_0", "cmd-args.log"), self.files())
        code, out, err = self.gpt("trainer.max_steps=5", "exp_manager.resume_if_exists=false")
        self.assertEqual(code, 0, err)
        self.assertNotIn("resumed at", out)

    def test_explicit_log_dir_and_switches(self):
        code, out, err = self.gpt("trainer.max_steps=3", "trainer.val_check_interval=2", "++exp_manager.explicit_log_dir=runs/x",
                                  "++exp_manager.create_checkpoint_callback=false", "++exp_manager.create_tensorboard_logger=false")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.files(), [os.path.join("runs", "x", f) for f in (
            "cmd-args.log", "lightning_logs.txt", "nemo_error_log.txt", "nemo_log_globalrank-0_localrank-0.txt")])
        self.assertIn("train_step_timing in s=", err)

    def test_resume_from_checkpoint_and_loggers(self):
        code, out, err = self.gpt("model.resume_from_checkpoint=gone/step=2-last")
        self.failed_with(code, err, "FileNotFoundError: Checkpoint at gone/step=2-last not found. Aborting training.")
        code, out, err = self.gpt("trainer.logger=True")
        self.failed_with(code, err, "LoggerMisconfigurationError: The pytorch lightning trainer that was passed to "
                                    "exp_manager contained a logger, and either create_tensorboard_logger: True")
        code, out, err = self.gpt("trainer.max_steps=1", "+exp_manager.create_mlflow_logger=true",
                                  "+exp_manager.create_tensorboard_logger=false")
        self.assertEqual(code, 0, err)
        self.assertIn(os.path.join("mlruns", "0", "meta.yaml"), self.files())

    def test_lightning_checkpointing_goes_to_the_log_folder(self):
        code, out, err = self.gpt("trainer.max_steps=2", "trainer.enable_checkpointing=True",
                                  "exp_manager.create_checkpoint_callback=false", "++exp_manager.explicit_log_dir=logs")
        self.assertEqual(code, 0, err)
        self.assertIn(os.path.join("logs", "checkpoints", "epoch=0-step=2.ckpt"), self.files())


if __name__ == "__main__":
    unittest.main()
