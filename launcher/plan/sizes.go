package plan

import (
	"fmt"
	"math"
)

// Margin is the share of the usable memory the size estimate aims for by
// default (memory_margin 10 %). An
// OOM's figures only bound the demand from below, so the estimate is
// optimistic by nature; the margin pays for that and for allocator waste.
const Margin = 0.9

// MinOvershoot is how far past the usable memory an OOM's figures must
// reach before they are worth sizing from. Below it the failed request was
// a small one on a full GPU, which says nothing of how much too big the
// batch is.
const MinOvershoot = 1.1

// Point is one observation of memory against a batch size: what an attempt
// at that size needed (a lower bound when it ran out of memory), and what the
// GPU could give it.
type Point struct {
	Size int
	// Demand is the memory the attempt needed: its peak from NVML when known,
	// else what the OOM figures add up to (allocated + held unused + tried).
	Demand int64
	// Usable is the memory the job could have used: capacity (or the allowed
	// fraction) minus what other processes held.
	Usable int64
	// OOM says whether the attempt ran out of memory at this size.
	OOM bool
	// PreStep is the memory NVML saw the job hold once loaded, before its
	// first step (0 unknown): a lower bound of the fixed part (see split).
	PreStep int64
}

// Estimate proposes the next batch size below current from the observations
// made since the last change of any other setting (a new precision or
// checkpointing changes the memory curve, so older points no longer apply).
// how says which way it went; ok is false when the figures say nothing
// useful and the caller halves.
//
// An OOM's figures bound the demand from below, so assuming memory grows in
// proportion to the batch gives an upper bound on the size that fits; the
// smallest such bound over the attempts is used. With two or more attempts
// a line demand = fixed + perSample*size is fitted too, and taken when it
// lies between half that bound and the bound (the fixed part makes the size
// smaller; a fit far below it comes from loose bounds and is not trusted).
// aim is the share of the usable memory aimed for (Margin by default).
func Estimate(points []Point, current int, aim float64) (size int, how string, ok bool) {
	var informative []Point
	for _, p := range points {
		if p.Size > 0 && p.Usable > 0 && float64(p.Demand) >= float64(p.Usable)*MinOvershoot {
			informative = append(informative, p)
		}
	}
	if len(informative) == 0 {
		// The figures only say the GPU was full: the request that failed
		// was small, and how far over the whole step would have gone is
		// unknown. Any factor would be a guess; halving is the known one.
		return 0, "", false
	}
	margin := aim
	bound := math.Inf(1)
	for _, p := range informative {
		b := float64(p.Size) * float64(p.Usable) * margin / float64(p.Demand)
		bound = math.Min(bound, b)
	}
	how = "estimated from the OOM figures"
	if len(informative) >= 2 {
		if fixed, perSample, fitted := fitLine(informative); fitted {
			target := float64(informative[len(informative)-1].Usable) * margin
			if fit := (target - fixed) / perSample; fit <= bound && fit >= bound/2 {
				bound = fit
				how = fmt.Sprintf("fitted to %d attempts", len(informative))
			}
		}
	}
	return clampBelow(int(math.Floor(bound)), current), how, true
}

// fitLine fits demand = fixed + perSample*size. It refuses fits that make no
// physical sense (memory falling with the batch, or a fixed part below zero
// or above the whole demand), which happen when the points are only loose
// lower bounds.
func fitLine(points []Point) (fixed, perSample float64, ok bool) {
	xs, ys := make([]float64, len(points)), make([]float64, len(points))
	for i, p := range points {
		xs[i], ys[i] = float64(p.Size), float64(p.Demand)
	}
	fixed, perSample, ok = leastSquares(xs, ys)
	if !ok || perSample <= 0 || fixed < 0 {
		return 0, 0, false
	}
	for _, p := range points {
		if fixed >= float64(p.Demand) {
			return 0, 0, false
		}
	}
	return fixed, perSample, true
}

// clampBelow keeps a proposal strictly below the size that failed, so each
// step makes progress, and at least 1.
func clampBelow(size, current int) int {
	if size >= current {
		size = current - 1
	}
	if size < 1 {
		size = 1
	}
	return size
}

// Resize turns a proposed micro-batch into the micro-batch and accumulation
// to run:
//   - keep (keep_effective_batch) with an accumulation knob: the largest
//     divisor of the effective batch not above the proposal, at least
//     minSize, and accumulation = effective / micro;
//   - without keep: micro = proposal and accumulation rounded up so the
//     effective batch is at least what it was;
//   - without an accumulation knob (accum 0): micro = proposal only.
//
// ok is false when no size at least minSize is below the current one.
func Resize(micro, accum, proposal, minSize int, keep bool) (newMicro, newAccum int, ok bool) {
	if proposal < minSize {
		proposal = minSize
	}
	if proposal >= micro {
		return 0, 0, false
	}
	if accum <= 0 {
		return proposal, 0, true
	}
	effective := micro * accum
	if !keep {
		return proposal, (effective + proposal - 1) / proposal, true
	}
	for d := proposal; d >= minSize; d-- {
		if effective%d == 0 {
			return d, effective / d, true
		}
	}
	// No divisor between minSize and the proposal: the smallest divisor
	// above it still makes progress without breaking the floor.
	for d := proposal + 1; d < micro; d++ {
		if effective%d == 0 {
			return d, effective / d, true
		}
	}
	return 0, 0, false
}
