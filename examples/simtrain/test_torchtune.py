"""bin/tune (torchtune's `tune run`): registry and path configs, overrides, torchtune's errors, the memory knobs."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import HERE, GiB, clean_env, done_line, run  # noqa: E402

SINGLE = ("run", "full_finetune_single_device", "--config", "llama3_1/8B_full_single_device")
SHORT = "max_steps_per_epoch=2"
TORCH_OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "


def tune(*args, env=None, cwd=None):
    return run("bin/tune", *args, env=env, cwd=cwd)


class Case(unittest.TestCase):
    def done(self, proc, **fields):
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        done = done_line(proc.stdout)
        for key, value in fields.items():
            self.assertEqual(done[key], str(value), key)
        return done

    def fails(self, proc, text, code=1):
        self.assertEqual(proc.returncode, code, proc.stderr[-3000:])
        self.assertIn(text, proc.stderr)
        self.assertNotIn("done:", proc.stdout)

    def tmp(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        return folder


class ConfigTest(Case):
    def test_registry_config(self):
        proc = tune(*SINGLE)
        self.done(proc, micro=2, accum=1, effective=2, precision="bf16-true", checkpointing="true",
                  optimizer="torch.optim.AdamW")
        self.assertEqual(re.findall(r"^step (\d+)/20 loss", proc.stdout, re.M), [str(i) for i in range(1, 21)])
        self.assertIn("INFO:torchtune.utils._logging:Running FullFinetuneRecipeSingleDevice with resolved config:",
                      proc.stderr)
        self.assertIn("INFO:torchtune.utils._logging:Hint: enable_activation_checkpointing is True, but "
                      "enable_activation_offloading isn't.", proc.stderr)

    def test_path_config_and_tune_cp(self):
        tmp = self.tmp()
        proc = tune("cp", "llama3_1/8B_full_single_device", os.path.join(tmp, "mine"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = os.path.join(tmp, "mine.yaml")
        self.assertEqual(proc.stdout.strip(), "Copied file to %s" % path)
        with open(path) as f:
            text = f.read().replace("batch_size: 2\n", "batch_size: 3\n")
        with open(path, "w") as f:
            f.write(text)
        self.done(tune("run", "full_finetune_single_device", "--config", path, SHORT), micro=3)
        listing = tune("ls").stdout
        self.assertRegex(listing, r"lora_finetune_distributed +llama3_1/8B_lora")

    def test_registry_configs_are_installed(self):
        """The registry configs are the installed `recipes` package's, which the job's Python finds with
        examples/simtrain/pkgs on PYTHONPATH (importlib.util.find_spec, without importing it, as vramrun asks):
        every config `tune ls` lists is there as NAME.yaml, `tune cp` copies that file, and importing the
        package fails as torchtune's does."""
        pkgs = os.path.join(HERE, "pkgs")
        env = clean_env({"PYTHONPATH": pkgs})
        spec = "import importlib.util; print(list(importlib.util.find_spec('recipes').submodule_search_locations)[0])"
        found = subprocess.run([sys.executable, "-c", spec], env=env, cwd=self.tmp(), capture_output=True, text=True)
        self.assertEqual(found.returncode, 0, found.stderr)
        configs = os.path.join(found.stdout.strip(), "configs")
        self.assertEqual(os.path.realpath(configs), os.path.realpath(os.path.join(pkgs, "recipes", "configs")))
        names = re.findall(r"^\S+\s+(llama3_1/\S+)\s*$", tune("ls").stdout, re.M)
        self.assertEqual(len(names), 4, names)
        tmp = self.tmp()
        for name in names:
            with open(os.path.join(configs, name + ".yaml")) as f:
                installed = f.read()
            dest = os.path.join(tmp, name.replace("/", "_") + ".yaml")
            self.assertEqual(tune("cp", name, dest).returncode, 0)
            with open(dest) as f:
                self.assertEqual(f.read(), installed, name)
        imported = subprocess.run([sys.executable, "-c", "import recipes"], env=env, cwd=tmp, capture_output=True,
                                  text=True)
        self.assertIn("ModuleNotFoundError: The torchtune recipes directory isn't a package", imported.stderr)

    def test_overrides_later_wins_and_interpolation(self):
        proc = tune(*SINGLE, "batch_size=4", "gradient_accumulation_steps=2", "batch_size=6", SHORT)
        self.done(proc, micro=6, accum=2, effective=12)
        self.assertIn("\nbatch_size: 6\nbatch_size_val: 6\n", proc.stderr)  # ${batch_size} follows the override
        self.assertIn("  lr: 2.0e-05\n", proc.stderr)

    def test_remove_key(self):
        proc = tune(*SINGLE, "~checkpointer.recipe_checkpoint", SHORT)
        self.done(proc)
        self.assertIn("  output_dir: /tmp/torchtune/llama3_1_8B/full_single_device\n", proc.stderr)
        self.assertNotIn("recipe_checkpoint", proc.stderr)
        self.fails(tune(*SINGLE, "~no_such_key"), "ValueError: Could not find key no_such_key in yaml config to remove")

    def test_rejected_flags_and_malformed_overrides(self):
        self.fails(tune(*SINGLE, "--batch_size", "4"), "ValueError: Additional flag arguments not supported: "
                   "['--batch_size']. Please use --config or key=value overrides")
        self.fails(tune(*SINGLE, "a=b=c"), "ValueError: Command-line overrides must be in the form of key=value, "
                   "got a=b=c")
        self.fails(tune("run", "full_finetune_single_device", "batch_size=2"),
                   "tune run: error: The '--config' argument is required.", code=2)
        self.fails(tune("run", "--nproc_per_node", "2", "full_finetune_single_device", "--config",
                        "llama3_1/8B_full_single_device"),
                   "tune run: error: Recipe full_finetune_single_device does not support distributed "
                   "training.Please run without torchrun commands.", code=2)

    def test_traceback_goes_through_the_recipe(self):
        proc = tune(*SINGLE, "--nope")
        frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', proc.stderr)
        names = [(os.path.basename(path), name) for path, name in frames]
        self.assertEqual(names[0], ("tune", "<module>"))
        self.assertIn(("<frozen runpy>", "run_path"), names)
        self.assertIn(("full_finetune_single_device.py", "<module>"), names)
        self.assertEqual(names[-1], ("_parse.py", "parse_known_args"))


