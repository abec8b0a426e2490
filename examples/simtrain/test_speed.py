"""The ground-truth speed model (simgpu_speed) and the speed lines the jobs print from its simulated clock.

Every expected number is computed from the model; nothing here reads the wall clock or sleeps.
"""

import ast
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_speed as speed  # noqa: E402
from simgpu_proc import UsageError  # noqa: E402
from simtest_util import HERE, done_line, run  # noqa: E402

BIN = os.path.join(HERE, "bin")
RATE = re.compile(r"\| *(\d+)/(\d+) \[(\d\d:\d\d)<([^,\]]*), *([0-9.]+)(it/s|s/it)")


def job(**kwargs):
    kwargs.setdefault("micro_batch", 8)
    return simgpu.Job("t.py", env={}, **kwargs)


def bars(stderr):
    """(n, total, rate in it/s) of every bar drawn on stderr."""
    out = []
    for m in RATE.finditer(stderr):
        value = float(m.group(5))
        out.append((int(m.group(1)), int(m.group(2)), value if m.group(6) == "it/s" else 1 / value))
    return out


def tqdm_ema_rate(dts, smoothing=0.3):
    """What tqdm shows after one tick per interval of dts (tqdm's bias-corrected EMA of dn and dt)."""
    dn = dt = 0.0
    for x in dts:
        dn = smoothing * 1 + (1 - smoothing) * dn
        dt = smoothing * x + (1 - smoothing) * dt
    return dn / dt  # the bias corrections of dn and dt cancel


class ModelTest(unittest.TestCase):
    def test_defaults_and_factors(self):
        p = speed.params({})
        self.assertEqual((p.sample_time, p.batch_overhead, p.optim_time, p.pace), (0.002, 0.02, 0.03, 0.0))
        self.assertAlmostEqual(speed.micro_batch_seconds(job(micro_batch=64), {}), 0.02 + 64 * 0.002)
        cases = [(dict(precision="bf16"), 0.45), (dict(precision="fp16"), 0.45), (dict(precision="bf16-true"), 0.45),
                 (dict(checkpointing=True), 1.30), (dict(activation_offload=True), 1.15), (dict(fused_loss=True), 0.97),
                 (dict(precision="bf16", checkpointing=True, fused_loss=True), 0.45 * 1.30 * 0.97)]
        for kwargs, factor in cases:
            self.assertAlmostEqual(speed.compute_factor(job(**kwargs)), factor, msg=kwargs)
        offloaded = job(micro_batch=10, offload=True)
        self.assertAlmostEqual(speed.micro_batch_seconds(offloaded, {}), (0.02 + 10 * 0.002) * 1.10)
        self.assertAlmostEqual(speed.optimizer_seconds(offloaded, {}), 0.03 * 8.0)
        self.assertAlmostEqual(speed.optimizer_seconds(job(optimizer_kind="8bit"), {}), 0.03 * 1.03)
        self.assertAlmostEqual(speed.optimizer_seconds(job(), {}), 0.03)

    def test_step_warmup_and_rate(self):
        j = job(micro_batch=16, accumulation=4, precision="bf16")
        steady = 4 * (0.02 + 16 * 0.002 * 0.45) + 0.03
        self.assertAlmostEqual(speed.steady_step_seconds(j, {}), steady)
        self.assertEqual([round(speed.step_seconds(j, i, {}) / steady, 6) for i in range(1, 7)],
                         [4.0, 1.5, 1.5, 1.0, 1.0, 1.0])
        self.assertAlmostEqual(speed.steady_samples_per_second(j, {}), 64 / steady)
        self.assertAlmostEqual(speed.steady_samples_per_second(j, {}, world_size=4), 256 / steady)
        self.assertAlmostEqual(speed.run_seconds(j, 5, {}), (4 + 1.5 + 1.5 + 1 + 1) * steady)

    def test_environment(self):
        env = {"SIMGPU_SAMPLE_TIME": "0.01", "SIMGPU_BATCH_OVERHEAD": "0", "SIMGPU_OPTIM_TIME": "0.5",
               "SIMGPU_PACE": "2"}
        p = speed.params(env)
        self.assertEqual((p.sample_time, p.batch_overhead, p.optim_time, p.pace), (0.01, 0.0, 0.5, 2.0))
        self.assertAlmostEqual(speed.steady_step_seconds(job(micro_batch=10), env), 10 * 0.01 + 0.5)
        self.assertEqual(speed.params({"SIMGPU_SAMPLE_TIME": ""}).sample_time, 0.002)  # empty is unset
        bad = [("SIMGPU_SAMPLE_TIME", "0", "SIMGPU_SAMPLE_TIME: expected a number of seconds > 0, got '0'"),
               ("SIMGPU_SAMPLE_TIME", "fast", "SIMGPU_SAMPLE_TIME: expected a number of seconds > 0, got 'fast'"),
               ("SIMGPU_BATCH_OVERHEAD", "-1", "SIMGPU_BATCH_OVERHEAD: expected a number of seconds >= 0, got '-1'"),
               ("SIMGPU_OPTIM_TIME", "inf", "SIMGPU_OPTIM_TIME: expected a number of seconds >= 0, got 'inf'"),
               ("SIMGPU_PACE", "nan", "SIMGPU_PACE: expected a factor of the simulated time >= 0, got 'nan'")]
        for name, value, message in bad:
            with self.assertRaises(UsageError) as caught:
                speed.params({name: value})
            self.assertEqual(str(caught.exception), message)

    def test_bad_variable_is_a_usage_error(self):
        proc = run("train.py", "-b", "8", "--steps", "2", env={"SIMGPU_OPTIM_TIME": "slow"})
        self.assertEqual((proc.returncode, proc.stdout), (2, ""))
        self.assertEqual(proc.stderr.strip().splitlines()[-1],
                         "simtrain: SIMGPU_OPTIM_TIME: expected a number of seconds >= 0, got 'slow'")

    def test_tqdm_formats(self):
        self.assertEqual([speed.format_interval(t) for t in (0, 59.9, 61, 3725)], ["00:00", "00:59", "01:01", "1:02:05"])
        self.assertEqual([speed.rate_text(r) for r in (None, 2.913, 0.5, 1.0, 123.456)],
                         ["?it/s", " 2.91it/s", " 2.00s/it", " 1.00it/s", "123.46it/s"])
        self.assertEqual(speed.keras_time(0.052), " 52ms/step")
        self.assertEqual(speed.lightning_number(2.3101), "2.310")
        self.assertEqual(speed.nanogpt_num_params(dict(n_layer=12, n_head=12, n_embd=768, block_size=1024,
                                                       vocab_size=50304, bias=False)), 123587328)


