"""The simulated `llamafactory-cli` (bin/llamafactory-cli): config and overrides, LLaMA-Factory's
defaults and errors, OOM and fit, its torchrun path (and the allocator variable it overwrites),
checkpoints and resuming."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, TORCH2, clean_env, done_line  # noqa: E402

CLI = os.path.join(HERE, "bin", "llamafactory-cli")
# LLaMA-Factory's own variables, which a test must not inherit from the shell that runs it
LF_VARS = ("FORCE_TORCHRUN", "OPTIM_TORCH", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT",
           "RDZV_ID", "MIN_NNODES", "MAX_NNODES", "MAX_RESTARTS", "USE_RAY", "USE_KT", "USE_MCA",
           "USE_MEGATRON_BRIDGE", "ALLOW_EXTRA_ARGS", "DISABLE_VERSION_CHECK", "LLAMAFACTORY_VERBOSITY",
           "CUDA_VISIBLE_DEVICES", "PYTHONPATH")
SFT = """\
### model
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: identity,alpaca_en_demo
template: llama3
cutoff_len: 2048
max_samples: 1000
overwrite_cache: true
preprocessing_num_workers: 16

### output
output_dir: saves/llama3-8b/lora/sft
logging_steps: 10
save_steps: 500
overwrite_output_dir: true
report_to: none  # choices: [none, wandb, tensorboard, swanlab, mlflow]

