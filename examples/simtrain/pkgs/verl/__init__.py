# The simulated verl package (simtrain): `python -m verl.trainer.fsdp_sft_trainer` (also under torchrun -m)
# and `python -m verl.trainer.main_ppo` are provided; put examples/simtrain/pkgs on PYTHONPATH. See
# examples/simtrain/README.md.
__version__ = "0.5.0"
