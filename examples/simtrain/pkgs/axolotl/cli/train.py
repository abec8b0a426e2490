"""CLI to run training on a model (simtrain's stand-in, on the simulated GPU).

    PYTHONPATH=examples/simtrain/pkgs python -m axolotl.cli.train CONFIG.yml [--key=value ...]
    PYTHONPATH=examples/simtrain/pkgs accelerate launch -m axolotl.cli.train CONFIG.yml [--key=value ...]

Options are fire's: --micro_batch_size=2, --micro-batch-size 2, a bare --flag is True; the
values win over the file's. Also takes simtrain's --sim-* options (examples/simtrain/README.md).
"""

import os
import sys

sys.path.insert(0, os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..")))
import simgpu_src_axolotl_load  # noqa: E402

if __name__ == "__main__":
    fire, do_cli = simgpu_src_axolotl_load.entry()
    fire.Fire(do_cli)
