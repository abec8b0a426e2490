"""The simulated axolotl: `axolotl train CFG [--kebab-key V]`, the legacy module forms, the config rules,
the allocator variable, memory and OOM, checkpoints and resuming."""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, GiB, done_line, run  # noqa: E402
import simgpu_src_axolotl_cli as axcli  # noqa: E402
import simgpu_src_axolotl_load as axload  # noqa: E402

PKGS = os.path.join(HERE, "pkgs")
TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
CONFIG = """\
base_model: gpt2
learning_rate: 0.0002
micro_batch_size: 4
gradient_accumulation_steps: 2
sequence_len: 1024
datasets:
  - path: tatsu-lab/alpaca
    type: alpaca
"""


def frames(stderr):
    return re.findall(r'^\s*File "[^"]+", line \d+, in (\S+)$', stderr, re.M)


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="simtrain-axolotl-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.write("cfg.yml", CONFIG)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as handle:
            handle.write(text)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def axolotl(self, *args, env=None):
        return run("bin/axolotl", "train", *args, env=env, cwd=self.dir)

    def py(self, *args, env=None):
        """axolotl train --launcher python: do_cli in the CLI's process (one process less)."""
        return self.axolotl(*args, "--launcher", "python", env=env)

    def legacy(self, *args, env=None):
        env = dict(env or {}, PYTHONPATH=PKGS)
        return run("bin/accelerate", "launch", "-m", "axolotl.cli.train", *args, env=env, cwd=self.dir)

    def assert_done(self, proc, **fields):
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        done = done_line(proc.stdout)
        for key, value in fields.items():
            self.assertEqual(done[key], str(value), key)
        return done

    def assert_oom(self, proc):
        self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
        self.assertIn(TORCH_OOM, proc.stderr)
        self.assertNotIn("done:", proc.stdout)

    def steps(self, proc):
        return len(re.findall(r"^step \d+/\d+ loss", proc.stdout, re.M))


