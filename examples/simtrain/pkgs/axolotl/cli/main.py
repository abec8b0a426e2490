"""Click CLI definitions for various axolotl commands (simtrain's stand-in: only `train`).

    PYTHONPATH=examples/simtrain/pkgs python -m axolotl.cli.main train CONFIG.yml [--kebab-key V ...]
"""

import os
import sys

sys.path.insert(0, os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..")))
import simgpu_src_axolotl_cli  # noqa: E402


def main():
    return simgpu_src_axolotl_cli.main()


if __name__ == "__main__":
    sys.exit(main())
