"""The simulated NeMo 2 CLI (bin/nemo): `nemo llm finetune|pretrain --factory NAME [-y] key=value ...`,
the recipes' defaults, the derived number of microbatches and NeMo's checks, NeMo-Run's error report."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import DONE, HERE, TORCH2, clean_env, done_line  # noqa: E402

import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402

NEMO = os.path.join(HERE, "bin", "nemo")
# TimingCallback's figure as vramrun's hydra plugin reads it (plugins/hydra/progress.go).
STEP_TIMING = re.compile(r"train_step_timing in s(?:=|: )(?P<s_per>[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)")
PRINTER = re.compile(r"^Training epoch 0, iteration ([0-9]+)/([0-9]+) \| lr: (\S+) \| global_batch_size: ([0-9]+) \| "
                     r"global_step: ([0-9]+) \| reduced_train_loss: [0-9.]+(.*)$", re.M)


class NemoRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def nemo(self, *args, env=None, stdin=b"", torchrun=None):
        extra = dict(env or {})
        command = [sys.executable, NEMO]
        if torchrun:
            command = [sys.executable, os.path.join(HERE, "bin", "torchrun"), "--nproc-per-node", str(torchrun),
                       "--no-python", NEMO]
            extra.setdefault("SIMGPU_COUNT", str(torchrun))
        proc = subprocess.run(command + list(args), capture_output=True, env=clean_env(extra), cwd=self.tmp.name,
                              input=stdin, timeout=120)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def finetune(self, *overrides, **kwargs):
        return self.nemo("llm", "finetune", "--factory", "llama3_8b", "-y", *overrides, **kwargs)


class DefaultsTest(NemoRun):
    def test_finetune_recipe_defaults(self):
        code, out, err = self.finetune("trainer.max_steps=2")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        # SquadDataModule(micro_batch_size=1, global_batch_size=128), bf16_mixed, no recompute
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"],
                          done["optimizer"]), ("1", "128", "128", "bf16", "false", "adam"))
        lines = out.splitlines()
        self.assertEqual(lines[:3], ["Configuring global options", "Dry run for task nemo.collections.llm.api:finetune",
                                     "Resolved Arguments"])
        self.assertIn("Launching finetune...", lines)
        self.assertIn("step 2/2 loss 2.493", lines)
        self.assertRegex(out, r"\n  data\.global_batch_size +128\n")
        self.assertIn("GPU available: True (cuda), used: True\n", err)

    def test_pretrain_and_sim_default_steps(self):
        code, out, err = self.nemo("llm", "pretrain", "--factory", "llama32_1b", "-y", "data.global_batch_size=8")
        self.assertEqual(code, 0, err)
        self.assertIn("Dry run for task nemo.collections.llm.api:pretrain", out)
        self.assertIn("step 20/20 ", out)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("1", "8", "8"))

    def test_overrides_and_factory_arguments(self):
        code, out, err = self.nemo(
            "llm", "finetune", "--factory=llama3_8b(num_gpus_per_node=1, peft_scheme=none)", "--yes",
            "data.micro_batch_size=4", "data.global_batch_size=32", "trainer.max_steps=3",
            "model.config.recompute_granularity=full", "model.config.recompute_method=uniform",
            "model.config.recompute_num_layers=1", "trainer.plugins=fp16_mixed")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("4", "8", "32", "fp16", "true"))
        self.assertRegex(out, r"\n  peft +None\n")
        code, out, err = self.finetune("trainer.plugins=null", "trainer.precision=32", "trainer.max_steps=1",
                                       "data.global_batch_size=4")
        self.assertEqual(code, 0, err)
        self.assertEqual(done_line(out)["precision"], "fp32")

    def test_cpu_activation_offloading_lowers_the_peak(self):
        base = ("data.micro_batch_size=8", "data.global_batch_size=8", "trainer.max_steps=1")
        code, out, err = self.finetune(*base)
        plain = int(done_line(out)["peak"])
        code, out, err = self.finetune(*base, "model.config.cpu_offloading=true",
                                       "model.config.cpu_offloading_num_layers=16")
        self.assertEqual(code, 0, err)
        self.assertLess(int(done_line(out)["peak"]), plain)
        code, out, err = self.finetune(*base, "model.config.cpu_offloading=true",
                                       "model.config.cpu_offloading_num_layers=16",
                                       "model.config.recompute_granularity=selective")
        self.assertEqual(err.splitlines()[-1],
                         "Unexpected error: CPU offloading does not work when activation recomputation is enabled")


class SpeedLinesTest(NemoRun):
    """MegatronStrategy's ProgressPrinter in place of Lightning's bar, one line a step on rank 0; the pretrain
    recipes' TimingCallback puts the step's simulated time in it, the finetune recipes' only with performance_mode."""

    def steady(self, micro, accumulation):
        return simgpu_speed.steady_step_seconds(simgpu.Job("t.py", micro_batch=micro, accumulation=accumulation,
                                                           precision="bf16", env={}), {})

    def test_finetune_prints_no_step_timing_without_performance_mode(self):
        code, out, err = self.finetune("trainer.max_steps=3")
        self.assertEqual(code, 0, err)
        lines = PRINTER.findall(out)
        self.assertEqual([(n, total, lr, gbs, step) for n, total, lr, gbs, step, _ in lines],
                         [(str(i), "3", "0.0001", "128", str(i)) for i in range(3)])
        self.assertEqual([rest for *_, rest in lines], ["", " | consumed_samples: 256", " | consumed_samples: 384"])
        self.assertIsNone(STEP_TIMING.search(out))
        self.assertRegex(out, r"\n  trainer\.callbacks +None\n")
        self.assertNotIn("it/s", err)

    def test_step_timing_is_the_simulated_step_time(self):
        finetune = ("finetune", "--factory", "llama3_8b(performance_mode=True)", "-y", "trainer.max_steps=5")
        pretrain = ("pretrain", "--factory", "llama32_1b", "-y", "data.global_batch_size=8", "trainer.max_steps=4")
        for args, micro, accumulation, steps in [(finetune, 1, 128, 5), (pretrain, 1, 8, 4)]:
            code, out, err = self.nemo("llm", *args)
            self.assertEqual(code, 0, err)
            self.assertEqual(len(PRINTER.findall(out)), steps)
            seconds = [float(m.group("s_per")) for m in STEP_TIMING.finditer(out)]
            steady = self.steady(micro, accumulation)
            self.assertEqual(len(seconds), steps)
            for got, factor in zip(seconds, [4, 1.5, 1.5, 1, 1]):
                self.assertAlmostEqual(got / (factor * steady), 1, places=3, msg=args)
            self.assertRegex(out, r"\n  trainer\.callbacks +\[<Config\[TimingCallback\(\.\.\.\)\]>\]\n")

    def test_only_rank_zero_prints(self):
        code, out, err = self.finetune("trainer.max_steps=2", "trainer.devices=2", "data.global_batch_size=8",
                                       torchrun=2)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(PRINTER.findall(out)), 2)


