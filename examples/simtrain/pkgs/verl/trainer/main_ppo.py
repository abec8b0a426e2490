# The simulated verl PPO trainer (simtrain): `python -m verl.trainer.main_ppo key=value ...`, with
# examples/simtrain/pkgs on PYTHONPATH. The trainer's code (verl/trainer/main_ppo.py, ppo/ray_trainer.py,
# workers/fsdp_workers.py, Ray, Hydra) is compiled from examples/simtrain/simgpu_src_verl_ppo.py; see
# examples/simtrain/README.md, "verl PPO".
import os
import sys

_SIMTRAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
if _SIMTRAIN not in sys.path:
    sys.path.insert(0, _SIMTRAIN)

from simgpu_src_verl_ppo_load import main  # noqa: E402

if __name__ == "__main__":
    main()
