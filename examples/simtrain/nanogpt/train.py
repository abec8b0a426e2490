#!/usr/bin/env python3
"""
nanoGPT's train.py, on the simulated GPU. Run it as nanoGPT is run:

$ python3 examples/simtrain/nanogpt/train.py examples/simtrain/nanogpt/config/train_small.py --batch_size=32

Arguments without '=' are config files (exec'd); the rest must be --key=value with a key below and a
value of the same type (configurator.py). Config files are found relative to the working directory,
then relative to this folder. As in nanoGPT, gradient_accumulation_steps is per run and divided by
the DDP world size. The sim evaluates when iter_num % eval_interval == 0, but not at iteration 0;
after an evaluation the master process saves out_dir/ckpt.pt ("saving checkpoint to {out_dir}")
when the val loss improved or always_save_checkpoint, and --init_from=resume continues from it.
The sim counts iterations from 1: a checkpoint of iter_num S resumes at S+1, up to max_iters.
Also takes simtrain's --sim-* options (see ../README.md), which configurator.py never sees.
"""

import os
import sys
from contextlib import nullcontext

try:
    import torch  # real torch when present
except ImportError:
    torch = None

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_here))
import simgpu  # noqa: E402
import simgpu_speed  # noqa: E402

# -----------------------------------------------------------------------------
# default config values designed to train a gpt2 (124M) on OpenWebText
# I/O
out_dir = 'out'
eval_interval = 2000
log_interval = 1
eval_iters = 200
eval_only = False # if True, script exits right after the first eval
always_save_checkpoint = True # if True, always save a checkpoint after each eval
init_from = 'scratch' # 'scratch' or 'resume' or 'gpt2*'
# wandb logging
wandb_log = False # disabled by default
wandb_project = 'owt'
wandb_run_name = 'gpt2' # 'run' + str(time.time())
# data
dataset = 'openwebtext'
gradient_accumulation_steps = 40 # used to simulate larger batch sizes
batch_size = 12 # if gradient_accumulation_steps > 1, this is the micro-batch size
block_size = 1024
# model
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0 # for pretraining 0 is good, for finetuning try 0.1+
bias = False # do we use bias inside LayerNorm and Linear layers?
# adamw optimizer
learning_rate = 6e-4 # max learning rate
max_iters = 20 # total number of training iterations
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0 # clip gradients at this value, or disable if == 0.0
# learning rate decay settings
decay_lr = True # whether to decay the learning rate
warmup_iters = 2000 # how many steps to warm up for
lr_decay_iters = 600000 # should be ~= max_iters per Chinchilla
min_lr = 6e-5 # minimum learning rate, should be ~= learning_rate/10 per Chinchilla
# DDP settings
backend = 'nccl' # 'nccl', 'gloo', etc.
# system
device = 'cuda' # examples: 'cpu', 'cuda', 'cuda:0', 'cuda:1' etc., or try 'mps' on macbooks
dtype = 'float32' # 'float32', 'bfloat16', or 'float16', the latter will auto implement a GradScaler
compile = False # use PyTorch 2.0 to compile the model to be faster
# -----------------------------------------------------------------------------
config_keys = [k for k,v in globals().items() if not k.startswith('_') and isinstance(v, (int, float, bool, str))]
_sim = simgpu.start(default_format="pytorch")
sys.argv[1:] = _sim.argv # the sim's own --sim-* options are not nanoGPT's
exec(open(os.path.join(_here, 'configurator.py')).read()) # overrides from command line or config file
config = {k: globals()[k] for k in config_keys} # will be useful for logging
# -----------------------------------------------------------------------------

