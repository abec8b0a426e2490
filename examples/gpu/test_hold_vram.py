"""Tests of hold_vram.py, with a stand-in torch (fakes.py) instead of a GPU."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

import fakes
import hold_vram

HERE = os.path.dirname(os.path.abspath(__file__))
GIB, MIB = 1 << 30, 1 << 20


class ChunkSizes(unittest.TestCase):
    def test_whole_chunks_then_the_rest_in_2_mib_pages(self):
        self.assertEqual(hold_vram.chunk_sizes(5 * GIB + 3 * MIB, GIB), [GIB] * 5 + [2 * MIB])

    def test_nothing_to_hold(self):
        self.assertEqual(hold_vram.chunk_sizes(0, GIB), [])
        self.assertEqual(hold_vram.chunk_sizes(MIB, GIB), [])

    def test_adds_up(self):
        sizes = hold_vram.chunk_sizes(70 * GIB + 123 * MIB, 1024 * MIB)
        self.assertEqual(sum(sizes), 70 * GIB + 122 * MIB)
        self.assertTrue(all(0 < n <= GIB and n % (2 * MIB) == 0 for n in sizes))


class Arguments(unittest.TestCase):
    def parse_error(self, *argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exit_:
            hold_vram.parse_args(list(argv))
        self.assertEqual(exit_.exception.code, 2)
        return err.getvalue().strip().splitlines()[-1]

    def test_negative_leave(self):
        self.assertEqual(self.parse_error("--leave-gib", "-1", "--pid-file", "p"),
                         "hold_vram.py: error: --leave-gib must not be negative, not -1.0")

    def test_tiny_chunk(self):
        self.assertEqual(self.parse_error("--leave-gib", "1", "--pid-file", "p", "--chunk-mib", "1"),
                         "hold_vram.py: error: --chunk-mib must be at least 2, not 1")

    def test_pid_file_is_required(self):
        self.assertIn("--pid-file", self.parse_error("--leave-gib", "1"))


class Holder(unittest.TestCase):
    """hold_vram.py as a process, on a pretend 80 GiB GPU with 79 GiB free."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        site, _ = fakes.write_fakes(self.dir)
        self.env = dict(os.environ, PYTHONPATH=site, PYTHONPYCACHEPREFIX=os.path.join(self.dir, "pyc"))
        self.pid_file = os.path.join(self.dir, "hold.pid")
        self.info_file = os.path.join(self.dir, "hold.json")

    def start(self, leave_gib, **env):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "hold_vram.py"), "--leave-gib", str(leave_gib),
             "--pid-file", self.pid_file, "--info-file", self.info_file],
            env=dict(self.env, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stderr.close)
        return proc

    def test_holds_all_but_the_given_gib_until_terminated(self):
        proc = self.start(12)
        # The line comes after the pid file is written.
        self.assertEqual(proc.stdout.readline(), "hold_vram: holding 67.00 GiB of 80.00 GiB on GPU 0; 12.00 GiB free\n")
        with open(self.pid_file) as f:
            self.assertEqual(f.read(), f"{proc.pid}\n")
        with open(self.info_file) as f:
            self.assertEqual(json.load(f), {"pid": proc.pid, "device": 0, "total_bytes": 80 * GIB,
                                            "held_bytes": 67 * GIB, "free_bytes": 12 * GIB})
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(), 0)
        self.assertFalse(os.path.exists(self.pid_file))

    def test_sigint_ends_it_too(self):
        proc = self.start(1.5)
        self.assertIn("1.50 GiB free", proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(), 0)
        self.assertFalse(os.path.exists(self.pid_file))

    def test_leaving_more_than_is_free_holds_nothing(self):
        proc = self.start(100)
        self.assertEqual(proc.stdout.readline(), "hold_vram: holding 0.00 GiB of 80.00 GiB on GPU 0; 79.00 GiB free\n")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(), 0)

    def test_no_gpu_is_a_one_line_error_and_no_pid_file(self):
        proc = self.start(12, FAKE_CUDA="0")
        self.assertEqual(proc.wait(), 1)
        self.assertEqual(proc.stderr.read(),
                         "hold_vram: no CUDA device is visible (torch.cuda.is_available() is False)\n")
        self.assertFalse(os.path.exists(self.pid_file))


if __name__ == "__main__":
    unittest.main()
