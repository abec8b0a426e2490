"""The fake `litgpt` (bin/litgpt): jsonargparse's command line and --config file, the accumulation derived
from train.global_batch_size, a micro-batch cut that keeps the global batch, the OOM and its Fabric
traceback, --devices ranks, the step-XXXXXX checkpoints and --resume. Every job runs in a temporary folder."""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import done_line, run  # noqa: E402

TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
MODEL = "checkpoints/meta-llama/Llama-3.2-1B"


def steps(stdout):
    return [int(i) for i in re.findall(r"^step (\d+)/\d+ loss", stdout, re.M)]


class LitgptTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="simlitgpt-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def litgpt(self, *args, env=None):
        return run("bin/litgpt", *args, env=env, cwd=self.dir)

    def batch(self, res):
        self.assertEqual(res.returncode, 0, res.stderr)
        done = done_line(res.stdout)
        return int(done["micro"]), int(done["accum"]), int(done["effective"])


class TestLitgptBatch(LitgptTest):
    def test_defaults(self):
        res = self.litgpt("finetune", MODEL)
        self.assertEqual(self.batch(res), (1, 16, 16))  # global 16 / micro 1
        done = done_line(res.stdout)
        self.assertEqual((done["precision"], done["checkpointing"], done["optimizer"]), ("bf16", "false", "AdamW"))
        self.assertEqual(steps(res.stdout), list(range(1, 21)))
        self.assertIn("Verifying settings ...\n", res.stdout)
        self.assertIn("Epoch 1 | iter 16 step 1 | loss train: ", res.stdout)
        self.assertIn("Using bfloat16 Automatic Mixed Precision (AMP)", res.stderr)
        final = os.path.join(self.dir, "out", "finetune", "lora", "final")
        for name in ("lit_model.pth.lora", "lit_model.pth", "hyperparameters.yaml"):
            self.assertTrue(os.path.isfile(os.path.join(final, name)), name)

    def test_accumulation_is_derived_from_the_global_batch(self):
        res = self.litgpt("finetune_lora", MODEL, "--train.micro_batch_size", "4", "--train.max_steps", "2")
        self.assertEqual(self.batch(res), (4, 4, 16))
        # not divisible: the effective batch silently shrinks (16 // 3 = 5)
        res = self.litgpt("finetune_lora", MODEL, "--train.micro_batch_size=3", "--train.max_steps=2")
        self.assertEqual(self.batch(res), (3, 5, 15))
        res = self.litgpt("finetune_lora", MODEL, "--train.global_batch_size", "8", "--train.micro_batch_size", "16")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.strip().splitlines()[-1], "AssertionError")
        self.assertIn('litgpt/args.py", line', res.stderr)

    def test_two_devices_divide_the_global_batch(self):
        res = self.litgpt("finetune_lora", MODEL, "--devices", "2", "--train.max_steps", "2")
        self.assertEqual(self.batch(res), (1, 8, 16))
        # FSDP with activation checkpointing on Blocks, as litgpt configures it for more than one device
        self.assertEqual(done_line(res.stdout)["checkpointing"], "true")
        self.assertIn("Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2", res.stderr)
        self.assertIn("[rank: 1] Seed set to 1337", res.stderr)

    def test_oom_then_a_micro_batch_cut_keeping_the_global_batch(self):
        res = self.litgpt("finetune_lora", MODEL, "--train.micro_batch_size", "128", "--train.global_batch_size", "128")
        self.assertEqual(res.returncode, 1)
        self.assertIn(TORCH_OOM, res.stderr)
        self.assertNotIn("done:", res.stdout)
        for frame in ('litgpt/__main__.py", line', 'jsonargparse/_cli.py", line', 'litgpt/finetune/lora.py", line',
                      'lightning/fabric/fabric.py", line', "in _wrap_with_setup", 'litgpt/model.py", line'):
            self.assertIn(frame, res.stderr)
        # the evaluation uses the micro-batch too: the check before training is what fails first
        self.assertIn("in validate", res.stderr)
        res = self.litgpt("finetune_lora", MODEL, "--train.micro_batch_size", "16", "--train.global_batch_size", "128",
                          "--train.max_steps", "2")
        self.assertEqual(self.batch(res), (16, 8, 128))

    def test_precision_and_optimizer(self):
        res = self.litgpt("finetune_lora", MODEL, "--precision", "bf16-true", "--train.max_steps", "1")
        self.assertEqual(done_line(res.stdout)["precision"], "bf16-true")
        res = self.litgpt("finetune_lora", MODEL, "--train.max_steps", "1", env={"SIMGPU_BF16": "0"})
        self.assertEqual(done_line(res.stdout)["precision"], "fp16")
        res = self.litgpt("finetune_lora", MODEL, "--quantize", "bnb.nf4")
        self.assertIn("ValueError: Quantization and mixed precision is not supported.", res.stderr)
        res = self.litgpt("finetune_lora", MODEL, "--optimizer", "bitsandbytes.optim.PagedAdamW8bit")
        self.assertEqual(res.returncode, 1)
        self.assertIn("ModuleNotFoundError: No module named 'bitsandbytes'", res.stderr)
        fake = os.path.join(self.dir, "pkgs", "bitsandbytes")
        os.makedirs(fake)
        open(os.path.join(fake, "__init__.py"), "w").close()
        base = self.litgpt("finetune_lora", MODEL, "--train.max_steps", "1")
        res = self.litgpt("finetune_lora", MODEL, "--optimizer", "bitsandbytes.optim.PagedAdamW8bit",
                          "--train.max_steps", "1", env={"PYTHONPATH": os.path.dirname(fake)})
        self.assertEqual(done_line(res.stdout)["optimizer"], "bitsandbytes.optim.PagedAdamW8bit")
        self.assertLess(int(done_line(res.stdout)["peak"]), int(done_line(base.stdout)["peak"]))


