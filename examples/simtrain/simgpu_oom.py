"""The out-of-memory texts of the real runtimes, filled with the simulated GPU's figures.

Each --sim-format prints what that runtime prints when an allocation fails:
pytorch (2.x caching allocator), pytorch-2.1 (the 2.1 text, which lists the
failing process itself among the GPU's processes), silent (no OOM text: the GPU fills up and
CUDA then fails otherwise, the case vramrun calls a probable OOM), pytorch-1x (late 1.x), pytorch-async
(cudaMallocAsync backend), cuda-error (a bare CUDA error), tensorflow (BFC
allocator log lines, then ResourceExhaustedError) and jax (XlaRuntimeError).
The exception classes carry the module names the real ones print with.
"""

import datetime
import os

FORMATS = ("pytorch", "pytorch-2.1", "silent", "pytorch-1x", "pytorch-async", "cuda-error", "tensorflow", "jax")

# Which allocator model (waste, budget) each format simulates.
RUNTIME_OF_FORMAT = {
    "pytorch": "pytorch",
    "pytorch-2.1": "pytorch",
    "silent": "pytorch",
    "pytorch-1x": "pytorch",
    "pytorch-async": "pytorch",
    "cuda-error": "pytorch",
    "tensorflow": "tensorflow",
    "jax": "jax",
}

# What a job that fails for lack of memory without saying so prints (the "silent" format).
SILENT_MESSAGE = (
    "CUDA error: an illegal memory access was encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace "
    "below might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1"
)
TORCH_DOCS_URL = "https://pytorch.org/docs/stable/notes/cuda.html#environment-variables"
# PyTorch's cudaMallocAsync backend prints this limit when no memory fraction is set.
UINT64_MAX = 2 ** 64 - 1
TF_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:0"
TF_BFC_SOURCE = "external/local_xla/xla/tsl/framework/bfc_allocator.cc"
TF_HINT = (
    "Hint: If you want to see a list of allocated tensors when OOM happens, add "
    "report_tensor_allocations_upon_oom to RunOptions for current allocation info. "
    "This isn't available when running in Eager mode."
)
JAX_FILTER_NOTE = (
    "--------------------\n"
    "For simplicity, JAX has removed its internal frames from the traceback of the following "
    "exception. Set JAX_TRACEBACK_FILTERING=off to include these."
)


class SimulatedOOM(Exception):
    """The base of the exceptions the simulated GPU raises for an out-of-memory error."""


class OutOfMemoryError(SimulatedOOM, RuntimeError):
    """torch.OutOfMemoryError, as PyTorch 2.x prints it."""


OutOfMemoryError.__module__ = "torch"


class TorchRuntimeError(SimulatedOOM, RuntimeError):
    """A RuntimeError as PyTorch 1.x (and a bare CUDA error) raises it."""


TorchRuntimeError.__module__ = "builtins"
TorchRuntimeError.__qualname__ = "RuntimeError"
TorchRuntimeError.__name__ = "RuntimeError"


class ResourceExhaustedError(SimulatedOOM, Exception):
    """tf.errors.ResourceExhaustedError."""


ResourceExhaustedError.__module__ = "tensorflow.python.framework.errors_impl"


class XlaRuntimeError(SimulatedOOM, RuntimeError):
    """jaxlib's XlaRuntimeError."""


XlaRuntimeError.__module__ = "jaxlib.xla_extension"


def format_size(size):
    """PyTorch's c10 format_size: bytes up to 1024 inclusive, then KiB, MiB, GiB with 2 decimals."""
    if size <= 1024:
        return "%d bytes" % size
    if size <= 1048576:
        return "%.2f KiB" % (size / 1024.0)
    if size <= 1073741824:
        return "%.2f MiB" % (size / 1048576.0)
    return "%.2f GiB" % (size / 1073741824.0)


def tf_human_bytes(num_bytes):
    """TensorFlow's strings::HumanReadableNumBytes: no space before the unit, e.g. 1.25GiB."""
    if num_bytes < 1024:
        return "%dB" % num_bytes
    units = "KMGTPE"
    unit = 0
    # The C++ divides the integer while it is at least 1 MiB, then prints /1024.0.
    while num_bytes >= 1024 * 1024:
        num_bytes //= 1024
        unit += 1
    if units[unit] == "K":
        return "%.1f%siB" % (num_bytes / 1024.0, units[unit])
    return "%.2f%siB" % (num_bytes / 1024.0, units[unit])


