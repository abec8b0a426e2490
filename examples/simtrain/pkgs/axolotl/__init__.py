"""simtrain's stand-in for the axolotl package (examples/simtrain/pkgs on PYTHONPATH): only the
modules that are run as programs live on disk; the library itself is simulated in memory
(examples/simtrain/simgpu_src_axolotl*.py)."""

__version__ = "0.18.0"
