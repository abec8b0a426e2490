package oom

import "github.com/vramrun/vramrun/sdk"

// Diagnosis is what vramrun makes of an attempt's output and the way it
// ended: `vramrun explain --json` prints it, the run record keeps it, and the
// planner reads its figures. A nil figure is one the output did not give.
type Diagnosis struct {
	OOM bool `json:"oom"`
	// Kind is gpu or host; null without an OOM.
	Kind sdk.OOMKind `json:"kind"`
	// Framework is the runtime whose text it was ("pytorch", "tensorflow",
	// "jax", a plugin's own name), "unknown" without one.
	Framework string `json:"framework"`
	// Signature is the id of the pattern that matched ("pytorch.caching_allocator"),
	// or one of vramrun's own (SignatureSIGKILL, SignatureOOMKill, "probable").
	Signature string    `json:"signature"`
	Device    *int      `json:"device"`
	Phase     sdk.Phase `json:"phase"`
	Sizes
	// OtherProcesses hold memory on the GPU besides the job.
	OtherProcesses []ProcessUsage `json:"other_processes"`
	// Fragmented: the allocator held, unused, at least the request or 10%
	// of the GPU.
	Fragmented bool `json:"fragmented"`
	// Message is the OOM text as printed (the matched line and its Follow
	// lines).
	Message string `json:"message"`
	// NextFixes is what vramrun would try next, in order (explain fills it).
	NextFixes []sdk.FixID `json:"next_fixes"`
}

// Sizes are the memory figures an OOM text gives, in bytes.
type Sizes struct {
	// TriedBytes is the allocation that failed.
	TriedBytes *int64 `json:"tried_bytes"`
	// CapacityBytes is the GPU's total memory.
	CapacityBytes *int64 `json:"capacity_bytes"`
	FreeBytes     *int64 `json:"free_bytes"`
	// AllocatedBytes is what the job's allocator had handed out.
	AllocatedBytes *int64 `json:"allocated_bytes"`
	// ReservedUnallocatedBytes is what the allocator held but could not use.
	ReservedUnallocatedBytes *int64 `json:"reserved_unallocated_bytes"`
	// AllowedBytes is the job's share when a memory fraction is set.
	AllowedBytes *int64 `json:"allowed_bytes"`
}

// ProcessUsage is memory another process holds on the GPU.
type ProcessUsage struct {
	PID       int   `json:"pid"`
	UsedBytes int64 `json:"used_bytes"`
}

// NoOOM is the diagnosis of output without an out-of-memory error.
func NoOOM() Diagnosis {
	return Diagnosis{Framework: "unknown", Phase: sdk.PhaseUnknown,
		OtherProcesses: []ProcessUsage{}, NextFixes: []sdk.FixID{}}
}
