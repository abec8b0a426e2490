#!/usr/bin/env python3
"""TRL's trl/scripts/grpo.py on the simulated GPU: what `trl grpo` runs in each rank (via accelerate launch).

    python3 examples/simtrain/trl_grpo.py --dataset_name D [--config f.yaml] [--key value ...]

Runs the simulated trl/scripts/grpo.py as __main__ (TrlParser over its dataclasses; arguments it does not
know are ignored, as the real script ignores accelerate's). Also takes simtrain's --sim-* options.
See README.md ("trl").
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simgpu_src_trl_load  # noqa: E402

if __name__ == "__main__":
    simgpu_src_trl_load.run_script("grpo")
