"""Checkpoints, resuming and a late OOM: the layouts the frameworks write, their resume flags and lines,
--sim-long-batch, and the HF version trap. Every job runs in a temporary folder."""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_frames  # noqa: E402
from simtest_util import done_line, run, script_path  # noqa: E402

TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
# Logs the files a job opens for writing and its renames, in order, to $SIMTEST_WRITES.
SITECUSTOMIZE = '''
import builtins, os
_log, _open, _replace = os.environ.get("SIMTEST_WRITES"), builtins.open, os.replace
def _note(text):
    if _log:
        with _open(_log, "a") as f:
            f.write(text + "\\n")
def open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
        _note("open " + os.path.abspath(file))
    return _open(file, mode, *args, **kwargs)
def replace(src, dst, *args, **kwargs):
    _note("replace %s %s" % (os.path.abspath(src), os.path.abspath(dst)))
    return _replace(src, dst, *args, **kwargs)
builtins.open, os.replace = open, replace
'''


def steps(stdout):
    """The (i, N) of the 'step i/N' lines."""
    return [(int(i), int(n)) for i, n in re.findall(r"^step (\d+)/(\d+) loss", stdout, re.M)]


class Case(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def job(self, name, *args, env=None, cwd=None):
        return run(name, *args, env=env, cwd=cwd or self.tmp)

    def assert_done(self, proc, **fields):
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        done = done_line(proc.stdout)
        for key, value in fields.items():
            self.assertEqual(done[key], str(value), key)
        return done

    def assert_oom_at(self, proc, step, text=TORCH_OOM):
        self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
        self.assertIn(text, proc.stderr)
        self.assertNotIn("done:", proc.stdout)
        resumed = re.findall(r"^resumed at step (\d+) of", proc.stdout, re.M)
        last = steps(proc.stdout)[-1][0] if steps(proc.stdout) else int(resumed[0]) if resumed else 0
        self.assertEqual(last, step - 1, proc.stdout)

    def assert_resumed(self, proc, at, total):
        lines = proc.stdout.splitlines()
        self.assertIn("resumed at step %d of %d" % (at, total), lines)
        self.assertEqual(lines.count("resumed at step %d of %d" % (at, total)), 1)
        first_step = next(i for i, line in enumerate(lines) if line.startswith("step "))
        self.assertLess(lines.index("resumed at step %d of %d" % (at, total)), first_step)
        self.assertEqual(steps(proc.stdout), [(i, total) for i in range(at + 1, total + 1)])

    def fake_transformers(self, version):
        site = self.path("site-" + version)
        os.makedirs(os.path.join(site, "transformers"))
        with open(os.path.join(site, "transformers", "__init__.py"), "w") as handle:
            handle.write("__version__ = %r\n" % version)
        return site

    def write_log(self):
        """(env, read): run a job with env to log its writes; read() gives them as (op, path...) tuples."""
        site = self.path("site-log")
        os.makedirs(site, exist_ok=True)
        with open(os.path.join(site, "sitecustomize.py"), "w") as handle:
            handle.write(SITECUSTOMIZE)
        log = self.path("writes.log")
        env = {"PYTHONPATH": site, "SIMTEST_WRITES": log}

        def read():
            with open(log) as handle:
                return [tuple(line.split()) for line in handle.read().splitlines()]

        return env, read


class LongBatchTest(Case):
    def test_oom_at_step_k_and_fit_with_smaller_micro_batch(self):
        self.assert_done(self.job("train.py", "-b", "32", "--steps", "5"))
        proc = self.job("train.py", "-b", "32", "--steps", "5", "--sim-long-batch", "3:1.5")
        self.assert_oom_at(proc, 3)
        self.assertIn("training_step", proc.stderr)
        self.assert_oom_at(self.job("train.py", "-b", "32", "--steps", "5", env={"SIMTRAIN_LONG_BATCH": "3:1.5"}), 3)
        proc = self.job("train.py", "-b", "16", "--grad-accum-steps", "2", "--steps", "5", "--sim-long-batch", "3:1.5")
        done = self.assert_done(proc, micro=16, accum=2, effective=32)
        self.assertEqual(steps(proc.stdout), [(i, 5) for i in range(1, 6)])
        plain = done_line(self.job("train.py", "-b", "16", "--grad-accum-steps", "2", "--steps", "5").stdout)
        self.assertGreater(int(done["peak"]), int(plain["peak"]))
        # the memory model says the same
        long_32 = simgpu.estimate(simgpu.Job("t", micro_batch=32), env={}, act_scale=1.5)
        long_16 = simgpu.estimate(simgpu.Job("t", micro_batch=16, accumulation=2), env={}, act_scale=1.5)
        self.assertEqual((long_32["train_fits"], long_16["train_fits"]), (False, True))
        # a step after the run's end never comes
        self.assert_done(self.job("train.py", "-b", "32", "--steps", "5", "--sim-long-batch", "6:4"))

    def test_every_script_fails_with_its_usual_text(self):
        cases = [
            (["run_clm.py", "--output_dir", "out", "--do_train", "--max_steps", "5"], TORCH_OOM),
            (["lightning_main.py", "fit", "--trainer.max_steps", "5"], TORCH_OOM),
            (["nanogpt/train.py", "--max_iters=5"], TORCH_OOM),
            (["mytrainer.py", "--mb", "16", "--steps", "5"], TORCH_OOM),
            (["keras_train.py", "--batch_size", "32", "--steps", "5"], "ResourceExhaustedError"),
            (["jax_train.py", "--batch_size", "16", "--steps", "5"], "RESOURCE_EXHAUSTED: Out of memory"),
        ]
        for args, text in cases:
            self.assert_done(self.job(*args))
            self.assert_oom_at(self.job(*args, "--sim-long-batch", "3:6"), 3, text)

    def test_bad_values(self):
        for value in ("3:1", "0:2", "3", "x:2", "3:", "3:abc", "-1:2", "2.5:2"):
            proc = self.job("train.py", "--sim-long-batch", value)
            self.assertEqual(proc.returncode, 2, value)
            self.assertEqual(proc.stderr.strip().splitlines(),
                             ["simtrain: --sim-long-batch: expected STEP:FACTOR, an optimizer step >= 1 and a "
                              "factor > 1 (e.g. 15:1.5), got %r" % value])
        proc = self.job("train.py", env={"SIMTRAIN_LONG_BATCH": "3:0.5"})
        self.assertEqual(proc.returncode, 2)
        self.assertIn("simtrain: SIMTRAIN_LONG_BATCH: expected STEP:FACTOR", proc.stderr)
        proc = self.job("train.py", "--sim-long-batch")
        self.assertEqual((proc.returncode, proc.stderr.strip()), (2, "simtrain: --sim-long-batch: expects a value"))


class HFTest(Case):
    def clm(self, *args, env=None):
        return self.job("run_clm.py", "--output_dir", "out", "--do_train", *args, env=env)

    def state(self, step):
        with open(self.path("out", "checkpoint-%d" % step, "trainer_state.json")) as handle:
            return json.load(handle)

    def test_saves_checkpoints(self):
        env, writes = self.write_log()
        proc = self.clm("--max_steps", "6", "--save_steps", "2", "--per_device_train_batch_size", "4",
                        "--gradient_accumulation_steps", "2", env=env)
        self.assert_done(proc)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["checkpoint-2", "checkpoint-4", "checkpoint-6"])
        for step in (2, 4, 6):
            folder = self.path("out", "checkpoint-%d" % step)
            self.assertEqual(sorted(os.listdir(folder)), ["model.safetensors", "optimizer.pt", "rng_state.pth",
                                                          "scheduler.pt", "trainer_state.json", "training_args.bin"])
            state = self.state(step)
            self.assertEqual((state["global_step"], state["max_steps"], state["train_batch_size"], state["log_history"]),
                             (step, 6, 4, []))
            self.assertAlmostEqual(state["epoch"], step / 6)
            with open(os.path.join(folder, "optimizer.pt")) as handle:
                self.assertEqual(json.load(handle), {"optimizer": "adamw_torch"})
            # trainer_state.json comes last
            written = [path for op, path in writes() if op == "open" and os.path.dirname(path) == folder]
            self.assertEqual(len(written), 6)
            self.assertEqual(os.path.basename(written[-1]), "trainer_state.json")
        # no checkpoint line on stdout; the done line stays last
        self.assertTrue(proc.stdout.splitlines()[-1].startswith("done: "))

    def test_limit_ratio_and_no(self):
        self.assert_done(self.clm("--max_steps", "7", "--save_steps", "2", "--save_total_limit", "2"))
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["checkpoint-4", "checkpoint-6"])
        shutil.rmtree(self.path("out"))
        self.assert_done(self.clm("--max_steps", "6", "--save_steps", "0.5"))
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["checkpoint-3", "checkpoint-6"])
        self.assertEqual(self.state(3)["save_steps"], 3)
        shutil.rmtree(self.path("out"))
        self.assert_done(self.clm("--max_steps", "6", "--save_steps", "2", "--save_strategy", "no"))
        self.assertFalse(os.path.exists(self.path("out")))
        self.assert_done(self.clm("--max_steps", "6", "--save_strategy", "epoch"))
        self.assertEqual(os.listdir(self.path("out")), ["checkpoint-6"])
        proc = self.clm("--max_steps", "6", "--save_steps", "2.5")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: --save_steps must be an integer if bigger than 1: 2.5", proc.stderr)
        # a deeper output_dir is created; other ranks write nothing
        proc = self.job("run_clm.py", "--output_dir", "a/b", "--do_train", "--max_steps", "2", "--save_steps", "2",
                        env={"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertFalse(os.path.exists(self.path("a")))
        self.assert_done(self.job("run_clm.py", "--output_dir", "a/b", "--do_train", "--max_steps", "2",
                                  "--save_steps", "2"))
        self.assertTrue(os.path.isfile(self.path("a", "b", "checkpoint-2", "trainer_state.json")))

    def test_resume(self):
        self.assert_done(self.clm("--max_steps", "6", "--save_steps", "2", "--gradient_accumulation_steps", "3"))
        checkpoint = os.path.join("out", "checkpoint-4")
        proc = self.clm("--max_steps", "6", "--save_steps", "2", "--gradient_accumulation_steps", "3",
                        "--resume_from_checkpoint", checkpoint)
        self.assert_done(proc, micro=8, accum=3, effective=24)
        self.assert_resumed(proc, 4, 6)
        lines = proc.stderr.splitlines()
        expected = ["  Continuing training from checkpoint, will skip to saved global_step",
                    "  Continuing training from epoch 0", "  Continuing training from global step 4",
                    "  Will skip the first 0 epochs then the first 12 batches in the first epoch."]
        start = lines.index(expected[0])
        self.assertEqual(lines[start:start + 4], expected)
        # it saves on: checkpoint-6 is this run's
        self.assertEqual(self.state(6)["global_step"], 6)
        proc = self.clm("--max_steps", "6", "--resume_from_checkpoint", checkpoint, "--ignore_data_skip")
        self.assert_resumed(proc, 4, 6)
        self.assertIn("  Continuing training from global step 4\n", proc.stderr)
        self.assertNotIn("Will skip", proc.stderr)
        # a rank other than 0 resumes silently
        proc = self.clm("--max_steps", "6", "--resume_from_checkpoint", checkpoint,
                        env={"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
        self.assertEqual((proc.returncode, proc.stdout), (0, ""), proc.stderr[-2000:])
        self.assertNotIn("Continuing", proc.stderr)

    def test_missing_or_incomplete_checkpoint(self):
        for path in ("out/checkpoint-9", "out/checkpoint-2"):
            os.makedirs(self.path("out", "checkpoint-2"), exist_ok=True)
            with open(self.path("out", "checkpoint-2", "model.safetensors"), "w") as handle:
                handle.write("x")  # no trainer_state.json: incomplete
            proc = self.clm("--max_steps", "6", "--resume_from_checkpoint", path)
            self.assertEqual(proc.returncode, 1)
            self.assertEqual(proc.stderr.strip().splitlines()[-1], "ValueError: Can't find a valid checkpoint at " + path)
            self.assertIn("in _load_from_checkpoint", proc.stderr)
            self.assertNotIn("resumed", proc.stdout)

    def test_version_trap(self):
        # a checkpoint at micro-batch 8; the resume halves it and doubles the accumulation
        self.assert_done(self.clm("--max_steps", "6", "--save_steps", "3"))
        resume = ("--max_steps", "6", "--save_steps", "3", "--per_device_train_batch_size", "4",
                  "--gradient_accumulation_steps", "2", "--resume_from_checkpoint", os.path.join("out", "checkpoint-3"))
        for version, micro in (("4.57.1", 8), ("5.1.0", 8), ("5.3.0", 4), ("5.2.0", 4), ("5.10.0", 4)):
            proc = self.clm(*resume, env={"PYTHONPATH": self.fake_transformers(version)})
            self.assert_done(proc, micro=micro, accum=2, effective=micro * 2)
            self.assert_resumed(proc, 3, 6)
            self.assertEqual(self.state(6)["train_batch_size"], micro, version)
            self.assertNotIn("train_batch_size", proc.stderr)
        # no transformers installed: 5.2.0's behaviour
        self.assert_done(self.clm(*resume), micro=4, accum=2, effective=8)

    def test_version_numbers(self):
        for version, old in (("4.57.1", True), ("5.1.0", True), ("5.1.9", True), ("5.2.0", False),
                             ("5.2.0.dev0", False), ("5.10.0", False), ("6", False), ("5", True), ("junk", True)):
            self.assertEqual(simgpu_frames.restores_train_batch_size(version), old, version)


class LightningTest(Case):
    CKPT = ("--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.every_n_train_steps=2",
            "--trainer.callbacks.save_last", "true")

    def fit(self, *args, env=None):
        return self.job("lightning_main.py", "fit", "--trainer.max_steps", "7", *args, env=env)

    def load(self, *parts):
        with open(self.path(*parts)) as handle:
            return json.load(handle)

    def test_saves_in_version_folders(self):
        env, writes = self.write_log()
        proc = self.fit(*self.CKPT, env=env)
        self.assert_done(proc)
        folder = self.path("lightning_logs", "version_0", "checkpoints")
        self.assertEqual(sorted(os.listdir(folder)), ["epoch=0-step=6.ckpt", "last.ckpt"])
        step = self.load(folder, "epoch=0-step=6.ckpt")
        self.assertEqual((step["global_step"], step["epoch"], step["optimizer"], step["precision"]),
                         (6, 0, "adamw", "32-true"))
        self.assertEqual(self.load(folder, "last.ckpt")["global_step"], 7)  # again at the end of the epoch
        ops = [entry for entry in writes() if entry[-1].startswith(folder)]
        # each file: a temporary name in the same folder, then renamed; last.ckpt after the step file
        names = [os.path.basename(entry[-1]) for entry in ops if entry[0] == "replace"]
        self.assertEqual(names, ["epoch=0-step=2.ckpt", "last.ckpt", "epoch=0-step=4.ckpt", "last.ckpt",
                                 "epoch=0-step=6.ckpt", "last.ckpt", "last.ckpt"])
        for entry in ops:
            if entry[0] == "open":
                self.assertRegex(os.path.basename(entry[1]), r"^\..+\.ckpt\.tmp$")
            else:
                self.assertEqual(entry[1], os.path.join(folder, "." + os.path.basename(entry[2]) + ".tmp"))
        # a new run gets a new version; without the callback nothing is written
        self.assert_done(self.fit(*self.CKPT, "--trainer.max_steps", "3"))
        self.assertEqual(sorted(os.listdir(self.path("lightning_logs", "version_1", "checkpoints"))),
                         ["epoch=0-step=2.ckpt", "last.ckpt"])
        self.assert_done(self.fit())
        self.assertEqual(sorted(os.listdir(self.path("lightning_logs"))), ["version_0", "version_1"])

    def test_dirpath_root_and_yaml(self):
        self.assert_done(self.fit(*self.CKPT, "--trainer.callbacks.dirpath", "ck", "--trainer.callbacks.save_top_k=-1"))
        self.assertEqual(sorted(os.listdir(self.path("ck"))), ["epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt",
                                                                "epoch=0-step=6.ckpt", "last.ckpt"])
        self.assert_done(self.fit("--trainer.default_root_dir=runs", "--trainer.callbacks",
                                  "lightning.pytorch.callbacks.ModelCheckpoint",
                                  "--trainer.callbacks.init_args.every_n_train_steps", "3"))
        self.assertEqual(os.listdir(self.path("runs", "lightning_logs", "version_0", "checkpoints")),
                         ["epoch=0-step=6.ckpt"])
        block = ("trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
                 "      init_args:\n        every_n_train_steps: 5\n        save_last: true\n")
        flow = ("trainer: {default_root_dir: flow, callbacks: [{class_path: ModelCheckpoint, "
                "init_args: {every_n_train_steps: 3}}]}\n")
        for name, text in (("block.yaml", block), ("flow.yaml", flow)):
            with open(self.path(name), "w") as handle:
                handle.write(text)
        self.assert_done(self.fit("-c", "block.yaml", "--trainer.default_root_dir", "block"))
        self.assertEqual(sorted(os.listdir(self.path("block", "lightning_logs", "version_0", "checkpoints"))),
                         ["epoch=0-step=5.ckpt", "last.ckpt"])
        self.assert_done(self.fit("-c", "flow.yaml"))
        self.assertEqual(os.listdir(self.path("flow", "lightning_logs", "version_0", "checkpoints")),
                         ["epoch=0-step=6.ckpt"])

    def test_bad_callbacks(self):
        for args, text in (
                (["--trainer.callbacks.every_n_train_steps=2"], "give a callback first"),
                (["--trainer.callbacks+=EarlyStopper"], "does not correspond to a subclass of \"Callback\""),
                (["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.every_n=2"], "has no parameter 'every_n'"),
                (["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.monitor=val_loss"], "not supported")):
            proc = self.fit(*args)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn(text, proc.stderr)

    def test_resume_and_missing_file(self):
        self.assert_done(self.fit(*self.CKPT, "--trainer.max_steps", "5"))
        path = os.path.join("lightning_logs", "version_0", "checkpoints", "epoch=0-step=4.ckpt")
        proc = self.fit(*self.CKPT, "--ckpt_path", path)
        self.assert_done(proc)
        self.assert_resumed(proc, 4, 7)
        lines = proc.stderr.splitlines()
        restoring = lines.index("Restoring states from the checkpoint path at " + path)
        self.assertEqual(lines[restoring + 1], "Restored all states from the checkpoint at " + path)
        # the resumed run's files are in version_1; the file it resumed from stays
        self.assertEqual(sorted(os.listdir(self.path("lightning_logs", "version_1", "checkpoints"))),
                         ["epoch=0-step=6.ckpt", "last.ckpt"])
        self.assertTrue(os.path.exists(self.path(path)))
        proc = self.fit("--ckpt_path=nope.ckpt")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.strip().splitlines()[-1], "FileNotFoundError: Checkpoint file not found: nope.ckpt")
        self.assertNotIn("resumed", proc.stdout)


class NanoGPTTest(Case):
    def nano(self, *args, env=None):
        return self.job("nanogpt/train.py", "--batch_size=4", "--gradient_accumulation_steps=2", "--eval_iters=1",
                        *args, env=env)

    def test_save_and_resume(self):
        proc = self.nano("--eval_interval=3", "--max_iters=7")
        self.assert_done(proc)
        self.assertEqual(proc.stdout.count("saving checkpoint to out\n"), 2)
        with open(self.path("out", "ckpt.pt")) as handle:
            checkpoint = json.load(handle)
        self.assertEqual(checkpoint["iter_num"], 6)
        self.assertEqual(checkpoint["config"]["eval_interval"], 3)
        self.assertAlmostEqual(checkpoint["best_val_loss"], simgpu.eval_loss_at(6))
        self.assertIn("n_layer", checkpoint["model_args"])
        proc = self.nano("--eval_interval=3", "--max_iters=7", "--init_from=resume", "--batch_size=2",
                         "--gradient_accumulation_steps=4")
        self.assert_done(proc, micro=2, accum=4, effective=8)
        self.assertIn("Resuming training from out\n", proc.stdout)
        self.assert_resumed(proc, 6, 7)
        # other ranks save nothing; the out_dir is made by the master process only
        proc = self.nano("--eval_interval=3", "--max_iters=3", "--out_dir='o2'",
                         env={"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertFalse(os.path.exists(self.path("o2")))

    def test_missing_checkpoint(self):
        proc = self.nano("--init_from=resume")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.strip().splitlines()[-1],
                         "FileNotFoundError: [Errno 2] No such file or directory: 'out/ckpt.pt'")
        self.assertIn("torch/serialization.py", proc.stderr)
        self.assertIn("Resuming training from out\n", proc.stdout)
        with open(self.path("out", "ckpt.pt"), "w") as handle:
            handle.write("not a checkpoint")
        proc = self.nano("--init_from=resume")
        self.assertEqual(proc.stderr.strip().splitlines()[-1], "_pickle.UnpicklingError: invalid load key, 'n'.")


class OOMThenResumeTest(Case):
    """Per style: a checkpoint at a step < K, the long batch's OOM at K, then a resume with half the
    micro-batch and twice the accumulation finishes: the same N, the same effective batch."""

    def test_hugging_face(self):
        base = ("run_clm.py", "--output_dir", "out", "--do_train", "--max_steps", "8", "--save_steps", "2",
                "--sim-long-batch", "5:1.5")
        proc = self.job(*base, "--per_device_train_batch_size", "24")
        self.assert_oom_at(proc, 5)
        self.assertIn("training_step", proc.stderr)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["checkpoint-2", "checkpoint-4"])
        resume = base + ("--per_device_train_batch_size", "12", "--gradient_accumulation_steps", "2",
                         "--resume_from_checkpoint", "out/checkpoint-4")
        proc = self.job(*resume)
        self.assert_done(proc, micro=12, accum=2, effective=24)
        self.assert_resumed(proc, 4, 8)
        # with the trap (transformers 4.57.1) the checkpoint's micro-batch comes back and fails again
        proc = self.job(*resume, env={"PYTHONPATH": self.fake_transformers("4.57.1")})
        self.assert_oom_at(proc, 5)

    def test_lightning(self):
        base = ("lightning_main.py", "fit", "--trainer.max_steps", "9", "--trainer.callbacks+=ModelCheckpoint",
                "--trainer.callbacks.every_n_train_steps=3", "--trainer.callbacks.save_last=true",
                "--sim-long-batch", "7:3")
        proc = self.job(*base)
        self.assert_oom_at(proc, 7)
        folder = os.path.join("lightning_logs", "version_0", "checkpoints")
        self.assertEqual(sorted(os.listdir(self.path(folder))), ["epoch=0-step=6.ckpt", "last.ckpt"])
        proc = self.job(*base, "--data.batch_size", "8", "--trainer.accumulate_grad_batches", "2",
                        "--ckpt_path", os.path.join(folder, "last.ckpt"))
        self.assert_done(proc, micro=8, accum=2, effective=16)
        self.assert_resumed(proc, 6, 9)

    def test_nanogpt(self):
        base = ("nanogpt/train.py", script_path("nanogpt/config/train_small.py"), "--eval_interval=5",
                "--max_iters=10", "--sim-long-batch", "7:2.5")
        proc = self.job(*base)
        self.assert_oom_at(proc, 7)
        self.assertIn("saving checkpoint to out-small\n", proc.stdout)
        proc = self.job(*base, "--init_from=resume", "--batch_size=8", "--gradient_accumulation_steps=16")
        self.assert_done(proc, micro=8, accum=16, effective=128)
        self.assert_resumed(proc, 5, 10)


if __name__ == "__main__":
    unittest.main()
