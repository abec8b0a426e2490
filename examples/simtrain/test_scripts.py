"""The entry scripts, run for real: what fits, what fails and how, per the memory model."""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import TORCH2, GiB, done_line, run, script_path, size  # noqa: E402

LOW_WASTE = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}
TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "


def frames(stderr):
    """The function names of the traceback's frames, in order."""
    return re.findall(r'^\s*File "[^"]+", line \d+, in (\S+)$', stderr, re.M)


class Case(unittest.TestCase):
    def assert_oom(self, proc, text=TORCH_OOM):
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertIn(text, proc.stderr)
        self.assertNotIn("done:", proc.stdout)

    def assert_done(self, proc, **fields):
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        done = done_line(proc.stdout)
        for key, value in fields.items():
            self.assertEqual(done[key], str(value), key)
        return done


class DemoTest(Case):
    """README demo: fails in fp32, with the allocator fix, with mixed precision, with every non-batch fix."""

    def test_the_path_to_a_fit(self):
        self.assert_oom(run("train.py", "--batch-size", "256"))
        self.assert_oom(run("train.py", "--batch-size", "256", env=LOW_WASTE))
        self.assert_oom(run("train.py", "--batch-size", "256", "--amp", "--amp-dtype", "bfloat16", env=LOW_WASTE))
        self.assert_oom(run("train.py", "--batch-size", "256", "--amp", "--amp-dtype", "bfloat16",
                            "--grad-checkpointing", env=LOW_WASTE))
        self.assert_oom(run("train.py", "-b", "128", "--grad-accum-steps", "2", "--amp", "--amp-dtype", "bfloat16",
                            env=LOW_WASTE))
        proc = run("train.py", "-b", "64", "--grad-accum-steps", "4", "--amp", "--amp-dtype", "bfloat16", env=LOW_WASTE)
        done = self.assert_done(proc, micro=64, accum=4, effective=256, precision="bf16", checkpointing="false")
        self.assertLessEqual(int(done["peak"]), 24 * GiB)
        self.assertEqual(re.findall(r"^step (\d+)/20 loss", proc.stdout, re.M), [str(i) for i in range(1, 21)])

    def test_oom_figures_are_consistent(self):
        proc = run("train.py", "-b", "256", env={"SIMGPU_OTHER": "4242:1GiB"})
        match = TORCH2.search(proc.stderr)
        self.assertIsNotNone(match, proc.stderr[-1500:])
        fig = match.groupdict()
        self.assertEqual(fig["procs"], "Process 4242 has 1024.00 MiB memory in use. ")
        self.assertGreater(size(fig["tried"]), size(fig["free"]))
        total = size(fig["allocated"]) + size(fig["reserved"]) + size(fig["free"]) + GiB
        self.assertAlmostEqual(total, size(fig["capacity"]), delta=0.02 * GiB)
        self.assertAlmostEqual(size(fig["self"]), size(fig["allocated"]) + size(fig["reserved"]), delta=0.01 * GiB)
        self.assertIn("fragmentation.  See documentation for Memory Management  (https://", proc.stderr)
        self.assertIn("training_step", frames(proc.stderr))
        self.assertIn("forward", frames(proc.stderr))
        self.assertNotIn("simgpu", proc.stderr.replace("simgpu.train(", ""))

    def test_streams_stay_apart(self):
        proc = run("train.py", "-b", "8", "--steps", "3")
        steps = [line for line in proc.stdout.splitlines() if not line.startswith("Train: ")]  # timm's lines
        self.assertEqual(steps[:3], ["step 1/3 loss 2.640", "step 2/3 loss 2.493",
                                                        "step 3/3 loss 2.358"])
        self.assertNotIn("\r", proc.stdout)
        self.assertTrue(proc.stderr.startswith("\rtrain:   0%|          | 0/3 ["), proc.stderr)
        self.assertIn("\rtrain: 100%|##########| 3/3 [", proc.stderr)
        self.assertTrue(proc.stderr.endswith("]\n"))

    def test_other_formats_and_bad_flags(self):
        self.assert_oom(run("train.py", "--sim-format", "pytorch-1x"), "\nRuntimeError: CUDA out of memory. Tried to")
        self.assert_oom(run("train.py", "--sim-format", "cuda-error"), "\nRuntimeError: CUDA error: out of memory\n")
        self.assert_oom(run("train.py", env={"SIMTRAIN_FORMAT": "pytorch-async"}),
                        "torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of memory)")
        proc = run("train.py", "-b", "0")
        self.assertEqual((proc.returncode, proc.stdout), (2, ""))
        self.assertIn("argument -b/--batch-size: must be at least 1", proc.stderr)
        proc = run("train.py", env={"SIMGPU_CAPACITY": "huge"})
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.strip().splitlines()[-1], "simtrain: SIMGPU_CAPACITY: cannot read size 'huge' "
                                                               "(use e.g. 24GiB, 24000MiB or a byte count)")

    def test_eval_oom_goes_through_validate(self):
        proc = run("train.py", "-b", "8", "-vb", "256", "--eval-every", "2")
        self.assert_oom(proc)
        self.assertIn("step 2/20 loss", proc.stdout)
        self.assertIn("validate", frames(proc.stderr))
        self.assertNotIn("training_step", frames(proc.stderr))

    def test_runs_from_another_directory_and_alias(self):
        proc = run("train.py", "--batch_size", "4", "--steps", "2", cwd=tempfile.gettempdir())
        self.assert_done(proc, micro=4, effective=4)


