#!/usr/bin/env python3
# The simulated LLaMA-Factory's launcher.py as torchrun runs it on each rank (llamafactory-cli's
# multi-GPU path passes this file to torchrun); see README.md, "llamafactory-cli". Like the real one:
#   if __name__ == "__main__": from llamafactory.train.tuner import run_exp; run_exp()
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

if __name__ == "__main__":
    from simgpu_src_llamafactory_load import rank_main as run_exp  # use absolute import

    run_exp()