class Figures:
    """What the allocator knew when a request failed; every size in bytes."""

    def __init__(self, **kw):
        self.device = kw.get("device", 0)
        self.capacity = kw["capacity"]
        self.others = kw.get("others", [])  # [(pid, bytes)]
        self.allowed = kw.get("allowed")  # PyTorch's memory-fraction limit, or None
        self.allocated = kw["allocated"]
        self.reserved_unallocated = kw.get("reserved_unallocated", 0)
        self.free = kw["free"]
        self.tried = kw["tried"]  # the request as the allocator reports it
        self.tensor_bytes = kw.get("tensor_bytes", kw["tried"])
        self.shape = kw.get("shape", (kw["tried"],))
        self.dtype = kw.get("dtype", "float")
        self.op = kw.get("op", "MatMul")
        self.budget = kw.get("budget", kw["capacity"])
        self.peak = kw.get("peak", kw["allocated"])
        self.allocations = kw.get("allocations", 1)
        self.tf_allocator = kw.get("tf_allocator", "bfc")
        self.tf_function = kw.get("tf_function", "__inference_train_function_2417")
        self.tf_defined_at = kw.get("tf_defined_at", "")


def torch_message(fig, pid=None):
    """PyTorch 2.x CUDACachingAllocator text (note the double spaces the source has). With pid, the
    ~2.1 text instead: "capacty" (sic), the failing process listed as one more "Process N has ..."
    holding what the others do not, and the older hint."""
    procs = list(fig.others)
    if pid is not None:
        others = sum(used for _, used in fig.others)
        procs.append((pid, max(fig.capacity - fig.free - others, fig.allocated + fig.reserved_unallocated)))
    proc = "".join("Process %d has %s memory in use. " % (p, format_size(used)) for p, used in procs)
    if pid is None:
        proc += "Including non-PyTorch memory, this process has %s memory in use. " % format_size(
            fig.allocated + fig.reserved_unallocated
        )
        capacity = "capacity"
        hint = ("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  "
                "See documentation for Memory Management  (%s)" % TORCH_DOCS_URL)
    else:
        capacity = "capacty"
        hint = ("max_split_size_mb to avoid fragmentation.  "
                "See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF")
    allowed = "%s allowed; " % format_size(fig.allowed) if fig.allowed is not None else ""
    return (
        "CUDA out of memory. Tried to allocate %s. GPU %d has a total %s of %s of which %s is free. "
        "%s%sOf the allocated memory %s is allocated by PyTorch, and %s is reserved by PyTorch but unallocated. "
        "If reserved but unallocated memory is large try setting %s"
        % (
            format_size(fig.tried),
            fig.device,
            capacity,
            format_size(fig.capacity),
            format_size(fig.free),
            proc,
            allowed,
            format_size(fig.allocated),
            format_size(fig.reserved_unallocated),
            hint,
        )
    )


def torch1x_message(fig):
    """Late PyTorch 1.x text: reserved is the total the caching allocator holds."""
    allowed = "%s allowed; " % format_size(fig.allowed) if fig.allowed is not None else ""
    return (
        "CUDA out of memory. Tried to allocate %s (GPU %d; %s total capacity; %s already allocated; %s free; "
        "%s%s reserved in total by PyTorch) If reserved memory is >> allocated memory try setting "
        "max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and "
        "PYTORCH_CUDA_ALLOC_CONF"
        % (
            format_size(fig.tried),
            fig.device,
            format_size(fig.capacity),
            format_size(fig.allocated),
            format_size(fig.free),
            allowed,
            format_size(fig.allocated + fig.reserved_unallocated),
        )
    )


def torch_async_message(fig):
    """The cudaMallocAsync backend's multi-line text."""
    limit = fig.allowed if fig.allowed is not None else UINT64_MAX
    return (
        "Allocation on device %d would exceed allowed memory. (out of memory)\n"
        "Currently allocated     : %s\n"
        "Requested               : %s\n"
        "Device limit            : %s\n"
        "Free (according to CUDA): %s\n"
        "PyTorch limit (set by user-supplied memory fraction)\n"
        "                        : %s"
        % (
            fig.device,
            format_size(fig.allocated),
            format_size(fig.tried),
            format_size(fig.capacity),
            format_size(fig.free),
            format_size(limit),
        )
    )


CUDA_ERROR_MESSAGE = (
    "CUDA error: out of memory\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace "
    "below might be incorrect.\n"
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n"
)


def tf_log_prefix(level, source, line, now=None):
    """TensorFlow's C++ log prefix: '2024-05-01 12:00:00.123456: W path:line] '."""
    now = now or datetime.datetime.now()
    return "%s: %s %s:%d] " % (now.strftime("%Y-%m-%d %H:%M:%S.%f"), level, source, line)


def tf_allocator_name(fig):
    return "gpu_async_0" if fig.tf_allocator == "cuda_malloc_async" else "GPU_0_bfc"


