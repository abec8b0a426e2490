#!/usr/bin/env bash
# simtrain: torchtitan v0.2.2's run_train.sh, as at the root of a torchtitan checkout (this folder stands for
# one: torchtitan/ is the simulated package). Before `set -ex` (so not traced), the sim puts this folder on
# PYTHONPATH and falls back to its own bin/torchrun when no torchrun is on PATH; the rest is the real script's.
_sim_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="${_sim_here}${PYTHONPATH:+:${PYTHONPATH}}"
command -v torchrun >/dev/null 2>&1 || export PATH="$(dirname "${_sim_here}")/bin:${PATH}"
unset _sim_here

# Copyright (c) Meta Platforms, Inc. and affiliates.
# All rights reserved.

# This source code is licensed under the BSD-style license found in the
# LICENSE file in the root directory of this source tree.

set -ex

# use envs as local overwrites for convenience
# e.g.
# LOG_RANK=0,1 NGPU=4 ./run_train.sh
NGPU=${NGPU:-"8"}
export LOG_RANK=${LOG_RANK:-0}
CONFIG_FILE=${CONFIG_FILE:-"./torchtitan/models/llama3/train_configs/debug_model.toml"}
TRAIN_FILE=${TRAIN_FILE:-"torchtitan.train"}

TORCHFT_LIGHTHOUSE=${TORCHFT_LIGHTHOUSE:-"http://localhost:29510"}

PYTORCH_ALLOC_CONF="expandable_segments:True" \
TORCHFT_LIGHTHOUSE=${TORCHFT_LIGHTHOUSE} \
torchrun --nproc_per_node=${NGPU} --rdzv_backend c10d --rdzv_endpoint="localhost:0" \
--local-ranks-filter ${LOG_RANK} --role rank --tee 3 \
-m ${TRAIN_FILE} --job.config_file ${CONFIG_FILE} "$@"
