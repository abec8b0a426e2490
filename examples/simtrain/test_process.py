"""The process options (--sim-* / SIMTRAIN_*): workers, escaping descendants, hangs, survival, failures."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import REPO, clean_env, done_line, run, script_path  # noqa: E402

TRAIN = script_path("train.py")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class ProcessOptionsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.pidfile = os.path.join(self.tmp, "pids")

    def pids(self):
        with open(self.pidfile) as handle:
            return [int(line) for line in handle.read().splitlines()]

    def start(self, *args, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        """Start train.py in its own process group, output to files or pipes (descendants may hold them)."""
        return subprocess.Popen([sys.executable, TRAIN] + list(args), env=clean_env(env), cwd=REPO,
                                stdout=stdout, stderr=stderr, start_new_session=True)

    def kill_later(self, *pids):
        for pid in pids:
            self.addCleanup(lambda p=pid: alive(p) and os.kill(p, signal.SIGKILL))

    def test_workers_stay_in_the_process_group(self):
        proc = self.start("-b", "4", "--steps", "2", "--sim-workers", "2", "--sim-pidfile", self.pidfile)
        self.assertEqual(proc.wait(), 0)
        workers = self.pids()
        self.kill_later(*workers)
        self.assertEqual(len(workers), 2)
        for pid in workers:
            self.assertTrue(alive(pid))
            self.assertEqual(os.getpgid(pid), proc.pid)
        proc = self.start("-b", "4", "--steps", "1", env={"SIMTRAIN_WORKERS": "1", "SIMTRAIN_PIDFILE": self.pidfile})
        self.assertEqual(proc.wait(), 0)
        self.kill_later(*self.pids())
        self.assertEqual(len(self.pids()), 3, "a relaunch appends")

    def test_double_fork_leaves_the_group(self):
        proc = self.start("-b", "4", "--steps", "1", "--sim-double-fork", "--sim-pidfile", self.pidfile)
        self.assertEqual(proc.wait(), 0)
        (pid,) = self.pids()
        self.kill_later(pid)
        self.assertTrue(alive(pid))
        # setsid ran in the intermediate child: the grandchild is in that new session and its group.
        self.assertNotEqual(os.getsid(pid), proc.pid)  # start_new_session made the job a session of its own
        self.assertNotEqual(os.getpgid(pid), proc.pid)
        self.assertEqual(os.getpgid(pid), os.getsid(pid))

    def test_hang_after_oom(self):
        proc = self.start("--sim-hang-after-oom", stderr=subprocess.PIPE)
        self.kill_later(proc.pid)
        for line in proc.stderr:
            if line.startswith(b"torch.OutOfMemoryError: CUDA out of memory."):
                break
        else:
            self.fail("no OOM text")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(), -signal.SIGTERM, "it exited by itself instead of hanging")
        self.assertEqual(proc.stderr.read(), b"")
        proc.stderr.close()

    def test_ignore_sigterm(self):
        for extra, expected in (([], -signal.SIGTERM), (["--sim-ignore-sigterm"], 0)):
            proc = self.start("-b", "4", "--steps", "40", "--sim-step-time", "0.01", *extra, stdout=subprocess.PIPE)
            self.kill_later(proc.pid)
            first = proc.stdout.readline()
            self.assertTrue(first.startswith(b"step 1/40"), first)
            proc.send_signal(signal.SIGTERM)
            rest = proc.stdout.read().decode()
            proc.stdout.close()
            self.assertEqual(proc.wait(), expected, extra)
            if expected == 0:
                self.assertEqual(done_line(rest)["micro"], "4")

    def test_survive_oom(self):
        proc = run("train.py", "-b", "4", "--steps", "4", env={"SIMTRAIN_SURVIVE_OOM": "2"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.count("step "), 4)
        done_line(proc.stdout)
        warning = proc.stderr.index("| WARNING: ran out of memory, skipping batch\nTraceback (most recent call last):\n")
        self.assertIn("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate", proc.stderr[warning:])
        self.assertIn("4/4 [", proc.stderr[warning:], "the bar goes on after the OOM")

    def test_fail(self):
        proc = run("train.py", "-b", "4", "--sim-fail")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("step 1/20", proc.stdout)
        self.assertNotIn("step 2/20", proc.stdout)
        self.assertTrue(proc.stderr.endswith(
            "ValueError: Expected input batch_size (4) to match target batch_size (3).\n"), proc.stderr[-300:])
        self.assertIn(", in training_step\n", proc.stderr)
        proc = run("keras_train.py", "--batch_size", "4", "--sim-fail")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("\nValueError: Expected input batch_size", proc.stderr)

    def test_sigkill_self(self):
        proc = run("train.py", "-b", "4", "--sim-sigkill-self")
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.assertIn("step 1/20", proc.stdout)
        self.assertNotIn("step 2/20", proc.stdout)
        self.assertNotIn("Traceback", proc.stderr)

    def test_dataloader_killed(self):
        proc = self.start("-b", "4", "--sim-workers", "1", "--sim-pidfile", self.pidfile, "--sim-dataloader-killed",
                          stderr=subprocess.PIPE)
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        self.assertEqual(proc.wait(), 1)
        (worker,) = self.pids()
        self.assertFalse(alive(worker), "worker 0 was killed and reaped")
        self.assertIn("RuntimeError: DataLoader worker (pid %d) is killed by signal: Killed. \n\nThe above exception "
                      "was the direct cause of the following exception:\n" % worker, stderr)
        self.assertTrue(stderr.endswith("RuntimeError: DataLoader worker (pid(s) %d) exited unexpectedly\n" % worker))
        self.assertIn(", in _try_get_data\n", stderr)

    def test_big_output(self):
        count = 123457
        proc = subprocess.run([sys.executable, TRAIN, "--sim-big-output", str(count)], capture_output=True,
                              env=clean_env(), cwd=REPO)
        expected = b"".join(b"%09d\n" % i for i in range(count // 10 + 1))[:count]
        self.assertEqual((proc.returncode, proc.stderr, proc.stdout), (0, b"", expected))


if __name__ == "__main__":
    unittest.main()
