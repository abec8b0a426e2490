"""Unit tests of the simulated GPU: sizes, OOM texts, the memory model, options, YAML, HF parsing."""

import ast
import contextlib
import glob
import io
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_model  # noqa: E402
import simgpu_oom  # noqa: E402
import simgpu_proc  # noqa: E402
import simgpu_yaml  # noqa: E402
from simtest_util import HERE, TORCH2, GiB, MiB, size  # noqa: E402


class FormatSizeTest(unittest.TestCase):
    def test_pytorch_rules(self):
        cases = {
            0: "0 bytes", 1: "1 bytes", 1023: "1023 bytes", 1024: "1024 bytes", 1025: "1.00 KiB",
            1536: "1.50 KiB", MiB: "1024.00 KiB", MiB + 1: "1.00 MiB", 20 * MiB: "20.00 MiB", GiB: "1024.00 MiB",
            GiB + 1: "1.00 GiB", 24 * GiB: "24.00 GiB", int(2.3 * GiB): "2.30 GiB", 2 ** 64 - 1: "17179869184.00 GiB",
        }
        for value, text in cases.items():
            self.assertEqual(simgpu.format_size(value), text, value)

    def test_tensorflow_human_bytes(self):
        cases = {0: "0B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB", MiB: "1.00MiB", 1342177280: "1.25GiB",
                 3355443200: "3.12GiB", 3 * GiB + 700 * MiB: "3.68GiB"}
        for value, text in cases.items():
            self.assertEqual(simgpu.tf_human_bytes(value), text, value)


def figures(**kw):
    base = dict(device=1, capacity=24 * GiB, others=[(1234, 2 * GiB)], allocated=18 * GiB,
                reserved_unallocated=int(2.7 * GiB), free=int(1.3 * GiB), tried=2 * GiB, tensor_bytes=2 * GiB,
                shape=(256, 2097152), dtype="float", op="sequential/dense_3/MatMul", budget=22 * GiB, peak=18 * GiB,
                allocations=7, tf_defined_at='    File "x.py", line 3, in <module>\n      fit()\n',
                tf_function="__inference_train_function_9")
    base.update(kw)
    return simgpu_oom.Figures(**base)


