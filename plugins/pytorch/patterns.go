package pytorch

import (
	"slices"

	"github.com/vramrun/vramrun/sdk"
)

// Patterns are the out-of-memory texts that PyTorch and the CUDA libraries
// it drives print, as declared data for vramrun's scanner and diagnosis
// engine. A line takes the first pattern that matches, so the list runs from
// the most specific text to the least.
func Patterns() []sdk.OOMPattern {
	return slices.Concat(
		cudaAllocatorPatterns(),
		otherAllocatorPatterns(),
		libraryPatterns(),
		hostPatterns(),
		detailPatterns(),
	)
}

// sizeExpr is a figure as c10's format_size prints it: a whole number of
// bytes up to 1024, else two decimals and a binary unit.
const sizeExpr = `\d+(?:\.\d+)? (?:bytes|KiB|MiB|GiB|TiB)`

// mpsSizeExpr is the MPS allocator's format_size: the same numbers, but
// with KB/MB/GB units (which mean powers of 1024 there too).
const mpsSizeExpr = `\d+(?:\.\d+)? (?:bytes|KB|MB|GB)`

// namedGroup is a regular expression group that captures the figure name.
func namedGroup(name, expr string) string { return `(?P<` + name + `>` + expr + `)` }

// gpuPattern is a PyTorch pattern of a GPU out-of-memory text.
func gpuPattern(id, expr string) sdk.OOMPattern {
	return sdk.OOMPattern{ID: "pytorch." + id, Framework: "pytorch", Kind: sdk.KindGPU, Regexp: expr}
}

// hostPattern is a PyTorch pattern of a host (CPU memory) out-of-memory
// text.
func hostPattern(id, expr string) sdk.OOMPattern {
	return sdk.OOMPattern{ID: "pytorch." + id, Framework: "pytorch", Kind: sdk.KindHost, Regexp: expr}
}

// The caching allocator's texts are the same for CUDA, ROCm (HIP, a
// hipified copy of the CUDA text) and XPU apart from the first word; the
// three functions below take that word.

// currentAllocatorText is the 2.x text: other processes' usage and this
// process's own total come between "is free." and the optional "allowed"
// figure; they are read by the process_usage Detail pattern, so here they
// are skipped lazily. ~2.1 misspelt "capacity" as "capacty".
func currentAllocatorText(device string) string {
	size, group := sizeExpr, namedGroup
	return device + ` out of memory\. Tried to allocate ` + group("tried", size) +
		`\. GPU (?P<device>\d+) has a total capaci?ty of ` + group("capacity", size) +
		` of which ` + group("free", size) + ` is free\. .*?(?:` + group("allowed", size) + ` allowed; )?` +
		`Of the allocated memory ` + group("allocated", size) + ` is allocated by PyTorch, ` +
		`(?:with ` + size + ` allocated in private pools \([^)]*\), )?` +
		`and ` + group("reserved_unallocated", size) + ` is reserved by PyTorch but unallocated`
}

// legacyAllocatorText is the late 1.x to 2.0 text: "reserved in total" is
// the allocator's whole reservation, allocated memory included; some
// versions stop at the closing parenthesis, later ones add a
// max_split_size_mb hint.
func legacyAllocatorText(device string) string {
	size, group := sizeExpr, namedGroup
	return device + ` out of memory\. Tried to allocate ` + group("tried", size) +
		` \(GPU (?P<device>\d+); ` + group("capacity", size) + ` total capacity; ` +
		group("allocated", size) + ` already allocated; ` + group("free", size) + ` free; ` +
		`(?:` + group("allowed", size) + ` allowed; )?` +
		group("reserved_total", size) + ` reserved in total by PyTorch\)`
}

// cachedAllocatorText is the 1.0 text: "cached" was the memory the
// allocator held but had not handed out (the source computes it as cached
// minus allocated).
func cachedAllocatorText(device string) string {
	size, group := sizeExpr, namedGroup
	return device + ` out of memory\. Tried to allocate ` + group("tried", size) +
		` \(GPU (?P<device>\d+); ` + group("capacity", size) + ` total capacity; ` +
		group("allocated", size) + ` already allocated; ` + group("free", size) + ` free; ` +
		group("reserved_unallocated", size) + ` cached\)`
}