class ChecksTest(NemoRun):
    def test_global_batch_must_divide_by_micro_times_dp(self):
        code, out, err = self.finetune("data.micro_batch_size=3")
        self.assertEqual(code, 1)
        self.assertEqual(err.splitlines()[-1],
                         "Unexpected error: Global batch size must be divisible by micro batch size in data module.")
        self.assertNotIn("done:", out)
        code, out, err = self.finetune("trainer.devices=2", "data.micro_batch_size=2", "data.global_batch_size=6",
                                       torchrun=2)
        self.assertEqual(code, 1)
        self.assertIn("Unexpected error: Global batch size must be divisible by the product of micro batch size and "
                      "data parallel size\n", err)

    def test_two_ranks_under_torchrun(self):
        code, out, err = self.finetune("trainer.devices=2", "data.micro_batch_size=2", "data.global_batch_size=16",
                                       "trainer.max_steps=2", torchrun=2)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.count("done:"), 1)
        # both ranks print NeMo-Run's lines, so rank 1's may come after rank 0's done line
        done = DONE.match([line for line in out.splitlines() if line.startswith("done:")][0]).groupdict()
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("2", "4", "16"))

    def test_lightning_launches_the_other_ranks(self):
        # Without torchrun, MegatronStrategy (Lightning's DDPStrategy) starts trainer.devices processes itself.
        code, out, err = self.finetune("trainer.devices=2", "data.micro_batch_size=2", "data.global_batch_size=16",
                                       "trainer.max_steps=2", env={"SIMGPU_COUNT": "2"})
        self.assertEqual(code, 0, err)
        self.assertEqual(out.count("done:"), 1)
        done = DONE.match([line for line in out.splitlines() if line.startswith("done:")][0]).groupdict()
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("2", "4", "16"))
        code, out, err = self.finetune("trainer.devices=2", env={"SIMGPU_COUNT": "1"})
        self.assertIn("You requested gpu: [0, 1]\n But your machine only has: [0]", err)

    def test_accumulate_grad_batches_must_stay_1(self):
        code, out, err = self.finetune("trainer.accumulate_grad_batches=4")
        self.assertEqual(code, 1)
        self.assertEqual(err.splitlines()[-1], "Unexpected error: Gradient accumulation is done within training_step. "
                                               "trainer.accumulate_grad_batches must equal 1")

    def test_recompute_and_precision_checks(self):
        code, out, err = self.finetune("model.config.recompute_granularity=full")
        self.assertEqual(err.splitlines()[-1], 'Unexpected error: Using recompute_granularity: full so '
                                               'recompute_method must be "block" or "uniform"')
        code, out, err = self.finetune("trainer.precision=bf16-mixed")
        self.assertRegex(err.splitlines()[-1], r"^Unexpected error: Received both `precision=bf16-mixed` and "
                                               r"`plugins=<nemo\.lightning\.pytorch\.plugins\.mixed_precision\."
                                               r"MegatronMixedPrecision object at 0x[0-9a-f]+>`\. Choose one\.$")

    def test_unknown_keys_and_factories(self):
        code, out, err = self.finetune("trainer.foo=1")
        self.assertEqual(code, 1)
        self.assertTrue(err.splitlines()[-1].startswith(
            "Unexpected error: No parameter named 'foo' exists for <class 'nemo.lightning.pytorch.trainer.Trainer'>; "
            "valid parameter names: accelerator, accumulate_grad_batches,"), err)
        code, out, err = self.nemo("llm", "finetune", "--factory", "nope", "-y")
        self.assertIn("Unexpected error: No matching factory found for: nope", err)
        code, out, err = self.nemo("llm", "train")
        self.assertEqual(code, 2)
        self.assertIn("Error: No such command 'train'.", err)

    def test_confirmation(self):
        code, out, err = self.nemo("llm", "finetune", "--factory", "llama3_8b", "trainer.max_steps=1",
                                   "data.global_batch_size=2")
        self.assertEqual(code, 1)
        self.assertIn("Continue? [y/N]: ", out)
        self.assertEqual(err.splitlines()[-1], "Unexpected error: ")
        code, out, err = self.nemo("llm", "finetune", "--factory", "llama3_8b", stdin=b"n\n")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith("Continue? [y/N]: Exiting...\n"), out)
        code, out, err = self.nemo("llm", "finetune", "--factory", "llama3_8b", "trainer.max_steps=1",
                                   "data.global_batch_size=2", stdin=b"y\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(done_line(out)["accum"], "2")


class ValidationTest(NemoRun):
    """Lightning's validation under NeMo 2: the sanity check before the first step (num_sanity_val_steps, 2
    unless set), validation every val_check_interval steps, and none at all with limit_val_batches 0."""

    def pretrain(self, *overrides):
        return self.nemo("llm", "pretrain", "--factory", "llama3_8b", "-y", "data.global_batch_size=8",
                         "trainer.max_steps=4", "trainer.val_check_interval=2", *overrides)

    def test_sanity_check_interval_and_switch(self):
        code, out, err = self.pretrain()
        self.assertEqual(code, 0, err)
        self.assertIn("Sanity Checking DataLoader 0: 2 validation batches before the first step\n", err)
        self.assertEqual(re.findall(r"^eval after step (\d+): ", out, re.M), ["2", "4"])
        code, out, err = self.pretrain("trainer.num_sanity_val_steps=0", "resume.resume_if_exists=False")
        self.assertEqual(code, 0, err)
        self.assertNotIn("Sanity Checking", err)
        self.assertIn("eval after step 2: ", out)
        # vramrun's trial: Lightning's switch, in either spelling (MockDataModule sizes its validation set apart)
        for zero in ("0", "0.0"):
            code, out, err = self.pretrain("trainer.limit_val_batches=" + zero, "resume.resume_if_exists=False")
            self.assertEqual(code, 0, err)
            self.assertNotIn("Sanity Checking", err)
            self.assertNotIn("eval after step", out)
        code, out, err = self.pretrain("trainer.limit_val_batches=1.5")
        self.assertEqual(code, 1)
        self.assertIn("You have passed invalid value 1.5 for limit_val_batches, it has to be in [0.0, 1.0] or an int.",
                      out + err)


class OOMTest(NemoRun):
    def test_big_micro_batch_runs_out_smaller_fits_with_the_same_global_batch(self):
        code, out, err = self.finetune("data.micro_batch_size=128", "trainer.max_steps=2")
        self.assertEqual(code, 1)
        last = err.splitlines()[-1]
        self.assertTrue(last.startswith("Unexpected error: CUDA out of memory. Tried to allocate "), last)
        self.assertIsNotNone(TORCH2.search(last))
        self.assertNotIn("Traceback", err)  # NeMo-Run prints only str(exception) without -v
        self.assertNotIn("done:", out)
        code, out, err = self.finetune("data.micro_batch_size=32", "trainer.max_steps=2")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("32", "4", "128"))

    def test_verbose_raises_the_traceback(self):
        code, out, err = self.finetune("-v", "data.micro_batch_size=128", "trainer.max_steps=1")
        self.assertEqual(code, 1)
        self.assertIn("Traceback (most recent call last):\n", err)
        self.assertIn("megatron/core/pipeline_parallel/schedules.py", err)
        self.assertIn("\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate ", err)
        self.assertNotIn("Unexpected error", err)
        self.assertNotIn("simgpu", err)


