"""Stand-ins for the tests of hold_vram.py and acceptance.sh on a machine
without a GPU: a `torch` package with just what hold_vram.py calls, and a
`vramrun` executable that replays recorded runs (testdata/).
"""

import os
import stat
import sys
import textwrap

# A torch with one pretend GPU. FAKE_TOTAL_GIB and FAKE_FREE_GIB size it,
# FAKE_CUDA=0 hides it; each importing process appends its pid to
# FAKE_TORCH_PIDS, so a test can tell whether the holder is still running.
FAKE_TORCH = '''
import os

GIB = 1 << 30
uint8 = "uint8"
_free = int(float(os.environ.get("FAKE_FREE_GIB", "79")) * GIB)
_total = int(float(os.environ.get("FAKE_TOTAL_GIB", "80")) * GIB)
if os.environ.get("FAKE_TORCH_PIDS"):
    with open(os.environ["FAKE_TORCH_PIDS"], "a") as f:
        f.write(f"{os.getpid()}\\n")


class device:
    def __init__(self, kind, index=0):
        self.kind, self.index = kind, index


class _Tensor:
    def __init__(self, n):
        self._n = n

    def numel(self):
        return self._n


def empty(n, dtype=None, device=None):
    global _free
    if n > _free:
        raise RuntimeError("CUDA out of memory (fake)")
    _free -= n
    return _Tensor(n)


class cuda:
    @staticmethod
    def is_available():
        return os.environ.get("FAKE_CUDA", "1") == "1"

    @staticmethod
    def mem_get_info(device=None):
        return _free, _total

    @staticmethod
    def synchronize(device=None):
        pass
'''

# A vramrun that replays a recording: the scenario is the name of the
# --events file (<OUT>/<scenario>.events.jsonl), its recording
# $FAKE_RECORDINGS/<scenario>/ (events.jsonl, stdout.log, optional status
# and hang; with writes_output_dir it creates the job's --output_dir, as a
# tune that let a trial write there would). Every call is logged to
# $FAKE_VRAMRUN_LOG as one JSON line.
FAKE_VRAMRUN = '''
import json
import os
import shutil
import signal
import sys

args = sys.argv[1:]
recordings = os.environ["FAKE_RECORDINGS"]


def holder_alive():
    try:
        with open(os.environ["FAKE_TORCH_PIDS"]) as f:
            pids = [int(p) for p in f.read().split()]
        os.kill(pids[-1], 0)
        return True
    except (KeyError, OSError, IndexError, ValueError):
        return False


keep = [k for k in os.environ if k.startswith(("XLA_", "PYTORCH_"))]
with open(os.environ["FAKE_VRAMRUN_LOG"], "a") as f:
    f.write(json.dumps({"argv": args, "cwd": os.getcwd(), "env": {k: os.environ[k] for k in keep},
                        "holder_alive": holder_alive()}) + "\\n")


def status(folder):
    path = os.path.join(folder, "status")
    return int(open(path).read()) if os.path.exists(path) else 0


if args[:1] == ["version"]:
    print("vramrun fake")
    sys.exit(0)
if args[:1] == ["doctor"]:
    sys.stdout.write(open(os.path.join(recordings, "doctor", "doctor.json")).read())
    sys.exit(status(os.path.join(recordings, "doctor")))
dash = args.index("--") if "--" in args else len(args)
if "plan" in args[:dash]:
    print("{}")
    sys.exit(0)
events = args[args.index("--events") + 1]
folder = os.path.join(recordings, os.path.basename(events)[: -len(".events.jsonl")])
if os.path.exists(os.path.join(folder, "hang")):
    while True:
        signal.pause()
shutil.copyfile(os.path.join(folder, "events.jsonl"), events)
sys.stdout.write(open(os.path.join(folder, "stdout.log")).read())
job = args[dash + 1:]
if os.path.exists(os.path.join(folder, "writes_output_dir")) and "--output_dir" in job:
    os.makedirs(job[job.index("--output_dir") + 1], exist_ok=True)
sys.exit(status(folder))
'''


def write_fakes(folder):
    """Writes the fake torch package and the fake vramrun under folder;
    returns (the folder to put on PYTHONPATH, the vramrun executable)."""
    site = os.path.join(folder, "site")
    os.makedirs(os.path.join(site, "torch"))
    with open(os.path.join(site, "torch", "__init__.py"), "w") as f:
        f.write(textwrap.dedent(FAKE_TORCH))
    vramrun = os.path.join(folder, "vramrun")
    with open(vramrun, "w") as f:
        f.write(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_VRAMRUN))
    os.chmod(vramrun, os.stat(vramrun).st_mode | stat.S_IXUSR)
    return site, vramrun
