package plan

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

// ObservationFrom adds up what an OOM diagnosis says about memory. peak is the
// attempt's NVML peak (0 unknown), capacity the GPU's total from NVML (0
// unknown) for texts that do not print it.
func ObservationFrom(d oom.Diagnosis, peak, capacity int64) Observation {
	var obs Observation
	total := capacity
	if d.CapacityBytes != nil {
		total = *d.CapacityBytes
	}
	if d.AllowedBytes != nil && (total == 0 || *d.AllowedBytes < total) {
		total = *d.AllowedBytes
	}
	if total > 0 {
		for _, o := range d.OtherProcesses {
			total -= o.UsedBytes
		}
		obs.Usable = total
	}
	if d.TriedBytes != nil {
		var inUse int64
		switch {
		case d.AllocatedBytes != nil:
			inUse = *d.AllocatedBytes
			if d.ReservedUnallocatedBytes != nil {
				inUse += *d.ReservedUnallocatedBytes
			}
		case obs.Usable > 0:
			// Without the allocator's own figures: an allocation failed, so
			// what the job could use was in use, less what was still free.
			inUse = obs.Usable
			if d.FreeBytes != nil {
				inUse -= *d.FreeBytes
			}
		}
		tried := *d.TriedBytes
		if d.AllocatedBytes != nil && d.ReservedUnallocatedBytes != nil && *d.AllocatedBytes > 0 {
			// The request would have carried the allocator's waste too.
			tried += int64(float64(tried) * float64(*d.ReservedUnallocatedBytes) / float64(*d.AllocatedBytes))
		}
		if inUse > 0 {
			obs.Demand = inUse + tried
		}
	}
	if peak > obs.Demand {
		obs.Demand = peak
	}
	return obs
}

// Describe is a short human form of a fix and its sizes, for plan tables.
func Describe(f sdk.Fix) string {
	var parts []string
	parts = append(parts, string(f.ID))
	if f.BatchSize > 0 {
		parts = append(parts, fmt.Sprintf("batch %d", f.BatchSize))
	}
	if f.GradAccumulation > 0 {
		parts = append(parts, fmt.Sprintf("accumulation %d", f.GradAccumulation))
	}
	if f.Precision != "" {
		parts = append(parts, f.Precision)
	}
	return strings.Join(parts, " ")
}

// NextFixes is the order in which the planner would try fixes after an OOM
// like d, when every fix is open to the command: what `vramrun explain`
// reports as next_fixes. Nothing for a host-memory OOM or no OOM.
func NextFixes(cfg Config, d oom.Diagnosis) []sdk.FixID {
	out := []sdk.FixID{}
	if !d.OOM || d.Kind != sdk.KindGPU {
		return out
	}
	p := New(cfg)
	if d.Phase == sdk.PhaseEval {
		return append(out, p.evalLadder()...)
	}
	seen := map[sdk.FixID]bool{}
	if d.Fragmented && p.inLadder(sdk.FixAllocator) {
		out = append(out, sdk.FixAllocator)
		seen[sdk.FixAllocator] = true
	}
	for _, id := range p.cfg.Ladder {
		if !seen[id] || id == sdk.FixBatchSize {
			out = append(out, id)
			seen[id] = true
		}
	}
	return out
}
