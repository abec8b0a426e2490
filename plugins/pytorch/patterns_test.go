package pytorch

import (
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// firstMatch returns the first non-Detail pattern matching line, as the
// scanner picks it, with its named groups.
func firstMatch(t *testing.T, line string) (string, map[string]string) {
	t.Helper()
	for _, p := range Patterns() {
		if p.Detail {
			continue
		}
		re := regexp.MustCompile(p.Regexp)
		if sub := re.FindStringSubmatch(line); sub != nil {
			return p.ID, namedGroups(re, sub)
		}
	}
	return "", nil
}

func namedGroups(re *regexp.Regexp, sub []string) map[string]string {
	out := map[string]string{}
	for i, name := range re.SubexpNames() {
		if name != "" && sub[i] != "" {
			out[name] = sub[i]
		}
	}
	return out
}

func TestPatternsValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Patterns() {
		if err := p.Validate(); err != nil {
			t.Errorf("%v", err)
		}
		if seen[p.ID] {
			t.Errorf("pattern %s declared twice", p.ID)
		}
		seen[p.ID] = true
		if p.Framework != "pytorch" || !strings.HasPrefix(p.ID, "pytorch.") {
			t.Errorf("pattern %s: framework %q, want pytorch and an id prefixed pytorch.", p.ID, p.Framework)
		}
	}
}