class OverrideTest(Case):
    def test_config_and_kebab_overrides(self):
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2"), micro=4, accum=2, effective=8)
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "2", "--gradient-accumulation-steps=8", "--max-steps=3")
        self.assert_done(proc, micro=2, accum=8, effective=16)
        self.assertEqual(self.steps(proc), 3)
        # the last one wins; the config may come after the options
        proc = self.axolotl("--micro-batch-size=3", "cfg.yml", "--max-steps", "2", "--micro-batch-size", "1")
        self.assert_done(proc, micro=1, accum=2)
        # booleans are flag pairs: no value
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2", "--bf16", "false", "--fp16"),
                         precision="fp16")
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2", "--bf16=false", "--no-fp16"), precision="fp32")

    def test_click_errors(self):
        proc = self.axolotl("cfg.yml", "--fp16=true")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("Error: Option '--fp16' does not take a value.\n", proc.stderr)
        self.assertIn("Usage: axolotl train [OPTIONS] CONFIG\n", proc.stderr)
        proc = self.axolotl("cfg.yml", "--micro-batch-size")
        self.assertEqual((proc.returncode, proc.stderr.splitlines()[-1]),
                         (2, "Error: Option '--micro-batch-size' requires an argument."))
        proc = self.axolotl("missing.yml")
        self.assertEqual(proc.stderr.splitlines()[-1], "Error: Invalid value for 'CONFIG': Path 'missing.yml' does not exist.")
        proc = self.axolotl()
        self.assertEqual((proc.returncode, proc.stderr.splitlines()[-1]), (2, "Error: Missing argument 'CONFIG'."))
        proc = self.axolotl("cfg.yml", "--launcher", "slurm")
        self.assertIn("Error: Invalid value for '--launcher': 'slurm' is not one of 'accelerate', 'torchrun', 'ray', "
                      "'python'.", proc.stderr)
        proc = run("bin/axolotl", "--version")
        self.assertEqual(proc.stdout, "axolotl, version 0.18.0\n")
        proc = run("bin/axolotl", "trian", "cfg.yml", cwd=self.dir)
        self.assertEqual((proc.returncode, proc.stderr.splitlines()[-1]), (2, "Error: No such command 'trian'."))

    def test_unknown_options_and_extra_arguments_go_to_the_launcher(self):
        proc = self.axolotl("cfg.yml", "--max-steps", "2", "--foo-bar", "3")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("launch: error: unrecognized arguments: --foo-bar\n", proc.stderr)
        # a value after a flag is an argument of its own: the launcher's script
        proc = self.axolotl("cfg.yml", "--max-steps", "2", "--sample-packing", "true")
        self.assertIn("'true'", proc.stderr)
        self.assertIn("CalledProcessError", proc.stderr)
        self.assertEqual(proc.returncode, 1)

    def test_legacy_module_forms(self):
        proc = self.legacy("cfg.yml", "--micro_batch_size=2", "--max_steps=3")
        self.assert_done(proc, micro=2, accum=2, effective=4, precision="bf16")
        self.assertEqual(self.steps(proc), 3)
        proc = self.legacy("cfg.yml", "--micro-batch-size", "3", "--max-steps", "2", "--gradient_checkpointing")
        self.assert_done(proc, micro=3, checkpointing="true")
        proc = run("bin/accelerate", "launch", "--num_processes", "2", "-m", "axolotl.cli.train", "cfg.yml",
                   "--max_steps=2", env={"PYTHONPATH": PKGS}, cwd=self.dir)
        self.assert_done(proc, micro=4, accum=2, effective=16)
        proc = run(os.path.join("pkgs", "axolotl", "cli", "train.py"), "cfg.yml", "--max_steps=2", cwd=self.dir)
        self.assert_done(proc, micro=4)
        # without the package folder on PYTHONPATH there is no module
        proc = run("bin/accelerate", "launch", "-m", "axolotl.cli.train", "cfg.yml", cwd=self.dir)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("No module named 'axolotl'", proc.stderr)

    def test_launchers(self):
        proc = self.axolotl("cfg.yml", "--max-steps", "2", "--launcher", "torchrun", "--", "--nproc-per-node", "2")
        self.assert_done(proc, micro=4, accum=2, effective=16)
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2", "--num-processes", "2"), effective=16)
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2", "--launcher=python"), effective=8)

    def test_strict_and_unknown_keys(self):
        # unknown keys in the file are dropped, as pydantic ignores extra fields
        self.write("cfg.yml", CONFIG + "no_such_key: 7\n")
        self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2"))
        # strict: true applies only the options whose keys the file has
        self.write("cfg.yml", CONFIG + "strict: true\n")
        proc = self.axolotl("cfg.yml", "--max-steps", "3", "--micro-batch-size", "2")
        self.assert_done(proc, micro=2)
        self.assertEqual(self.steps(proc), 20)
        proc = self.legacy("cfg.yml", "--max_steps=3", "--eval_batch_size=1")
        self.assertEqual(self.steps(proc), 20)
        self.write("cfg.yml", CONFIG + "strict: false\n")
        self.assertEqual(self.steps(self.axolotl("cfg.yml", "--max-steps", "3")), 3)


class ValidationTest(Case):
    def test_pydantic_errors(self):
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "abc")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("pydantic_core._pydantic_core.ValidationError: 1 validation error for AxolotlConfigWCapabilities\n"
                      "micro_batch_size\n  Input should be a valid integer, unable to parse string as an integer "
                      "[type=int_parsing, input_value='abc', input_type=str]\n"
                      "    For further information visit https://errors.pydantic.dev/2.12/v/int_parsing\n", proc.stderr)
        self.assertIn("load_cfg", frames(proc.stderr))
        self.write("cfg.yml", CONFIG.replace("base_model: gpt2\n", "") + "gradient_checkpointing: maybe\n")
        proc = self.legacy("cfg.yml")
        self.assertIn("3 validation errors for AxolotlConfigWCapabilities\nbase_model\n  Field required [type=missing",
                      proc.stderr)
        self.assertIn("gradient_checkpointing.literal['offload','offload_disk']\n  Input should be 'offload' or "
                      "'offload_disk' [type=literal_error, input_value='maybe', input_type=str]", proc.stderr)
        self.assertIn("gradient_checkpointing.bool\n  Input should be a valid boolean, unable to interpret input "
                      "[type=bool_parsing", proc.stderr)

    def test_eight_bit_optimizer_needs_bitsandbytes(self):
        proc = self.axolotl("cfg.yml", "--max-steps", "2", "--optimizer", "adamw_bnb_8bit")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ImportError: Trainer tried to instantiate bnb optimizer but bitsandbytes is not installed!",
                      proc.stderr)
        stub = self.path("stub")
        os.makedirs(os.path.join(stub, "bitsandbytes"))
        with open(os.path.join(stub, "bitsandbytes", "__init__.py"), "w"):
            pass
        proc = self.axolotl("cfg.yml", "--max-steps", "2", "--optimizer", "adamw_bnb_8bit", env={"PYTHONPATH": stub})
        self.assert_done(proc, optimizer="adamw_bnb_8bit")


