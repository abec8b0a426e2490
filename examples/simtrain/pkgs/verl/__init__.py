# The simulated verl package (simtrain): only `python -m verl.trainer.fsdp_sft_trainer` (also under
# torchrun -m) is provided; put examples/simtrain/pkgs on PYTHONPATH. See examples/simtrain/README.md.
__version__ = "0.5.0"
