"""What the simulated CLIs share to hand simgpu.Job its memory fixes (fused_loss, activation_offload,
eval_accumulation; the memory model is simgpu_model's), read from each tool's own config keys."""

import importlib.util


def liger_kernel_available():
    """Whether `liger_kernel` imports (a module of that name on sys.path will do, as for bitsandbytes)."""
    try:
        return importlib.util.find_spec("liger_kernel") is not None
    except (ImportError, ValueError):
        return False


def hf_eval_accumulation(value):
    """simgpu.Job's eval_accumulation for an HF-Trainer-based job: eval_accumulation_steps, 0 when unset
    (or 0). The Trainer moves the predictions to the CPU when (step + 1) % N == 0, so -N acts as N."""
    return 0 if value is None else abs(int(value))