class OutputsTest(NemoRun):
    """Where the job writes: NeMoLogger's folder, its loggers and checkpoints; what AutoResume reads back."""

    def files(self, root=None):
        root = root or self.tmp.name
        found = []
        for folder, _, names in os.walk(root):
            found += [os.path.relpath(os.path.join(folder, n), root) for n in names]
        return sorted(re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}", "DATE", f) for f in found)

    def pretrain(self, *overrides):
        return self.nemo("llm", "pretrain", "--factory", "llama3_8b", "-y", "data.global_batch_size=8",
                         "trainer.val_check_interval=2", *overrides)

    def test_recipe_log_checkpoints_and_resume(self):
        code, out, err = self.pretrain("trainer.max_steps=4", "log.ckpt.every_n_train_steps=2")
        self.assertEqual(code, 0, err)
        ckpt = "nemo_experiments/default/checkpoints/LlamaModel--val_loss=0.00-step=%d-consumed_samples=%.1f%s/" \
               "weights/metadata.json"
        # default_resume's resume_if_exists: no version folder; TensorBoard in <dir>/tb_logs/<name>.
        self.assertEqual(self.files(), [ckpt % (2, 16, ""), ckpt % (4, 32, "-last"), ckpt % (4, 32, ""),
                                        "nemo_experiments/default/nemo_log_globalrank-0_localrank-0.txt",
                                        "nemo_experiments/tb_logs/default/events.out.tfevents.simtrain"])
        self.assertIn("There were no checkpoints found in checkpoint_dir", out)
        code, out, err = self.pretrain("trainer.max_steps=6")
        self.assertEqual(code, 0, err)
        self.assertIn("Restoring states from the checkpoint path at %s\nresumed at step 4 of 6\n"
                      % os.path.join(self.tmp.name, os.path.dirname(os.path.dirname(ckpt % (4, 32, "-last")))), out)
        # The finetune recipe does not resume: a dated version folder.
        code, out, err = self.finetune("trainer.max_steps=1", "data.global_batch_size=2")
        self.assertEqual(code, 0, err)
        self.assertIn("nemo_experiments/default/DATE/nemo_log_globalrank-0_localrank-0.txt", self.files())

    def test_explicit_folder_without_checkpoints_or_loggers(self):
        scratch = os.path.join(self.tmp.name, "scratch")
        code, out, err = self.pretrain("trainer.max_steps=4", "log.explicit_log_dir=" + scratch, "log.ckpt=None",
                                       "log.tensorboard=None", "log.wandb=None", "trainer.enable_checkpointing=False",
                                       "trainer.logger=False", "resume.resume_if_exists=False")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.files(), ["scratch/nemo_log_globalrank-0_localrank-0.txt"])
        self.assertNotIn("Saving checkpoint", out)

    def test_lightning_defaults_write_to_the_working_folder(self):
        # No ckpt and no TensorBoard in the log: Lightning's default ModelCheckpoint (after each validation,
        # into the log folder) and its default TensorBoardLogger, whose absolute save_dir (the working folder)
        # NeMoLogger's update_logger_directory keeps.
        scratch = os.path.join(self.tmp.name, "scratch")
        code, out, err = self.pretrain("trainer.max_steps=2", "log.explicit_log_dir=" + scratch, "log.ckpt=None",
                                       "log.tensorboard=None")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.files(), ["events.out.tfevents.simtrain", "scratch/checkpoints/epoch=0-step=2.ckpt",
                                        "scratch/nemo_log_globalrank-0_localrank-0.txt"])
        code, out, err = self.pretrain("log.ckpt.every_n_train_steps=2", "log.ckpt=None", "trainer.max_steps=1")
        self.assertEqual(code, 0, err)  # the sub-key comes first: set on the recipe's ModelCheckpoint
        code, out, err = self.pretrain("log.ckpt=None", "log.ckpt.every_n_train_steps=2", "trainer.max_steps=1")
        self.assertEqual(code, 1)
        self.assertIn("Unexpected error: Cannot set 'log.ckpt.every_n_train_steps': 'log.ckpt' is None", err)


if __name__ == "__main__":
    unittest.main()
