# The simulated OpenRLHF package (simtrain): only `python -m openrlhf.cli.train_sft` (also under deepspeed --module
# and torchrun -m) is provided; put examples/simtrain/pkgs on PYTHONPATH. See examples/simtrain/README.md.
__version__ = "0.9.8"
