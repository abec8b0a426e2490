"""The simulated verl SFT trainer: `python -m verl.trainer.fsdp_sft_trainer` (and under bin/torchrun -m),
Hydra overrides and errors, the shipped defaults, the derived accumulation and verl's assertions, OOM."""

import glob
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import TORCH2, done_line, run_module  # noqa: E402

import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402
import simgpu_src_verl_load as verl  # noqa: E402

MODULE = "verl.trainer.fsdp_sft_trainer"
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."
# The speed lines as vramrun's hydra plugin reads them (plugins/hydra/progress.go).
FIGURE = r"[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"
CONSOLE_TIME = re.compile(r"step:([0-9]+) - .*train/time\(s\):(?P<s_per>" + FIGURE + ")")
EPOCH_BAR = re.compile(r"Epoch ([0-9]+)/([0-9]+): .*?\| *([0-9]+)/([0-9]+) \[[^<\]]*<[^,\]]*, *"
                       r"(?:(?P<per_s>[0-9.]+)it/s|(?P<s_per>[0-9.]+)s/it|\?it/s)")


class VerlRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def run_verl(self, *overrides, env=None, torchrun=None):
        return run_module(MODULE, overrides, self.tmp.name, env, "torchrun" if torchrun else None, torchrun)


class DefaultsTest(VerlRun):
    def test_defaults_fit_and_derive_the_accumulation(self):
        code, out, err = self.run_verl()
        self.assertEqual(code, 0, err)
        done = done_line(out)
        # data.train_batch_size 256 / dp 1 / micro 4 = 64; FSDP mixed precision over fp32 params; GC on
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"],
                          done["optimizer"]), ("4", "64", "256", "bf16", "true", "adamw"))
        for line in ("Normalize batch size by dp 1", "Using sequence parallel size: 1", "Using remove padding: False",
                     "Using FSDP rank 0 and size 1 for data distribution",
                     "Number of steps/epoch 5, number of epochs 4, total number of steps 20",
                     "step 20/20 loss 1.178", "eval after step 20: loss 1.278",
                     "Final validation metrics: {'val/loss': 1.2778}"):
            self.assertIn(line + "\n", out)
        self.assertRegex(out, r"\nTotal time for train steps: \d+\.\d\ds\n")
        # Hydra's run folder, as Hydra writes it in the working directory
        runs = glob.glob(os.path.join(self.tmp.name, "outputs", "*", "*"))
        self.assertEqual(len(runs), 1)
        for name in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "fsdp_sft_trainer.log"):
            self.assertTrue(os.path.isfile(os.path.join(runs[0], name)), name)

    def test_overrides(self):
        code, out, err = self.run_verl(
            "data.micro_batch_size_per_gpu=16", "model.enable_gradient_checkpointing=false",
            "model.fsdp_config.model_dtype=bf16", "trainer.total_training_steps=3", "trainer.logger=['console']")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("16", "16", "256", "bf16-true", "false"))
        self.assertIn("step 3/3 ", out)
        self.assertIn("'logger': ['console']", out)  # the trainer prints its config
        with open(glob.glob(os.path.join(self.tmp.name, "outputs", "*", "*", ".hydra", "overrides.yaml"))[0]) as f:
            self.assertIn("- data.micro_batch_size_per_gpu=16\n", f.read())

    def test_later_override_wins_and_plus_adds(self):
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=2", "data.micro_batch_size_per_gpu=8",
                                       "+data.extra_key=1", "++trainer.total_training_steps=1")
        self.assertEqual(code, 0, err)
        self.assertEqual(done_line(out)["micro"], "8")
        self.assertIn("'extra_key': 1", out)

    def test_optimizer_offload_and_train_batch(self):
        code, out, err = self.run_verl("model.fsdp_config.cpu_offload=true", "model.fsdp_config.offload_params=true",
                                       "data.train_batch_size=32", "trainer.total_training_steps=1")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["accum"], done["effective"], done["optimizer"]), ("8", "32", "adamw+cpu_offload"))
        # cpu_offload alone offloads nothing (FSDP's CPUOffload(offload_params=False))
        code, out, err = self.run_verl("model.fsdp_config.cpu_offload=true", "trainer.total_training_steps=1")
        self.assertEqual(done_line(out)["optimizer"], "adamw")