class PrecisionTest(Case):
    def test_bf16_auto(self):
        self.assert_done(self.py("cfg.yml", "--max-steps", "2"), precision="bf16")
        # fp16: true does not win over bf16: auto where the GPU has bf16
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--fp16"), precision="bf16")
        old = {"SIMGPU_CC": "7.5"}
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", env=old), precision="fp16")
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--no-fp16", env=old), precision="fp32")
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--fp16", "--bf16", "auto", env=old),
                         precision="fp16")
        proc = self.py("cfg.yml", "--max-steps", "2", "--bf16", "true", env=old)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("[WARNING] [axolotl.utils.schemas.config] bf16 requested, but AMP is not supported on this GPU. "
                      "Requires Ampere series or above.", proc.stderr)
        self.assertIn("ValueError: Your setup doesn't support bf16/gpu. You need Ampere+ GPU with cuda>=11.0",
                      proc.stderr)
        self.write("cfg.yml", CONFIG + "bf16: false\nfp16: false\n")
        self.assert_done(self.py("cfg.yml", "--max-steps", "2"), precision="fp32")
        # bfloat16 turns bf16 AMP on too (the builder's bf16 = cfg.bf16 or cfg.bfloat16); bf16: full and
        # float16 train without AMP in the half dtype
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--bfloat16"), precision="bf16")
        # an option for a key the file has as a boolean is cast to one: "full" is not true
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--bf16", "full"), precision="fp32")
        self.write("full.yml", CONFIG)
        self.assert_done(self.py("full.yml", "--max-steps", "2", "--bf16", "full"), precision="bf16-true")
        self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--float16"), precision="fp16-true")