### train
per_device_train_batch_size: 4
gradient_accumulation_steps: 2
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
ddp_timeout: 180000000
max_steps: 4
"""
CALLED = re.compile(r"subprocess\.CalledProcessError: Command '\['torchrun', '--nnodes', '1', '--node_rank', '0', "
                    r"'--nproc_per_node', '(\d+)', '--master_addr', '127\.0\.0\.1', '--master_port', '\d+', "
                    r"'[^']*/llamafactory_launcher\.py', (.*)\]' returned non-zero exit status 1\.\n$")
OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "


class LlamaFactoryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.write("sft.yaml", SFT)

    def write(self, name, text):
        with open(os.path.join(self.tmp, name), "w") as handle:
            handle.write(text)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def cli(self, *args, env=None):
        """Run llamafactory-cli from bin/ on PATH (as pip installs it), in the temp folder."""
        full = clean_env()
        for name in LF_VARS:
            full.pop(name, None)
        full["PATH"] = os.path.join(HERE, "bin") + os.pathsep + full.get("PATH", "")
        full.update(env or {})
        proc = subprocess.run(["llamafactory-cli"] + list(args), capture_output=True, env=full, cwd=self.tmp,
                              timeout=120)
        proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
        return proc

    def ok(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return done_line(proc.stdout)

    def state(self, *parts):
        with open(self.path(*parts, "trainer_state.json")) as handle:
            return json.load(handle)

    # --- config and keys ---------------------------------------------------------------------------

    def test_config_then_overrides_later_wins(self):
        done = self.ok(self.cli("train", "sft.yaml"))
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("4", "2", "8"))
        proc = self.cli("train", "sft.yaml", "per_device_train_batch_size=2", "gradient_accumulation_steps=3",
                        "per_device_train_batch_size=5")
        done = self.ok(proc)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("5", "3", "15"))
        self.assertEqual(re.findall(r"^step \d+/(\d+) ", proc.stdout, re.M), ["4"] * 4)
        # .yml and .json work the same way; values are YAML scalars
        self.write("c.json", json.dumps({"model_name_or_path": "m", "do_train": True, "dataset": "d",
                                         "output_dir": "j", "max_steps": 2, "per_device_train_batch_size": 6}))
        done = self.ok(self.cli("train", "c.json", "bf16=true", "optim=adafactor"))
        self.assertEqual((done["micro"], done["precision"], done["optimizer"]), ("6", "bf16", "adafactor"))
        shutil.copy(self.path("sft.yaml"), self.path("sft.yml"))
        self.assertEqual(self.ok(self.cli("train", "sft.yml", "fp16=yes", "output_dir=yml"))["precision"], "fp16")
        # without a config file: HF-style flags
        done = self.ok(self.cli("train", "--model_name_or_path", "m", "--do_train", "--dataset", "d", "--max_steps",
                                "2", "--per_device_train_batch_size", "3", "--output_dir", "flags"))
        self.assertEqual((done["micro"], done["checkpointing"]), ("3", "true"))

    def test_defaults(self):
        self.write("min.yaml", "model_name_or_path: m\ndo_train: true\ndataset: d\n")
        proc = self.cli("train", "min.yaml")
        done = self.ok(proc)
        self.assertEqual(done, dict(done, micro="8", accum="1", precision="fp32", checkpointing="true",
                                    optimizer="adamw_torch"))
        self.assertEqual(len(re.findall(r"^step \d+/20 ", proc.stdout, re.M)), 20)
        self.assertIn(">> We recommend enable mixed precision training.\n", proc.stdout)
        self.assertIn(">> Gradient checkpointing enabled.\n", proc.stdout)
        # output_dir defaults to trainer_output, where the final model and state go
        self.assertEqual(self.state("trainer_output")["global_step"], 20)
        self.assertTrue(os.path.isfile(self.path("trainer_output", "model.safetensors")))
        self.assertEqual(os.listdir(self.path("trainer_output")).count("checkpoint-20"), 0)

    def test_checkpointing_on_unless_disabled(self):
        on = self.ok(self.cli("train", "sft.yaml"))
        proc = self.cli("train", "sft.yaml", "disable_gradient_checkpointing=true", "output_dir=nogc")
        off = self.ok(proc)
        self.assertEqual((on["checkpointing"], off["checkpointing"]), ("true", "false"))
        self.assertNotIn("Gradient checkpointing enabled.", proc.stdout)
        self.assertGreater(int(off["peak"]), int(on["peak"]))
        # the Trainer's own gradient_checkpointing turns it on again
        again = self.ok(self.cli("train", "sft.yaml", "disable_gradient_checkpointing=true",
                                 "gradient_checkpointing=true", "output_dir=again"))
        self.assertEqual(again["checkpointing"], "true")
        self.assertEqual(self.ok(self.cli("train", "sft.yaml", "pure_bf16=true", "output_dir=pure"))["precision"],
                         "bf16-true")

    def test_unknown_keys(self):
        proc = self.cli("train", "sft.yaml", "frobnicate=1", "gradient_checkpointing_ratio=2")
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.endswith("ValueError: Some keys are not used by the HfArgumentParser: "
                                             "['frobnicate', 'gradient_checkpointing_ratio']\n"), proc.stderr)
        self.assertIn("/site-packages/llamafactory/hparams/parser.py\", line ", proc.stderr)
        self.assertIn("in get_train_args\n", proc.stderr)
        self.assertNotIn("done:", proc.stdout)
        # after a config file every argument is an OmegaConf override: key=value
        proc = self.cli("train", "sft.yaml", "--per_device_train_batch_size", "2")
        self.assertTrue(proc.stderr.endswith("ValueError: Some keys are not used by the HfArgumentParser: "
                                             "['--per_device_train_batch_size', '2']\n"), proc.stderr)
        # the config file must come first: else all are HF-style flags (and model_name_or_path is missing)
        proc = self.cli("train", "per_device_train_batch_size=2", "sft.yaml")
        self.assertTrue(proc.stderr.endswith("ValueError: Please provide `model_name_or_path`.\n"), proc.stderr)
        proc = self.cli("train", "--model_name_or_path", "m", "per_device_train_batch_size=2", "sft.yaml")
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.endswith("ValueError: Some specified arguments are not used by the "
                                             "HfArgumentParser: ['per_device_train_batch_size=2', 'sft.yaml']\n"))
        self.assertIn("Got unknown args, potentially deprecated arguments: ", proc.stdout)
        self.assertEqual(self.ok(self.cli("train", "sft.yaml", "frobnicate=1", env={"ALLOW_EXTRA_ARGS": "1"}))["micro"],
                         "4")
        proc = self.cli("train", "sft.yaml", "model_name_or_path=null")
        self.assertTrue(proc.stderr.endswith("ValueError: Please provide `model_name_or_path`.\n"))

    def test_other_commands(self):
        proc = self.cli("version")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("| Welcome to LLaMA Factory, version 0.9.6.dev0           |\n", proc.stdout)
        proc = self.cli("chat", "sft.yaml")
        self.assertEqual((proc.returncode, proc.stdout), (2, ""))
        self.assertEqual(proc.stderr.count("\n"), 1)
        self.assertIn("chat is not simulated", proc.stderr)
        self.assertIn("|   llamafactory-cli train -h: train models", self.cli().stdout)
        proc = self.cli("train", "sft.yaml", "stage=dpo")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("stage 'dpo' is not simulated", proc.stderr)

    def test_deepspeed_needs_torchrun_and_the_package(self):
        self.write("ds.json", json.dumps({"train_micro_batch_size_per_gpu": "auto", "train_batch_size": "auto",
                                          "gradient_accumulation_steps": "auto",
                                          "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}}}))
        proc = self.cli("train", "sft.yaml", "deepspeed=ds.json")
        self.assertTrue(proc.stderr.endswith("ValueError: Please use `FORCE_TORCHRUN=1` to launch DeepSpeed "
                                             "training.\n"), proc.stderr)
        proc = self.cli("train", "sft.yaml", "deepspeed=ds.json", env={"FORCE_TORCHRUN": "1"})
        self.assertIn("importlib.metadata.PackageNotFoundError: No package metadata was found for The 'deepspeed' "
                      "distribution was not found and is required by this application. \nTo fix: run `pip install "
                      "deepspeed`.\n", proc.stderr)
        os.makedirs(self.path("site", "deepspeed"))
        self.write(os.path.join("site", "deepspeed", "__init__.py"), "")
        done = self.ok(self.cli("train", "sft.yaml", "deepspeed=ds.json",
                                env={"FORCE_TORCHRUN": "1", "PYTHONPATH": self.path("site")}))
        self.assertEqual(done["optimizer"], "adamw_torch+cpu_offload")

    # --- memory ----------------------------------------------------------------------------------

    def test_oom_then_fit_with_accumulation(self):
        proc = self.cli("train", "sft.yaml", "per_device_train_batch_size=128", "gradient_accumulation_steps=1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        self.assertRegex(proc.stderr, TORCH2)
        for frame in ("/llamafactory/launcher.py\", line", "in launch\n", "/llamafactory/train/tuner.py\", line",
                      "in _training_function\n", "/llamafactory/train/sft/workflow.py\", line", "in run_sft\n",
                      "/transformers/trainer.py\", line", "in _inner_training_loop\n"):
            self.assertIn(frame, proc.stderr)
        self.assertNotIn("done:", proc.stdout)
        done = self.ok(self.cli("train", "sft.yaml", "per_device_train_batch_size=32", "gradient_accumulation_steps=4"))
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["checkpointing"]),
                         ("32", "4", "128", "true"))

    def fake_liger(self):
        os.makedirs(self.path("site", "liger_kernel"), exist_ok=True)
        self.write(os.path.join("site", "liger_kernel", "__init__.py"), "")
        return self.path("site")

    def test_enable_liger_kernel_fuses_the_loss(self):
        # 256 x 70 MiB of checkpointed bf16 activations, 80 % logits: 8 + 17.5 GiB, with Liger 8 + 5.25
        big = ("train", "sft.yaml", "per_device_train_batch_size=256", "gradient_accumulation_steps=1", "bf16=true",
               "max_steps=2")
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        proc = self.cli(*big, env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        site = self.fake_liger()
        done = self.ok(self.cli(*big, "enable_liger_kernel=true", env=dict(env, PYTHONPATH=site)))
        self.assertEqual((done["micro"], done["checkpointing"]), ("256", "true"))
        # the Trainer's own use_liger_kernel fuses it too
        self.assertEqual(self.ok(self.cli(*big, "use_liger_kernel=true", env=dict(env, PYTHONPATH=site)))["peak"],
                         done["peak"])
        # without the package LLaMA-Factory's argument check refuses it, as it does deepspeed's
        proc = self.cli(*big, "enable_liger_kernel=true", env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.endswith(
            "importlib.metadata.PackageNotFoundError: No package metadata was found for The 'liger-kernel' "
            "distribution was not found and is required by this application. \nTo fix: run `pip install "
            "liger-kernel`.\n"), proc.stderr[-1000:])
        self.assertIn("in _check_extra_dependencies\n", proc.stderr)
        proc = self.cli(*big, "use_liger_kernel=true", env=env)
        self.assertTrue(proc.stderr.endswith(
            "ImportError: You have set `use_liger_kernel` to `True` but liger-kernel >= 0.3.0 is not available. "
            "Please install it with `pip install liger-kernel`\n"), proc.stderr[-1000:])
        self.assertNotIn("done:", proc.stdout)

    def test_use_unsloth_gc_offloads_the_checkpointed_activations(self):
        # 200 x 140 MiB of checkpointed fp32 activations + 8 GiB; offloaded, a quarter of them
        big = ("train", "sft.yaml", "per_device_train_batch_size=200", "gradient_accumulation_steps=1", "max_steps=2")
        proc = self.cli(*big)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        done = self.ok(self.cli(*big, "use_unsloth_gc=true"))
        self.assertEqual((done["micro"], done["checkpointing"]), ("200", "true"))
        # it is LLaMA-Factory's checkpointing function: nothing without LLaMA-Factory's checkpointing
        small = ("train", "sft.yaml", "disable_gradient_checkpointing=true", "max_steps=2")
        self.assertEqual(self.ok(self.cli(*small, "use_unsloth_gc=true"))["peak"], self.ok(self.cli(*small))["peak"])
        self.assertEqual(self.ok(self.cli(*small, "gradient_checkpointing=true", "use_unsloth_gc=true"))["peak"],
                         self.ok(self.cli(*small, "gradient_checkpointing=true"))["peak"])

    def test_eval_accumulation_steps_releases_the_predictions(self):
        evals = ("train", "sft.yaml", "bf16=true", "val_size=0.1", "eval_strategy=steps", "eval_steps=2")
        env = {"SIMGPU_EVAL_PREDS": "30GiB"}  # two eval batches of 15 GiB of predictions each
        self.ok(self.cli(*evals))
        for extra in ((), ("per_device_eval_batch_size=1",)):
            proc = self.cli(*evals, *extra, env=env)
            self.assertEqual(proc.returncode, 1)
            self.assertIn(OOM + "17.25 GiB", proc.stderr)
            self.assertIn("in evaluation_loop\n", proc.stderr)
            self.assertNotIn("done:", proc.stdout)
        proc = self.cli(*evals, "eval_accumulation_steps=1", env=env)
        self.ok(proc)
        self.assertEqual(re.findall(r"^eval after step (\d+)", proc.stdout, re.M), ["2", "4"])

    def test_torchrun_path(self):
        env = {"FORCE_TORCHRUN": "1"}
        proc = self.cli("train", "sft.yaml", "per_device_train_batch_size=128", "gradient_accumulation_steps=1",
                        env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stdout, r"^\[INFO\|[\d: -]+\] llamafactory\.launcher:\d+ >> Initializing 1 distributed "
                                      r"tasks at: 127\.0\.0\.1:\d+\n")
        self.assertIn(OOM, proc.stderr)
        self.assertIn("torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n" + "=" * 60
                      + "\nllamafactory_launcher.py FAILED\n", proc.stderr)
        match = CALLED.search(proc.stderr)
        self.assertIsNotNone(match, proc.stderr)
        self.assertEqual(match.groups(), ("1", "'sft.yaml', 'per_device_train_batch_size=128', "
                                               "'gradient_accumulation_steps=1'"))
        self.assertLess(proc.stderr.index("ChildFailedError"), proc.stderr.index("CalledProcessError"))
        # more than one GPU: torchrun without FORCE_TORCHRUN, one rank per GPU, one done line
        proc = self.cli("train", "sft.yaml", env={"SIMGPU_COUNT": "2"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(re.findall(r"^done: .*$", proc.stdout, re.M),
                         [l for l in proc.stdout.splitlines() if l.startswith("done: micro_batch=4 accumulation=2 "
                                                                              "effective_batch=16 ")])
        self.assertEqual(proc.stdout.count("done:"), 1)
        self.assertIn("Initializing 2 distributed tasks at: ", proc.stdout)
        proc = self.cli("train", "sft.yaml", "output_dir=cvd", env={"CUDA_VISIBLE_DEVICES": "1,0", "SIMGPU_COUNT": "2"})
        self.assertIn("effective_batch=16 ", proc.stdout)
        proc = self.cli("train", "sft.yaml", "output_dir=one", env={"CUDA_VISIBLE_DEVICES": "1", "SIMGPU_COUNT": "2"})
        self.assertNotIn("distributed tasks", proc.stdout)
        self.assertEqual(done_line(proc.stdout)["effective"], "8")

    def test_torchrun_path_overwrites_the_allocator_setting(self):
        big = ("train", "sft.yaml", "per_device_train_batch_size=100", "gradient_accumulation_steps=1", "max_steps=2")
        # 100 x 140 MiB of checkpointed activations + 8 GiB: fits with expandable segments' 2 % waste, not with 15 %
        proc = self.cli(*big)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        off = {"FORCE_TORCHRUN": "1", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"}
        first = self.ok(self.cli(*big, "output_dir=a", env=off))  # LLaMA-Factory set expandable_segments:True
        second = self.ok(self.cli(*big, "output_dir=b", env={"FORCE_TORCHRUN": "1"}))
        self.assertEqual(first["peak"], second["peak"])
        proc = self.cli(*big, "output_dir=c", env=dict(off, OPTIM_TORCH="0"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        self.assertRegex(proc.stderr, CALLED)
        same = self.ok(self.cli(*big, "output_dir=d", env={"FORCE_TORCHRUN": "1", "OPTIM_TORCH": "0",
                                                           "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}))
        self.assertEqual(same["peak"], first["peak"])

    def test_sim_options_reach_the_ranks(self):
        proc = self.cli("train", "--sim-fail", "sft.yaml", "max_steps=3")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: Expected input batch_size (4) to match target batch_size (3).\n", proc.stderr)
        proc = self.cli("train", "sft.yaml", "--sim-fail", "max_steps=3", env={"FORCE_TORCHRUN": "1"})
        self.assertIn("ValueError: Expected input batch_size (4) to match target batch_size (3).\n", proc.stderr)
        self.assertRegex(proc.stderr, CALLED)
        self.assertNotIn("sim-fail", CALLED.search(proc.stderr).group(2))
        proc = self.cli("train", "sft.yaml", "--sim-step-time", "nope")
        self.assertEqual(proc.returncode, 2)

    # --- checkpoints -----------------------------------------------------------------------------

    def test_checkpoints_and_resume(self):
        run = ("train", "sft.yaml", "output_dir=out", "per_device_train_batch_size=64", "gradient_accumulation_steps=1",
               "max_steps=6", "save_steps=2", "overwrite_output_dir=false")
        proc = self.cli(*run, "--sim-long-batch", "5:2")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["checkpoint-2", "checkpoint-4"])
        self.assertEqual((self.state("out", "checkpoint-4")["global_step"],
                          self.state("out", "checkpoint-4")["train_batch_size"]), (4, 64))
        # resume_from_checkpoint=PATH
        proc = self.cli(*run, "resume_from_checkpoint=out/checkpoint-2", "per_device_train_batch_size=32",
                        "gradient_accumulation_steps=2")
        done = self.ok(proc)
        self.assertIn("resumed at step 2 of 6\n", proc.stdout)
        self.assertIn("  Continuing training from global step 2\n", proc.stderr)
        self.assertEqual(re.findall(r"^step (\d+)/6 ", proc.stdout, re.M), ["3", "4", "5", "6"])
        self.assertEqual((done["micro"], done["effective"]), ("32", "64"))
        self.assertEqual(self.state("out")["global_step"], 6)
        self.assertTrue(os.path.isfile(self.path("out", "model.safetensors")))
        # without it LLaMA-Factory resumes from the last checkpoint in output_dir by itself
        proc = self.cli(*run, "max_steps=8")
        self.ok(proc)
        self.assertIn(">> Resuming training from out/checkpoint-6.\n", proc.stdout)
        self.assertIn("resumed at step 6 of 8\n", proc.stdout)
        # ... unless overwrite_output_dir
        proc = self.cli(*run, "overwrite_output_dir=true")
        self.ok(proc)
        self.assertNotIn("resumed at", proc.stdout)
        # a finished model without checkpoints is refused
        final = ("train", "sft.yaml", "output_dir=final", "save_strategy=no", "max_steps=1", "overwrite_output_dir=false")
        self.ok(self.cli(*final))
        proc = self.cli(*final)
        self.assertTrue(proc.stderr.endswith("ValueError: Output directory already exists and is not empty. "
                                             "Please set `overwrite_output_dir`.\n"), proc.stderr)
        # an incomplete checkpoint
        os.makedirs(self.path("out", "checkpoint-9"))
        proc = self.cli(*run)
        self.assertTrue(proc.stderr.endswith("ValueError: Can't find a valid checkpoint at out/checkpoint-9\n"))

    def test_resume_under_torchrun(self):
        run = ("train", "sft.yaml", "output_dir=out", "max_steps=4", "save_steps=2", "overwrite_output_dir=false")
        proc = self.cli(*run, "--sim-long-batch", "3:50", env={"FORCE_TORCHRUN": "1"})
        self.assertEqual(proc.returncode, 1)
        self.assertIn(OOM, proc.stderr)
        self.assertRegex(proc.stderr, CALLED)
        self.assertEqual(self.state("out", "checkpoint-2")["global_step"], 2)
        proc = self.cli(*run, env={"FORCE_TORCHRUN": "1"})
        self.ok(proc)
        self.assertIn("resumed at step 2 of 4\n", proc.stdout)


if __name__ == "__main__":
    unittest.main()