class OOMTextTest(unittest.TestCase):
    def test_pytorch_2x_text(self):
        lines, err = simgpu_oom.build("pytorch", figures(allowed=22 * GiB))
        self.assertEqual(lines, [])
        self.assertEqual(type(err).__module__ + "." + type(err).__qualname__, "torch.OutOfMemoryError")
        self.assertIsInstance(err, RuntimeError)
        self.assertEqual(str(err), (
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total capacity of 24.00 GiB of which "
            "1.30 GiB is free. Process 1234 has 2.00 GiB memory in use. Including non-PyTorch memory, this "
            "process has 20.70 GiB memory in use. 22.00 GiB allowed; Of the allocated memory 18.00 GiB is "
            "allocated by PyTorch, and 2.70 GiB is reserved by PyTorch but unallocated. If reserved but "
            "unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
            "fragmentation.  See documentation for Memory Management  "
            "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"))

    def test_pytorch_21_text(self):
        _, err = simgpu_oom.build("pytorch-2.1", figures(device=0))
        self.assertEqual(type(err).__module__ + "." + type(err).__qualname__, "torch.OutOfMemoryError")
        self.assertEqual(str(err), (
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacty of 24.00 GiB of which "
            "1.30 GiB is free. Process 1234 has 2.00 GiB memory in use. Process %d has 20.70 GiB memory in use. "
            "Of the allocated memory 18.00 GiB is allocated by PyTorch, and 2.70 GiB is reserved by PyTorch but "
            "unallocated. If reserved but unallocated memory is large try setting max_split_size_mb to avoid "
            "fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF" % os.getpid()))

    def test_pytorch_1x_text(self):
        _, err = simgpu_oom.build("pytorch-1x", figures(device=0))
        self.assertEqual(type(err).__qualname__, "RuntimeError")
        self.assertEqual(type(err).__module__, "builtins")
        self.assertEqual(str(err), (
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 24.00 GiB total capacity; 18.00 GiB already "
            "allocated; 1.30 GiB free; 20.70 GiB reserved in total by PyTorch) If reserved memory is >> allocated "
            "memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory "
            "Management and PYTORCH_CUDA_ALLOC_CONF"))

    def test_pytorch_async_text(self):
        _, err = simgpu_oom.build("pytorch-async", figures(device=0))
        self.assertEqual(str(err), (
            "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
            "Currently allocated     : 18.00 GiB\nRequested               : 2.00 GiB\n"
            "Device limit            : 24.00 GiB\nFree (according to CUDA): 1.30 GiB\n"
            "PyTorch limit (set by user-supplied memory fraction)\n                        : 17179869184.00 GiB"))

    def test_cuda_error_text(self):
        _, err = simgpu_oom.build("cuda-error", figures())
        self.assertTrue(str(err).startswith("CUDA error: out of memory\nCUDA kernel errors might be"))

    def test_tensorflow_texts(self):
        lines, err = simgpu_oom.build("tensorflow", figures(tensor_bytes=2 * GiB + 100))
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}: W [^ ]+bfc_allocator\.cc:\d+\] "
                                   r"Allocator \(GPU_0_bfc\) ran out of memory trying to allocate 2\.00GiB "
                                   r"\(rounded to 2147483904\) from the lower end requested by op "
                                   r"sequential/dense_3/MatMul$")
        self.assertIn("'TF_GPU_ALLOCATOR=cuda_malloc_async' may improve the situation.", lines[1])
        self.assertIn("Current allocation summary follows.", lines)
        self.assertTrue(lines[-1].endswith(
            "RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[256,2097152] and type float on "
            "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc"))
        self.assertEqual(type(err).__module__, "tensorflow.python.framework.errors_impl")
        self.assertEqual(str(err).splitlines()[:4], [
            "Graph execution error:", "", "Detected at node 'sequential/dense_3/MatMul' defined at (most recent "
            "call last):", '    File "x.py", line 3, in <module>'])
        self.assertIn("\nOOM when allocating tensor with shape[256,2097152] and type float on "
                      "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc\n", str(err))
        self.assertTrue(str(err).endswith(" [Op:__inference_train_function_9]"))

    def test_tensorflow_async_allocator_texts(self):
        lines, err = simgpu_oom.build("tensorflow", figures(tf_allocator="cuda_malloc_async"))
        self.assertRegex(lines[0], r"gpu_async_0 cuMemAllocAsync failed to allocate 2147483648 bytes: CUDA error: "
                                   r"out of memory \(CUDA_ERROR_OUT_OF_MEMORY\)$")
        self.assertEqual(lines[1], " Reported by CUDA: Free memory/Total memory: %d/%d" % (int(1.3 * GiB), 24 * GiB))
        self.assertIn("by allocator gpu_async_0", str(err))

    def test_jax_text(self):
        _, err = simgpu_oom.build("jax", figures())
        self.assertEqual(type(err).__module__ + "." + type(err).__qualname__, "jaxlib.xla_extension.XlaRuntimeError")
        self.assertEqual(str(err), "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2147483648 bytes.")


def spec(env=None, fmt="pytorch"):
    return simgpu_model.GPUSpec(env or {}, fmt)


