# The simulated OpenRLHF SFT trainer (simtrain): `python -m openrlhf.cli.train_sft --flag value ...`, or
# `deepspeed --module openrlhf.cli.train_sft ...` / `torchrun --nproc_per_node N -m openrlhf.cli.train_sft ...`,
# with examples/simtrain/pkgs on PYTHONPATH. The trainer's code (openrlhf/cli/train_sft.py,
# openrlhf/trainer/sft_trainer.py, openrlhf/utils/deepspeed/deepspeed.py) is compiled from
# examples/simtrain/simgpu_src_openrlhf.py; see examples/simtrain/README.md, "OpenRLHF SFT".
import os
import sys

_SIMTRAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
if _SIMTRAIN not in sys.path:
    sys.path.insert(0, _SIMTRAIN)

from simgpu_src_openrlhf_load import main  # noqa: E402

if __name__ == "__main__":
    main()