class RecipeChecksTest(Case):
    def test_fp16_and_dtype(self):
        self.fails(tune(*SINGLE, "dtype=fp16"), "ValueError: full fp16 training is not supported with this recipe. "
                   "Please use bf16 or fp32 instead.")
        self.fails(tune("run", "full_finetune_distributed", "--config", "llama3_1/8B_full", "dtype=fp16"),
                   "ValueError: full fp16 training is not supported with this recipe. Please use bf16 or fp32 instead.")
        self.fails(tune(*SINGLE, "dtype=fp8"), "ValueError: Dtype fp8 must be one of fp16, bf16, fp32, fp64 for "
                   "finetuning.")
        self.done(tune(*SINGLE, "dtype=fp32", SHORT), precision="fp32")

    def test_offloading_needs_checkpointing(self):
        self.fails(tune(*SINGLE, "enable_activation_checkpointing=False", "enable_activation_offloading=True"),
                   "RuntimeError: enable_activation_offloading should only be True when "
                   "enable_activation_checkpointing is True")

    def test_optimizer_in_bwd_refuses_accumulation(self):
        self.fails(tune(*SINGLE, "optimizer_in_bwd=True", "gradient_accumulation_steps=2"),
                   "RuntimeError: Gradient accumulation is not supported with optimizer in bwd.Please set "
                   "gradient_accumulation_steps=1, or optimizer_in_bwd=False.")

    def test_bitsandbytes_needs_the_module(self):
        proc = tune(*SINGLE, "optimizer=bitsandbytes.optim.PagedAdamW8bit", SHORT)
        self.fails(proc, "torchtune.config._errors.InstantiationError: Error loading "
                   "'bitsandbytes.optim.PagedAdamW8bit':\nModuleNotFoundError(\"No module named 'bitsandbytes'\")\n"
                   "Are you sure that module 'bitsandbytes' is installed?")
        stub = self.tmp()
        open(os.path.join(stub, "bitsandbytes.py"), "w").close()
        eight = self.done(tune(*SINGLE, "optimizer=bitsandbytes.optim.PagedAdamW8bit", "batch_size=8", SHORT,
                               env={"PYTHONPATH": stub}), optimizer="bitsandbytes.optim.PagedAdamW8bit")
        adam = self.done(tune(*SINGLE, "batch_size=8", SHORT))
        self.assertLess(int(eight["peak"]), int(adam["peak"]))
        # The LoRA config's torch.optim.AdamW has fused: True, which bitsandbytes' constructor does not take.
        lora = ("run", "lora_finetune_single_device", "--config", "llama3_1/8B_lora_single_device")
        self.fails(tune(*lora, "optimizer=bitsandbytes.optim.PagedAdamW8bit", SHORT, env={"PYTHONPATH": stub}),
                   "TypeError: PagedAdamW8bit.__init__() got an unexpected keyword argument 'fused'")
        self.done(tune(*lora, "optimizer=bitsandbytes.optim.PagedAdamW8bit", "~optimizer.fused", SHORT,
                       env={"PYTHONPATH": stub}), optimizer="bitsandbytes.optim.PagedAdamW8bit")
        self.fails(tune(*SINGLE, "model=torchtune.models.llama3_1.no_such_model"),
                   "Are you sure that 'no_such_model' is importable from module 'torchtune.models.llama3_1'?")