class DeviceTest(unittest.TestCase):
    def fail_once(self, env, fmt="pytorch", first=20 * GiB, request=4 * GiB):
        device = simgpu_model.Device(spec(env, fmt))
        device.allocate(first)
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(simgpu.SimulatedOOM) as caught:
                device.allocate(request)
        return device, caught.exception

    def test_figures_are_consistent(self):
        env = {"SIMGPU_OTHER": "42:1GiB,43:512MiB"}
        device, err = self.fail_once(env, first=18 * GiB, request=3 * GiB)
        fig = device.figures(3 * GiB)
        others = int(1.5 * GiB)
        self.assertEqual(fig.allocated, 18 * GiB)
        self.assertEqual(fig.reserved_unallocated, int(18 * GiB * 0.15))
        self.assertEqual(fig.free, 24 * GiB - others - fig.allocated - fig.reserved_unallocated)
        self.assertGreater(fig.tried, fig.free)
        parsed = TORCH2.search(str(err)).groupdict()
        self.assertEqual(parsed["procs"], "Process 42 has 1024.00 MiB memory in use. Process 43 has 512.00 MiB memory in use. ")
        total = size(parsed["allocated"]) + size(parsed["reserved"]) + size(parsed["free"]) + others
        self.assertAlmostEqual(total, size(parsed["capacity"]), delta=0.02 * GiB)
        self.assertGreater(size(parsed["tried"]), size(parsed["free"]))

    def test_fit_is_reserved_peak_within_budget(self):
        device = simgpu_model.Device(spec())
        budget = 24 * GiB
        fitting = budget * 100 // 115  # reserved(x) = x + floor(0.15 x) <= budget
        device.allocate(fitting)
        self.assertLessEqual(device.peak, budget)
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(simgpu.SimulatedOOM):
                device.allocate(2)

    def test_expandable_segments_lower_the_waste(self):
        for env in ({"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"},
                    {"PYTORCH_ALLOC_CONF": " garbage_collection_threshold:0.6, expandable_segments:True"},
                    {"PYTORCH_CUDA_ALLOC_CONF": "roundup_power2_divisions:[64:8,>:1],expandable_segments:True"}):
            self.assertEqual(float(spec(env).waste), 0.02, env)
        self.assertEqual(float(spec({"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"}).waste), 0.15)

    def test_bad_alloc_conf_fails_at_the_first_allocation(self):
        for value, text in (("expandable_segments:true", "Expected a single True/False argument for expandable_segments"),
                            ("bogus:1", "Unrecognized CachingAllocator option: bogus")):
            device = simgpu_model.Device(spec({"PYTORCH_CUDA_ALLOC_CONF": value}))
            with self.assertRaises(RuntimeError) as caught:
                device.allocate(1)
            self.assertEqual(str(caught.exception), text)

    def test_async_backend_switches_the_default_format(self):
        self.assertEqual(spec({"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"}).format, "pytorch-async")
        self.assertEqual(spec({"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"}, "pytorch-1x").format, "pytorch-1x")

    def test_fraction_budget_and_allowed(self):
        s = spec({"SIMGPU_FRACTION": "0.5"})
        self.assertEqual((s.budget, s.allowed), (12 * GiB, 12 * GiB))
        device, err = self.fail_once({"SIMGPU_FRACTION": "0.5"}, first=10 * GiB, request=GiB)
        self.assertIn("12.00 GiB allowed; ", str(err))

    def test_tensorflow_and_jax_budgets(self):
        self.assertEqual(float(spec({}, "tensorflow").waste), 0.15)
        self.assertEqual(float(spec({"TF_GPU_ALLOCATOR": "cuda_malloc_async"}, "tensorflow").waste), 0.02)
        self.assertEqual(float(spec({"TF_FORCE_GPU_ALLOW_GROWTH": "true"}, "tensorflow").waste), 0.02)
        self.assertEqual(float(spec({"TF_FORCE_GPU_ALLOW_GROWTH": "True"}, "tensorflow").waste), 0.15)
        self.assertEqual(spec({}, "jax").budget, 18 * GiB)
        self.assertEqual(spec({"XLA_PYTHON_CLIENT_MEM_FRACTION": ".95"}, "jax").budget, int(24 * GiB * 0.95))
        self.assertEqual(spec({"XLA_CLIENT_MEM_FRACTION": ".5", "XLA_PYTHON_CLIENT_MEM_FRACTION": ".95"}, "jax").budget,
                         12 * GiB)
        self.assertEqual(spec({"XLA_PYTHON_CLIENT_ALLOCATOR": "platform"}, "jax").budget, 24 * GiB)

    def test_sizes_and_bad_values(self):
        for text, value in (("24GiB", 24 * GiB), ("24G", 24 * GiB), ("24000MiB", 24000 * MiB), ("512M", 512 * MiB),
                            ("1234", 1234), ("1.5GiB", int(1.5 * GiB)), ("2gb", 2 * GiB), ("10 bytes", 10)):
            self.assertEqual(simgpu.parse_size(text, "X"), value, text)
        for bad in ({"SIMGPU_CAPACITY": "lots"}, {"SIMGPU_OTHER": "12:2GiB,oops"}, {"SIMGPU_FRACTION": "1.5"},
                    {"XLA_PYTHON_CLIENT_MEM_FRACTION": "x"}):
            fmt = "jax" if "XLA_PYTHON_CLIENT_MEM_FRACTION" in bad else "pytorch"
            with self.assertRaises(simgpu.UsageError) as caught:
                spec(bad, fmt)
            self.assertIn(list(bad)[0].split("_MEM")[0], str(caught.exception))


def job(**kw):
    base = dict(micro_batch=256, env={})
    base.update(kw)
    return simgpu.Job("t.py", **base)