// cudaAllocatorPatterns are the texts of PyTorch's CUDA allocators: the
// caching allocator of each version, cudaMallocAsync, and a request too
// large to print.
func cudaAllocatorPatterns() []sdk.OOMPattern {
	size, group := sizeExpr, namedGroup
	mallocAsync := gpuPattern("cuda_malloc_async",
		`Allocation on device (?P<device>\d+) would exceed allowed memory\. \(out of memory\)`)
	// The figures follow on their own lines; the memory-fraction limit's
	// value sits on the line after its label, indented up to the colons.
	mallocAsync.Follow = []string{
		`Currently allocated\s*: ` + group("allocated", size),
		`Requested\s*: ` + group("tried", size),
		`Device limit\s*: ` + group("capacity", size),
		`Free \(according to CUDA\)\s*: ` + group("free", size),
		`PyTorch limit \(set by user-supplied memory fraction\)`,
		`(?:^|:)\s+: ` + group("allowed", size) + `\s*$`,
	}
	return []sdk.OOMPattern{
		gpuPattern("caching_allocator", currentAllocatorText("CUDA")),
		gpuPattern("caching_allocator_1x", legacyAllocatorText("CUDA")),
		gpuPattern("caching_allocator_1_0", cachedAllocatorText("CUDA")),
		mallocAsync,
		// A request so large that the size cannot be printed; it is a lower
		// bound, not the request, so it gives no tried figure.
		gpuPattern("allocation_too_large", `CUDA out of memory\. Tried to allocate more than 1EB memory\.`),
	}
}

// otherAllocatorPatterns are the allocator texts of the other GPU
// backends: ROCm (HIP), XPU and Apple's MPS.
func otherAllocatorPatterns() []sdk.OOMPattern {
	mps, group := mpsSizeExpr, namedGroup
	return []sdk.OOMPattern{
		gpuPattern("hip_caching_allocator", currentAllocatorText("HIP")),
		gpuPattern("hip_caching_allocator_1x", legacyAllocatorText("HIP")),
		gpuPattern("hip_caching_allocator_1_0", cachedAllocatorText("HIP")),
		gpuPattern("xpu_caching_allocator", currentAllocatorText("XPU")),
		gpuPattern("mps_allocator", `MPS backend out of memory \(MPS allocated: `+group("allocated", mps)+
			`, other allocations: `+mps+`(?:, max allowed: `+group("allowed", mps)+`)?\)\. `+
			`Tried to allocate `+group("tried", mps)+` on (?:shared|private) pool`),
	}
}

// libraryPatterns are the out-of-memory errors of CUDA itself and of the
// libraries PyTorch drives: cuBLAS, cuDNN and NCCL.
func libraryPatterns() []sdk.OOMPattern {
	return []sdk.OOMPattern{
		// A failed cudaMalloc outside the caching allocator (contexts,
		// workspaces) through C10_CUDA_CHECK.
		gpuPattern("cuda_error", `(?:CUDA|HIP) error: out of memory`),
		gpuPattern("cublas_alloc_failed", `CUDA error: CUBLAS_STATUS_ALLOC_FAILED`),
		gpuPattern("cudnn_alloc_failed", `cuDNN error: CUDNN_STATUS_ALLOC_FAILED`),
		// NCCL's CUDACHECK; newer releases print the error number too.
		gpuPattern("nccl_cuda_failure", `Cuda failure (?:\d+ )?'out of memory'`),
	}
}

// hostPatterns are the texts of host memory running out: the CPU allocator
// and a DataLoader worker killed by the kernel's OOM killer.
func hostPatterns() []sdk.OOMPattern {
	return []sdk.OOMPattern{
		hostPattern("cpu_allocator", `DefaultCPUAllocator: (?:can't allocate memory|not enough memory): `+
			`you tried to allocate (?P<tried>\d+) bytes`),
		hostPattern("dataloader_worker_killed", `DataLoader worker \(pid \d+\) is killed by signal: Killed\.`),
	}
}

// detailPatterns are lines that add figures to an OOM already found rather
// than report one.
func detailPatterns() []sdk.OOMPattern {
	size, group := sizeExpr, namedGroup
	processUsage := gpuPattern("process_usage", `Process (?P<pid>\d+) has `+group("used", size)+` memory in use`)
	processUsage.Detail = true
	return []sdk.OOMPattern{processUsage}
}

// Frames are the traceback functions of plain PyTorch that tell the phase.
// Plain PyTorch has no evaluation entry point of its own: evaluation shows
// through another plugin's frames or a function of the user's script named
// eval*/valid*, which vramrun checks first. A forward call shows as
// _wrapped_call_impl -> _call_impl -> forward; with no evaluation frame on
// the stack it is almost always a training step, so those count as training.
func Frames() []sdk.Frame {
	train := func(name string) sdk.Frame { return sdk.Frame{Name: name, Phase: sdk.PhaseTrain} }
	return []sdk.Frame{
		train("backward"),             // Tensor.backward, torch.autograd.backward
		train("_engine_run_backward"), // torch.autograd.graph, 2.x
		train("step"),                 // Optimizer.step
		train("forward"),
		train("_call_impl"),
		train("_wrapped_call_impl"),
		train("training_step"), // the usual name of a user's training step
	}
}
