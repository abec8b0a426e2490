# Copyright (c) 2021, NVIDIA CORPORATION.  All rights reserved.
#
# simtrain's NeMo 1 examples/nlp/language_modeling/megatron_gpt_pretraining.py: the script as NVIDIA/NeMo ships
# it, over the simulated NeMo of examples/simtrain (its modules are compiled under site-packages/nemo/...;
# see examples/simtrain/README.md, "NeMo 1"). `python megatron_gpt_pretraining.py key=value ...` reads
# conf/megatron_gpt_config.yaml with Hydra.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))))
from simgpu_src_nemo1_load import nemo  # noqa: E402  (what the real script imports from nemo and omegaconf)

_nemo = nemo()
MegatronGPTModel, MegatronTrainerBuilder = _nemo.MegatronGPTModel, _nemo.MegatronTrainerBuilder
hydra_runner, exp_manager, OmegaConf, logging = _nemo.hydra_runner, _nemo.exp_manager, _nemo.OmegaConf, _nemo.logging


@hydra_runner(config_path="conf", config_name="megatron_gpt_config")
def main(cfg) -> None:
    logging.info("\n\n************** Experiment configuration ***********")
    logging.info(f'\n{OmegaConf.to_yaml(cfg)}')

    trainer = MegatronTrainerBuilder(cfg).create_trainer()
    exp_manager(trainer, cfg.exp_manager)

    model = MegatronGPTModel(cfg.model, trainer)

    trainer.fit(model)


if __name__ == '__main__':
    main()