class CheckpointTest(VerlRun):
    def files(self):
        found = []
        for root, _, names in os.walk(self.tmp.name):
            found += [os.path.relpath(os.path.join(root, n), self.tmp.name) for n in names]
        return sorted(f for f in found if not f.startswith("outputs" + os.sep))

    def test_saves_every_save_freq_steps_and_at_the_last_step(self):
        # default_local_dir is checkpoints/${trainer.project_name}/${trainer.experiment_name}, resolved on access
        code, out, err = self.run_verl("trainer.total_training_steps=3", "trainer.save_freq=2",
                                       "trainer.project_name=p", "trainer.default_hdfs_dir=remote")
        self.assertEqual(code, 0, err)
        shards = ["data.pt", "extra_state_world_size_1_rank_0.pt", os.path.join("huggingface", "config.json"),
                  "model_world_size_1_rank_0.pt", "optim_world_size_1_rank_0.pt"]
        local = [os.path.join("checkpoints", "p", "test", "global_step_%d" % n, f) for n in (2, 3) for f in shards]
        self.assertEqual(self.files(), sorted(local + [os.path.join("checkpoints", "p", "test",
                                                                    "latest_checkpointed_iteration.txt")]
                                              + [os.path.join("remote", f) for f in shards]))
        self.assertIn("Saving checkpoint to: checkpoints/p/test/global_step_2\n", out)
        with open(os.path.join(self.tmp.name, "checkpoints", "p", "test", "latest_checkpointed_iteration.txt")) as f:
            self.assertEqual(f.read(), "3")
        # the printed config keeps the interpolation, as OmegaConf prints it
        self.assertIn("'default_local_dir': 'checkpoints/${trainer.project_name}/${trainer.experiment_name}'", out)

    def test_a_trial_style_run_writes_only_where_it_is_told(self):
        scratch = os.path.join(self.tmp.name, "s")
        code, out, err = self.run_verl("trainer.total_training_steps=2", "trainer.default_local_dir=" + scratch,
                                       "hydra.run.dir=" + os.path.join(scratch, "hydra"), "trainer.save_freq=-1",
                                       "trainer.logger=[console]", "++trainer.resume_mode=disable")
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["s"])
        self.assertTrue(os.path.isfile(os.path.join(scratch, "global_step_2", "data.pt")))
        self.assertTrue(os.path.isfile(os.path.join(scratch, "hydra", ".hydra", "overrides.yaml")))

    def test_tensorboard_backend_makes_its_folder(self):
        code, out, err = self.run_verl("trainer.total_training_steps=1", "trainer.logger=[console,tensorboard]")
        self.assertEqual(code, 0, err)
        self.assertIn("Saving tensorboard log to tensorboard_log/gsm8k-sft/test.\n", out)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp.name, "tensorboard_log", "gsm8k-sft", "test")))


