# a small nanoGPT run for the simulated GPU
# launch as: python3 examples/simtrain/nanogpt/train.py examples/simtrain/nanogpt/config/train_small.py

out_dir = 'out-small'
eval_interval = 10
eval_iters = 2
log_interval = 1

gradient_accumulation_steps = 8
batch_size = 16
block_size = 256

n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2

learning_rate = 1e-3
max_iters = 20
dtype = 'float32'
