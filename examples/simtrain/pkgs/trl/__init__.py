"""simtrain's stand-in for the trl package's folder (examples/simtrain/pkgs on PYTHONPATH): only the package data
that `trl sft|dpo|grpo --accelerate_config NAME` reads lives on disk, accelerate_configs/NAME.yaml
(trl/cli/accelerate_config.py: resources.files("trl.accelerate_configs")), for the job's Python to find as it
finds an installed trl's; the library and its CLI are simulated in memory (bin/trl, simgpu_src_trl*.py)."""