class HydraErrorTest(VerlRun):
    def test_unknown_key_fails_as_hydra_does(self):
        code, out, err = self.run_verl("data.foo=1")
        self.assertEqual(code, 1)
        self.assertEqual(err, "Could not override 'data.foo'.\nTo append to your config use +data.foo=1\n"
                              "Key 'foo' is not in struct\n    full_key: data.foo\n    object_type=dict\n\n"
                              + HYDRA_HINT + "\n")
        code, out, err = self.run_verl("foo.bar=2")
        self.assertIn("Could not override 'foo.bar'.\nTo append to your config use +foo.bar=2\n"
                      "Key 'foo' is not in struct\n    full_key: foo\n    object_type=dict\n", err)
        self.assertNotIn("done:", out)

    def test_full_error(self):
        code, out, err = self.run_verl("data.foo=1", env={"HYDRA_FULL_ERROR": "1"})
        self.assertEqual(code, 1)
        self.assertIn("omegaconf.errors.ConfigAttributeError: Key 'foo' is not in struct\n", err)
        self.assertIn("The above exception was the direct cause of the following exception:\n\n"
                      "Traceback (most recent call last):\n", err)
        self.assertTrue(err.endswith("hydra.errors.ConfigCompositionException: Could not override 'data.foo'.\n"
                                     "To append to your config use +data.foo=1\n"), err)

    def test_append_to_an_existing_key_and_parse_errors(self):
        code, out, err = self.run_verl("+data.train_batch_size=3")
        self.assertEqual(code, 1)
        self.assertIn("Could not append to config. An item is already at 'data.train_batch_size'.\n"
                      "Either remove + prefix: 'data.train_batch_size=3'\n"
                      "Or add a second + to add or override 'data.train_batch_size': '++data.train_batch_size=3'\n", err)
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu")
        self.assertEqual(code, 1)
        self.assertIn("Error parsing override 'data.micro_batch_size_per_gpu'\nmissing EQUAL at '<EOF>'\n", err)
        code, out, err = self.run_verl("trainer.logger=console,wandb")
        self.assertIn("Ambiguous value for argument 'trainer.logger=console,wandb'\n", err)
        code, out, err = self.run_verl("--bogus")
        self.assertEqual(code, 2)
        self.assertIn("fsdp_sft_trainer.py: error: unrecognized arguments: --bogus", err)

    def test_config_file_and_cfg_job(self):
        folder = os.path.join(self.tmp.name, "conf")
        os.mkdir(folder)
        with open(os.path.join(folder, "my_sft.yaml"), "w") as f:
            f.write("defaults:\n  - sft_trainer\n  - _self_\ndata:\n  micro_batch_size_per_gpu: 32\n"
                    "trainer:\n  total_training_steps: 2\n")
        code, out, err = self.run_verl("--config-path", folder, "--config-name", "my_sft",
                                       "data.train_batch_size=64")
        self.assertEqual(code, 0, err)
        self.assertEqual(done_line(out)["micro"], "32")
        self.assertEqual(done_line(out)["accum"], "2")
        code, out, err = self.run_verl("--cfg", "job", "data.micro_batch_size_per_gpu=2")
        self.assertEqual(code, 0, err)
        self.assertIn("data:\n  train_batch_size: 256\n  micro_batch_size: null\n  micro_batch_size_per_gpu: 2\n", out)
        code, out, err = self.run_verl("--config-name", "nope")
        self.assertIn("Cannot find primary config 'nope'. Check that it's in your config search path.", err)


class BatchAssertionTest(VerlRun):
    def test_micro_batch_must_divide_the_per_rank_batch(self):
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=3")
        self.assertEqual(code, 1)
        self.assertIn("Error executing job with overrides: ['data.micro_batch_size_per_gpu=3']\n"
                      "Traceback (most recent call last):\n", err)
        self.assertIn("in _normalize_config_bsz\n    assert self.config.data.train_batch_size % "
                      "self.config.data.micro_batch_size_per_gpu == 0\n", err)
        self.assertTrue(err.endswith("AssertionError\n\n" + HYDRA_HINT + "\n"), err)
        self.assertNotIn("done:", out)

    def test_global_batch_must_divide_by_dp(self):
        code, out, err = self.run_verl("trainer.total_training_steps=1", torchrun=3)
        self.assertEqual(code, 1)
        self.assertIn("AssertionError: Global batch size 256 is not divisible by dp size 3\n", err)
        self.assertIn("ChildFailedError", err)

    def test_two_ranks_halve_the_accumulation(self):
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=8", "trainer.total_training_steps=2",
                                       torchrun=2)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.count("done:"), 1)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("8", "16", "256"))
        self.assertIn("Normalize batch size by dp 2\n", out)


class OOMTest(VerlRun):
    def test_big_micro_batch_runs_out_smaller_fits_with_the_same_global_batch(self):
        flags = ("model.enable_gradient_checkpointing=false", "trainer.total_training_steps=2")
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=128", *flags)
        self.assertEqual(code, 1)
        self.assertIsNotNone(TORCH2.search(err), err)
        self.assertIn("\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate ", err)
        self.assertIn("Error executing job with overrides: ['data.micro_batch_size_per_gpu=128', "
                      "'model.enable_gradient_checkpointing=false', 'trainer.total_training_steps=2']\n", err)
        self.assertIn('verl/trainer/fsdp_sft_trainer.py", line', err)
        self.assertIn("in _compute_loss_and_backward\n", err)
        self.assertNotIn("simgpu", err)
        self.assertTrue(err.endswith("\n\n" + HYDRA_HINT + "\n"))
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=32", *flags)
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("32", "8", "256"))


