"""torchtitan.train (v0.2.2) on the simulated GPU: `torchrun ... -m torchtitan.train --job.config_file x.toml`.

The module's text (the Trainer, main) lives in simtrain's simgpu_src_torchtitan.py and runs as __main__ under
its site-packages name; this stub's own frame is left out of tracebacks. See examples/simtrain/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
import simgpu_src_torchtitan_frames  # noqa: E402

if __name__ == "__main__":
    simgpu_src_torchtitan_frames.run_main(sys._getframe().f_code)