class MemoryTest(Case):
    def peak(self, *overrides, recipe=SINGLE, env=None):
        return int(self.done(tune(*recipe, "batch_size=64", SHORT, *overrides, env=env))["peak"])

    def test_allocator_variable_set_when_unset(self):
        unset = self.peak()
        self.assertEqual(unset, self.peak(env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}))
        self.assertGreater(self.peak(env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"}), unset)
        # torchtune only looks at PYTORCH_CUDA_ALLOC_CONF; PYTORCH_ALLOC_CONF still wins in PyTorch
        self.assertGreater(self.peak(env={"PYTORCH_ALLOC_CONF": "expandable_segments:False"}), unset)

    def test_checkpointing_and_offloading(self):
        without = self.peak("enable_activation_checkpointing=False")
        checkpointed = self.peak()
        offloaded = self.peak("enable_activation_offloading=True")
        self.assertGreater(without, checkpointed)
        self.assertGreater(checkpointed, offloaded)
        proc = tune(*SINGLE, "enable_activation_offloading=True", SHORT)
        self.assertNotIn("Hint: enable_activation_checkpointing", proc.stderr)

    def test_activation_offloading_fits(self):
        # 400 x 70 MiB of checkpointed bf16 activations + 4 GiB; offloaded, a quarter of them
        self.fails(tune(*SINGLE, "batch_size=400", SHORT), TORCH_OOM)
        self.done(tune(*SINGLE, "batch_size=400", SHORT, "enable_activation_offloading=True"), micro=400,
                  checkpointing="true")

    def test_loss_component(self):
        # 300 x 70 MiB of checkpointed bf16 activations, 80 % logits: 4 + 20.5 GiB with the plain loss
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        chunked = self.peak("batch_size=300", env=env)  # the shipped configs' LinearCrossEntropyLoss
        self.assertLess(chunked, 12 * GiB)
        for swap in (("loss=torch.nn.CrossEntropyLoss",), ("loss._component_=torch.nn.CrossEntropyLoss",)):
            self.fails(tune(*SINGLE, "batch_size=300", SHORT, *swap, env=env), TORCH_OOM)
        for loss in ("torchtune.modules.loss.LinearCrossEntropyLoss", "torchtune.modules.loss.CEWithChunkedOutputLoss"):
            self.assertEqual(self.peak("batch_size=300", "loss=torch.nn.CrossEntropyLoss", "loss=" + loss, env=env),
                             chunked)
        # without a logits share the loss changes nothing
        self.assertEqual(self.peak("loss=torch.nn.CrossEntropyLoss"), self.peak())

    def test_lora_and_sequence_length(self):
        full = self.peak()
        lora = self.peak(recipe=("run", "lora_finetune_single_device", "--config", "llama3_1/8B_lora_single_device"))
        self.assertLess(lora, full)
        self.assertGreater(self.peak("tokenizer.max_seq_len=4096"), full)

    def test_oom_then_fit_with_accumulation(self):
        proc = tune(*SINGLE, "batch_size=512")
        self.fails(proc, TORCH_OOM)
        self.assertIn('recipes/full_finetune_single_device.py", line', proc.stderr)
        done = self.done(tune(*SINGLE, "batch_size=128", "gradient_accumulation_steps=4"),
                         micro=128, accum=4, effective=512)
        self.assertLessEqual(int(done["peak"]), 24 * GiB)

    def test_validation(self):
        proc = tune(*SINGLE, "run_val_every_n_steps=5", "batch_size_val=4", "max_steps_per_epoch=10")
        self.done(proc)
        self.assertEqual(re.findall(r"^eval after step (\d+):", proc.stdout, re.M), ["5", "10"])
        # torchtune's validation keeps no predictions (SIMGPU_EVAL_PREDS is for HF's evaluation loop)
        proc = tune(*SINGLE, "run_val_every_n_steps=5", "batch_size_val=4", "max_steps_per_epoch=10",
                    env={"SIMGPU_EVAL_PREDS": "30GiB"})
        self.done(proc)


class DistributedTest(Case):
    def test_through_torchrun(self):
        proc = tune("run", "--nproc_per_node", "2", "full_finetune_distributed", "--config", "llama3_1/8B_full",
                    "batch_size=4", "gradient_accumulation_steps=2", SHORT, env={"SIMGPU_COUNT": "2"})
        self.assertEqual(proc.stdout.splitlines()[0], "Running with torchrun...")
        self.done(proc, micro=4, accum=2, effective=16, precision="bf16-true")
        self.assertEqual(proc.stderr.count("Running FullFinetuneRecipeDistributed with resolved config"), 1)

    def test_distributed_recipe_without_options_uses_torchrun(self):
        proc = tune("run", "lora_finetune_distributed", "--config", "llama3_1/8B_lora", "fsdp_cpu_offload=True", SHORT)
        self.assertEqual(proc.stdout.splitlines()[0], "Running with torchrun...")
        self.done(proc, effective=2, optimizer="torch.optim.AdamW+cpu_offload")

    def test_rank_oom_is_a_child_failure(self):
        proc = tune("run", "--nproc_per_node", "2", "full_finetune_distributed", "--config", "llama3_1/8B_full",
                    "batch_size=1024", env={"SIMGPU_COUNT": "2"})
        self.fails(proc, TORCH_OOM)
        self.assertIn("full_finetune_distributed.py FAILED", proc.stderr)
        self.assertNotIn("torchtune_recipes", proc.stderr)  # the stub's frame is left out
        self.assertIn('recipes/full_finetune_distributed.py", line', proc.stderr)


if __name__ == "__main__":
    unittest.main()
