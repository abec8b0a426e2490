"""Tests of acceptance.sh's own logic, on a machine without a GPU.

acceptance.sh runs as on the GPU machine, but against stand-ins (fakes.py):
vramrun replays a recorded run (testdata/) chosen by scenario, and the VRAM
holder is the real hold_vram.py on a stand-in torch with a pretend 80 GiB GPU.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import fakes

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata")
SCRIPT = os.path.join(HERE, "acceptance.sh")


class Acceptance(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        site, self.vramrun = fakes.write_fakes(self.dir)
        self.recordings = os.path.join(self.dir, "recordings")
        self.out = os.path.join(self.dir, "out")
        self.log = os.path.join(self.dir, "vramrun.log")
        self.torch_pids = os.path.join(self.dir, "torch.pids")
        os.makedirs(os.path.join(self.recordings, "doctor"))
        shutil.copyfile(os.path.join(DATA, "doctor_ok.json"), os.path.join(self.recordings, "doctor", "doctor.json"))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "TMPDIR": self.dir,
            "PYTHON": sys.executable,
            "PYTHONPATH": site,
            "PYTHONPYCACHEPREFIX": os.path.join(self.dir, "pyc"),
            "VRAMRUN": self.vramrun,
            "OUT": self.out,
            "FAKE_RECORDINGS": self.recordings,
            "FAKE_VRAMRUN_LOG": self.log,
            "FAKE_TORCH_PIDS": self.torch_pids,
        }

    def record(self, scenario, recording, status=0):
        """Scenario replays testdata/<recording>, vramrun exiting with status."""
        folder = os.path.join(self.recordings, scenario)
        shutil.copytree(os.path.join(DATA, recording), folder)
        with open(os.path.join(folder, "status"), "w") as f:
            f.write(str(status))

    def hang(self, scenario):
        os.makedirs(os.path.join(self.recordings, scenario))
        open(os.path.join(self.recordings, scenario, "hang"), "w").close()

    def run_script(self, *args, **env):
        return subprocess.run(["bash", SCRIPT, *args], env=dict(self.env, **env), cwd=self.dir,
                              capture_output=True, text=True, timeout=120)

    def rows(self):
        with open(os.path.join(self.out, "results.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def calls(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def runs(self):
        """The vramrun calls that ran a job (not version, doctor or plan)."""
        return [c for c in self.calls() if "--events" in c["argv"] and "plan" not in c["argv"]]

    def assert_holders_gone(self):
        with open(self.torch_pids) as f:
            pids = [int(p) for p in f.read().split()]
        self.assertTrue(pids)
        for pid in pids:
            with self.assertRaises(ProcessLookupError, msg=f"holder {pid} is still running"):
                os.kill(pid, 0)

    def test_scenarios_pass_and_fail_with_a_table(self):
        self.record("torch", "pass")
        self.record("jax", "pass")
        self.record("hf", "gave_up", status=1)
        done = self.run_script("doctor", "torch", "jax", "hf")
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual([(r["scenario"], r["result"]) for r in self.rows()],
                         [("doctor", "PASS"), ("torch", "PASS"), ("jax", "PASS"), ("hf", "FAIL")])
        with open(os.path.join(self.out, "summary.md")) as f:
            summary = f.read()
        self.assertTrue(summary.startswith("# vramrun real-GPU acceptance\n"), summary)
        self.assertIn("- vramrun: vramrun fake\n", summary)
        self.assertIn("| torch | PASS | 5 | allocator, mixed_precision, batch_size, grad_checkpointing | yes (64 = 32x2) |",
                      summary)
        self.assertIn("| hf | FAIL | 7 |", summary)
        self.assertIn("- hf: vramrun's outcome is 'gave_up', not 'ok'", summary)
        self.assertTrue(summary.endswith("3 passed, 1 failed\n"), summary)
        self.assertTrue(done.stdout.rstrip().endswith("3 passed, 1 failed"), done.stdout)
        self.assertIn("acceptance: hf: FAIL\n  - vramrun's outcome is 'gave_up', not 'ok'", done.stderr)
        for name in ("torch", "jax", "hf"):
            for suffix in (".events.jsonl", ".stdout.log", ".stderr.log", ".holder.log", ".plan.json"):
                self.assertTrue(os.path.exists(os.path.join(self.out, name + suffix)), name + suffix)
            with open(os.path.join(self.out, name + ".holder.json")) as f:
                held = json.load(f)
            self.assertEqual((held["total_bytes"], held["free_bytes"]), (80 << 30, (16 if name == "jax" else 12) << 30))
        self.assert_holders_gone()

    def test_how_vramrun_and_the_job_are_started(self):
        for name in ("torch", "torch-ckpt", "lightning", "jax", "hf-eval"):
            self.record(name, "pass")
        done = self.run_script("torch", "torch-ckpt", "lightning", "jax", "hf-eval")
        self.assertEqual(done.returncode, 1, done.stderr)  # hf-eval's expectations do not match torch's recording
        runs = {os.path.basename(c["argv"][c["argv"].index("--events") + 1]).split(".")[0]: c for c in self.runs()}
        self.assertEqual(sorted(runs), ["hf-eval", "jax", "lightning", "torch", "torch-ckpt"])
        for name, call in runs.items():
            argv = call["argv"]
            self.assertEqual(call["cwd"], HERE, name)
            self.assertTrue(call["holder_alive"], f"{name} ran without the VRAM holder")
            for flag in ("--no-learn", "--pty"):
                self.assertIn(flag, argv[:argv.index("--")], name)
            self.assertEqual(argv[argv.index("--events") + 1], os.path.join(self.out, f"{name}.events.jsonl"))
            self.assertEqual(argv[argv.index("--max-attempts") + 1], "8")
            self.assertEqual(argv[argv.index("--") + 1], sys.executable)
        job = lambda name: runs[name]["argv"][runs[name]["argv"].index("--") + 2:]
        self.assertEqual(job("torch"), ["torch_lm.py", "--steps", "4"])
        self.assertNotIn("--ladder", runs["torch"]["argv"])
        self.assertEqual(runs["torch-ckpt"]["argv"][runs["torch-ckpt"]["argv"].index("--ladder") + 1],
                         "grad_checkpointing,batch_size")
        self.assertEqual(runs["lightning"]["argv"][runs["lightning"]["argv"].index("--profile") + 1], "lightning")
        self.assertEqual(job("lightning"), ["lightning_train.py", "--batch_size", "64", "--max_steps", "4"])
        self.assertEqual(job("hf-eval")[0], "hf_trainer.py")
        self.assertIn("--per_device_eval_batch_size", job("hf-eval"))
        # JAX starts with 3 GiB of the pretend 80 GiB GPU as its memory fraction.
        self.assertEqual(runs["jax"]["env"], {"XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                                              "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.0375"})
        self.assertEqual(runs["torch"]["env"], {})
        rows = {r["scenario"]: r for r in self.rows()}
        self.assertEqual(rows["hf-eval"]["problems"], [
            "expected fix(es) not applied: eval_batch_size (applied: allocator, mixed_precision, batch_size, "
            "grad_checkpointing)",
            "effective batch changed: 4 -> 64 (32 x 2 x 1)",
        ])
        self.assert_holders_gone()

    def test_the_tune_scenario(self):
        self.record("tune", "tune_pass")
        done = self.run_script("tune")
        self.assertEqual(done.returncode, 0, done.stderr)
        (call,) = self.runs()
        argv = call["argv"]
        dash = argv.index("--")
        self.assertEqual(argv[:2], ["tune", "--json"])
        self.assertEqual(argv[argv.index("--trials") + 1], "4")
        self.assertEqual(argv[argv.index("--trial-readings") + 1], "5")
        self.assertEqual(argv[argv.index("--trial-time") + 1], "60s")
        self.assertEqual(argv[argv.index("--events") + 1], os.path.join(self.out, "tune.events.jsonl"))
        for flag in ("--no-learn", "--pty", "--gpu-poll", "-v"):
            self.assertIn(flag, argv[:dash])
        self.assertNotIn("--max-attempts", argv)
        self.assertTrue(call["holder_alive"], "tune ran without the VRAM holder")
        job = argv[dash + 1:]
        self.assertEqual(job[:2], [sys.executable, "hf_trainer.py"])
        self.assertNotIn("--disable_tqdm", job)
        self.assertEqual(job[job.index("--max_steps") + 1], "200")
        self.assertEqual(job[job.index("--logging_steps") + 1], "1")
        self.assertEqual(job[job.index("--per_device_train_batch_size") + 1], "64")
        # The job's own --output_dir is a fresh path of the run's scratch folder, which tune did not create.
        output_dir = job[job.index("--output_dir") + 1]
        self.assertTrue(output_dir.startswith(os.path.join(self.dir, "vramrun-acceptance.")), output_dir)
        (row,) = self.rows()
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["output_dir"], output_dir)
        with open(os.path.join(self.out, "tune.json")) as f:
            self.assertEqual(json.load(f)["run_id"], row["run_id"])
        with open(os.path.join(self.out, "tune.holder.json")) as f:
            self.assertEqual(json.load(f)["free_bytes"], 12 << 30)
        with open(os.path.join(self.out, "summary.md")) as f:
            self.assertIn("| tune | PASS | 4 | trial 4 of 4: 64x1, grad_checkpointing, mixed_precision, 475 samples/s | "
                          "yes (64 = 64x1) | 5.84 GiB |", f.read())
        self.assert_holders_gone()

    def test_a_tune_that_writes_to_the_jobs_output_dir_fails(self):
        self.record("tune", "tune_pass")
        open(os.path.join(self.recordings, "tune", "writes_output_dir"), "w").close()
        done = self.run_script("tune")
        self.assertEqual(done.returncode, 1, done.stderr)
        (row,) = self.rows()
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], [f"tune created the job's --output_dir {row['output_dir']}: its trials must "
                                           "write to scratch folders"])

    def test_a_tune_that_printed_no_json_fails(self):
        self.record("tune", "gave_up", status=1)
        with open(os.path.join(self.recordings, "tune", "stdout.log"), "w") as f:
            f.write("")
        done = self.run_script("tune")
        self.assertEqual(done.returncode, 1, done.stderr)
        (row,) = self.rows()
        self.assertEqual(row["problems"], ["vramrun tune exited with status 1",
                                           f"{self.out}/tune.json: tune printed no JSON"])

    def test_a_hung_scenario_times_out_and_the_run_goes_on(self):
        self.hang("torch")
        # doctor runs without a timeout, so a slow machine cannot make it time out too.
        done = self.run_script("torch", "doctor", ACCEPTANCE_TIMEOUT_S="1")
        self.assertEqual(done.returncode, 1, done.stderr)
        rows = self.rows()
        self.assertEqual([(r["scenario"], r["result"]) for r in rows], [("torch", "TIMEOUT"), ("doctor", "PASS")])
        self.assertEqual(rows[0]["exit_status"], 124)
        self.assertEqual(rows[0]["problems"][0], "timed out: vramrun was ended before the scenario finished")
        self.assert_holders_gone()

    def test_a_failed_holder_skips_the_scenario(self):
        self.record("torch", "pass")
        done = self.run_script("torch", FAKE_CUDA="0")
        self.assertEqual(done.returncode, 1, done.stderr)
        (row,) = self.rows()
        self.assertEqual(row["result"], "SKIP")
        self.assertEqual(row["problems"], ["not run: the VRAM holder failed: "
                                           "hold_vram: no CUDA device is visible (torch.cuda.is_available() is False)"])
        self.assertEqual(self.runs(), [])

    def test_without_the_holder(self):
        self.record("torch", "pass")
        done = self.run_script("torch", ACCEPTANCE_HOLD="0")
        self.assertEqual(done.returncode, 0, done.stderr)
        (call,) = self.runs()
        self.assertFalse(call["holder_alive"])
        self.assertFalse(os.path.exists(os.path.join(self.out, "torch.holder.log")))

    def test_a_spent_budget_skips_what_is_left(self):
        self.record("torch", "pass")
        done = self.run_script("doctor", "torch", ACCEPTANCE_BUDGET_S="30")
        self.assertEqual(done.returncode, 1, done.stderr)
        rows = self.rows()
        self.assertEqual([(r["scenario"], r["result"]) for r in rows], [("doctor", "PASS"), ("torch", "SKIP")])
        self.assertRegex(rows[1]["problems"][0], r"^not run: \d+s of ACCEPTANCE_BUDGET_S left$")
        self.assertEqual(self.runs(), [])

    def test_a_second_run_adds_to_the_same_results(self):
        self.record("torch", "gave_up", status=1)
        self.assertEqual(self.run_script("torch").returncode, 1)
        shutil.rmtree(os.path.join(self.recordings, "torch"))
        self.record("torch", "pass")
        self.record("jax", "pass")
        done = self.run_script("torch", "jax")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual([(r["scenario"], r["result"]) for r in self.rows()],
                         [("torch", "FAIL"), ("torch", "PASS"), ("jax", "PASS")])
        with open(os.path.join(self.out, "summary.md")) as f:
            self.assertTrue(f.read().endswith("\n2 passed, 0 failed\n"))

    def test_unknown_scenario(self):
        done = self.run_script("torch", "tensorflow")
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr, "acceptance: unknown scenario 'tensorflow' (known: doctor torch torch-ckpt hf "
                                      "hf-eval hf-optim tune lightning jax, all)\n")
        self.assertFalse(os.path.exists(self.out))

    def test_missing_binary(self):
        done = self.run_script("torch", VRAMRUN=os.path.join(self.dir, "nope"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("no vramrun binary at", done.stderr)
        self.assertIn("bash examples/gpu/build.sh", done.stderr)

    def test_a_binary_that_cannot_start(self):
        broken = os.path.join(self.dir, "broken")
        with open(broken, "w") as f:
            f.write("#!/bin/sh\necho \"vramrun: /lib/x86_64-linux-gnu/libc.so.6: version 'GLIBC_2.99' not found\" >&2\nexit 1\n")
        os.chmod(broken, 0o755)
        done = self.run_script("torch", VRAMRUN=broken)
        self.assertEqual(done.returncode, 2)
        self.assertIn("GLIBC_2.99", done.stderr)
        self.assertIn("built on a newer system", done.stderr)

    def test_list(self):
        done = self.run_script("--list")
        self.assertEqual(done.returncode, 0)
        names = [line.split()[0] for line in done.stdout.splitlines()]
        self.assertEqual(names, ["doctor", "torch", "torch-ckpt", "hf", "hf-eval", "hf-optim", "tune", "lightning",
                                 "jax"])
        self.assertTrue(all(re.match(r"^\S+ +\S", line) for line in done.stdout.splitlines()))


if __name__ == "__main__":
    unittest.main()