class TransformersTest(Case):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def ds(self, config):
        path = os.path.join(self.tmp, "ds.json")
        with open(path, "w") as handle:
            json.dump(config, handle)
        return path

    def clm(self, *args, env=None):
        return run("run_clm.py", "--output_dir", self.tmp, "--do_train", "--max_steps", "3", *args, env=env)

    def test_fits_and_fails(self):
        self.assert_done(self.clm(), micro=8, accum=1, effective=8, precision="fp32", optimizer="adamw_torch")
        proc = self.clm("--per-device-train-batch-size", "64", "--gradient_accumulation_steps", "2")
        self.assert_oom(proc)
        self.assertIn("training_step", frames(proc.stderr))
        proc = self.clm("--per_device_train_batch_size", "64", "--bf16", "--gradient_checkpointing", "True")
        self.assert_done(proc, micro=64, precision="bf16", checkpointing="true")

    def test_eval_oom_frames(self):
        proc = self.clm("--per_device_eval_batch_size", "64", "--eval_strategy", "steps", "--eval_steps", "2")
        self.assert_oom(proc)
        names = frames(proc.stderr)
        for name in ("evaluate", "evaluation_loop", "prediction_step"):
            self.assertIn(name, names)
        self.assertNotIn("training_step", names)

    def test_optimizers(self):
        self.assert_done(self.clm("--per_device_train_batch_size", "36", "--optim", "adafactor"), optimizer="adafactor")
        self.assert_oom(self.clm("--per_device_train_batch_size", "36"))
        proc = self.clm("--optim", "adamw_bnb_8bit")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"\nImportError: .*bitsandbytes is not installed")
        with open(os.path.join(self.tmp, "bitsandbytes.py"), "w") as handle:
            handle.write("# a stand-in module\n")
        proc = self.clm("--per_device_train_batch_size", "36", "--optim", "adamw_bnb_8bit", env={"PYTHONPATH": self.tmp})
        self.assert_done(proc, optimizer="adamw_bnb_8bit")

    def test_unknown_arguments_and_json_mode(self):
        proc = self.clm("--frobnicate", "1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: Some specified arguments are not used by the HfArgumentParser: ['--frobnicate', '1']",
                      proc.stderr)
        path = os.path.join(self.tmp, "args.json")
        with open(path, "w") as handle:
            json.dump({"output_dir": self.tmp, "do_train": True, "max_steps": 2, "per_device_train_batch_size": 4,
                       "gradient_accumulation_steps": 3, "bf16": True}, handle)
        self.assert_done(run("run_clm.py", path), micro=4, accum=3, effective=12, precision="bf16")
        with open(path, "w") as handle:
            json.dump({"output_dir": self.tmp, "colour": "blue"}, handle)
        proc = run("run_clm.py", path)
        self.assertIn("ValueError: Some keys are not used by the HfArgumentParser: ['colour']", proc.stderr)

    def test_deepspeed_rules(self):
        auto = {"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                "train_batch_size": "auto", "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}}}
        proc = self.clm("--per_device_train_batch_size", "32", "--deepspeed", self.ds(auto))
        self.assert_done(proc, micro=32, optimizer="adamw_torch+cpu_offload")
        proc = self.clm("--per_device_train_batch_size", "8", "--deepspeed",
                        self.ds({"train_micro_batch_size_per_gpu": 16, "gradient_accumulation_steps": 2,
                                 "train_batch_size": 64}))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("AssertionError: Check batch related parameters. train_batch_size is not equal to "
                      "micro_batch_per_gpu * gradient_acc_step * world_size 64 != 16 * 2 * 1", proc.stderr)
        proc = self.clm("--deepspeed", self.ds({"train_micro_batch_size_per_gpu": 16, "bf16": {"enabled": True}}))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: Please correct the following DeepSpeed config values that mismatch "
                      "TrainingArguments values:\n- ds train_micro_batch_size_per_gpu=16 vs hf "
                      "per_device_train_batch_size=8\n- ds bf16.enabled=True vs hf bf16|bf16_full_eval=False\n",
                      proc.stderr)
        consistent = {"train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 2, "train_batch_size": 16}
        proc = self.clm("--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2",
                        "--deepspeed", self.ds(consistent), env={"WORLD_SIZE": "2"})
        self.assert_done(proc, micro=4, accum=2, effective=16)

    def test_accelerate_mixed_precision_env(self):
        self.assert_done(self.clm(env={"ACCELERATE_MIXED_PRECISION": "bf16"}), precision="bf16")
        self.assert_done(self.clm("--fp16", env={"ACCELERATE_MIXED_PRECISION": "bf16"}), precision="fp16")

    def fake_liger(self):
        """A folder for PYTHONPATH with an empty liger_kernel package (the sim only needs it to import)."""
        folder = os.path.join(self.tmp, "site")
        os.makedirs(os.path.join(folder, "liger_kernel"), exist_ok=True)
        open(os.path.join(folder, "liger_kernel", "__init__.py"), "w").close()
        return folder

    def test_use_liger_kernel_fuses_the_loss(self):
        # 96 x 200 MiB of bf16 activations, 80 % of them logits: 8 + 18.75 GiB without Liger, 8 + 5.6 with
        big = ("--per_device_train_batch_size", "96", "--bf16")
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        self.assert_oom(self.clm(*big, env=env))
        fused = self.assert_done(self.clm(*big, "--use_liger_kernel", env=dict(env, PYTHONPATH=self.fake_liger())),
                                 micro=96, precision="bf16", checkpointing="false")
        self.assertLessEqual(int(fused["peak"]), 16 * GiB)
        # without the package: transformers' Trainer refuses, before any step
        proc = self.clm(*big, "--use_liger_kernel", "true", env=env)
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertTrue(proc.stderr.endswith(
            "\nImportError: You have set `use_liger_kernel` to `True` but liger-kernel >= 0.3.0 is not available. "
            "Please install it with `pip install liger-kernel`\n"), proc.stderr[-1000:])
        self.assertIn('transformers/trainer.py", line', proc.stderr)
        self.assertNotIn("step 1/", proc.stdout)
        self.assertNotIn("done:", proc.stdout)

    def test_eval_accumulation_steps_releases_the_predictions(self):
        # 30 GiB of predictions over the 2 eval batches: all held until the evaluation ends unless
        # eval_accumulation_steps moves them to the CPU; a smaller eval batch holds just as many
        evals = ("--do_eval", "--bf16", "--eval_strategy", "steps", "--eval_steps", "2")
        env = {"SIMGPU_EVAL_PREDS": "30GiB"}
        self.assert_done(self.clm(*evals))
        for extra in ((), ("--per_device_eval_batch_size", "1")):
            proc = self.clm(*evals, *extra, env=env)
            self.assert_oom(proc)
            self.assertIn("evaluation_loop", frames(proc.stderr))
            self.assertIn("Tried to allocate 17.25 GiB", proc.stderr)  # the second batch's 15 GiB, + 15 %
        proc = self.clm(*evals, "--eval_accumulation_steps", "1", env=env)
        done = self.assert_done(proc, micro=8, accum=1)
        self.assertEqual(re.findall(r"^eval after step (\d+)", proc.stdout, re.M), ["2", "3"])  # and --do_eval
        self.assertLessEqual(int(done["peak"]), 24 * GiB)
        # eval_accumulation_steps 2 (both batches) is the same as unset
        self.assert_oom(self.clm(*evals, "--eval_accumulation_steps", "2", env=env))


class LightningTest(Case):
    def test_config_and_overrides(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        cfg = os.path.join(tmp, "cfg.yaml")
        with open(cfg, "w") as handle:
            handle.write("# run config\ntrainer:\n  precision: bf16-mixed\n  max_steps: 3  # short\n"
                         "  accumulate_grad_batches: 2\nmodel:\n  learning_rate: 0.01\ndata:\n  batch_size: 64\n")
        self.assert_done(run("lightning_main.py", "fit", "--config", cfg),
                         micro=64, accum=2, effective=128, precision="bf16")
        proc = run("lightning_main.py", "fit", "-c", cfg, "--data.batch_size=32", "--trainer.precision", "32-true")
        self.assert_done(proc, micro=32, precision="fp32")
        proc = run("lightning_main.py", "fit", "--data.batch_size=32", "-c", cfg)
        self.assert_done(proc, micro=64, precision="bf16")

    def test_training_and_validation_ooms(self):
        proc = run("lightning_main.py", "fit", "--data.batch_size", "128", "--trainer.max_steps", "3")
        self.assert_oom(proc)
        self.assertIn("training_step", frames(proc.stderr))
        bf16_80 = ("fit", "--data.batch_size", "80", "--trainer.max_steps", "3", "--trainer.precision", "bf16-mixed")
        self.assert_oom(run("lightning_main.py", *bf16_80))
        # DeepSpeed's strategies need DeepSpeed installed, as in Lightning
        # (its package metadata): a stand-in package, or the real refusal;
        # a module alone with no metadata is refused too.
        with tempfile.TemporaryDirectory() as site:
            open(os.path.join(site, "deepspeed.py"), "w").close()
            proc = run("lightning_main.py", *bf16_80, "--trainer.strategy", "deepspeed_stage_2_offload",
                       env={"PYTHONPATH": site})
            self.assertIn("you must have DeepSpeed installed", proc.stderr)
            os.mkdir(os.path.join(site, "deepspeed-0.14.0.dist-info"))
            with open(os.path.join(site, "deepspeed-0.14.0.dist-info", "METADATA"), "w") as f:
                f.write("Metadata-Version: 2.1\nName: deepspeed\nVersion: 0.14.0\n")
            proc = run("lightning_main.py", *bf16_80, "--trainer.strategy", "deepspeed_stage_2_offload",
                       env={"PYTHONPATH": site})
        self.assert_done(proc, optimizer="adamw+cpu_offload")
        proc = run("lightning_main.py", *bf16_80, "--trainer.strategy", "deepspeed_stage_2_offload")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("MisconfigurationException: To use the `DeepSpeedStrategy`, you must have DeepSpeed installed.",
                      proc.stderr)
        proc = run("lightning_main.py", "fit", "--data.val_batch_size", "64", "--trainer.val_check_interval", "2",
                   "--trainer.max_steps", "3")
        self.assert_oom(proc)
        self.assertIn("validation_step", frames(proc.stderr))
        self.assertNotIn("training_step", frames(proc.stderr))

    def test_bad_input(self):
        for args, text in ((["fit", "--trainer.precision", "17"], "Key 'trainer.precision'"),
                           (["fit", "--trainer.bogus", "1"], "unrecognized key 'trainer.bogus'"),
                           (["--trainer.max_steps", "2"], 'expected "subcommand"'),
                           (["fit", "-c", "/no/such.yaml"], "/no/such.yaml: cannot read")):
            proc = run("lightning_main.py", *args)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn(text, proc.stderr)


class OtherFrameworksTest(Case):
    def test_keras(self):
        proc = run("keras_train.py")
        self.assert_oom(proc, "tensorflow.python.framework.errors_impl.ResourceExhaustedError: Graph execution error:")
        self.assertRegex(proc.stderr, r"W \S+bfc_allocator\.cc:\d+\] Allocator \(GPU_0_bfc\) ran out of memory trying "
                                      r"to allocate 3\.12GiB \(rounded to 3355443200\) from the lower end requested by op")
        self.assertIn("\nOOM when allocating tensor with shape[256,3276800] and type float on "
                      "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc\n", proc.stderr)
        self.assert_done(run("keras_train.py", "--batch-size", "32", "--steps", "2", "--epochs", "2",
                             env={"TF_GPU_ALLOCATOR": "cuda_malloc_async"}), micro=32, effective=32, optimizer="adam")
        proc = run("keras_train.py", "--batch_size", "8", "--steps", "2", "--validation_steps", "1",
                   "--validation_batch_size", "256")
        self.assert_oom(proc, "ResourceExhaustedError")
        self.assertRegex(proc.stderr, r"\n {4}File \"[^\"]+training\.py\", line \d+, in evaluate\n")
        self.assertIn("[Op:__inference_test_function_", proc.stderr)
        proc = run("keras_train.py", "--batch_size", "8", "--steps", "1", "--predict", "--validation_batch_size", "256")
        self.assertRegex(proc.stderr, r"in predict\n")

    def test_jax_fraction(self):
        proc = run("jax_train.py", "--batch_size", "32", "--steps", "2")
        self.assert_oom(proc, "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while "
                              "trying to allocate ")
        self.assertRegex(proc.stderr, r"allocate \d+ bytes\.\n")
        proc = run("jax_train.py", "--batch_size", "32", "--steps", "2",
                   env={"XLA_PYTHON_CLIENT_MEM_FRACTION": ".95", "XLA_CLIENT_MEM_FRACTION": ".95"})
        self.assert_done(proc, micro=32, precision="fp32")
        proc = run("jax_train.py", "--batch_size", "8", "--eval_every", "1", "--eval_batch_size", "256")
        self.assert_oom(proc, "RESOURCE_EXHAUSTED")
        self.assertIn("evaluate", frames(proc.stderr))

    def test_nanogpt(self):
        # nanoGPT makes its out_dir in the working directory: run it in a temporary one
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        proc = run("nanogpt/train.py", script_path("nanogpt/config/train_small.py"), "--batch_size=4",
                   "--max_iters=2", cwd=tmp)
        self.assert_done(proc, micro=4, accum=8, effective=32)
        proc = run(os.path.join("nanogpt", "train.py"), "config/train_small.py", "--dtype='bfloat16'",
                   "--max_iters=2", cwd=tmp, env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
        self.assert_done(proc, micro=16, accum=4, effective=128, precision="bf16")
        self.assert_oom(run("nanogpt/train.py", "--batch_size=64", "--max_iters=2", cwd=tmp))
        self.assertEqual(sorted(os.listdir(tmp)), ["out", "out-small"])
        for args, text in ((["--batch_size", "8"], "AssertionError"), (["--batch_size=8.0"], "AssertionError"),
                           (["--nope=1"], "ValueError: Unknown config key: nope")):
            proc = run("nanogpt/train.py", *args, cwd=tmp)
            self.assertEqual(proc.returncode, 1, args)
            self.assertEqual(proc.stderr.strip().splitlines()[-1], text)

    def test_in_house_scripts(self):
        self.assert_oom(run("mytrainer.py"))
        self.assert_done(run("mytrainer.py", "--mb", "16", "--accum-steps", "4", "--half", "--steps", "2"),
                         micro=16, accum=4, effective=64, precision="fp16")
        self.assert_oom(run("custom_train.py"))
        proc = run("custom_train.py", "--bsz", "32", "--accum", "4", "--ckpt", "--amp", "--amp-dtype", "bf16",
                   "--optim", "adamw8bit", "--offload", "--steps", "2", "--eval-every", "1", "--eval-bsz", "8")
        self.assert_done(proc, micro=32, accum=4, effective=128, precision="bf16", checkpointing="true",
                         optimizer="adamw8bit+cpu_offload")
        self.assertEqual(proc.stdout.count("eval after step"), 2)


if __name__ == "__main__":
    unittest.main()
