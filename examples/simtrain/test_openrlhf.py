"""The simulated OpenRLHF SFT trainer: `python -m openrlhf.cli.train_sft` (and under bin/deepspeed --module), its
three flag generations, the derived accumulation and DeepSpeed's batch check, the training bar, OOM, and what it
writes: the model in the output folder, step checkpoints in the checkpoint folder, the loggers' folders."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import TORCH2, done_line, run_module  # noqa: E402

import simgpu_src_openrlhf_load as orl  # noqa: E402

MODULE = "openrlhf.cli.train_sft"
# The training bar as vramrun's openrlhf plugin reads it (plugins/openrlhf/progress.go).
TRAIN_BAR = re.compile(r"Train step of epoch ([0-9]+): .*?\| *([0-9]+)/([0-9]+) \[[^<\]]*<[^,\]]*, *"
                       r"(?:(?P<per_s>[0-9.]+)it/s|(?P<s_per>[0-9.]+)s/it|\?it/s)")


class OpenRLHFRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, *parts):
        return os.path.join(self.tmp.name, *parts)

    def run_sft(self, *flags, env=None, deepspeed=None):
        return run_module(MODULE, flags, self.tmp.name, env, "deepspeed" if deepspeed else None, deepspeed)


class GenerationsTest(OpenRLHFRun):
    def test_the_generation_follows_the_flags(self):
        self.assertEqual(orl.generation(["--micro_train_batch_size", "4", "--bf16"]), orl.LEGACY)
        self.assertEqual(orl.generation(["--train.micro_batch_size=4", "--ds.zero_stage", "3"]), orl.DOTTED)
        self.assertEqual(orl.generation(["--train.micro_batch_size", "4"]), orl.DOTTED)
        self.assertEqual(orl.generation(["--train.micro_batch_size", "4", "--fsdp.tp_size", "1"]), orl.FSDP)

    def test_legacy_defaults_derive_the_accumulation(self):
        code, out, err = self.run_sft()
        self.assertEqual(code, 0, err)
        # train_batch_size 128 // micro 8 // world 1 = 16; fp32 without --bf16; ZeRO-2; 5 steps x 2 epochs
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("8", "16", "128", "fp32", "false"))
        self.assertIn("step 10/10 ", out)
        # The model is saved to --save_path (./ckpt), made at start; no step checkpoint (save_steps -1).
        self.assertEqual(sorted(os.listdir(self.path("ckpt"))),
                         ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])

    def test_legacy_switches(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "4", "--train_batch_size", "32", "--bf16",
                                      "--gradient_checkpointing", "--adam_offload", "--max_epochs", "1")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["precision"], done["checkpointing"], done["optimizer"]),
                         ("4", "8", "bf16", "true", "adamw+cpu_offload"))

    def test_dotted_deepspeed_generation(self):
        code, out, err = self.run_sft("--train.micro_batch_size", "2", "--train.batch_size", "16", "--ds.param_dtype",
                                      "fp16", "--model.gradient_checkpointing_enable", "--train.max_epochs", "1")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("2", "8", "16", "fp16", "true"))
        # bf16 is --ds.param_dtype's default
        code, out, err = self.run_sft("--train.micro_batch_size", "2", "--train.max_epochs", "1")
        self.assertEqual(done_line(out)["precision"], "bf16")

    def test_fsdp_generation(self):
        code, out, err = self.run_sft("--train.micro_batch_size", "3", "--train.batch_size", "16", "--fsdp.cpu_offload",
                                      "--train.max_epochs", "1")
        self.assertEqual(code, 0, err)
        # max(1, 16 // (3 x 1)) = 5: no DeepSpeed config to check it
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["precision"], done["optimizer"]),
                         ("3", "5", "bf16", "adamw+cpu_offload"))

    def test_a_flag_of_another_generation_fails_as_argparse_does(self):
        code, out, err = self.run_sft("--train.micro_batch_size", "2", "--bf16")
        self.assertEqual(code, 2)
        self.assertIn("train_sft.py: error: unrecognized arguments: --bf16", err)
        code, out, err = self.run_sft("--train.micro_batch_size", "2", "--ds.param_dtype", "fp32")
        self.assertEqual(code, 2)
        self.assertIn("argument --ds.param_dtype: invalid choice: 'fp32'", err)


class BatchTest(OpenRLHFRun):
    def test_deepspeed_checks_the_batch(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "3", "--train_batch_size", "16")
        self.assertEqual(code, 1)
        self.assertIn("AssertionError: Check batch related parameters. train_batch_size is not equal to "
                      "micro_batch_per_gpu * gradient_acc_step * world_size 16 != 3 * 5 * 1\n", err)
        self.assertIn('openrlhf/utils/deepspeed/deepspeed.py", line', err)

    def test_world_size_divides_the_accumulation(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "4", "--train_batch_size", "32", "--max_epochs", "1",
                                      deepspeed=2)
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("4", "4", "32"))


class OutputTest(OpenRLHFRun):
    def test_the_training_bar_ticks_per_micro_batch(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "4", "--train_batch_size", "16", "--bf16")
        self.assertEqual(code, 0, err)
        draws = [m for m in (TRAIN_BAR.search(part) for part in re.split(r"[\r\n]", err)) if m]
        self.assertTrue(draws)
        # 5 steps x 4 micro-batches per epoch, a bar per epoch
        self.assertEqual({(m.group(1), m.group(3)) for m in draws}, {("0", "20"), ("1", "20")})
        self.assertIn("Train step of epoch 0: 100%|██████████| 20/20 [", err)
        self.assertRegex(err, r"20/20 \[[0-9:]+<00:00, +[0-9.]+it/s, gpt_loss=2\.12, lr=3\.14e-6, loss_mean=2\.12\]")
        self.assertIn("Train epoch: 100%|██████████| 2/2 [", err)
        self.assertEqual(orl.format_num(5e-06), "5e-6")
        self.assertEqual(orl.format_num(2.6401), "2.64")

    def test_oom_is_pytorchs_through_openrlhfs_frames(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "64", "--train_batch_size", "128")
        self.assertEqual(code, 1)
        self.assertIsNotNone(TORCH2.search(err), err)
        self.assertIn("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ", err)
        for frame in ('openrlhf/cli/train_sft.py", line', 'openrlhf/trainer/sft_trainer.py", line',
                      "in fit\n", 'deepspeed/runtime/engine.py", line'):
            self.assertIn(frame, err)
        self.assertNotIn("done:", out)

    def test_checkpoints_evaluation_and_loggers(self):
        code, out, err = self.run_sft("--micro_train_batch_size", "4", "--train_batch_size", "16", "--bf16",
                                      "--save_path", "out", "--ckpt_path", "ck", "--save_steps", "2", "--eval_dataset",
                                      "evalset", "--use_tensorboard", "tb", "--wandb_run_name", "run1")
        self.assertEqual(code, 0, err)
        # Every 2 steps, the newest --max_ckpt_num (3) kept; DeepSpeed's tag folders and `latest`
        self.assertEqual(sorted(os.listdir(self.path("ck"))), ["global_step10", "global_step6", "global_step8", "latest"])
        with open(self.path("ck", "latest")) as f:
            self.assertEqual(f.read(), "global_step10")
        self.assertEqual(sorted(os.listdir(self.path("ck", "global_step10"))),
                         ["mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt"])
        self.assertIn("config.json", os.listdir(self.path("out")))
        self.assertFalse(os.path.exists(self.path("ckpt")))
        # eval_steps -1: once an epoch (5 steps), with an evaluation set
        self.assertEqual(re.findall(r"^eval after step (\d+):", out, re.M), ["5", "10"])
        self.assertIn("Eval stage of steps 5: 100%", err)
        self.assertTrue(os.listdir(self.path("tb", "run1")))
        self.assertFalse(os.path.exists(self.path("wandb")))

    def test_no_evaluation_without_an_evaluation_set_and_wandb_folder(self):
        code, out, err = self.run_sft("--train.micro_batch_size", "4", "--train.batch_size", "16", "--eval.steps", "1",
                                      "--logger.wandb.key", "KEY", "--train.max_epochs", "1")
        self.assertEqual(code, 0, err)
        self.assertNotIn("eval after", out)
        self.assertTrue(os.path.isdir(self.path("wandb")))

    def test_resume_from_the_latest_checkpoint(self):
        flags = ["--train.micro_batch_size", "4", "--train.batch_size", "16", "--ckpt.save_steps", "3",
                 "--train.max_epochs", "1"]
        code, out, err = self.run_sft(*flags)
        self.assertEqual(code, 0, err)
        code, out, err = self.run_sft(*flags, "--ckpt.load_enable")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith("resumed at step 3 of 5\nLoaded the checkpoint: ./ckpt/checkpoints_sft, "
                                       "consumed_samples: 48\n"), out)
        self.assertIn("step 4/5 ", out)
        self.assertNotIn("step 3/5 ", out)
        with open(self.path("ckpt", "checkpoints_sft", "global_step3", "mp_rank_00_model_states.pt")) as f:
            self.assertEqual(json.load(f)["consumed_samples"], 48)


if __name__ == "__main__":
    unittest.main()