func TestPatternsMatchTheirTexts(t *testing.T) {
	tests := []struct {
		name, line, id string
		groups         map[string]string
	}{
		{"2.x with other processes",
			"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.30 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.05 GiB is free. Process 12345 has 3.20 GiB memory in use. Process 23456 has 1.10 GiB memory in use. Including non-PyTorch memory, this process has 18.27 GiB memory in use. Of the allocated memory 16.81 GiB is allocated by PyTorch, and 1.02 GiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)",
			"pytorch.caching_allocator",
			map[string]string{"tried": "2.30 GiB", "device": "0", "capacity": "23.64 GiB", "free": "1.05 GiB", "allocated": "16.81 GiB", "reserved_unallocated": "1.02 GiB"}},
		{"2.x with allowed and private pools",
			"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB. GPU 1 has a total capacity of 79.15 GiB of which 40.31 GiB is free. Including non-PyTorch memory, this process has 38.83 GiB memory in use. 39.57 GiB allowed; Of the allocated memory 36.02 GiB is allocated by PyTorch, with 1.50 GiB allocated in private pools (e.g., CUDA Graphs), and 2.12 GiB is reserved by PyTorch but unallocated.",
			"pytorch.caching_allocator",
			map[string]string{"tried": "512.00 MiB", "device": "1", "capacity": "79.15 GiB", "free": "40.31 GiB", "allowed": "39.57 GiB", "allocated": "36.02 GiB", "reserved_unallocated": "2.12 GiB"}},
		{"2.1 typo",
			"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacty of 14.75 GiB of which 7.06 MiB is free. Process 3486 has 14.74 GiB memory in use. Of the allocated memory 14.50 GiB is allocated by PyTorch, and 121.81 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF",
			"pytorch.caching_allocator",
			map[string]string{"tried": "20.00 MiB", "device": "0", "capacity": "14.75 GiB", "free": "7.06 MiB", "allocated": "14.50 GiB", "reserved_unallocated": "121.81 MiB"}},
		{"1.x",
			"RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.93 GiB total capacity; 130.35 MiB already allocated; 47.06 MiB free; 188.00 MiB reserved in total by PyTorch) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF",
			"pytorch.caching_allocator_1x",
			map[string]string{"tried": "20.00 MiB", "device": "0", "capacity": "7.93 GiB", "allocated": "130.35 MiB", "free": "47.06 MiB", "reserved_total": "188.00 MiB"}},
		{"1.x with allowed",
			"RuntimeError: CUDA out of memory. Tried to allocate 1.00 GiB (GPU 0; 15.90 GiB total capacity; 6.21 GiB already allocated; 8.71 GiB free; 7.00 GiB allowed; 6.50 GiB reserved in total by PyTorch)",
			"pytorch.caching_allocator_1x",
			map[string]string{"tried": "1.00 GiB", "device": "0", "capacity": "15.90 GiB", "allocated": "6.21 GiB", "free": "8.71 GiB", "allowed": "7.00 GiB", "reserved_total": "6.50 GiB"}},
		{"1.0 cached",
			"RuntimeError: CUDA out of memory. Tried to allocate 12.50 MiB (GPU 0; 10.92 GiB total capacity; 8.57 MiB already allocated; 9.28 GiB free; 4.68 MiB cached)",
			"pytorch.caching_allocator_1_0",
			map[string]string{"tried": "12.50 MiB", "device": "0", "capacity": "10.92 GiB", "allocated": "8.57 MiB", "free": "9.28 GiB", "reserved_unallocated": "4.68 MiB"}},
		{"cudaMallocAsync trigger",
			"torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of memory)",
			"pytorch.cuda_malloc_async", map[string]string{"device": "0"}},
		{"1EB", "RuntimeError: CUDA out of memory. Tried to allocate more than 1EB memory.",
			"pytorch.allocation_too_large", map[string]string{}},
		{"HIP", "torch.OutOfMemoryError: HIP out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 191.98 GiB of which 1.55 GiB is free. Of the allocated memory 188.86 GiB is allocated by PyTorch, and 1.12 GiB is reserved by PyTorch but unallocated.",
			"pytorch.hip_caching_allocator",
			map[string]string{"tried": "2.00 GiB", "device": "0", "capacity": "191.98 GiB", "free": "1.55 GiB", "allocated": "188.86 GiB", "reserved_unallocated": "1.12 GiB"}},
		{"HIP 1.x", "RuntimeError: HIP out of memory. Tried to allocate 20.00 MiB (GPU 0; 15.98 GiB total capacity; 15.50 GiB already allocated; 0 bytes free; 15.80 GiB reserved in total by PyTorch)",
			"pytorch.hip_caching_allocator_1x",
			map[string]string{"tried": "20.00 MiB", "device": "0", "capacity": "15.98 GiB", "allocated": "15.50 GiB", "free": "0 bytes", "reserved_total": "15.80 GiB"}},
		{"XPU", "torch.OutOfMemoryError: XPU out of memory. Tried to allocate 4.00 GiB. GPU 0 has a total capacity of 47.98 GiB of which 2.10 GiB is free. Of the allocated memory 42.61 GiB is allocated by PyTorch, and 3.27 GiB is reserved by PyTorch but unallocated. Please use `empty_cache` to release all unoccupied cached memory.",
			"pytorch.xpu_caching_allocator",
			map[string]string{"tried": "4.00 GiB", "device": "0", "capacity": "47.98 GiB", "free": "2.10 GiB", "allocated": "42.61 GiB", "reserved_unallocated": "3.27 GiB"}},
		{"MPS with limit", "RuntimeError: MPS backend out of memory (MPS allocated: 18.13 GB, other allocations: 13.64 MB, max allowed: 18.13 GB). Tried to allocate 1024.00 KB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause system failure).",
			"pytorch.mps_allocator", map[string]string{"allocated": "18.13 GB", "allowed": "18.13 GB", "tried": "1024.00 KB"}},
		{"MPS without limit", "RuntimeError: MPS backend out of memory (MPS allocated: 30.02 GB, other allocations: 1.20 GB). Tried to allocate 256.00 MB on shared pool.",
			"pytorch.mps_allocator", map[string]string{"allocated": "30.02 GB", "tried": "256.00 MB"}},
		{"CUDA error", "RuntimeError: CUDA error: out of memory", "pytorch.cuda_error", map[string]string{}},
		{"cuBLAS", "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", "pytorch.cublas_alloc_failed", map[string]string{}},
		{"cuDNN", "RuntimeError: cuDNN error: CUDNN_STATUS_ALLOC_FAILED", "pytorch.cudnn_alloc_failed", map[string]string{}},
		{"NCCL numbered", "node1:1234:1290 [0] include/alloc.h:103 NCCL WARN Cuda failure 2 'out of memory'", "pytorch.nccl_cuda_failure", map[string]string{}},
		{"NCCL", "node1:1234:1290 [0] NCCL WARN Cuda failure 'out of memory'", "pytorch.nccl_cuda_failure", map[string]string{}},
		{"CPU can't", "RuntimeError: [enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 35651584000 bytes. Error code 12 (Cannot allocate memory)",
			"pytorch.cpu_allocator", map[string]string{"tried": "35651584000"}},
		{"CPU not enough", "RuntimeError: DefaultCPUAllocator: not enough memory: you tried to allocate 1073741824 bytes.",
			"pytorch.cpu_allocator", map[string]string{"tried": "1073741824"}},
		{"DataLoader", "RuntimeError: DataLoader worker (pid 4321) is killed by signal: Killed. ",
			"pytorch.dataloader_worker_killed", map[string]string{}},
		{"not an OOM: retry hint", "INFO: checking for out of memory conditions", "", nil},
		{"not an OOM: test name", "tests/test_out_of_memory.py PASSED", "", nil},
		{"not an OOM: cuDNN unsupported", "RuntimeError: cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous input.", "", nil},
		{"not an OOM: own usage", "Including non-PyTorch memory, this process has 18.27 GiB memory in use.", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, groups := firstMatch(t, tc.line)
			if id != tc.id {
				t.Fatalf("matched %q, want %q", id, tc.id)
			}
			if tc.id != "" && !maps.Equal(groups, tc.groups) {
				t.Errorf("groups %v, want %v", groups, tc.groups)
			}
		})
	}
}

