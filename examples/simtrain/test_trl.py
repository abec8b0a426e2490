"""The fake `trl` CLI (bin/trl) and its scripts (trl_sft.py, trl_dpo.py, trl_grpo.py): the command line
and --config file, TRL's defaults, GRPO's divisibility check, accelerate's launch (one rank, several, a
config name), the OOM and its Trainer traceback, checkpoints. Every job runs in a temporary folder."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import done_line, run  # noqa: E402

TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "


def steps(stdout):
    return [int(i) for i in re.findall(r"^step (\d+)/\d+ loss", stdout, re.M)]


class TrlTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="simtrl-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def trl(self, *args, env=None):
        return run("bin/trl", *args, env=env, cwd=self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class TestTrlDefaults(TrlTest):
    def test_sft_defaults_are_trls(self):
        res = self.trl("sft", "--dataset_name", "trl-lib/Capybara", "--max_steps", "3")
        self.assertEqual(res.returncode, 0, res.stderr)
        done = done_line(res.stdout)
        # gradient checkpointing on, bf16 on (fp16 not set), the Trainer's batch sizes
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("8", "1", "8"))
        self.assertEqual((done["precision"], done["checkpointing"], done["optimizer"]), ("bf16", "true", "adamw_torch"))
        self.assertIn("\u2705 Training completed.\n\U0001f4be Model saved to trainer_output.\n", res.stdout)
        self.assertEqual(steps(res.stdout), [1, 2, 3])
        for name in ("model.safetensors", "training_args.bin"):
            self.assertTrue(os.path.isfile(os.path.join(self.dir, "trainer_output", name)))
        # accelerate launch without a config says what it defaulted
        self.assertIn("The following values were not passed to `accelerate launch`", res.stderr)

    def test_fp16_bf16_and_checkpointing_flags(self):
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--fp16")
        self.assertEqual(done_line(res.stdout)["precision"], "fp16")
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--bf16", "false",
                       "--gradient_checkpointing", "false")
        done = done_line(res.stdout)
        self.assertEqual((done["precision"], done["checkpointing"]), ("fp32", "false"))
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--no_gradient_checkpointing")
        self.assertEqual(done_line(res.stdout)["checkpointing"], "false")
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--dtype", "bfloat16")
        self.assertEqual(done_line(res.stdout)["precision"], "bf16-true")

    def test_bare_bf16_needs_a_value(self):
        # bf16 is `bool | None` (default None), so HfArgumentParser gives it no bare form
        res = self.trl("sft", "--dataset_name", "d", "--bf16")
        self.assertEqual(res.returncode, 2)
        self.assertIn("error: argument --bf16: expected one argument", res.stderr)

    def test_dataset_is_required(self):
        res = self.trl("sft", "--max_steps", "1")
        self.assertEqual(res.returncode, 1)
        self.assertIn("ValueError: Either `datasets` or `dataset_name` must be provided.", res.stderr)
        self.assertIn("subprocess.CalledProcessError: Command '[", res.stderr.strip().splitlines()[-1])

    def test_padding_free_without_packing(self):
        res = self.trl("sft", "--dataset_name", "d", "--padding_free")
        self.assertEqual(res.returncode, 1)
        self.assertIn("ValueError: When `padding_free=True` without packing, `max_length` is not enforced.", res.stderr)
        res = self.trl("sft", "--dataset_name", "d", "--padding_free", "--packing", "--max_steps", "1")
        self.assertEqual(res.returncode, 0, res.stderr)


class TestTrlCommandLine(TrlTest):
    def test_cli_overrides_config_and_env_is_exported(self):
        config = self.write("sft.yaml", "dataset_name: trl-lib/Capybara\nper_device_train_batch_size: 4\n"
                                        "gradient_accumulation_steps: 2\nmax_steps: 3\n")
        res = self.trl("sft", "--config", config)
        done = done_line(res.stdout)
        self.assertEqual((done["micro"], done["accum"]), ("4", "2"))
        res = self.trl("sft", "--config", config, "--per_device_train_batch_size", "2")
        done = done_line(res.stdout)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("2", "2", "4"))
        res = self.trl("sft", "--per_device_train_batch_size=1", "--config", config)
        self.assertEqual(done_line(res.stdout)["micro"], "1")
        # the env: mapping reaches the job (here: simtrain's failure at step 2)
        config = self.write("env.yaml", "dataset_name: d\nmax_steps: 3\nenv:\n  SIMTRAIN_FAIL: 1\n")
        res = self.trl("sft", "--config", config)
        self.assertEqual(res.returncode, 1)
        self.assertIn("ValueError: Expected input batch_size (8) to match target batch_size (7).", res.stderr)

    def test_accelerate_keys_in_config_and_on_the_command_line(self):
        config = self.write("sft.yaml", "dataset_name: d\nmax_steps: 2\nnum_processes: 2\n")
        res = self.trl("sft", "--config", config)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(done_line(res.stdout)["effective"], "16")
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "2", "--num_processes", "2")
        self.assertEqual(done_line(res.stdout)["effective"], "16")

    def test_unknown_arguments_go_to_accelerate(self):
        res = self.trl("sft", "--dataset_name", "d", "--foo", "1")
        self.assertEqual(res.returncode, 2)
        self.assertIn("Accelerate launch command: error: unrecognized arguments: --foo", res.stderr)
        # run directly, the script ignores what its parser does not know (TRL's return_remaining_strings)
        res = run("trl_sft.py", "--dataset_name", "d", "--max_steps", "1", "--foo", "1", cwd=self.dir)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_unknown_command(self):
        res = self.trl("kto")
        self.assertEqual(res.returncode, 2)
        self.assertIn("argument command: invalid choice: 'kto'", res.stderr)

    def test_accelerate_config_name(self):
        plain = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--num_processes", "2")
        zero3 = self.trl("sft", "--dataset_name", "d", "--max_steps", "1", "--accelerate_config", "zero3",
                         "--num_processes", "2")
        self.assertEqual(zero3.returncode, 0, zero3.stderr)
        self.assertNotIn("were not passed to `accelerate launch`", zero3.stderr)
        self.assertLess(int(done_line(zero3.stdout)["peak"]), int(done_line(plain.stdout)["peak"]))
        res = self.trl("sft", "--dataset_name", "d", "--accelerate_config", "zero9")
        self.assertEqual(res.returncode, 1)
        self.assertIn("ValueError: Accelerate config zero9 is neither a file nor a valid config in the `trl` package.",
                      res.stderr)

    def test_processes_are_the_visible_gpus(self):
        # No config: accelerate's torch.cuda.device_count(), the GPUs CUDA_VISIBLE_DEVICES leaves.
        args = ("sft", "--dataset_name", "d", "--max_steps", "1", "--per_device_train_batch_size", "4")
        four = self.trl(*args, env={"SIMGPU_COUNT": "4"})
        self.assertEqual(four.returncode, 0, four.stderr)
        self.assertEqual(done_line(four.stdout)["effective"], "16")
        two = self.trl(*args, env={"SIMGPU_COUNT": "4", "CUDA_VISIBLE_DEVICES": "1,3"})
        self.assertEqual(done_line(two.stdout)["effective"], "8")

    def test_bundled_configs_are_where_the_jobs_python_finds_trl(self):
        pkgs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pkgs")
        spec = "import importlib.util; print(list(importlib.util.find_spec('trl').submodule_search_locations)[0])"
        out = subprocess.run([sys.executable, "-c", spec], capture_output=True, text=True, cwd=self.dir, check=True,
                             env=dict(os.environ, PYTHONPATH=pkgs)).stdout
        folder = os.path.join(out.strip(), "accelerate_configs")
        self.assertEqual(sorted(os.listdir(folder)),
                         ["fsdp1.yaml", "fsdp2.yaml", "multi_gpu.yaml", "zero1.yaml", "zero2.yaml", "zero3.yaml"])


class TestTrlGrpo(TrlTest):
    def test_generation_batch_must_divide_by_num_generations(self):
        res = self.trl("grpo", "--dataset_name", "d", "--per_device_train_batch_size", "4")
        self.assertEqual(res.returncode, 1)
        # raised while the CLI parses (GRPOConfig.__post_init__), before anything is launched
        self.assertEqual(res.stderr.strip().splitlines()[-1],
                         "ValueError: generation_batch_size (4) must be divisible by num_generations (8).")
        self.assertIn("trl/trainer/grpo_config.py", res.stderr)
        self.assertNotIn("CalledProcessError", res.stderr)
        # halving the micro-batch and doubling the accumulation keeps it valid
        res = self.trl("grpo", "--dataset_name", "d", "--per_device_train_batch_size", "4",
                       "--gradient_accumulation_steps", "2", "--max_steps", "2")
        self.assertEqual(res.returncode, 0, res.stderr)
        done = done_line(res.stdout)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("4", "2", "8"))

    def test_dpo_runs(self):
        res = self.trl("dpo", "--dataset_name", "d", "--max_steps", "2")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(done_line(res.stdout)["checkpointing"], "true")


class TestTrlMemory(TrlTest):
    def test_oom_then_fit_with_a_smaller_micro_batch(self):
        res = self.trl("sft", "--dataset_name", "d", "--per_device_train_batch_size", "128",
                       "--gradient_checkpointing", "false")
        self.assertEqual(res.returncode, 1)
        self.assertIn(TORCH_OOM, res.stderr)
        self.assertNotIn("done:", res.stdout)
        for frame in ('trl_sft.py", line', 'site-packages/trl/scripts/sft.py", line', "in main\n    trainer.train()",
                      'trl/trainer/sft_trainer.py", line', "in training_step", 'transformers/trainer.py", line',
                      'trl/cli/main.py", line', 'accelerate/commands/launch.py", line', "in simple_launcher"):
            self.assertIn(frame, res.stderr)
        self.assertTrue(res.stderr.strip().splitlines()[-1].startswith("subprocess.CalledProcessError: Command '["))
        res = self.trl("sft", "--dataset_name", "d", "--per_device_train_batch_size", "32",
                       "--gradient_accumulation_steps", "4", "--max_steps", "2", "--gradient_checkpointing", "false")
        self.assertEqual(res.returncode, 0, res.stderr)
        done = done_line(res.stdout)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("32", "4", "128"))

    def fake_liger(self):
        folder = os.path.join(self.dir, "site")
        os.makedirs(os.path.join(folder, "liger_kernel"), exist_ok=True)
        self.write(os.path.join("site", "liger_kernel", "__init__.py"), "")
        return folder

    def test_sft_loss_type_and_use_liger_kernel(self):
        # 256 x 70 MiB of checkpointed bf16 activations, 80 % logits: 8 + 17.5 GiB with the plain loss
        big = ("sft", "--dataset_name", "d", "--max_steps", "2", "--per_device_train_batch_size", "256")
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        res = self.trl(*big, "--loss_type", "nll", env=env)
        self.assertEqual(res.returncode, 1)
        self.assertIn(TORCH_OOM, res.stderr)
        self.assertNotIn("done:", res.stdout)
        # TRL's default loss_type is chunked_nll
        res = self.trl(*big, env=env)
        self.assertEqual(res.returncode, 0, res.stderr)
        peak = done_line(res.stdout)["peak"]
        self.assertEqual(done_line(self.trl(*big, "--loss_type", "chunked_nll", env=env).stdout)["peak"], peak)
        site = self.fake_liger()
        res = self.trl(*big, "--loss_type", "nll", "--use_liger_kernel", "true", env=dict(env, PYTHONPATH=site))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(done_line(res.stdout)["peak"], peak)
        # Liger's fused losses in DPO too
        dpo = ("dpo", "--dataset_name", "d", "--max_steps", "2", "--per_device_train_batch_size", "256")
        self.assertEqual(self.trl(*dpo, env=env).returncode, 1)
        res = self.trl(*dpo, "--use_liger_kernel", "true", env=dict(env, PYTHONPATH=site))
        self.assertEqual(res.returncode, 0, res.stderr)
        # without the package: transformers' Trainer refuses
        res = self.trl(*big, "--use_liger_kernel", "true", env=env)
        self.assertEqual(res.returncode, 1)
        self.assertIn("\nImportError: You have set `use_liger_kernel` to `True` but liger-kernel >= 0.3.0 is not "
                      "available. Please install it with `pip install liger-kernel`\n", res.stderr)
        self.assertIn('trl/trainer/sft_trainer.py", line', res.stderr)
        self.assertTrue(res.stderr.strip().splitlines()[-1].startswith("subprocess.CalledProcessError: Command '["))
        res = self.trl(*big, "--loss_type", "cross_entropy", env=env)
        self.assertIn("ValueError: Invalid `loss_type` cross_entropy passed. Supported values are 'nll', "
                      "'chunked_nll' and 'dft'.", res.stderr)

    def test_sft_activation_offloading(self):
        # 72 x 200 MiB of bf16 activations without checkpointing + 8 GiB; offloaded, a quarter of them
        big = ("sft", "--dataset_name", "d", "--max_steps", "2", "--per_device_train_batch_size", "72",
               "--gradient_checkpointing", "false")
        res = self.trl(*big)
        self.assertEqual(res.returncode, 1)
        self.assertIn(TORCH_OOM, res.stderr)
        for flag in (("--activation_offloading",), ("--activation_offloading", "true")):
            res = self.trl(*big, *flag)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(done_line(res.stdout)["checkpointing"], "false")
        # an SFTConfig field: DPO's parser does not know it, so it goes to accelerate
        res = self.trl("dpo", "--dataset_name", "d", "--max_steps", "2", "--activation_offloading", "true")
        self.assertEqual(res.returncode, 2)
        self.assertIn("Accelerate launch command: error: unrecognized arguments: --activation_offloading", res.stderr)

    def test_eval_accumulation_steps(self):
        env = {"SIMGPU_EVAL_PREDS": "30GiB"}  # two eval batches of 15 GiB of predictions each
        for command in ("sft", "dpo"):
            evals = (command, "--dataset_name", "d", "--max_steps", "2", "--eval_strategy", "steps",
                     "--eval_steps", "2")
            for extra in ((), ("--per_device_eval_batch_size", "1")):
                res = self.trl(*evals, *extra, env=env)
                self.assertEqual(res.returncode, 1, command)
                self.assertIn(TORCH_OOM + "17.25 GiB", res.stderr)
            res = self.trl(*evals, "--eval_accumulation_steps", "1", env=env)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("eval after step 2: ", res.stdout)

    def test_oom_on_two_ranks_is_a_child_failed_error(self):
        res = self.trl("sft", "--dataset_name", "d", "--num_processes", "2", "--per_device_train_batch_size", "128",
                       "--gradient_checkpointing", "false")
        self.assertEqual(res.returncode, 1)
        self.assertIn(TORCH_OOM, res.stderr)
        self.assertIn("torch.distributed.elastic.multiprocessing.errors.ChildFailedError", res.stderr)
        self.assertIn("trl_sft.py FAILED", res.stderr)
        self.assertNotIn("simlaunch.py", res.stderr)


class TestTrlCheckpoints(TrlTest):
    def test_checkpoints_and_resume_from_checkpoint_is_ignored(self):
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "4", "--save_steps", "2")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = os.path.join(self.dir, "trainer_output")
        for step in (2, 4):
            with open(os.path.join(out, "checkpoint-%d" % step, "trainer_state.json")) as f:
                self.assertEqual(json.load(f)["global_step"], step)
        self.assertTrue(os.path.isfile(os.path.join(out, "README.md")))  # SFTTrainer's model card
        # TRL's scripts call trainer.train() without resume_from_checkpoint: the flag parses, nothing resumes
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "4", "--save_steps", "2",
                       "--resume_from_checkpoint", os.path.join(out, "checkpoint-2"))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotIn("resumed at step", res.stdout)
        self.assertEqual(steps(res.stdout), [1, 2, 3, 4])

    def test_output_dir(self):
        res = self.trl("sft", "--dataset_name", "d", "--max_steps", "2", "--save_steps", "2", "--output_dir", "runs/a")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Model saved to runs/a.", res.stdout)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "runs", "a", "checkpoint-2", "trainer_state.json")))


if __name__ == "__main__":
    unittest.main()