class SpeedLinesTest(VerlRun):
    def test_console_logger_and_epoch_bars_on_the_simulated_clock(self):
        code, out, err = self.run_verl("data.micro_batch_size_per_gpu=8", "trainer.total_training_steps=7")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["precision"], done["checkpointing"]),
                         ("8", "32", "bf16", "true"))
        steady = simgpu_speed.steady_step_seconds(simgpu.Job("t.py", micro_batch=8, accumulation=32, precision="bf16",
                                                             checkpointing=True, env={}), {})
        # Tracking's console backend: "step:N - train/loss:L - train/lr(1e-3):X - train/time(s):T", T the step's
        # simulated time, warm-up included.
        times = [(int(m.group(1)), float(m.group("s_per"))) for m in CONSOLE_TIME.finditer(out)]
        self.assertEqual([step for step, _ in times], list(range(1, 8)))
        for (step, seconds), factor in zip(times, [4, 1.5, 1.5, 1, 1, 1, 1]):
            self.assertAlmostEqual(seconds, factor * steady, places=9, msg=step)
        self.assertIn("\nstep:1 - train/loss:2.6401 - train/lr(1e-3):0.01 - train/time(s):", out)
        self.assertIn("\nstep:7 - val/loss:", out)
        self.assertIn("Total time for train steps: %.2fs\n" % sum(t for _, t in times), out)
        # One bar an epoch of 5 steps (tqdm's, on stderr), the second starting over at 0/5.
        bars = [(int(m.group(1)), int(m.group(3)), int(m.group(4))) for m in EPOCH_BAR.finditer(err)]
        self.assertEqual(bars, [(1, n, 5) for n in range(6)] + [(2, n, 5) for n in range(3)])
        # The second epoch's bar ticks at the steady step time (tqdm's "%5.2f").
        last = list(EPOCH_BAR.finditer(err))[-1]
        if last.group("per_s"):
            self.assertAlmostEqual(float(last.group("per_s")), 1 / steady, delta=0.006)
        else:
            self.assertAlmostEqual(float(last.group("s_per")), steady, delta=0.006)

    def test_no_console_line_without_the_console_backend(self):
        code, out, err = self.run_verl("trainer.logger=[wandb]", "trainer.total_training_steps=2")
        self.assertEqual(code, 0, err)
        self.assertIsNone(CONSOLE_TIME.search(out), out)
        self.assertIn("Epoch 1/4: ", err)


class ParserTest(unittest.TestCase):
    def test_values(self):
        parse = lambda text: verl.parse_override("k=" + text).value  # noqa: E731
        self.assertEqual([parse(v) for v in ("8", "1e-5", "true", "False", "null", "abc", "'x,y'", "[1,2]",
                                             "{a:1,b:[x]}", "")],
                         [8, 1e-5, True, False, None, "abc", "x,y", [1, 2], {"a": 1, "b": ["x"]}, ""])
        self.assertTrue(verl.parse_override("+a.b=1").is_add())
        self.assertTrue(verl.parse_override("++a.b=1").is_force_add())
        self.assertTrue(verl.parse_override("~a.b").is_delete())

    def test_struct_config(self):
        cfg = verl.DictConfig({"data": {"x": 1}})
        cfg._set_struct(True)
        self.assertIsNone(cfg.data.get("missing"))
        with self.assertRaises(AttributeError):
            cfg.data.missing  # noqa: B018
        self.assertEqual(str(cfg), "{'data': {'x': 1}}")
        with self.assertRaises(verl.ConfigCompositionException) as caught:
            verl.apply_overrides(cfg, [verl.parse_override("data.y=2")])
        self.assertEqual(str(caught.exception.__cause__), "Key 'y' is not in struct\n    full_key: data.y\n"
                                                          "    object_type=dict")
        self.assertTrue(re.match(r"^Could not override 'data.y'\.", str(caught.exception)))


if __name__ == "__main__":
    unittest.main()
