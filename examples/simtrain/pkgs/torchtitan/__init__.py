"""simtrain's torchtitan (v0.2.2, TOML configs) on the simulated GPU: `-m torchtitan.train` only.

Put examples/simtrain/pkgs on PYTHONPATH (or run from examples/simtrain/pkgs, as from a torchtitan checkout).
See examples/simtrain/README.md, "torchtitan".
"""
