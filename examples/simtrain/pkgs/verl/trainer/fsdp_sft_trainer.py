# The simulated verl SFT trainer (simtrain): `python -m verl.trainer.fsdp_sft_trainer key=value ...`, or
# `torchrun --nproc_per_node N -m verl.trainer.fsdp_sft_trainer ...`, with examples/simtrain/pkgs on
# PYTHONPATH. The trainer's code (verl/trainer/fsdp_sft_trainer.py, Hydra) is compiled from
# examples/simtrain/simgpu_src_verl.py; see examples/simtrain/README.md, "verl SFT".
import os
import sys

_SIMTRAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
if _SIMTRAIN not in sys.path:
    sys.path.insert(0, _SIMTRAIN)

from simgpu_src_verl_load import main  # noqa: E402

if __name__ == "__main__":
    main()