def tf_oom_line(fig):
    return "OOM when allocating tensor with shape[%s] and type %s on %s by allocator %s" % (
        ",".join(str(d) for d in fig.shape),
        fig.dtype,
        TF_DEVICE,
        tf_allocator_name(fig),
    )


def tf_log_lines(fig):
    """The allocator's log lines TensorFlow writes to stderr before the Python error."""
    rounded = -(-fig.tensor_bytes // 256) * 256
    if fig.tf_allocator == "cuda_malloc_async":
        src = "external/local_xla/xla/stream_executor/gpu/gpu_cudamallocasync_allocator.cc"
        lines = [
            tf_log_prefix("E", src, 239)
            + "gpu_async_0 cuMemAllocAsync failed to allocate %d bytes: CUDA error: out of memory "
            "(CUDA_ERROR_OUT_OF_MEMORY)" % rounded,
            " Reported by CUDA: Free memory/Total memory: %d/%d" % (fig.free, fig.capacity),
        ]
    else:
        lines = [
            tf_log_prefix("W", TF_BFC_SOURCE, 497)
            + "Allocator (GPU_0_bfc) ran out of memory trying to allocate %s (rounded to %d) "
            "from the lower end requested by op %s" % (tf_human_bytes(fig.tensor_bytes), rounded, fig.op),
            "If this is caused by memory fragmentation, the environment variable "
            "'TF_GPU_ALLOCATOR=cuda_malloc_async' may improve the situation.",
            "Current allocation summary follows.",
            "Current allocation summary follows.",
            tf_log_prefix("I", TF_BFC_SOURCE, 1049) + "BFCAllocator dump for GPU_0_bfc",
            tf_log_prefix("I", TF_BFC_SOURCE, 1106) + "Sum Total of in-use chunks: %s" % tf_human_bytes(fig.allocated),
            tf_log_prefix("I", TF_BFC_SOURCE, 1108) + "Total bytes in pool: %d memlimit: %d" % (fig.budget, fig.budget),
            tf_log_prefix("I", TF_BFC_SOURCE, 1113) + "Stats: ",
            "Limit:                     %11d" % fig.budget,
            "InUse:                     %11d" % fig.allocated,
            "MaxInUse:                  %11d" % fig.peak,
            "NumAllocs:                 %11d" % fig.allocations,
            "MaxAllocSize:              %11d" % fig.tensor_bytes,
            "Reserved:                  %11d" % 0,
            "PeakReserved:              %11d" % 0,
            "LargestFreeBlock:          %11d" % 0,
            "",
            tf_log_prefix("W", TF_BFC_SOURCE, 508) + "*" * 92 + "_" * 8,
        ]
    lines.append(
        tf_log_prefix("W", "tensorflow/core/framework/op_kernel.cc", 1839)
        + "OP_REQUIRES failed at matmul_op_impl.h:731 : RESOURCE_EXHAUSTED: "
        + tf_oom_line(fig)
    )
    return lines


def tf_message(fig):
    """ResourceExhaustedError's message for an OOM inside a tf.function (Keras fit/evaluate/predict)."""
    return (
        "Graph execution error:\n\n"
        "Detected at node '%s' defined at (most recent call last):\n%s"
        "Node: '%s'\n%s\n\t [[{{node %s}}]]\n%s\n [Op:%s]"
        % (fig.op, fig.tf_defined_at, fig.op, tf_oom_line(fig), fig.op, TF_HINT, fig.tf_function)
    )


def jax_message(fig):
    return "RESOURCE_EXHAUSTED: Out of memory while trying to allocate %d bytes." % fig.tensor_bytes


def build(fmt, fig):
    """The log lines to print first and the exception to raise for one failed request."""
    if fmt == "pytorch":
        return [], OutOfMemoryError(torch_message(fig))
    if fmt == "pytorch-2.1":
        return [], OutOfMemoryError(torch_message(fig, os.getpid()))
    if fmt == "silent":
        return [], RuntimeError(SILENT_MESSAGE)
    if fmt == "pytorch-1x":
        return [], TorchRuntimeError(torch1x_message(fig))
    if fmt == "pytorch-async":
        return [], OutOfMemoryError(torch_async_message(fig))
    if fmt == "cuda-error":
        return [], TorchRuntimeError(CUDA_ERROR_MESSAGE)
    if fmt == "tensorflow":
        return tf_log_lines(fig), ResourceExhaustedError(tf_message(fig))
    if fmt == "jax":
        err = XlaRuntimeError(jax_message(fig))
        # Python 3.11+ prints notes after the message, as JAX's filtered tracebacks show it.
        err.__notes__ = [JAX_FILTER_NOTE]
        return [], err
    raise ValueError("unknown OOM format %r (one of %s)" % (fmt, ", ".join(FORMATS)))

