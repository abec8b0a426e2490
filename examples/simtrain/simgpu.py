"""simgpu: the simulated GPU the simtrain scripts train on (Python 3.8+, standard library only).

The memory model
----------------
Sizes are bytes; W, A and E come from the environment (defaults in brackets).

  W  = SIMGPU_MODEL, the fp32 weights [2GiB]          b  = micro-batch, b_eval = evaluation batch
  A  = SIMGPU_ACT, activations per sample, fp32 [400MiB]   E = SIMGPU_EVAL_ACT, per eval sample [600MiB]

  weights      Wd = W             (x0.5 for 16-true/bf16-true, x2 for 64-true; /world at ZeRO-3)
  gradients    G  = Wd            (/world at ZeRO stage >= 2)
  optimizer    S  = 2*Wd Adam, 0.5*W 8-bit (bitsandbytes) or adafactor, 0 offloaded to CPU
                                  (/world at ZeRO stage >= 1)
  activations  Act = b * A * (0.5 mixed precision) * (0.35 gradient checkpointing); of it the logits
                 (SIMGPU_LOGITS_SHARE, default 0) are 1/8 with a fused or chunked loss, the rest 1/4
                 with activation offload
  training     need = Wd + Act + G + S        (the peak of the first optimizer step)
  before step 1  the job holds Wd (+ waste): gradients come in the first backward pass and optimizer
                 state at the first optimizer step, as PyTorch's Adam creates it. With VRAMRUN_SIMGPU
                 set the job publishes that level and waits until vramrun's sampler has read it at two
                 ticks in a row before the step starts (the plateau NVML shows before the step's rise);
                 when training is over it publishes its peak (a caching allocator keeps it reserved
                 until exit) and waits until that was read
  evaluation   need = Wd + b_eval * E * (0.5 mixed precision)     (on top of the weights alone)
                 + HF-style jobs: SIMGPU_EVAL_PREDS (default 0) of predictions, an equal part per eval
                 batch, held until the evaluation ends or every eval_accumulation_steps batches

  waste        = floor(need * r): "reserved but unallocated" memory of the caching allocator.
                 PyTorch r = 0.15, 0.02 with expandable_segments:True in PYTORCH_ALLOC_CONF or
                 PYTORCH_CUDA_ALLOC_CONF (or backend:cudaMallocAsync); TensorFlow r = 0.15, 0.02 with
                 TF_GPU_ALLOCATOR=cuda_malloc_async or TF_FORCE_GPU_ALLOW_GROWTH=true; JAX r = 0.
  budget       = capacity - other processes; PyTorch: also <= floor(SIMGPU_FRACTION * capacity);
                 JAX: also <= floor(f * capacity), f from XLA_PYTHON_CLIENT_MEM_FRACTION or
                 XLA_CLIENT_MEM_FRACTION (default .75; XLA_PYTHON_CLIENT_ALLOCATOR=platform: no cap).
  fits         <=> need + waste <= budget
  long batch   at --sim-long-batch K:F's step K, Act is F times as large: need = Wd + F*Act + G + S

Activations are allocated as 32 tensors (16 layers forward, 16 backward) and the evaluation's as 16,
each a whole number of elements (4 bytes fp32, 2 bytes half), so Act is exact to the element
(TensorFlow's allocator also rounds each tensor up to 256 bytes).
An allocation of s bytes fails when reserved(allocated + s) > budget, reserved(x) = x + floor(x*r);
the OOM text then reports: allocated = what was allocated before the request, reserved but
unallocated = floor(allocated*r), free = capacity - others - allocated - that (never negative), and
tried = reserved(allocated + s) - reserved(allocated), the request as the allocator rounds it, which
is more than free whenever no memory fraction limits the budget.

Worked example: the README demo `train.py --batch-size 256` on the default 24 GiB GPU.
  fp32:                     need = 2 + 100 + 2 + 4 = 108 GiB                 -> OOM
  + allocator (r = 0.02):   108 GiB + 2%                                     -> OOM
  + mixed precision:        2 + 50 + 2 + 4 = 58 GiB                          -> OOM
  + checkpointing too:      2 + 17.5 + 2 + 4 = 25.5 GiB                      -> OOM (no non-batch fix is enough)
  batch 128 (accum 2), mp:  2 + 25 + 2 + 4 = 33 GiB                          -> OOM
  batch 64 (accum 4), mp:   2 + 12.5 + 2 + 4 = 20.5 GiB, +2% = 20.91 GiB     -> fits (also without allocator:
                                                                               +15% = 23.58 GiB)
So the demo needs allocator, mixed_precision and batch_size (256 -> 64, accumulation 4).

The speed model (seconds a micro-batch and an optimizer step take, the simulated clock every printed
rate comes from) is simgpu_speed.py's docstring.
"""

from simgpu_model import (  # noqa: F401  (the public API)
    DEFAULT_ACT, DEFAULT_CAPACITY, DEFAULT_EVAL_ACT, DEFAULT_MODEL, LAYERS, GPUSpec, Job, Plan, estimate,
    parse_others, parse_size, split_alloc_conf, torch_allocator,
)
from simgpu_oom import FORMATS, SimulatedOOM, format_size, tf_human_bytes  # noqa: F401
from simgpu_proc import UsageError  # noqa: F401
from simgpu_frames import Frameworks, bitsandbytes_importable, optimizer_kind  # noqa: F401
from simgpu_speed import (  # noqa: F401  (the speed model)
    run_seconds, steady_samples_per_second, steady_step_seconds, step_seconds,
)
from simgpu_run import Session, Sim, eval_loss_at, hidden_file, loss_at, print_exception, start, train  # noqa: F401
from simgpu_yaml import YAMLError, load_file as load_yaml_file, loads as load_yaml  # noqa: F401
from simgpu_yaml import parse_scalar as parse_yaml_scalar  # noqa: F401
