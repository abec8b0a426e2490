"""The simulated Unsloth CLI (bin/unsloth): `unsloth train --config cfg.yaml [--batch-size N ...]`, its
defaults and flags, and how a CUDA OOM reaches the terminal (the worker's wording, the thread path)."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, TORCH2, clean_env, done_line  # noqa: E402

UNSLOTH = os.path.join(HERE, "bin", "unsloth")
OOM_LINES = ["Training error: GPU ran out of VRAM during training.",
             "To fix: reduce max_seq_length (e.g. 2048\u20134096), enable gradient_checkpointing=True, lower "
             "per_device_train_batch_size, or use a smaller model / higher quantization."]
BASE = ("train", "--model", "unsloth/Llama-3.2-1B-Instruct", "--dataset", "yahma/alpaca-cleaned")
BIG = ("--batch-size", "128", "--gradient-accumulation-steps", "1", "--gradient-checkpointing", "none",
       "--max-steps", "2")


class UnslothRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.work = os.path.join(self.tmp.name, "work")
        self.studio = os.path.join(self.tmp.name, "studio")
        os.mkdir(self.work)

    def unsloth(self, *args, env=None):
        # Studio's home (its outputs/ and runs/) in the test's folder, not the user's ~/.unsloth.
        env = dict({"UNSLOTH_STUDIO_HOME": self.studio}, **(env or {}))
        proc = subprocess.run([sys.executable, UNSLOTH] + list(args), capture_output=True, env=clean_env(env),
                              cwd=self.work, timeout=120)
        return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class DefaultsTest(UnslothRun):
    def test_defaults(self):
        code, out, err = self.unsloth(*BASE)
        self.assertEqual(code, 0, err)
        done = done_line(out)
        # training.batch_size 2, gradient_accumulation_steps 4, gradient_checkpointing "unsloth", adamw_8bit, bf16
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"],
                          done["optimizer"]), ("2", "4", "8", "bf16", "true", "adamw_8bit"))
        self.assertIn("==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1\n", out)
        self.assertIn("Num examples = 64 | Num Epochs = 3 | Total steps = 24\n", out)
        self.assertIn("Batch size per device = 2 | Gradient accumulation steps = 4\n", out)
        self.assertIn("Total batch size (2 x 4 x 1) = 8\n", out)
        self.assertIn("step 24/24 ", out)

    def test_config_file_and_flags_win(self):
        config = self.write("cfg.yaml", "model: unsloth/Qwen3-4B\ndata:\n  dataset: x\ntraining:\n  batch_size: 4\n"
                                        "  gradient_accumulation_steps: 2\n  max_steps: 3\n"
                                        "  gradient_checkpointing: false\n")
        code, out, err = self.unsloth("train", "--config", config)
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["checkpointing"]), ("4", "2", "false"))
        code, out, err = self.unsloth("train", "-c", config, "--batch-size", "1", "--gradient-accumulation-steps=8",
                                      "--gradient-checkpointing", "unsloth")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["checkpointing"]),
                         ("1", "8", "8", "true"))

    def test_dry_run(self):
        code, out, err = self.unsloth(*BASE, "--gradient-checkpointing", "yes", "--no-load-in-4bit", "--dry-run")
        self.assertEqual(code, 0, err)
        self.assertIn("  gradient_checkpointing: 'true'\n", out)
        self.assertIn("  load_in_4bit: false\n", out)
        self.assertIn("  batch_size: 2\n", out)
        self.assertNotIn("done:", out)

    def test_bad_flags_and_configs(self):
        code, out, err = self.unsloth(*BASE, "--gradient-checkpointing", "maybe", "--training-type", "lroa")
        self.assertEqual(code, 2)
        self.assertEqual(err, "Error: Invalid command line options:\n"
                              "  - --gradient-checkpointing: Input should be 'unsloth', 'true' or 'none'\n"
                              "  - --training-type: Input should be 'lora' or 'full'\n")
        config = self.write("bad.yaml", "training:\n  batchsize: 4\nmax_steps: 3\n")
        code, out, err = self.unsloth("train", "--config", config)
        self.assertEqual(code, 2)
        self.assertIn("  - unknown key 'batchsize' in section 'training'\n"
                      "  - unknown key 'max_steps' at the top level: it belongs under 'training:'\n", err)
        code, out, err = self.unsloth("train", "--model", "m")
        self.assertEqual((code, err), (2, "Error: provide --dataset or --local-dataset (or via --config)\n"))
        code, out, err = self.unsloth(*BASE, "--batch-size", "x")
        self.assertEqual(code, 2)
        self.assertIn("Error: Invalid value for '--batch-size': 'x' is not a valid integer.", err)
        code, out, err = self.unsloth(*BASE, "--bogus")
        self.assertIn("Error: No such option: --bogus", err)


class OOMTest(UnslothRun):
    def test_worker_wording(self):
        code, out, err = self.unsloth(*BASE, *BIG)
        self.assertEqual(code, 1)
        lines = [line for line in err.split("\n") if line and not line.startswith("\r") and "\r" not in line]
        self.assertEqual(lines[-2:], OOM_LINES)
        self.assertTrue(lines[-3].startswith("Training stopped: GPU OOM \u2014 CUDA out of memory. Tried to allocate "),
                        lines[-3])
        self.assertIsNotNone(TORCH2.search(lines[-3]))
        self.assertNotIn("Traceback", err)
        self.assertNotIn("done:", out)

    def test_quiet_has_no_raw_cuda_text(self):
        code, out, err = self.unsloth(*BASE, *BIG, env={"SIMTRAIN_UNSLOTH_OOM": "quiet"})
        self.assertEqual(code, 1)
        self.assertTrue(err.endswith("\n".join(OOM_LINES) + "\n"), err)
        self.assertNotIn("CUDA out of memory", err + out)
        self.assertNotIn("Tried to allocate", err + out)

    def test_thread_path_prints_the_raw_text(self):
        code, out, err = self.unsloth(*BASE, *BIG, env={"SIMTRAIN_UNSLOTH_OOM": "thread"})
        self.assertEqual(code, 1)
        self.assertEqual(err.count("Training error: CUDA out of memory. Tried to allocate "), 2)
        self.assertIn("\nFull traceback:\nTraceback (most recent call last):\n", err)
        self.assertIn("in _train_worker\n", err)
        self.assertNotIn("unsloth_sim.py", err)
        self.assertNotIn("GPU ran out of VRAM", err)

    def test_smaller_batch_with_more_accumulation_fits(self):
        code, out, err = self.unsloth(*BASE, *BIG[:-2], "--max-steps", "1", "--batch-size", "32",
                                      "--gradient-accumulation-steps", "4")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("32", "4", "128"))

    def test_max_seq_length_scales_the_activations(self):
        flags = ("--batch-size", "16", "--gradient-checkpointing", "none", "--max-steps", "1")
        code, out, err = self.unsloth(*BASE, *flags, "--max-seq-length", "16384")
        self.assertEqual(code, 1)
        self.assertIn(OOM_LINES[0], err)
        code, out, err = self.unsloth(*BASE, *flags, "--max-seq-length", "2048")
        self.assertEqual(code, 0, err)

    def test_bad_mode(self):
        code, out, err = self.unsloth(*BASE, env={"SIMTRAIN_UNSLOTH_OOM": "loud"})
        self.assertEqual(code, 2)
        self.assertIn("SIMTRAIN_UNSLOTH_OOM", err)


class OutputsTest(UnslothRun):
    """Where the CLI writes: Studio's outputs and runs folders, ./wandb, the compile cache."""

    def files(self, root):
        found = []
        for folder, _, names in os.walk(root):
            found += [os.path.relpath(os.path.join(folder, n), root) for n in names]
        return sorted(found)

    def test_relative_output_dir_goes_under_studio_outputs(self):
        code, out, err = self.unsloth(*BASE, "--max-steps", "4", "--save-steps", "2", "--output-dir", "outputs/run1",
                                      "--enable-tensorboard", "--enable-wandb", "--wandb-token", "k")
        self.assertEqual(code, 0, err)
        # Studio strips a leading outputs/ and roots the rest in its home; TensorBoard's "runs" likewise.
        self.assertEqual(self.files(self.studio), [
            "outputs/run1/adapter_config.json", "outputs/run1/adapter_model.safetensors",
            "outputs/run1/checkpoint-2/trainer_state.json", "outputs/run1/checkpoint-4/trainer_state.json",
            "outputs/run1/tokenizer_config.json", "runs/events.out.tfevents.simtrain"])
        self.assertEqual(self.files(self.work), ["unsloth_compiled_cache/UnslothSFTTrainer.py",
                                                 "wandb/run-simtrain/files/config.yaml"])
        self.assertIn("Saving model checkpoint to %s\n" % os.path.join(self.studio, "outputs", "run1", "checkpoint-2"),
                      out)

    def test_absolute_folders_and_no_loggers_write_only_there(self):
        scratch = os.path.join(self.tmp.name, "scratch")
        code, out, err = self.unsloth(*BASE, "--max-steps", "2", "--output-dir", scratch, "--no-enable-wandb",
                                      "--no-enable-tensorboard",
                                      env={"UNSLOTH_COMPILE_LOCATION": os.path.join(scratch, "cache")})
        self.assertEqual(code, 0, err)
        # save_steps 0: the Trainer's own default (every 500 steps) saves nothing in two.
        self.assertEqual(self.files(scratch), ["adapter_config.json", "adapter_model.safetensors",
                                               "cache/UnslothSFTTrainer.py", "tokenizer_config.json"])
        self.assertEqual(self.files(self.work), [])
        self.assertFalse(os.path.exists(self.studio))


if __name__ == "__main__":
    unittest.main()
