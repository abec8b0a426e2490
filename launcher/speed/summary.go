package speed

import (
	"cmp"
	"slices"
	"time"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// WarmUp is how many of a pattern's first readings are dropped: the first
// steps compile, autotune convolutions, grow the allocator's pool and
// allocate the optimizer's state, and a bar's average carries them a while.
// At least one reading is always kept.
const WarmUp = 3

// Shape is what turns a reading's units into samples: the micro-batch and
// accumulation of one process and the number of processes. Micro 0 is
// unknown.
type Shape struct {
	Micro, Accumulation, World int
}

// ShapeOf is the shape of a command's knobs.
func ShapeOf(k sdk.Knobs, world int) Shape {
	s := Shape{Accumulation: 1, World: max(world, 1)}
	if k.BatchSize != nil {
		s.Micro = *k.BatchSize
	}
	if k.GradAccumulation != nil && *k.GradAccumulation > 0 {
		s.Accumulation = *k.GradAccumulation
	}
	return s
}

// Speed is the attempt's speed: from the first pattern, in declaration
// order, with readings (summary patterns only when no other has any). Nil
// when no line told.
func (r *Readings) Speed(shape Shape) *record.Speed {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, s, ok := r.pick(); ok {
		return speedOf(r.set.patterns[i].decl, s, shape)
	}
	return nil
}

// Began is when the series the speed is read from (see Speed) had its
// first reading: training had begun by then, since a bar tells a rate
// only once a unit is done. A summary is not taken: it comes once
// training is over, and says nothing of when it began. ok is false when
// no line but a summary told.
func (r *Readings) Began() (at time.Time, ok bool) {
	if r == nil {
		return time.Time{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, s, ok := r.pick()
	return s.first, ok && !r.set.patterns[i].decl.Summary
}

// pick is the pattern and series the speed is read from; r.mu held.
func (r *Readings) pick() (int, series, bool) {
	if r.set.Empty() {
		return 0, series{}, false
	}
	for _, summaries := range []bool{false, true} {
		for i, p := range r.set.patterns {
			if p.decl.Summary != summaries || len(r.per[i]) == 0 {
				continue
			}
			// The key value read most: the training bar, ticking more often
			// than any evaluation bar between its ticks.
			return i, slices.MaxFunc(r.per[i], func(a, b series) int { return cmp.Compare(a.count, b.count) }), true
		}
	}
	return 0, series{}, false
}

func speedOf(d sdk.ProgressPattern, s series, shape Shape) *record.Speed {
	drop := min(WarmUp, s.count-1)
	if d.Summary {
		// A summary covers the whole run: there is no warm-up to drop, and
		// the last one is the run's.
		drop = s.count - 1
	}
	n := min(s.count-drop, window)
	steady := make([]float64, 0, n)
	for k := s.count - n; k < s.count; k++ {
		steady = append(steady, s.latest[k%window])
	}
	slices.Sort(steady)
	median := quantile(steady, 0.5)
	out := &record.Speed{Rate: median, Unit: string(d.Unit), Readings: n, Pattern: d.ID}
	if median > 0 {
		out.Spread = (quantile(steady, 0.75) - quantile(steady, 0.25)) / median
	}
	world := float64(shape.World)
	switch d.Unit {
	case sdk.UnitStep:
		if shape.Micro > 0 {
			out.SamplesPerS = ptr(median * float64(shape.Micro*shape.Accumulation) * world)
		}
	case sdk.UnitMicroBatch:
		if shape.Micro > 0 {
			out.SamplesPerS = ptr(median * float64(shape.Micro) * world)
		}
	case sdk.UnitSample:
		out.SamplesPerS = ptr(perProcess(median, d, world))
	case sdk.UnitToken:
		out.TokensPerS = ptr(perProcess(median, d, world))
	}
	return out
}

func perProcess(v float64, d sdk.ProgressPattern, world float64) float64 {
	if d.PerProcess {
		return v * world
	}
	return v
}

// quantile of sorted values, interpolated between neighbours.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	frac := pos - float64(lo)
	return sorted[lo]*(1-frac) + sorted[lo+1]*frac
}

func ptr(v float64) *float64 { return &v }
