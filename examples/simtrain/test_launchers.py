"""The fake launchers in bin/: where the script's arguments begin, what each rank gets, failures."""

import contextlib
import importlib.util
import io
import os
import re
import shutil
import sys
import tempfile
import unittest
import unittest.mock
from importlib.machinery import SourceFileLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, done_line, run  # noqa: E402


def load(name):
    """Import bin/<name> (a script without .py) as a module."""
    loader = SourceFileLoader("simtrain_bin_" + name, os.path.join(HERE, "bin", name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


TORCHRUN, ACCELERATE, DEEPSPEED = load("torchrun"), load("accelerate"), load("deepspeed")


class TorchrunParsingTest(unittest.TestCase):
    def parse(self, *argv):
        return TORCHRUN.get_args_parser().parse_args(list(argv))

    def test_script_after_flags(self):
        args = self.parse("--standalone", "--nproc-per-node=2", "--nnodes", "1", "train.py", "-b", "64", "--amp")
        self.assertEqual((args.training_script, args.training_script_args, args.nproc_per_node, args.standalone),
                         ("train.py", ["-b", "64", "--amp"], "2", True))
        args = self.parse("--nproc_per_node", "4", "--master_port=1234", "--max-restarts", "0", "--run-path", "t.py",
                          "--standalone")
        self.assertEqual((args.training_script, args.training_script_args, args.master_port), ("t.py", ["--standalone"],
                                                                                               1234))
        args = self.parse("--rdzv-b", "c10d", "--rdzv_endpoint", "host:29400", "t.py")
        self.assertEqual((args.rdzv_backend, args.rdzv_endpoint, args.training_script), ("c10d", "host:29400", "t.py"))

    def test_max_restarts(self):
        # Accepted, with PET_MAX_RESTARTS as its default as torchrun reads it; nothing is restarted.
        self.assertEqual(self.parse("--max_restarts", "3", "t.py").max_restarts, 3)
        with unittest.mock.patch.dict(os.environ, {"PET_MAX_RESTARTS": "2"}):
            self.assertEqual(self.parse("t.py").max_restarts, 2)
            self.assertEqual(self.parse("--max-restarts=0", "t.py").max_restarts, 0)

    def test_module_and_no_python(self):
        args = self.parse("-m", "--nproc-per-node", "2", "pkg.train", "--lr", "1")
        self.assertEqual(TORCHRUN.command(args)[1:], ["-u", "-m", "pkg.train", "--lr", "1"])
        args = self.parse("--no-python", "--tee", "3", "echo", "hi")
        self.assertEqual(TORCHRUN.command(args), ["echo", "hi"])

    def test_missing_script_is_an_error(self):
        with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit) as caught:
            self.parse("--nproc-per-node", "2")
        self.assertEqual(caught.exception.code, 2)
        self.assertIn("the following arguments are required: training_script", err.getvalue())


class AccelerateParsingTest(unittest.TestCase):
    def test_script_after_flags(self):
        options, script, args = ACCELERATE.parse(
            ["--use_deepspeed", "--num_processes", "2", "--mixed_precision=bf16", "--fsdp_offload_params", "true",
             "-m", "pkg.train", "--lr", "1", "--use_deepspeed"])
        self.assertEqual((script, args), ("pkg.train", ["--lr", "1", "--use_deepspeed"]))
        self.assertEqual((options["use_deepspeed"], options["num_processes"], options["mixed_precision"],
                          options["module"]), (True, "2", "bf16", True))

    def test_settings_exported(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        config = os.path.join(tmp, "accelerate.yaml")
        with open(config, "w") as handle:
            handle.write("compute_environment: LOCAL_MACHINE\ndistributed_type: DEEPSPEED\nmixed_precision: fp16\n"
                         "num_processes: 2\ndeepspeed_config:\n  zero_stage: 2\n  offload_optimizer_device: cpu\n"
                         "  gradient_accumulation_steps: 4\n")
        options, _, _ = ACCELERATE.parse(["--config_file", config, "--mixed_precision", "bf16", "s.py"])
        processes, env, port = ACCELERATE.settings(options)
        self.assertEqual(processes, 2)
        self.assertEqual(env, {"ACCELERATE_MIXED_PRECISION": "bf16", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "4",
                               "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2",
                               "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "cpu",
                               "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": "none"})

    def test_refusals(self):
        for argv, text in ((["--frobnicate", "s.py"], "unrecognized arguments: --frobnicate"),
                           (["--use_deepspeed=yes", "s.py"], "ignored explicit argument"),
                           (["--num_processes", "2"], "the following arguments are required: training_script")):
            with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
                ACCELERATE.parse(argv)
            self.assertIn(text, err.getvalue())


class DeepspeedParsingTest(unittest.TestCase):
    def test_script_after_flags(self):
        args = DEEPSPEED.parse_args(["--num_gpus", "2", "--no_local_rank", "--master_port=1234", "--bind_cores_to_rank",
                                     "t.py", "--deepspeed", "ds.json"])
        self.assertEqual((args.user_script, args.user_args, args.num_gpus, args.no_local_rank),
                         ("t.py", ["--deepspeed", "ds.json"], 2, True))
        args = DEEPSPEED.parse_args(["--num_acc", "1", "--module", "pkg.t"])
        self.assertEqual((args.user_script, args.module, args.num_gpus), ("pkg.t", True, 1))


class LaunchTest(unittest.TestCase):
    def launch(self, name, *args, env=None):
        return run(os.path.join("bin", name), *args, env=env)

    def test_a_process_per_visible_gpu(self):
        # --nproc-per-node gpu is torch.cuda.device_count(): the machine's GPUs, or those CUDA_VISIBLE_DEVICES lists.
        for extra, want in (({"SIMGPU_COUNT": "4"}, "32"), ({"SIMGPU_COUNT": "4", "CUDA_VISIBLE_DEVICES": "2,3"}, "16"),
                            ({"SIMGPU_COUNT": "2", "CUDA_VISIBLE_DEVICES": "0,1,2"}, "16")):
            proc = self.launch("torchrun", "--nproc-per-node", "gpu", "examples/simtrain/train.py", "-b", "8",
                               "--steps", "1", env=extra)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(done_line(proc.stdout)["effective"], want, extra)

    def test_accelerate_without_a_config_starts_a_process_per_gpu(self):
        # No config file and no --num_processes: torch.cuda.device_count() processes; --cpu one.
        proc = self.launch("accelerate", "launch", "examples/simtrain/train.py", "-b", "4", "--steps", "1",
                           env={"SIMGPU_COUNT": "2"})
        self.assertEqual(done_line(proc.stdout)["effective"], "8", proc.stderr)
        proc = self.launch("accelerate", "launch", "--cpu", "examples/simtrain/train.py", "-b", "4", "--steps", "1",
                           env={"SIMGPU_COUNT": "2"})
        self.assertEqual(done_line(proc.stdout)["effective"], "4", proc.stderr)

    def test_torchrun_ranks_keep_the_effective_batch(self):
        proc = self.launch("torchrun", "--nproc-per-node", "2", "examples/simtrain/train.py", "-b", "8",
                           "--grad-accum-steps", "2", "--steps", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(done_line(proc.stdout)["effective"], "32")
        self.assertEqual(proc.stdout.count("done:"), 1)

    def test_torchrun_reports_failed_ranks(self):
        proc = self.launch("torchrun", "--nproc_per_node=2", "examples/simtrain/train.py", "--steps", "2")
        self.assertEqual(proc.returncode, 1)
        # The first rank to fail ends the other, which may or may not have printed its own OOM by then.
        self.assertRegex(proc.stderr, r"torch\.OutOfMemoryError: CUDA out of memory\. Tried to allocate [\d.]+ GiB\. "
                                      r"GPU [01] has a total capacity")
        self.assertIn("torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n" + "=" * 60
                      + "\ntrain.py FAILED\n", proc.stderr)
        self.assertRegex(proc.stderr, r"Root Cause \(first observed failure\):\n\[\d\]:\n  time      : .*\n  host      : "
                                      r".*\n  rank      : \d \(local_rank: \d\)\n  exitcode  : 1 \(pid: \d+\)\n")
        proc = self.launch("torchrun", "examples/simtrain/train.py", "-b", "4", "--sim-sigkill-self")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"exitcode  : -9 \(pid: (\d+)\)\n  error_file: <N/A>\n  traceback : Signal 9 "
                                      r"\(SIGKILL\) received by PID \d+\n")

    def test_deepspeed_passes_local_rank(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        proc = self.launch("deepspeed", "--num_gpus", "1", "examples/simtrain/run_clm.py", "--output_dir", tmp,
                           "--do_train", "--max_steps", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(done_line(proc.stdout)["micro"], "8")
        proc = self.launch("deepspeed", "examples/simtrain/train.py", "--steps", "2")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stdout, r"\[ERROR\] \[launch\.py:\d+:sigkill_handler\] \[.*'examples/simtrain/train\.py', "
                                      r"'--local_rank=0', '--steps', '2'\] exits with return code = 1\n")

    def test_accelerate_exports(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        clm = ("examples/simtrain/run_clm.py", "--output_dir", tmp, "--do_train", "--max_steps", "2")
        proc = self.launch("accelerate", "launch", "--mixed_precision", "bf16", *clm)
        self.assertEqual(done_line(proc.stdout)["precision"], "bf16")
        proc = self.launch("accelerate", "launch", "--use_deepspeed", "--zero_stage=2", "--offload_optimizer_device",
                           "cpu", *clm)
        self.assertEqual(done_line(proc.stdout)["optimizer"], "adamw_torch+cpu_offload")
        proc = self.launch("accelerate", "launch", "--use_deepspeed", "--gradient_accumulation_steps", "4", *clm)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("- ds gradient_accumulation_steps=4 vs hf gradient_accumulation_steps=1\n", proc.stderr)
        proc = self.launch("accelerate", "launch", "--use_deepspeed", "--gradient_accumulation_steps", "4", *clm,
                           "--gradient_accumulation_steps", "4")
        self.assertEqual(done_line(proc.stdout)["accum"], "4")
        proc = self.launch("accelerate", "launch", "--num_processes", "2", "--multi_gpu", "examples/simtrain/train.py",
                           "-b", "4", "--steps", "2")
        self.assertEqual(done_line(proc.stdout)["effective"], "8")
        proc = self.launch("accelerate", "launch", "examples/simtrain/train.py", "--steps", "1")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"subprocess\.CalledProcessError: Command '\[.*'examples/simtrain/train\.py', "
                                      r"'--steps', '1'\]' returned non-zero exit status 1\.\n$")


class NoDuplicateDoneTest(unittest.TestCase):
    def test_only_rank_zero_reports(self):
        proc = run("train.py", "-b", "4", "--steps", "2", env={"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
        self.assertEqual(proc.returncode, 0)
        self.assertEqual((proc.stdout, proc.stderr), ("", ""))
        self.assertTrue(re.search(r"GPU 1 has", run("train.py", env={"LOCAL_RANK": "1"}).stderr))


if __name__ == "__main__":
    unittest.main()
