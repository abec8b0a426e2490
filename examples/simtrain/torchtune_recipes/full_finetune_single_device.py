"""torchtune's recipes/full_finetune_single_device.py as the fake torchrun starts it (see README.md, "tune (torchtune)").

The recipe's text lives in simgpu_src_torchtune_recipes.py and runs as __main__ under its site-packages name;
this stub's own frame is left out of tracebacks.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
import simgpu_src_torchtune_frames  # noqa: E402

simgpu_src_torchtune_frames.run_recipe_file(sys._getframe().f_code)
