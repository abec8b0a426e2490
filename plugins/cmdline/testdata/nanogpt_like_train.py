"""
A GPT training script shaped like nanoGPT's train.py (written for these
tests). Defaults below can be overridden from config files and
--key=value flags:
batch_size = 999  <- inside the docstring, not a global
"""
import os
import time
import math
import pickle
from contextlib import nullcontext

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group, destroy_process_group

from model import GPTConfig, GPT

# -----------------------------------------------------------------------------
# default config values designed to train a gpt2 (124M) on OpenWebText
# I/O
out_dir = 'out'
eval_interval = 2000
log_interval = 1
eval_only = False # if True, script exits right after the first eval
always_save_checkpoint = True
init_from = 'scratch' # 'scratch' or 'resume' or 'gpt2*'
# wandb logging
wandb_log = False # disabled by default
wandb_project = 'owt'
wandb_run_name = 'gpt2' # 'run' + str(time.time())
# data
dataset = 'openwebtext'
gradient_accumulation_steps = 5 * 8 # used to simulate larger batch sizes
batch_size = 12 # if gradient_accumulation_steps > 1, this is the micro-batch size
block_size = 1024
# model
n_layer = 12
dropout = 0.0 # for pretraining 0 is good, for finetuning try 0.1+
bias = False
# adamw optimizer
learning_rate = 6e-4 # max learning rate
max_iters = 600000
weight_decay = 1e-1
beta1 = 0.9
grad_clip = 1.0; warmup_iters = 2000
min_lr = 6e-5
backend = 'nccl' # 'nccl', 'gloo', etc.
device = 'cuda'
dtype = 'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float16'
compile = True
# -----------------------------------------------------------------------------
config_keys = [k for k,v in globals().items() if not k.startswith('_') and isinstance(v, (int, float, bool, str))]
exec(open('configurator.py').read()) # overrides from command line or config file
config = {k: globals()[k] for k in config_keys}

ddp = int(os.environ.get('RANK', -1)) != -1
if ddp:
    init_process_group(backend=backend)
    ddp_world_size = int(os.environ['WORLD_SIZE'])
    gradient_accumulation_steps //= ddp_world_size
    seed_offset = 1
else:
    seed_offset = 0
tokens_per_iter = gradient_accumulation_steps * ddp_world_size * batch_size * block_size

def get_batch(split):
    import wandb
    batch_size = 3
    return batch_size