class FormatsTest(unittest.TestCase):
    """Each framework's line gives the model's rate, the way that framework measures it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_timm_line_and_bar(self):
        proc = run("train.py", "--batch-size", "64", "--amp", "--amp-dtype", "bfloat16", "--log-interval", "5")
        j = job(micro_batch=64, precision="bf16")
        steady = speed.steady_step_seconds(j, {})
        lines = re.findall(r"^Train: 0 \[ *(\d+)/20 \( *(\d+)%\)\]  Loss: (\S+) \(\S+\)  Time: ([0-9.]+)s, +([0-9.]+)/s"
                           r"  \(([0-9.]+)s, +([0-9.]+)/s\)  LR: 1\.000e-05  Data: 0\.000 \(0\.000\)$", proc.stdout, re.M)
        self.assertEqual([int(line[0]) for line in lines], [0, 5, 10, 15, 19], proc.stdout)
        first, last = lines[0], lines[-1]
        self.assertEqual(first[3], "%.3f" % (4 * steady))  # step 1 warms up
        self.assertEqual(last[3:5], ("%.3f" % steady, "%.2f" % speed.steady_samples_per_second(j, {})))
        self.assertEqual(last[6], "%.2f" % (64 * 20 / speed.run_seconds(j, 20, {})))
        self.assertEqual(done_line(proc.stdout)["micro"], "64")
        n, total, rate = bars(proc.stderr)[-1]
        dts = [speed.step_seconds(j, i, {}) for i in range(1, 21)]
        self.assertEqual((n, total, "%.2f" % rate), (20, 20, "%.2f" % tqdm_ema_rate(dts)))
        self.assertAlmostEqual(rate, 1 / steady, delta=0.005 / steady)

    def test_timm_rate_follows_the_environment(self):
        env = {"SIMGPU_SAMPLE_TIME": "0.01", "SIMGPU_BATCH_OVERHEAD": "0.1", "SIMGPU_OPTIM_TIME": "0.4"}
        proc = run("train.py", "-b", "32", "--steps", "6", env=env)
        per_s = re.findall(r"^Train: 0 \[   5/6 .*Time: ([0-9.]+)s, +([0-9.]+)/s", proc.stdout, re.M)
        self.assertEqual(per_s, [("0.820", "%.2f" % (32 / 0.82))])
        self.assertIn("s/it", proc.stderr)  # below one step a second, tqdm shows seconds an iteration

    def test_hf_trainer_bar_logs_and_summary(self):
        proc = run("run_clm.py", "--output_dir", self.tmp, "--do_train", "--per_device_train_batch_size", "16",
                   "--gradient_accumulation_steps", "2", "--bf16", "--logging_steps", "5")
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        j = job(micro_batch=16, accumulation=2, precision="bf16")
        runtime = speed.run_seconds(j, 20, {})
        logs = [ast.literal_eval(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        self.assertEqual([log.get("epoch") for log in logs], [0.25, 0.5, 0.75, 1.0, 1.0])
        self.assertEqual(logs[1]["learning_rate"], 2.5e-05)
        self.assertEqual(list(logs[-1]), ["train_runtime", "train_samples_per_second", "train_steps_per_second",
                                          "train_loss", "epoch"])
        self.assertEqual(logs[-1]["train_runtime"], round(runtime, 4))
        self.assertEqual(logs[-1]["train_samples_per_second"], round(20 * 32 / runtime, 3))
        self.assertEqual(logs[-1]["train_steps_per_second"], round(20 / runtime, 3))
        self.assertIn("\r 35%|███▌      | 7/20 [00:", proc.stderr)  # tqdm without a desc
        n, total, rate = bars(proc.stderr)[-1]
        dts = [speed.step_seconds(j, i, {}) for i in range(1, 21)]
        self.assertEqual((n, total, "%.2f" % rate), (20, 20, "%.2f" % tqdm_ema_rate(dts)))

    def test_resumed_run_warms_up_again(self):
        first = run("run_clm.py", "--output_dir", self.tmp, "--do_train", "--max_steps", "10", "--save_steps", "5")
        self.assertEqual(first.returncode, 0, first.stderr[-2000:])
        proc = run("run_clm.py", "--output_dir", self.tmp, "--do_train", "--max_steps", "10",
                   "--resume_from_checkpoint", os.path.join(self.tmp, "checkpoint-5"))
        summary = ast.literal_eval([line for line in proc.stdout.splitlines() if line.startswith("{'train_")][0])
        runtime = speed.run_seconds(job(), 5, {})  # steps 6..10, the first three of this process warm up
        self.assertEqual(summary["train_runtime"], round(runtime, 4))
        self.assertEqual(summary["train_samples_per_second"], round(10 * 8 / runtime, 3))  # HF counts max_steps
        self.assertIn("\r 50%|█████     | 5/10 [00:00<?, ?it/s]", proc.stderr)

    def test_deepspeed_timer(self):
        ds = os.path.join(self.tmp, "ds.json")
        with open(ds, "w") as handle:
            handle.write('{"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto", '
                         '"zero_optimization": {"stage": 2}}')
        proc = run("run_clm.py", "--output_dir", self.tmp, "--do_train", "--gradient_accumulation_steps", "3",
                   "--deepspeed", ds)
        j = job(micro_batch=8, accumulation=3)
        lines = re.findall(r"^\[2026-01-01 [0-9:,]+\] \[INFO\] \[timer\.py:260:stop\] epoch=0/micro_step=(\d+)/"
                           r"global_step=(\d+), RunningAvgSamplesPerSec=([0-9.]+), CurrSamplesPerSec=([0-9.]+), "
                           r"MemAllocated=[0-9.]+GB, MaxMemAllocated=[0-9.]+GB$", proc.stdout, re.M)
        self.assertEqual([line[:2] for line in lines], [("30", "10"), ("60", "20")], proc.stdout[-2000:])
        self.assertAlmostEqual(float(lines[1][3]), speed.steady_samples_per_second(j, {}))
        timed = sum(speed.step_seconds(j, i, {}) for i in range(3, 21))  # DeepSpeed times from step 3 on
        self.assertAlmostEqual(float(lines[1][2]), 24 / (timed / 18))

    def test_lightning_bar_ticks_per_batch(self):
        proc = run("lightning_main.py", "fit", "--trainer.accumulate_grad_batches", "2", "--trainer.max_steps", "10",
                   "--trainer.logger", "false", cwd=self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        j = job(micro_batch=16, accumulation=2)
        drawn = bars(proc.stderr)
        self.assertTrue(proc.stderr.startswith("\rEpoch 0:   0%|          | 0/20 [00:00<?, ?it/s]"), proc.stderr[:200])
        self.assertEqual([n for n, _, _ in drawn], list(range(1, 21)))
        self.assertIn("\rEpoch 0: 100%|██████████| 20/20 [00:", proc.stderr)
        self.assertTrue(proc.stderr.split("\r")[-1].rstrip().endswith(", train_loss=1.670]"), proc.stderr[-300:])
        # Lightning's bar has smoothing 0: batches over the time since the epoch began
        self.assertEqual("%.2f" % drawn[-1][2], "%.2f" % (20 / speed.run_seconds(j, 10, {})))
        first_batch = speed.micro_batch_seconds(j, {}) * 4
        self.assertEqual("%.2f" % drawn[0][2], "%.2f" % (1 / first_batch))

    def test_lightning_bar_never_inverts_its_rate(self):
        # Lightning's BAR_FORMAT shows rate_noinv_fmt: below one batch a second, still it/s.
        env = {"SIMGPU_SAMPLE_TIME": "0.1"}
        proc = run("lightning_main.py", "fit", "--trainer.max_steps", "3", "--trainer.logger", "false",
                   cwd=self.tmp, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        drawn = bars(proc.stderr)
        self.assertEqual(len(drawn), 3, proc.stderr[-500:])
        self.assertTrue(all(rate < 1 for _, _, rate in drawn), drawn)
        self.assertNotIn("s/it", proc.stderr)

    def test_nanogpt_iter_lines(self):
        proc = run("nanogpt/train.py", "--batch_size=4", "--gradient_accumulation_steps=8", "--max_iters=8",
                   cwd=self.tmp)
        lines = re.findall(r"^iter (\d+): loss ([0-9.]+), time ([0-9.]+)ms, mfu (-?[0-9.]+)%$", proc.stdout, re.M)
        j = job(micro_batch=4, accumulation=8)
        self.assertEqual([int(line[0]) for line in lines], list(range(8)))
        self.assertEqual([line[2] for line in lines], ["%.2f" % (speed.step_seconds(j, i, {}) * 1000)
                                                       for i in range(1, 9)])
        self.assertEqual([line[3] for line in lines[:5]], ["-100.00"] * 5)
        model_args = dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, bias=False)
        mfu = speed.nanogpt_mfu(model_args, 32, speed.steady_step_seconds(j, {})) * 100
        self.assertEqual([line[3] for line in lines[5:]], ["%.2f" % mfu] * 3)

    def test_keras_epoch_line(self):
        proc = run("keras_train.py", "--batch_size", "32", "--epochs", "2", "--steps", "5")
        j = job(micro_batch=32)
        lines = [line for line in proc.stdout.split("\n") if "/step" in line]
        self.assertEqual(len(lines), 2, proc.stdout)
        self.assertIn("Epoch 2/2\n", proc.stdout)
        plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
        first = (speed.run_seconds(j, 5, {}) - speed.step_seconds(j, 1, {})) / 4  # Keras leaves step 1 out
        self.assertEqual(plain[0], "\r5/5 ━━━━━━━━━━━━━━━━━━━━ 1s %.0fms/step - loss: 2.3684" % (first * 1000))
        self.assertRegex(plain[1], r"^\r5/5 ━{20} 1s %.0fms/step - loss: 1\.8340$"
                         % (speed.steady_step_seconds(j, {}) * 1000))

    def test_torchtune_tokens_per_second(self):
        env = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
        proc = run("bin/tune", "run", "full_finetune_single_device", "--config", "llama3_1/8B_full_single_device",
                   "metric_logger._component_=torchtune.training.metric_logging.StdoutLogger", "max_steps_per_epoch=5",
                   "tokenizer.max_seq_len=1024", "batch_size=4", env=env, cwd=self.tmp, python=False)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        lines = re.findall(r"^Step (\d+) \| loss:\S+ lr:\S+ tokens_per_second_per_gpu:([0-9.]+) $", proc.stdout, re.M)
        self.assertEqual([line[0] for line in lines], ["1", "2", "3", "4", "5"], proc.stdout)
        j = job(micro_batch=4, precision="bf16-true", checkpointing=True, fused_loss=True)
        self.assertAlmostEqual(float(lines[-1][1]), 4 * 1024 / speed.steady_step_seconds(j, {}))
        self.assertAlmostEqual(float(lines[0][1]), 4 * 1024 / speed.step_seconds(j, 1, {}))


if __name__ == "__main__":
    unittest.main()
