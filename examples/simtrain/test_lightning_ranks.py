"""The simulated Lightning Trainer's processes: how many devices, accelerator and num_nodes make (Lightning 2's
_AcceleratorConnector over the simulated GPUs), and how they start (_SubprocessScriptLauncher: rank 0 re-runs its
command for the others; none under torchrun)."""

import os
import re
import subprocess
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu  # noqa: E402
import simgpu_ranks  # noqa: E402
import simlaunch  # noqa: E402
from simtest_util import HERE, REPO, clean_env, done_line, script_path  # noqa: E402

RANK_LINE = re.compile(r"Initializing distributed: GLOBAL_RANK: (\d+), MEMBER: \d+/(\d+)")
# What a test's environment must not inherit: where the processes run, which of them this is.
_PLACEMENT = ("CUDA_VISIBLE_DEVICES", "NODE_RANK", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_NTASKS")


def lightning(*args, env=None, launcher=None):
    """lightning_main.py fit with args (under bin/<launcher> --nproc-per-node N when launcher is (name, N))."""
    extra = dict({"SIMGPU_COUNT": "4"}, **(env or {}))
    full = {k: v for k, v in clean_env(extra).items() if k not in _PLACEMENT or k in extra}
    command = [sys.executable, script_path("lightning_main.py"), "fit", "--trainer.max_steps=2"] + list(args)
    if launcher:
        command = [sys.executable, os.path.join(HERE, "bin", launcher[0]), "--nproc-per-node", str(launcher[1]),
                   script_path("lightning_main.py"), "fit", "--trainer.max_steps=2"] + list(args)
    proc = subprocess.run(command, capture_output=True, env=full, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


class DevicesTest(unittest.TestCase):
    """simgpu_ranks.lightning_devices: the accelerator and the device indices, one process per index."""

    def test_gpus(self):
        for devices, want in (("auto", [0, 1, 2, 3]), (-1, [0, 1, 2, 3]), ("-1", [0, 1, 2, 3]), (2, [0, 1]),
                              ("2", [0, 1]), ("0,1", [0, 1]), ("1,3", [1, 3]), ([2], [2]), ([0, 3], [0, 3])):
            for accelerator in ("auto", "gpu", "cuda", None):
                self.assertEqual(simgpu_ranks.lightning_devices(accelerator, devices, 1, gpus=4), ("cuda", want),
                                 (accelerator, devices))

    def test_cpu(self):
        self.assertEqual(simgpu_ranks.lightning_devices("cpu", "auto", 1, gpus=4), ("cpu", [0]))
        self.assertEqual(simgpu_ranks.lightning_devices("cpu", 3, 1, gpus=4), ("cpu", [0, 1, 2]))
        # accelerator auto on a machine without a GPU is the CPU: devices auto is one process
        self.assertEqual(simgpu_ranks.lightning_devices("auto", "auto", 1, gpus=0), ("cpu", [0]))
        with self.assertRaisesRegex(simgpu_ranks.MisconfigurationException, "CPUAccelerator` should be an int > 0"):
            simgpu_ranks.lightning_devices("cpu", -1, 1, gpus=4)

    def test_lightnings_errors(self):
        cases = (("auto", 5, 4, "You requested gpu: [0, 1, 2, 3, 4]\n But your machine only has: [0, 1, 2, 3]"),
                 ("auto", "1,7", 4, "You requested gpu: [1, 7]\n But your machine only has: [0, 1, 2, 3]"),
                 ("gpu", 0, 4, "`Trainer(devices=0)` value is not a valid input using gpu accelerator."),
                 ("auto", [], 4, "`Trainer(devices=[])` value is not a valid input using auto accelerator."),
                 ("auto", "0,0", 4, "Device ID's (GPU) must be unique."),
                 ("gpu", "auto", 0, "No supported gpu backend found!"),
                 ("tpu", "auto", 4, "You selected an invalid accelerator name: `accelerator='tpu'`."))
        for accelerator, devices, gpus, message in cases:
            with self.assertRaises(simgpu_ranks.MisconfigurationException) as caught:
                simgpu_ranks.lightning_devices(accelerator, devices, 1, gpus=gpus)
            self.assertIn(message, str(caught.exception))
        with self.assertRaisesRegex(ValueError, "`num_nodes` must be a positive integer, but got 0."):
            simgpu_ranks.lightning_devices("auto", "auto", 0, gpus=4)

    def test_the_simulated_machines_gpus(self):
        for env, want in (({"SIMGPU_COUNT": "4"}, 4), ({"SIMGPU_COUNT": "4", "CUDA_VISIBLE_DEVICES": "1,3"}, 2),
                          ({}, 1), ({"SIMGPU_COUNT": "4", "CUDA_VISIBLE_DEVICES": ""}, 0)):
            with mock.patch.dict(os.environ, env, clear=True):
                self.assertEqual(simlaunch.visible_gpus(), want, env)


class TrainerTest(unittest.TestCase):
    """The Trainer's strategy: its world, this process's rank and GPU, and whether it launches the others."""

    def trainer(self, env, **kwargs):
        with mock.patch.dict(os.environ, dict({"SIMGPU_COUNT": "4"}, **env), clear=True):
            trainer = simgpu.Frameworks().lightning.Trainer(**kwargs)
            s = trainer.strategy
            return s.world_size, s.global_rank, s.root_device.index, s.launcher is not None

    def test_ranks(self):
        self.assertEqual(self.trainer({}), (4, 0, 0, True))
        self.assertEqual(self.trainer({}, devices=1), (1, 0, 0, False))
        self.assertEqual(self.trainer({}, devices="1,3"), (2, 0, 1, True))
        self.assertEqual(self.trainer({}, accelerator="cpu"), (1, 0, 0, False))
        # a rank Lightning's launcher started: LOCAL_RANK, NODE_RANK and WORLD_SIZE set, RANK too in the sim
        self.assertEqual(self.trainer({"LOCAL_RANK": "1", "NODE_RANK": "0", "WORLD_SIZE": "2"}, devices="1,3"),
                         (2, 1, 3, False))
        # torchrun's rank 2 of 4; srun's task 1 of 2
        self.assertEqual(self.trainer({"LOCAL_RANK": "2", "RANK": "2", "WORLD_SIZE": "4"}), (4, 2, 2, False))
        self.assertEqual(self.trainer({"SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "1",
                                       "SLURM_JOB_NAME": "train"}, devices=2), (2, 1, 1, False))


class RunTest(unittest.TestCase):
    """lightning_main.py run for real: rank 0 starts the others, each trains, rank 0 prints the done line."""

    def ranks(self, code, out, err):
        self.assertEqual(code, 0, err[-3000:])
        self.assertEqual(out.count("done:"), 1, out)
        lines = RANK_LINE.findall(err)
        if not lines:
            return 1, done_line(out)
        self.assertEqual(len({world for _, world in lines}), 1, lines)
        self.assertEqual(sorted(int(rank) for rank, _ in lines), list(range(int(lines[0][1]))))
        return int(lines[0][1]), done_line(out)

    def test_devices(self):
        for args, env, want in (((), {}, 4), (("--trainer.devices=auto",), {}, 4), (("--trainer.devices=2",), {}, 2),
                                (("--trainer.devices=-1",), {}, 4), (("--trainer.devices=0,1",), {}, 2),
                                (("--trainer.devices=[1, 3]",), {}, 2), (("--trainer.accelerator=cpu",), {}, 1),
                                ((), {"CUDA_VISIBLE_DEVICES": "1,3"}, 2), ((), {"SIMGPU_COUNT": "1"}, 1)):
            world, done = self.ranks(*lightning("--data.batch_size=4", "--trainer.accumulate_grad_batches=3", *args,
                                                env=env))
            self.assertEqual(world, want, (args, env))
            self.assertEqual((done["micro"], done["accum"], done["effective"]), ("4", "3", str(12 * want)),
                             (args, env))

    def test_an_outside_launcher_starts_them(self):
        # torchrun's two processes each see LOCAL_RANK: neither starts more, though devices=auto sees 4 GPUs
        world, done = self.ranks(*lightning("--data.batch_size=4", launcher=("torchrun", 2)))
        self.assertEqual((world, done["effective"]), (2, "8"))

    def test_lightnings_errors(self):
        code, out, err = lightning("--trainer.devices=8")
        self.assertEqual(code, 1)
        self.assertIn("MisconfigurationException: You requested gpu: [0, 1, 2, 3, 4, 5, 6, 7]\n But your machine "
                      "only has: [0, 1, 2, 3]", err)
        code, out, err = lightning("--trainer.num_nodes=2")
        self.assertEqual(code, 2)
        self.assertIn("trainer.num_nodes=2: the sim runs on one node", err)


if __name__ == "__main__":
    unittest.main()