class MemoryModelTest(unittest.TestCase):
    def test_demo_needs_three_fixes(self):
        low = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
        self.assertFalse(simgpu.estimate(job(), {})["train_fits"])
        self.assertFalse(simgpu.estimate(job(), low)["train_fits"])
        self.assertFalse(simgpu.estimate(job(precision="bf16"), low)["train_fits"])
        self.assertFalse(simgpu.estimate(job(precision="bf16", checkpointing=True), low)["train_fits"])
        self.assertFalse(simgpu.estimate(job(precision="bf16", micro_batch=128, accumulation=2), low)["train_fits"])
        fits = simgpu.estimate(job(precision="bf16", micro_batch=64, accumulation=4), low)
        self.assertTrue(fits["train_fits"])
        self.assertTrue(simgpu.estimate(job(precision="bf16", micro_batch=64, accumulation=4), {})["train_fits"])

    def test_formula(self):
        e = simgpu.estimate(job(), {})
        self.assertEqual((e["weights"], e["grads"], e["optimizer"], e["activations"]),
                         (2 * GiB, 2 * GiB, 4 * GiB, 100 * GiB))
        e = simgpu.estimate(job(precision="fp16", checkpointing=True, micro_batch=64), {})
        self.assertEqual(e["activations"], int(64 * 400 * MiB * 0.5 * 0.35))
        self.assertEqual(simgpu.estimate(job(optimizer_kind="8bit"), {})["optimizer"], GiB)
        self.assertEqual(simgpu.estimate(job(optimizer_kind="adafactor"), {})["optimizer"], GiB)
        self.assertEqual(simgpu.estimate(job(offload=True), {})["optimizer"], 0)
        e = simgpu.estimate(job(zero_stage=3, env={"WORLD_SIZE": "4"}), {})
        self.assertEqual((e["weights"], e["grads"], e["optimizer"]), (GiB // 2, GiB // 2, GiB))
        self.assertEqual(simgpu.estimate(job(eval_batch=10), {})["eval_need"], 2 * GiB + 6000 * MiB)
        self.assertEqual(simgpu.estimate(job(precision="bf16-true"), {})["weights"], GiB)

    def test_effective_batch_counts_the_world(self):
        self.assertEqual(job(micro_batch=8, accumulation=4, env={"WORLD_SIZE": "2"}).effective_batch, 64)


class YAMLTest(unittest.TestCase):
    def test_subset(self):
        text = ("---\n# comment\ntrainer:\n  precision: bf16-mixed  # trailing\n  accumulate_grad_batches: 4\n"
                "  devices: [0, 1]\n  callbacks:\n    - class_path: a.B\n      init_args:\n        x: 1\n"
                "    - plain\nmodel:\n  lr: 1e-4\n  name: 'it''s # not a comment'\n  on: yes\n"
                "data:\n  batch_size: 32\n  empty:\n  flow: {a: 1, b: \"x\"}\n")
        self.assertEqual(simgpu.load_yaml(text), {
            "trainer": {"precision": "bf16-mixed", "accumulate_grad_batches": 4, "devices": [0, 1],
                        "callbacks": [{"class_path": "a.B", "init_args": {"x": 1}}, "plain"]},
            "model": {"lr": 1e-4, "name": "it's # not a comment", "on": True},
            "data": {"batch_size": 32, "empty": None, "flow": {"a": 1, "b": "x"}},
        })
        self.assertEqual(simgpu.load_yaml(""), {})

    def test_errors_name_file_and_line(self):
        cases = {"a: 1\n  b: 2\n": "f.yaml:2: bad indentation", "a:\n\tb: 1\n": "f.yaml:2: tab in indentation",
                 "a: &x 1\n": "f.yaml:1: anchors", "a: 1\na: 2\n": "f.yaml:2: duplicate key 'a'",
                 "a: [1, 2\n": "f.yaml:1: unterminated flow sequence", "a: |\n  x\n": "f.yaml:1: block scalars",
                 "just text\n": "f.yaml:1: expected 'key: value'"}
        for text, message in cases.items():
            with self.assertRaises(simgpu.YAMLError) as caught:
                simgpu_yaml.loads(text, "f.yaml")
            self.assertTrue(str(caught.exception).startswith(message), (text, str(caught.exception)))

    def test_missing_file(self):
        with self.assertRaises(simgpu.YAMLError) as caught:
            simgpu.load_yaml_file(os.path.join(HERE, "no-such.yaml"))
        self.assertIn("no-such.yaml: cannot read", str(caught.exception))


class SimOptionsTest(unittest.TestCase):
    def test_flags_come_out_and_env_fills_in(self):
        opts, rest = simgpu_proc.parse(
            ["-b", "8", "--sim-workers", "2", "--sim-fail", "--step-time=0.5", "--sim-format=jax", "--x"],
            {"SIMTRAIN_SURVIVE_OOM": "3", "SIMTRAIN_WORKERS": "9", "SIMTRAIN_HANG_AFTER_OOM": "yes"}, "pytorch")
        self.assertEqual(rest, ["-b", "8", "--x"])
        self.assertEqual((opts.workers, opts.fail, opts.step_time, opts.format, opts.survive_oom, opts.hang_after_oom),
                         (2, True, 0.5, "jax", 3, True))
        opts, _ = simgpu_proc.parse([], {}, "tensorflow")
        self.assertEqual((opts.format, opts.workers, opts.big_output, opts.step_time, opts.unseen_step),
                         ("tensorflow", 0, None, 0.005, False))
        opts, _ = simgpu_proc.parse(["--sim-unseen-step"], {}, "pytorch")
        self.assertTrue(opts.unseen_step)

    def test_bad_options(self):
        for argv, env, text in ((["--sim-workers", "x"], {}, "--sim-workers: expected an integer"),
                                (["--sim-nope"], {}, "--sim-nope: unknown sim option"),
                                (["--sim-survive-oom"], {}, "--sim-survive-oom: expects a value"),
                                ([], {"SIMTRAIN_FAIL": "maybe"}, "SIMTRAIN_FAIL: expected true or false")):
            with self.assertRaises(simgpu.UsageError) as caught:
                simgpu_proc.parse(argv, env, "pytorch")
            self.assertIn(text, str(caught.exception))


class HFArgumentParserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hf = simgpu.Frameworks().transformers

    def parse(self, *args):
        parser = self.hf.HfArgumentParser(self.hf.TrainingArguments)
        return parser.parse_args_into_dataclasses(args=["--output_dir", "o"] + list(args), look_for_args_file=False)[0]

    def test_bools(self):
        self.assertFalse(self.parse().bf16)
        self.assertTrue(self.parse("--bf16").bf16)
        for value, expected in (("True", True), ("yes", True), ("1", True), ("T", True), ("no", False),
                                ("FALSE", False), ("0", False), ("n", False)):
            self.assertIs(self.parse("--gradient_checkpointing", value).gradient_checkpointing, expected, value)
        args = self.parse("--bf16", "--per_device_train_batch_size", "4")
        self.assertEqual((args.bf16, args.per_device_train_batch_size), (True, 4))
        self.assertFalse(self.parse("--no_remove_unused_columns").remove_unused_columns)

    def test_aliases_abbreviations_and_defaults(self):
        args = self.parse("--per-device-train-batch-size", "4", "--gradient_acc", "8")
        self.assertEqual((args.per_device_train_batch_size, args.gradient_accumulation_steps), (4, 8))
        args = self.parse()
        self.assertEqual((args.per_device_train_batch_size, args.per_device_eval_batch_size,
                          args.gradient_accumulation_steps, args.optim, args.max_steps),
                         (8, 8, 1, "adamw_torch", 20))

    def test_refusals(self):
        with self.assertRaises(ValueError) as caught:
            self.parse("--frobnicate", "1")
        self.assertEqual(str(caught.exception),
                         "Some specified arguments are not used by the HfArgumentParser: ['--frobnicate', '1']")
        for bad in (["--bf16", "maybe"], ["--optim", "adam_magic"]):
            with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
                self.parse(*bad)
            self.assertIn("error: argument --", err.getvalue())
        with self.assertRaises(ValueError) as caught:
            self.parse("--bf16", "--fp16")
        self.assertIn("At most one of fp16 and bf16", str(caught.exception))


class SourcesTest(unittest.TestCase):
    def test_python_38_syntax(self):
        files = glob.glob(os.path.join(HERE, "*.py")) + glob.glob(os.path.join(HERE, "nanogpt", "*.py"))
        files += [os.path.join(HERE, "bin", name) for name in ("torchrun", "accelerate", "deepspeed")]
        for path in files:
            with open(path, encoding="utf-8") as handle:
                ast.parse(handle.read(), path, feature_version=(3, 8))
        fw = simgpu.Frameworks()
        for module in ("simgpu_src_torch", "simgpu_src_hf", "simgpu_src_lightning", "simgpu_src_keras"):
            for relpath, source in __import__(module).SOURCES.items():
                ast.parse(source, relpath, feature_version=(3, 8))
        self.assertIsNotNone(fw.lightning.Trainer)
        self.assertIsNotNone(fw.keras.Sequential)


if __name__ == "__main__":
    unittest.main()


class UsageReportTest(unittest.TestCase):
    """With VRAMRUN_SIMGPU set the job tells vramrun's simulated GPU what it uses."""

    def test_usage_file_follows_allocations(self):
        import tempfile
        folder = tempfile.mkdtemp()
        env = {"VRAMRUN_SIMGPU": folder}
        device = simgpu_model.Device(simgpu_model.GPUSpec(env, "pytorch"), env)
        device.usage.INTERVAL = 0  # every change is written
        device.allocate(1 << 30)
        path = os.path.join(folder, "%d.mem" % os.getpid())
        with open(path) as f:
            first = int(f.read())
        self.assertGreaterEqual(first, 1 << 30)
        device.release(1 << 30)
        with open(path) as f:
            self.assertLess(int(f.read()), first)
        self.assertFalse(os.path.exists(path + ".tmp"))

    def test_no_folder_no_file(self):
        device = simgpu_model.Device(simgpu_model.GPUSpec({}, "pytorch"), {})
        device.allocate(1 << 20)
        self.assertEqual(device.usage.path, "")


class LogitsShareTest(unittest.TestCase):
    """SIMGPU_LOGITS_SHARE moves activations into one big tensor without changing the total."""

    def test_total_is_unchanged_and_request_is_big(self):
        job = simgpu.Job("train.py", 1000, precision="fp16")
        plain = simgpu.estimate(job, env={})
        shared = simgpu.estimate(job, env={"SIMGPU_LOGITS_SHARE": "0.8"})
        self.assertAlmostEqual(plain["activations"], shared["activations"], delta=64)
        plan = simgpu_model.Plan(job, simgpu_model.GPUSpec({"SIMGPU_LOGITS_SHARE": "0.8"}, "pytorch"))
        self.assertGreater(plan.logits, 0.75 * shared["activations"])

    def test_bad_share_is_refused(self):
        with self.assertRaises(Exception):
            simgpu_model.GPUSpec({"SIMGPU_LOGITS_SHARE": "1.5"}, "pytorch")


class MemoryFixesTest(unittest.TestCase):
    """Job's fused_loss, activation_offload and eval_accumulation, as simgpu.estimate sees them."""

    def test_fused_loss_and_activation_offload(self):
        env = {"SIMGPU_LOGITS_SHARE": "0.8"}
        # 96 x 200 MiB of bf16 activations: 15 GiB of logits, 3.75 GiB of the rest
        make = lambda **kw: simgpu.Job("run_clm.py", 96, precision="bf16", **kw)  # noqa: E731
        plain = simgpu.estimate(make(), env=env)
        self.assertEqual(plain["activations"], 96 * 200 * MiB)
        self.assertFalse(plain["train_fits"])
        fused = simgpu.estimate(make(fused_loss=True), env=env)
        self.assertEqual(fused["activations"], 15 * GiB // 8 + 3.75 * GiB)
        self.assertTrue(fused["train_fits"])
        offloaded = simgpu.estimate(make(activation_offload=True), env=env)
        self.assertEqual(offloaded["activations"], 15 * GiB + 3.75 * GiB / 4)
        both = simgpu.estimate(make(fused_loss=True, activation_offload=True), env=env)
        self.assertEqual(both["activations"], 15 * GiB // 8 + 3.75 * GiB / 4)
        # without a logits share a fused loss saves nothing; offload shrinks all the activations
        self.assertEqual(simgpu.estimate(make(fused_loss=True), env={})["activations"], 96 * 200 * MiB)
        self.assertEqual(simgpu.estimate(make(activation_offload=True), env={})["activations"], 96 * 50 * MiB)
        for job in (make(), make(fused_loss=True), make(activation_offload=True)):
            self.assertEqual(simgpu.estimate(job, env=env)["eval_need"], plain["eval_need"])

    def test_eval_accumulation(self):
        env = {"SIMGPU_EVAL_PREDS": "30GiB"}
        make = lambda acc, batch=8: simgpu.Job("run_clm.py", 8, eval_batch=batch, precision="bf16",  # noqa: E731
                                               eval_accumulation=acc)
        base = simgpu.estimate(make(None), env={})["eval_need"]  # 2 GiB + 8 x 300 MiB
        self.assertEqual(simgpu.estimate(make(None), env=env)["eval_need"], base)  # keeps no predictions
        self.assertEqual(simgpu.estimate(make(0), env={})["eval_need"], base)  # SIMGPU_EVAL_PREDS unset
        unset = simgpu.estimate(make(0), env=env)
        self.assertEqual(unset["eval_need"], base + 30 * GiB)
        self.assertFalse(unset["eval_fits"])
        self.assertFalse(simgpu.estimate(make(0, batch=1), env=env)["eval_fits"])  # a smaller batch holds as much
        self.assertEqual(simgpu.estimate(make(2), env=env)["eval_need"], base + 30 * GiB)
        self.assertEqual(simgpu.estimate(make(5), env=env)["eval_need"], base + 30 * GiB)
        one = simgpu.estimate(make(1), env=env)
        self.assertEqual(one["eval_need"], base + 15 * GiB)
        self.assertTrue(one["eval_fits"])
        self.assertEqual(one["train_need"], unset["train_need"])


class SeveralGPUsTest(unittest.TestCase):
    """SIMGPU_COUNT machines: a process's GPU, and the other processes it shares it with."""

    def test_physical_device(self):
        uuid1 = simgpu_model.SIM_UUID % 1
        for env, logical, want in (({}, 0, 0), ({}, 1, 1), ({"CUDA_VISIBLE_DEVICES": "1"}, 0, 1),
                                   ({"CUDA_VISIBLE_DEVICES": uuid1}, 0, 1), ({"CUDA_VISIBLE_DEVICES": "0,1"}, 1, 1),
                                   ({"CUDA_VISIBLE_DEVICES": "GPU-unknown"}, 0, 0)):
            self.assertEqual(simgpu_model.physical_device(env, logical), want, (env, logical))

    def test_others_are_on_their_gpu(self):
        text = "11:1GiB,12:2GiB@1,13:3GiB@0"
        self.assertEqual(simgpu_model.parse_others(text), [(11, GiB), (13, 3 * GiB)])
        self.assertEqual(simgpu_model.parse_others(text, 1), [(12, 2 * GiB)])
        with self.assertRaisesRegex(simgpu_model.UsageError, "PID:SIZE\\[@GPU\\]"):
            simgpu_model.parse_others("11:1GiB@x")

    def test_a_job_on_gpu_1_does_not_count_gpu_0s_processes(self):
        env = {"SIMGPU_OTHER": "4242:20GiB@0", "CUDA_VISIBLE_DEVICES": simgpu_model.SIM_UUID % 1}
        self.assertEqual(simgpu_model.GPUSpec(env, "pytorch").others, [])
        self.assertEqual(simgpu_model.GPUSpec({"SIMGPU_OTHER": "4242:20GiB@0"}, "pytorch").others, [(4242, 20 * GiB)])


class GPUFaultTest(unittest.TestCase):
    def test_the_xid_is_handed_to_the_simulated_gpu_then_cuda_fails(self):
        import threading
        import simgpu_run
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "xid-%d" % os.getpid())
            seen = []

            def driver():  # vramrun's simulated NVML: report the Xid, remove the file
                while True:  # as launcher/gpu/simgpu.go, skip a file not written whole yet
                    if os.path.exists(path):
                        with open(path) as f:
                            text = f.read()
                        if text.endswith("\n"):
                            break
                    time.sleep(0.005)
                seen.append(text)
                os.remove(path)

            t = threading.Thread(target=driver)
            t.start()
            with self.assertRaisesRegex(RuntimeError, "^CUDA error: unspecified launch failure"):
                simgpu_run.gpu_fault(79, {"VRAMRUN_SIMGPU": folder})
            t.join()
            self.assertEqual(seen, ["79\n"])


class SilentOOMTest(unittest.TestCase):
    def test_silent_format_has_no_oom_text(self):
        _, err = simgpu_oom.build("silent", figures(device=0))
        self.assertIs(type(err), RuntimeError)
        self.assertTrue(str(err).startswith("CUDA error: an illegal memory access was encountered\n"))
        self.assertNotIn("out of memory", str(err))

    def test_held_usage_stays_until_the_process_exits(self):
        with tempfile.TemporaryDirectory() as folder:
            report = simgpu_model.UsageReport({"VRAMRUN_SIMGPU": folder})
            report.update(12345, force=True)
            report.held = True
            report.update(0, force=True)  # the exception unwinding frees tensors
            with open(os.path.join(folder, "%d.mem" % os.getpid())) as f:
                self.assertEqual(f.read().strip(), "12345")

    def test_wait_seen_returns_once_nvml_read_the_value(self):
        with tempfile.TemporaryDirectory() as folder:
            report = simgpu_model.UsageReport({"VRAMRUN_SIMGPU": folder})
            report.update(12345, force=True)
            self.assertFalse(report.wait_seen(timeout=0), "nothing read yet")
            with open(os.path.join(folder, "%d.seen" % os.getpid()), "w") as f:
                f.write("12345\n")  # what vramrun's simulated NVML writes after reading <pid>.mem
            self.assertTrue(report.wait_seen(timeout=0))
            report.update(23456, force=True)
            self.assertFalse(report.wait_seen(timeout=0), "an older value was read")

    def test_wait_seen_counts_the_listings_that_read_the_value(self):
        with tempfile.TemporaryDirectory() as folder:
            report = simgpu_model.UsageReport({"VRAMRUN_SIMGPU": folder})
            report.update(12345, force=True)
            seen = os.path.join(folder, "%d.seen" % os.getpid())
            with open(seen, "w") as f:
                f.write("12345\n1\n")  # one sampler tick read it
            self.assertTrue(report.wait_seen(timeout=0))
            self.assertFalse(report.wait_seen(timeout=0, times=2), "read once, not twice")
            with open(seen, "w") as f:
                f.write("12345\n2\n")
            self.assertTrue(report.wait_seen(timeout=0, times=2))

    def test_finished_publishes_the_peak_the_caching_allocator_keeps(self):
        with tempfile.TemporaryDirectory() as folder:
            env = {"VRAMRUN_SIMGPU": folder}
            device = simgpu_model.Device(simgpu_model.GPUSpec(env, "pytorch"), env)
            for _ in range(16):  # a step's activations, then freed: the usage file falls back
                device.allocate(128 << 20)
            device.release(16 * (128 << 20))
            with open(os.path.join(folder, "%d.seen" % os.getpid()), "w") as f:
                f.write("%d\n1\n" % device.peak)  # as vramrun's NVML leaves it after a tick
            device.finished()
            with open(os.path.join(folder, "%d.mem" % os.getpid())) as f:
                self.assertEqual(int(f.read()), device.peak)
            self.assertEqual(device.peak, device.spec.reserved(16 * (128 << 20)))

    def test_vanish_leaves_nvml_nothing_to_see(self):
        """--sim-unseen-step: after the loaded level, no step and no peak reach the usage file."""
        with tempfile.TemporaryDirectory() as folder:
            env = {"VRAMRUN_SIMGPU": folder}
            device = simgpu_model.Device(simgpu_model.GPUSpec(env, "pytorch"), env)
            device.allocate(128 << 20)
            mem = os.path.join(folder, "%d.mem" % os.getpid())
            self.assertTrue(os.path.exists(mem))
            device.usage.vanish()
            self.assertFalse(os.path.exists(mem))
            for _ in range(16):
                device.allocate(128 << 20)
            device.finished()
            self.assertFalse(os.path.exists(mem), "nothing published after vanishing")

    def test_loaded_publishes_what_the_job_holds_before_its_first_step(self):
        with tempfile.TemporaryDirectory() as folder:
            env = {"VRAMRUN_SIMGPU": folder}
            device = simgpu_model.Device(simgpu_model.GPUSpec(env, "pytorch"), env)
            for _ in range(16):  # the weights, faster than the usage file is written
                device.allocate(128 << 20)
            level = device.spec.reserved(device.allocated)
            with open(os.path.join(folder, "%d.seen" % os.getpid()), "w") as f:
                f.write("%d\n2\n" % level)  # as vramrun's NVML leaves it after two ticks
            device.loaded()
            with open(os.path.join(folder, "%d.mem" % os.getpid())) as f:
                self.assertEqual(int(f.read()), level)