func TestProcessUsageFindsEveryOtherProcess(t *testing.T) {
	var detail sdk.OOMPattern
	for _, p := range Patterns() {
		if p.ID == "pytorch.process_usage" {
			detail = p
		}
	}
	if !detail.Detail {
		t.Fatalf("pytorch.process_usage missing or not a Detail pattern: %+v", detail)
	}
	line := "CUDA out of memory. Tried to allocate 2.30 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.05 GiB is free. Process 12345 has 3.20 GiB memory in use. Process 23456 has 1.10 GiB memory in use. Including non-PyTorch memory, this process has 18.27 GiB memory in use. Of the allocated"
	re := regexp.MustCompile(detail.Regexp)
	var got []string
	for _, sub := range re.FindAllStringSubmatch(line, -1) {
		g := namedGroups(re, sub)
		got = append(got, g["pid"]+"="+g["used"])
	}
	want := []string{"12345=3.20 GiB", "23456=1.10 GiB"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("process usage %v, want %v", got, want)
	}
}

func TestMallocAsyncFollowLines(t *testing.T) {
	var p sdk.OOMPattern
	for _, q := range Patterns() {
		if q.ID == "pytorch.cuda_malloc_async" {
			p = q
		}
	}
	lines := []string{
		"Currently allocated     : 22.43 GiB",
		"Requested               : 4.07 GiB",
		"Device limit            : 16.00 GiB",
		"Free (according to CUDA): 0 bytes",
		"PyTorch limit (set by user-supplied memory fraction)",
		"                        : 17.00 GiB",
	}
	want := []map[string]string{
		{"allocated": "22.43 GiB"}, {"tried": "4.07 GiB"}, {"capacity": "16.00 GiB"},
		{"free": "0 bytes"}, {}, {"allowed": "17.00 GiB"},
	}
	if len(p.Follow) != len(lines) {
		t.Fatalf("%d follow expressions, want %d", len(p.Follow), len(lines))
	}
	for i, expr := range p.Follow {
		re := regexp.MustCompile(expr)
		// Each line must be taken by its own expression and by no earlier
		// one, since the diagnosis offers a line to them in order.
		for j := 0; j < i; j++ {
			if regexp.MustCompile(p.Follow[j]).MatchString(lines[i]) {
				t.Errorf("line %q is taken by follow %d, want %d", lines[i], j, i)
			}
		}
		sub := re.FindStringSubmatch(lines[i])
		if sub == nil {
			t.Errorf("follow %d does not match %q", i, lines[i])
			continue
		}
		if g := namedGroups(re, sub); !maps.Equal(g, want[i]) {
			t.Errorf("follow %d groups %v, want %v", i, g, want[i])
		}
	}
}

func TestFrames(t *testing.T) {
	got := map[string]sdk.Phase{}
	for _, f := range Frames() {
		if _, dup := got[f.Name]; dup {
			t.Errorf("frame %q declared twice", f.Name)
		}
		got[f.Name] = f.Phase
	}
	for _, name := range []string{"backward", "step", "forward", "_call_impl", "_wrapped_call_impl", "training_step"} {
		if got[name] != sdk.PhaseTrain {
			t.Errorf("frame %q: phase %q, want train", name, got[name])
		}
	}
	for name, phase := range got {
		if phase != sdk.PhaseTrain {
			t.Errorf("frame %q: phase %q; plain PyTorch declares no evaluation frame", name, phase)
		}
	}
}
