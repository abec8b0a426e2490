"""torchtitan v0.2.2 (pkgs/torchtitan, pkgs/run_train.sh): TOML and overrides, the derived accumulation, errors."""

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, done_line, run  # noqa: E402

PKGS = os.path.join(HERE, "pkgs")
DEBUG = os.path.join(PKGS, "torchtitan", "models", "llama3", "train_configs", "debug_model.toml")
BIN_FIRST = {"PATH": os.path.join(HERE, "bin") + os.pathsep + os.environ.get("PATH", "")}
TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "

import simgpu_src_torchtitan_frames as frames  # noqa: E402


def titan(*args, nproc="1", env=None, cwd=None, config=DEBUG):
    """torchrun --nproc_per_node N -m torchtitan.train --job.config_file CONFIG ARGS, with pkgs on PYTHONPATH."""
    extra = dict(env or {}, PYTHONPATH=PKGS)
    head = ["--nproc_per_node", nproc, "-m", "torchtitan.train"] + (["--job.config_file", config] if config else [])
    return run("bin/torchrun", *(head + list(args)), env=extra, cwd=cwd)


class Case(unittest.TestCase):
    def done(self, proc, **fields):
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        done = done_line(proc.stdout)
        for key, value in fields.items():
            self.assertEqual(done[key], str(value), key)
        return done

    def fails(self, proc, text):
        self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
        self.assertIn(text, proc.stderr)
        self.assertNotIn("done:", proc.stdout)

    def tmp(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        return folder


class RunTrainTest(Case):
    def test_run_train_sh(self):
        env = dict(BIN_FIRST, NGPU="1", CONFIG_FILE=DEBUG)
        proc = run("pkgs/run_train.sh", "--training.local_batch_size", "4", env=env, cwd=self.tmp(), python=False)
        self.done(proc, micro=4, accum=1, effective=4, precision="bf16", checkpointing="true", optimizer="AdamW")
        self.assertIn("+ torchrun --nproc_per_node=1 --rdzv_backend c10d --rdzv_endpoint=localhost:0 "
                      "--local-ranks-filter 0 --role rank --tee 3 -m torchtitan.train --job.config_file %s "
                      "--training.local_batch_size 4" % DEBUG, proc.stderr)
        self.assertEqual(re.findall(r"^step (\d+)/10 loss", proc.stdout, re.M), [str(i) for i in range(1, 11)])
        self.assertRegex(proc.stderr, r"\[titan\] [\d-]+ [\d:,]+ - root - INFO - Trainer is initialized with local "
                                      r"batch size 4, global batch size 4, gradient accumulation steps 1, sequence "
                                      r"length 2048, total steps 10 \(warmup 2\)")
        self.assertIn("INFO - Applied selective activation checkpointing to the model", proc.stderr)
        # run_train.sh sets PYTORCH_ALLOC_CONF: less allocator waste than a bare torchrun
        bare = self.done(titan("--training.local_batch_size", "4"))
        self.assertLess(int(done_line(proc.stdout)["peak"]), int(bare["peak"]))

    def test_module_needs_torchrun(self):
        proc = run("pkgs/torchtitan/train.py", "--job.config_file", DEBUG, env={"PYTHONPATH": PKGS})
        self.fails(proc, "KeyError: 'LOCAL_RANK'")
        self.assertNotIn("simgpu_src", proc.stderr)


class BatchTest(Case):
    def test_accumulation_is_derived(self):
        self.done(titan(), micro=8, accum=1, effective=8)
        self.done(titan("--training.local_batch_size", "4", "--training.global_batch_size=16"),
                  micro=4, accum=4, effective=16)
        self.done(titan("--training.local-batch-size=4", "--training.global-batch-size", "32", nproc="2",
                        env={"SIMGPU_COUNT": "2"}), micro=4, accum=4, effective=32)

    def test_divisibility(self):
        self.fails(titan("--training.local_batch_size", "3", "--training.global_batch_size", "16"),
                   "AssertionError: global batch size must be multiple of local batch size times data-parallel "
                   "degree (16 % (3 * 1) != 0)")
        self.fails(titan("--parallelism.data_parallel_shard_degree", "2"),
                   "AssertionError: Invalid parallel dims: dp_replicate(1) * dp_shard(2) * cp(1) * tp(1) * pp(1) != "
                   "WORLD_SIZE(1)")

    def test_oom_then_fit_at_the_same_global_batch(self):
        proc = titan("--training.local_batch_size", "128")
        self.fails(proc, TORCH_OOM)
        self.assertIn('torchtitan/train.py", line', proc.stderr)
        self.assertIn("torchtitan.train FAILED", proc.stderr)
        self.done(titan("--training.local_batch_size", "32", "--training.global_batch_size", "128"),
                  micro=32, accum=4, effective=128)


class OptionsTest(Case):
    def test_unknown_option(self):
        proc = titan("--training.local_batch_sz", "4")
        self.fails(proc, "Unrecognized options: --training.local_batch_sz")
        self.assertIn("\u2570", proc.stderr)
        self.assertIn("Perhaps you meant:", proc.stderr)
        self.assertIn("--training.local-batch-size INT", proc.stderr)
        self.assertIn("exitcode  : 2", proc.stderr)

    def test_bool_flags(self):
        self.done(titan("--training.enable_cpu_offload"), optimizer="AdamW+cpu_offload")
        self.done(titan("--training.enable-cpu-offload", "--training.no-enable-cpu-offload"), optimizer="AdamW")
        self.fails(titan("--training.enable_cpu_offload", "true"), "Unrecognized arguments: true")
        self.fails(titan("--training.enable_cpu_offload=true"), "ignored explicit argument 'true'")

    def test_choices_and_toml_errors(self):
        self.fails(titan("--activation_checkpoint.mode", "most"),
                   "invalid choice: 'most' (choose from 'selective', 'full', 'memory_budget', 'none')")
        tmp = self.tmp()
        bad = os.path.join(tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write("[training]\nlocal_batch_size = 2\nbogus = 1\n")
        self.fails(titan(config=bad), "ValueError: Invalid field names in <class "
                   "'torchtitan.config.job_config.Training'> data: {'bogus'}.")
        self.fails(titan(config=os.path.join(tmp, "missing.toml")), "Error while loading config file: ")

    def test_memory_knobs(self):
        def peak(*args):
            return int(self.done(titan("--training.local_batch_size", "16", *args))["peak"])
        none, selective, full = (peak("--activation_checkpoint.mode", m) for m in ("none", "selective", "full"))
        self.assertGreater(none, selective)
        self.assertGreater(selective, full)
        self.assertGreater(peak("--training.mixed_precision_param", "float32"), selective)
        self.assertGreater(peak("--training.seq_len", "4096"), selective)
        self.assertLess(peak("--training.enable_cpu_offload"), selective)
        self.fails(titan("--activation_checkpoint.mode", "memory_budget"),
                   "AssertionError: Memory budget mode requires model to be compiled")

    def test_validation(self):
        proc = titan("--validation.enabled", "--validation.local_batch_size", "2", "--validation.freq", "5")
        self.done(proc)
        self.assertEqual(re.findall(r"^eval after step (\d+):", proc.stdout, re.M), ["5", "10"])


class CheckpointTest(Case):
    def test_resume_from_the_newest_step(self):
        cwd = self.tmp()
        args = ("--checkpoint.enable", "--checkpoint.interval", "4")
        self.fails(titan(*args, "--sim-long-batch", "6:40", cwd=cwd), TORCH_OOM)
        folder = os.path.join(cwd, "outputs", "checkpoint")
        self.assertEqual(sorted(os.listdir(folder)), ["step-4"])
        proc = titan(*args, cwd=cwd)
        self.done(proc)
        self.assertEqual(proc.stdout.splitlines()[0], "resumed at step 4 of 10")
        self.assertIn("Loading the checkpoint from ./outputs/checkpoint/step-4.", proc.stderr)
        self.assertEqual(sorted(os.listdir(folder)), ["step-10", "step-4", "step-8"])


class TomlTest(unittest.TestCase):
    def test_fallback_reader_matches_tomllib(self):
        try:
            import tomllib
        except ImportError:
            tomllib = None
        for name in ("debug_model.toml", "llama3_8b.toml"):
            path = os.path.join(os.path.dirname(DEBUG), name)
            with open(path, "rb") as f:
                data = f.read()
            ours = frames.toml_loads(data.decode())
            self.assertEqual(ours["training"]["local_batch_size"], 8 if name == "debug_model.toml" else 1)
            self.assertEqual(ours["compile"]["components"], ["model", "loss"])
            if tomllib is not None:
                self.assertEqual(ours, tomllib.loads(data.decode()))
        with self.assertRaises(frames.TOMLDecodeError):
            frames.toml_loads("[training\n")


if __name__ == "__main__":
    unittest.main()