# various inits, derived attributes, I/O setup
ddp = int(os.environ.get('RANK', -1)) != -1 # is this a ddp run?
if ddp:
    ddp_rank = int(os.environ['RANK'])
    ddp_local_rank = int(os.environ['LOCAL_RANK'])
    ddp_world_size = int(os.environ['WORLD_SIZE'])
    device = f'cuda:{ddp_local_rank}'
    master_process = ddp_rank == 0 # this process will do logging, checkpointing etc.
    seed_offset = ddp_rank # each process gets a different seed
    # world_size number of processes will be training simultaneously, so we can scale
    # down the desired gradient accumulation iterations per process proportionally
    assert gradient_accumulation_steps % ddp_world_size == 0
    gradient_accumulation_steps //= ddp_world_size
else:
    # if not ddp, we are running on a single gpu, and one process
    master_process = True
    seed_offset = 0
    ddp_world_size = 1
tokens_per_iter = gradient_accumulation_steps * ddp_world_size * batch_size * block_size
print(f"tokens per iteration will be: {tokens_per_iter:,}")

if master_process:
    os.makedirs(out_dir, exist_ok=True)

ptdtype = {'float32': 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16'}[dtype]
ctx = nullcontext()
_fw = _sim.frameworks
# initialize a GradScaler. If enabled=False scaler is a no-op
scaler = _fw.torch.amp.GradScaler(enabled=(dtype == 'float16'))


def training_step(model, criterion, batch):
    X, Y = batch
    with ctx:
        logits = model(X)
        loss = criterion(logits, Y)
        loss = loss / gradient_accumulation_steps # scale the loss to account for gradient accumulation
    # backward pass, with gradient scaling if training in fp16
    scaler.scale(loss).backward()
    return loss


def estimate_loss(model, criterion, batch):
    X, Y = batch
    with ctx:
        logits = model(X)
        loss = criterion(logits, Y)
    return loss


def save_checkpoint(iter_num):
    # after estimate_loss at iter_num % eval_interval == 0
    global best_val_loss
    losses = {'val': simgpu.eval_loss_at(iter_num)}
    if losses['val'] < best_val_loss or always_save_checkpoint:
        best_val_loss = losses['val']
        if iter_num > 0 and master_process:
            checkpoint = {
                'model': {},
                'optimizer': {},
                'model_args': model_args,
                'iter_num': iter_num,
                'best_val_loss': best_val_loss,
                'config': config,
            }
            print(f"saving checkpoint to {out_dir}")
            _fw.torch.save(checkpoint, os.path.join(out_dir, 'ckpt.pt'))


if batch_size < 1 or gradient_accumulation_steps < 1 or max_iters < 1:
    raise ValueError("batch_size, gradient_accumulation_steps and max_iters must be at least 1")

# init these up here, can override if init_from='resume' (i.e. from a checkpoint)
iter_num = 0
best_val_loss = 1e9
# model init
model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                  bias=bias, vocab_size=50304, dropout=dropout) # start with model_args from command line
if init_from == 'resume':
    print(f"Resuming training from {out_dir}")
    # resume training from a checkpoint.
    ckpt_path = os.path.join(out_dir, 'ckpt.pt')
    checkpoint = _fw.torch.load(ckpt_path, map_location=device)
    checkpoint_model_args = checkpoint.get('model_args', {})
    # force these config attributes to be equal otherwise we can't even resume training
    # the rest of the attributes (e.g. dropout) can stay as desired from command line
    for k in ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size']:
        if k in checkpoint_model_args:
            model_args[k] = checkpoint_model_args[k]
    iter_num = checkpoint['iter_num']
    best_val_loss = checkpoint.get('best_val_loss', best_val_loss)

job = simgpu.Job(
    "nanogpt/train.py", micro_batch=batch_size, accumulation=gradient_accumulation_steps, precision=ptdtype,
    steps=max_iters, eval_every=eval_interval, eval_batches=max(1, min(eval_iters, 2)),
)
_session = _sim.session(job)
if init_from == 'resume':
    _session.driver.resume(iter_num)
# print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%") per iteration
simgpu_speed.NanoGPTLog(_session.driver, model_args, batch_size * gradient_accumulation_steps, log_interval,
                        master_process)
simgpu.train(_session, training_step, estimate_loss, after_eval=save_checkpoint)