class TestLitgptCommandLine(LitgptTest):
    def test_config_then_flags_later_wins(self):
        path = os.path.join(self.dir, "lora.yaml")
        with open(path, "w") as f:
            f.write("checkpoint_dir: %s\nprecision: bf16-true\ntrain:\n  micro_batch_size: 4\n  global_batch_size: 32\n"
                    "  max_steps: 2\noptimizer:\n  class_path: torch.optim.AdamW\n  init_args:\n    lr: 0.0002\n"
                    "    betas: [0.9, 0.95]\n" % MODEL)
        self.assertEqual(self.batch(self.litgpt("finetune_lora", "--config", path)), (4, 8, 32))
        self.assertEqual(self.batch(self.litgpt("finetune_lora", "--config", path, "--train.micro_batch_size", "2")),
                         (2, 16, 32))
        self.assertEqual(self.batch(self.litgpt("finetune_lora", "--train.micro_batch_size", "2", "--config", path)),
                         (4, 8, 32))

    def test_bad_arguments(self):
        res = self.litgpt("finetune_lora", MODEL, "--train.micro_batch_size", "abc")
        self.assertEqual(res.returncode, 2)
        self.assertIn('error: Parser key "train.micro_batch_size":\n  Expected a <class \'int\'>. Got value: abc',
                      res.stderr)
        res = self.litgpt("finetune_lora", MODEL, "--train.foo", "1")
        self.assertEqual(res.returncode, 2)
        self.assertIn("error: Unrecognized arguments: --train.foo 1", res.stderr)
        res = self.litgpt("finetune_full")
        self.assertEqual(res.returncode, 2)
        self.assertIn('Key "checkpoint_dir" is required', res.stderr)
        res = self.litgpt("finetune_lora", MODEL, "--train.max_tokens", "100")
        self.assertEqual(res.returncode, 1)
        self.assertIn("doesn't support the 'max_tokens' argument", res.stderr)


class TestLitgptCheckpoints(LitgptTest):
    def test_full_checkpoints_and_resume(self):
        args = ("finetune_full", MODEL, "--train.save_interval", "5", "--train.max_steps", "12")
        res = self.litgpt(*args)
        self.assertEqual(res.returncode, 0, res.stderr)
        out = os.path.join(self.dir, "out", "finetune", "full")
        for step in (5, 10):
            folder = os.path.join(out, "step-%06d" % step)
            with open(os.path.join(folder, "lit_model.pth")) as f:
                self.assertEqual(json.load(f)["step_count"], step)
            self.assertTrue(os.path.isfile(os.path.join(folder, "hyperparameters.yaml")))
            self.assertIn("Saving checkpoint to 'out/finetune/full/step-%06d'" % step, res.stdout)
        self.assertFalse(os.path.exists(os.path.join(out, "step-000012")))
        # resume from the newest step-* checkpoint, at a smaller micro-batch (the global batch stays)
        res = self.litgpt(*args, "--resume", "true", "--train.micro_batch_size", "2")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Resuming training from out/finetune/full/step-000010/lit_model.pth\n", res.stdout)
        self.assertIn("resumed at step 10 of 12\n", res.stdout)
        self.assertEqual(steps(res.stdout), [11, 12])
        self.assertEqual(done_line(res.stdout)["effective"], "16")
        res = self.litgpt(*args, "--resume", os.path.join("out", "finetune", "full", "step-000005", "lit_model.pth"))
        self.assertEqual(steps(res.stdout), list(range(6, 13)))

    def test_resume_errors(self):
        res = self.litgpt("finetune_full", MODEL, "--resume", "true")
        self.assertEqual(res.returncode, 1)
        self.assertIn("FileNotFoundError: You passed `--resume=True`, but no checkpoint file was found in "
                      "`--out_dir=out/finetune/full`.", res.stderr)
        res = self.litgpt("finetune_full", MODEL, "--resume", "auto", "--train.max_steps", "2")
        self.assertEqual(steps(res.stdout), [1, 2])
        # LoRA fine-tuning has no --resume
        res = self.litgpt("finetune_lora", MODEL, "--resume", "true")
        self.assertEqual(res.returncode, 2)
        self.assertIn("error: Unrecognized arguments: --resume true", res.stderr)

    def test_lora_and_pretrain_checkpoint_names(self):
        res = self.litgpt("finetune_lora", MODEL, "--train.save_interval", "2", "--train.max_steps", "2")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "out", "finetune", "lora", "step-000002",
                                                    "lit_model.pth.lora")))
        res = self.litgpt("pretrain", "pythia-14m", "--train.save_interval", "2", "--train.max_steps", "2",
                          "--train.global_batch_size", "8")
        self.assertEqual(self.batch(res), (4, 2, 8))
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "out", "pretrain", "step-00000002", "lit_model.pth")))
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "out", "pretrain", "final", "lit_model.pth")))


if __name__ == "__main__":
    unittest.main()