class AllocatorTest(Case):
    def test_the_cli_sets_the_variable_when_unset(self):
        env = {}
        axcli.set_pytorch_cuda_alloc_conf(env, "2.9.1")
        self.assertEqual(env, {"PYTORCH_ALLOC_CONF": "expandable_segments:True"})
        env = {}
        axcli.set_pytorch_cuda_alloc_conf(env, "2.8.0+cu128")
        self.assertEqual(env, {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True,roundup_power2_divisions:16"})
        # axolotl's elif: with PYTORCH_ALLOC_CONF set, torch >= 2.9 still gets the old name set
        env = {"PYTORCH_ALLOC_CONF": "expandable_segments:False"}
        axcli.set_pytorch_cuda_alloc_conf(env, "2.10.0")
        self.assertEqual(env, {"PYTORCH_ALLOC_CONF": "expandable_segments:False",
                               "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True,roundup_power2_divisions:16"})
        env = {"PYTORCH_ALLOC_CONF": "", "PYTORCH_CUDA_ALLOC_CONF": "backend:native"}
        axcli.set_pytorch_cuda_alloc_conf(env, "2.9.1")
        self.assertEqual(env, {"PYTORCH_ALLOC_CONF": "", "PYTORCH_CUDA_ALLOC_CONF": "backend:native"})
        env = {}
        axcli.set_pytorch_cuda_alloc_conf(env, "2.1.2")
        self.assertEqual(env, {})

    def test_waste_follows_the_variable(self):
        # micro 4 x 2, bf16: need 8.78125 GiB; +2% with expandable segments, +15% without
        low = int(self.assert_done(self.axolotl("cfg.yml", "--max-steps", "2"))["peak"])
        self.assertAlmostEqual(low / GiB, 8.78125 * 1.02, delta=0.01)
        high = int(self.assert_done(self.legacy("cfg.yml", "--max_steps=2"))["peak"])  # no axolotl CLI: unset
        self.assertAlmostEqual(high / GiB, 8.78125 * 1.15, delta=0.01)
        kept = self.axolotl("cfg.yml", "--max-steps", "2", env={"PYTORCH_ALLOC_CONF": "expandable_segments:False"})
        self.assertEqual(int(self.assert_done(kept)["peak"]), high)  # the user's variable wins
        self.assertIn("PYTORCH_CUDA_ALLOC_CONF and PYTORCH_ALLOC_CONF differ; using PYTORCH_ALLOC_CONF", kept.stderr)
        kept = self.axolotl("cfg.yml", "--max-steps", "2", env={"PYTORCH_ALLOC_CONF": "expandable_segments:False",
                                                                 "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"})
        self.assertEqual(int(self.assert_done(kept)["peak"]), high)
        self.assertNotIn("differ", kept.stderr)
        # torch 2.8: the CLI sets the old name, which the user's PYTORCH_ALLOC_CONF overrides
        stub = self.path("stub")
        os.makedirs(os.path.join(stub, "torch"))
        with open(os.path.join(stub, "torch", "__init__.py"), "w") as handle:
            handle.write("__version__ = '2.8.0'\n")
        proc = self.axolotl("cfg.yml", "--max-steps", "2", env={"PYTHONPATH": stub,
                                                                 "PYTORCH_ALLOC_CONF": "expandable_segments:False"})
        self.assertIn("PYTORCH_CUDA_ALLOC_CONF and PYTORCH_ALLOC_CONF differ; using PYTORCH_ALLOC_CONF", proc.stderr)
        self.assertEqual(int(self.assert_done(proc)["peak"]), high)
        proc = self.axolotl("cfg.yml", "--max-steps", "2", env={"PYTHONPATH": stub})
        self.assertEqual(int(self.assert_done(proc)["peak"]), low)
        # roundup_power2_divisions is an allocator option the sim accepts
        proc = self.legacy("cfg.yml", "--max_steps=2",
                           env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True,roundup_power2_divisions:16"})
        self.assertEqual(int(self.assert_done(proc)["peak"]), low)


class MemoryTest(Case):
    def test_oom_then_fit_with_more_accumulation(self):
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "128", "--gradient-accumulation-steps", "1")
        self.assert_oom(proc)
        names = frames(proc.stderr)
        for name in ("Fire", "do_cli", "do_train", "train", "execute_training", "_inner_training_loop",
                     "training_step", "backward"):
            self.assertIn(name, names)
        self.assertIn("subprocess.CalledProcessError: Command '[", proc.stderr)  # accelerate's, one process
        self.assertNotIn("simgpu", proc.stderr)
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "32", "--gradient-accumulation-steps", "4")
        done = self.assert_done(proc, micro=32, accum=4, effective=128, precision="bf16")
        self.assertLessEqual(int(done["peak"]), 24 * GiB)
        # two ranks: torchrun's summary
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "128", "--launcher", "torchrun", "--",
                            "--nproc_per_node=2")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("torch.distributed.elastic.multiprocessing.errors.ChildFailedError", proc.stderr)

    def test_forward_oom_goes_through_axolotls_compute_loss(self):
        proc = self.axolotl("cfg.yml", "--micro-batch-size", "128", env={"SIMGPU_LOGITS_SHARE": "0.9"})
        self.assert_oom(proc)
        self.assertIn('axolotl/core/trainers/base.py", line', proc.stderr)
        self.assertIn("compute_loss", frames(proc.stderr))

    def test_gradient_checkpointing_lowers_memory(self):
        plain = int(self.assert_done(self.py("cfg.yml", "--max-steps", "2", "--micro-batch-size", "16"),
                                     checkpointing="false")["peak"])
        for value in ("true", "offload"):
            proc = self.py("cfg.yml", "--max-steps", "2", "--micro-batch-size", "16",
                                "--gradient-checkpointing", value)
            self.assertLess(int(self.assert_done(proc, checkpointing="true")["peak"]), plain)
        proc = self.py("cfg.yml", "--max-steps", "2", "--micro-batch-size", "16", "--activation-offloading", "true")
        self.assertLess(int(self.assert_done(proc, checkpointing="true")["peak"]), plain)

    def test_chunked_cross_entropy(self):
        # 96 x 200 MiB of bf16 activations, 80 % logits: 8 + 18.75 GiB; chunked, 8 + 5.6 GiB
        big = ("cfg.yml", "--max-steps", "2", "--micro-batch-size", "96", "--gradient-accumulation-steps", "1")
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        self.assert_oom(self.axolotl(*big, env=env))
        peak = self.assert_done(self.axolotl(*big, "--chunked-cross-entropy", env=env), micro=96)["peak"]
        self.assert_done(self.py(*big, "--no-chunked-cross-entropy", "--chunked-cross-entropy", env=env), peak=peak)
        self.write("chunked.yml", CONFIG + "chunked_cross_entropy: true\n")
        self.assert_done(self.py("chunked.yml", *big[1:], env=env), peak=peak)
        self.assert_oom(self.py("chunked.yml", *big[1:], "--no-chunked-cross-entropy", env=env))
        # a boolean field is a flag: a value after it is an argument of its own, the launcher's script
        proc = self.axolotl(*big, "--chunked-cross-entropy", "true", env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("CalledProcessError", proc.stderr)
        # the module forms take a value (and leave the allocator variable alone: 15 % waste)
        legacy = ("cfg.yml", "--max_steps=2", "--micro_batch_size=96", "--gradient_accumulation_steps=1")
        self.assert_oom(self.legacy(*legacy, env=env))
        for value in ("--chunked_cross_entropy=True", "--chunked-cross-entropy=true"):
            self.assert_done(self.legacy(*legacy, value, env=env), micro=96)

    def test_activation_offloading(self):
        # 240 x 70 MiB of checkpointed bf16 activations + 8 GiB; offloaded, a quarter of them
        big = ("cfg.yml", "--max-steps", "2", "--micro-batch-size", "240", "--gradient-accumulation-steps", "1")
        self.assert_oom(self.py(*big, "--gradient-checkpointing", "true"))
        peaks = set()
        for option in (("--activation-offloading", "true"), ("--activation-offloading", "legacy"),
                       ("--activation-offloading", "disk"), ("--gradient-checkpointing", "offload"),
                       ("--gradient-checkpointing", "offload_disk"),
                       ("--gradient-checkpointing", "true", "--activation-offloading", "true")):
            peaks.add(self.assert_done(self.py(*big, *option), micro=240, checkpointing="true")["peak"])
        self.assertEqual(len(peaks), 1)
        self.assert_oom(self.py(*big, "--gradient-checkpointing", "true", "--activation-offloading", "false"))
        legacy = ("cfg.yml", "--max_steps=2", "--micro_batch_size=240", "--gradient_accumulation_steps=1")
        self.assert_oom(self.legacy(*legacy, "--gradient_checkpointing=True"))
        for value in ("--activation_offloading=True", "--gradient_checkpointing=offload"):
            self.assert_done(self.legacy(*legacy, value), micro=240, checkpointing="true")

    def test_evaluation_keeps_the_predictions(self):
        # HF's evaluation loop without eval_accumulation_steps (axolotl has no key for it): all of the
        # evaluation's predictions stay on the GPU, whatever the eval batch
        evals = ("cfg.yml", "--val-set-size", "0.05", "--eval-steps", "2", "--max-steps", "2")
        env = {"SIMGPU_EVAL_PREDS": "30GiB"}
        self.assert_done(self.py(*evals))
        for extra in ((), ("--eval-batch-size", "1")):
            proc = self.py(*evals, *extra, env=env)
            self.assert_oom(proc)
            self.assertIn("evaluation_loop", frames(proc.stderr))
        self.assert_done(self.py(*evals, env={"SIMGPU_EVAL_PREDS": "10GiB"}))

    def test_eval_batch_defaults_to_micro(self):
        env = {"SIMGPU_EVAL_ACT": "12GiB"}
        evals = ("--val-set-size", "0.05", "--eval-steps", "2", "--max-steps", "4")
        proc = self.axolotl("cfg.yml", *evals, env=env)
        self.assert_oom(proc)  # 2 + 4 x 12 / 2 GiB, at the evaluation before step 1 (eval_on_start)
        self.assertIn("evaluation_loop", frames(proc.stderr))
        self.assertNotIn("step 1/4", proc.stdout)
        proc = self.axolotl("cfg.yml", *evals, "--eval-batch-size", "1", env=env)
        self.assert_done(proc, micro=4)
        self.assertEqual(re.findall(r"^eval after step (\d+)", proc.stdout, re.M), ["0", "2", "4"])
        # without val_set_size there is no evaluation
        proc = self.axolotl("cfg.yml", "--eval-steps", "2", "--max-steps", "4", env=env)
        self.assertNotIn("eval after", self.assert_done(proc) and proc.stdout)


class CheckpointTest(Case):
    def state(self, step):
        with open(self.path("model-out", "checkpoint-%d" % step, "trainer_state.json")) as handle:
            return json.load(handle)

    def test_saves_and_resumes(self):
        proc = self.axolotl("cfg.yml", "--max-steps", "6", "--save-steps", "2")
        self.assert_done(proc)
        self.assertEqual(sorted(os.listdir(self.path("model-out"))),
                         ["checkpoint-2", "checkpoint-4", "checkpoint-6", "model.safetensors", "training_args.bin"])
        self.assertEqual(sorted(os.listdir(self.path("model-out", "checkpoint-4"))),
                         ["model.safetensors", "optimizer.pt", "rng_state.pth", "scheduler.pt", "trainer_state.json",
                          "training_args.bin"])
        self.assertEqual((self.state(4)["global_step"], self.state(4)["train_batch_size"]), (4, 4))
        checkpoint = os.path.join("model-out", "checkpoint-4")
        proc = self.axolotl("cfg.yml", "--max-steps", "6", "--save-steps", "2", "--resume-from-checkpoint", checkpoint)
        self.assert_done(proc, micro=4, accum=2, effective=8)
        self.assertEqual(proc.stdout.splitlines()[0], "resumed at step 4 of 6")
        self.assertEqual(self.steps(proc), 2)
        self.assertIn("  Continuing training from global step 4\n"
                      "  Will skip the first 0 epochs then the first 8 batches in the first epoch.\n", proc.stderr)
        # the legacy form takes it too; a missing checkpoint fails as the Trainer does
        proc = self.legacy("cfg.yml", "--max_steps=6", "--resume_from_checkpoint=model-out/checkpoint-9")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: Can't find a valid checkpoint at model-out/checkpoint-9", proc.stderr)
        # auto_resume_from_checkpoints: the newest checkpoint-N in output_dir
        proc = self.axolotl("cfg.yml", "--max-steps", "8", "--auto-resume-from-checkpoints")
        self.assert_done(proc)
        self.assertEqual(proc.stdout.splitlines()[0], "resumed at step 6 of 8")

    def test_default_saves_at_the_end_and_limit(self):
        self.write("cfg.yml", CONFIG + "output_dir: out/run\n")
        self.assert_done(self.py("cfg.yml", "--max-steps", "3"))
        self.assertEqual(sorted(os.listdir(self.path("out", "run"))),
                         ["checkpoint-3", "model.safetensors", "training_args.bin"])
        shutil.rmtree(self.path("out"))
        self.assert_done(self.py("cfg.yml", "--max-steps", "7", "--save-steps", "1"))
        self.assertEqual(sorted(d for d in os.listdir(self.path("out", "run")) if d.startswith("checkpoint-")),
                         ["checkpoint-4", "checkpoint-5", "checkpoint-6", "checkpoint-7"])  # save_total_limit 4


class ProcessOptionTest(Case):
    def test_sim_options(self):
        for proc in (self.axolotl("cfg.yml", "--sim-fail"), self.axolotl("cfg.yml", env={"SIMTRAIN_FAIL": "1"}),
                     self.legacy("cfg.yml", "--sim-fail")):
            self.assertEqual(proc.returncode, 1)
            self.assertIn("ValueError: Expected input batch_size (4) to match target batch_size (3).", proc.stderr)
        proc = self.axolotl("cfg.yml", "--launcher", "python", "--sim-format", "pytorch-1x", "--micro-batch-size", "128")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("\nRuntimeError: CUDA out of memory. Tried to", proc.stderr)


class FireTest(unittest.TestCase):
    def test_values(self):
        import simgpu_src_axolotl
        from simgpu_frames import load_source
        import ast
        parser = load_source("fire/parser.py", simgpu_src_axolotl.SOURCES["fire/parser.py"], {"ast": ast})
        parse = parser["DefaultParseValue"]
        for text, value in (("2", 2), ("2e-5", 2e-5), ("true", "true"), ("True", True), ("None", None),
                            ("./model-out", "./model-out"), ("offload", "offload"), ("[a, 1]", ["a", 1]),
                            ("a-b", "a-b"), ("cfg.yml", "cfg.yml")):
            self.assertEqual(parse(text), value, text)

    def test_schema_lax_values(self):
        for kinds, value, expected in (((axload.INT,), "3", 3), ((axload.INT,), 2.0, 2), ((axload.BOOL,), "yes", True),
                                       ((axload.lit("auto"), axload.BOOL), "auto", "auto"),
                                       ((axload.INT, axload.FLOAT), 0.5, 0.5), ((axload.INT, axload.FLOAT), "4", 4)):
            self.assertEqual(axload.validate_field("k", kinds, value), (expected, []))
        _, errors = axload.validate_field("micro_batch_size", (axload.INT,), 2.5)
        self.assertEqual(errors[0][1:3], ("Input should be a valid integer, got a number with a fractional part",
                                          "int_from_float"))


if __name__ == "__main__":
    unittest.main()
