package plan

import (
	"fmt"
	"math"
	"sort"

	"github.com/vramrun/vramrun/sdk"
)

// Candidate is one configuration a trial of `vramrun tune` runs: the
// micro-batch and accumulation (their product the effective batch as
// typed), with or without gradient checkpointing.
type Candidate struct {
	Micro, Accum  int
	Checkpointing bool
}

func (c Candidate) String() string {
	s := fmt.Sprintf("micro-batch %d", c.Micro)
	if c.Accum > 0 {
		s += fmt.Sprintf(" x %d", c.Accum)
	}
	if c.Checkpointing {
		s += ", checkpointing"
	}
	return s
}

// Trial is what a candidate's trial came to.
type Trial struct {
	// N is the caller's number for the trial (vramrun tune's attempt).
	N int
	Candidate
	// Fits says the trial ran until vramrun ended it (or it finished)
	// without running out of memory; OOM says it ran out.
	Fits, OOM bool
	// Point is its memory: NVML's peak when it fit, the OOM figures (a
	// lower bound) when it ran out; zero Demand when unknown.
	Point Point
	// SamplesPerS is its measured speed, 0 when unknown.
	SamplesPerS float64
}

// Tuner chooses the trials of `vramrun tune` and the winner. Within each
// family (checkpointing off, on) it looks for the largest micro-batch that
// fits, from the memory line the trials so far draw (an OOM's figures are
// a lower bound, a fit's peak a measurement); checkpointing is tried only
// at a micro-batch larger than the largest that fits without it, because
// at the same size it only costs speed. The winner is the fastest measured
// trial that fit.
type Tuner struct {
	typed Candidate
	// accumKnob says the command has an accumulation knob: the micro-batch
	// may then move while the effective batch stays.
	accumKnob bool
	// checkpointing says the family with checkpointing may be tried.
	checkpointing bool
	minMicro      int
	trials        []Trial
}

// NewTuner makes the tuner of one command: micro x accum as typed (accum 0
// when the command has no accumulation knob), whether checkpointing may be
// tried, and the smallest micro-batch allowed.
func NewTuner(micro, accum int, checkpointing bool, minMicro int) *Tuner {
	return &Tuner{typed: Candidate{Micro: micro, Accum: accum}, accumKnob: accum > 0,
		checkpointing: checkpointing, minMicro: max(minMicro, 1)}
}

// Record takes a trial's result.
func (t *Tuner) Record(tr Trial) { t.trials = append(t.trials, tr) }

// Trials are the results so far, in order.
func (t *Tuner) Trials() []Trial { return t.trials }

// Next is the next candidate to try, with why; false when the search is
// over (each family has its largest fitting micro-batch, or nothing new is
// left to try).
func (t *Tuner) Next() (Candidate, string, bool) {
	if len(t.trials) == 0 {
		return t.typed, "the micro-batch as typed", true
	}
	if c, why, ok := t.nextIn(false); ok {
		return c, why, true
	}
	if !t.checkpointing {
		return Candidate{}, "", false
	}
	return t.nextIn(true)
}

// nextIn is the next candidate of one family. Sizes at or below floor are
// not worth a trial: for checkpointing, the largest micro-batch that fits
// without it.
func (t *Tuner) nextIn(ckpt bool) (Candidate, string, bool) {
	floor := 0
	if ckpt {
		floor, _ = t.bounds(false)
	}
	fit, oom := t.bounds(ckpt)
	fit = max(fit, floor)
	sizes := t.sizes()
	if ckpt && !t.tried(true) {
		// The line without checkpointing, its parts scaled by
		// checkpointing's saving, says how far above floor it may go.
		fixed, perSample, usable, ok := t.line(false)
		if !ok {
			return Candidate{}, "", false
		}
		s := Savings()[sdk.FixGradCheckpointing]
		m := largestAtMost(sizes, fitting(fixed*s.Fixed, perSample*s.PerSample, usable), 0)
		if m <= floor {
			return Candidate{}, "", false
		}
		return t.candidate(m, true), fmt.Sprintf("checkpointing's saving is predicted to fit micro-batch %d", m), true
	}
	fixed, perSample, usable, ok := t.line(ckpt)
	target := 0
	if ok {
		target = fitting(fixed, perSample, usable)
	}
	switch {
	case oom > 0 && nextAbove(sizes, fit) < oom:
		// Between the largest that fit and the smallest that ran out: the
		// largest the figures predict to fit (they are lower bounds, so
		// the prediction errs large, and each OOM moves the bound down);
		// with nothing fitting yet and nothing predicted, half.
		m := largestAtMost(sizes, target, oom)
		why := fmt.Sprintf("%d ran out of memory; the figures predict %d fits", oom, m)
		if m <= fit && fit == 0 {
			m = largestAtMost(sizes, oom/2, oom)
			if m == 0 && len(sizes) > 0 && sizes[0] < oom {
				m = sizes[0]
			}
			why = fmt.Sprintf("%d ran out of memory and the figures predict no size; half", oom)
		}
		if m <= fit || t.triedAt(m, ckpt) {
			return Candidate{}, "", false
		}
		return t.candidate(m, ckpt), why, true
	case oom == 0 && fit > 0 && ok:
		// Everything tried fits: up to the largest the line leaves room
		// for; when it says none but the peak is under the margin, the
		// next size up (the line's fixed part is a prior, and a trial
		// that runs out only bounds the next).
		m := largestAtMost(sizes, target, 0)
		if m > fit && !t.triedAt(m, ckpt) {
			return t.candidate(m, ckpt), fmt.Sprintf("the peak at %d leaves room for %d", fit, m), true
		}
		if peak := t.peakAt(fit, ckpt); peak > 0 && peak < usable*TuneMargin {
			if up := nextAbove(sizes, fit); up != math.MaxInt && !t.triedAt(up, ckpt) {
				return t.candidate(up, ckpt), fmt.Sprintf("the peak at %d leaves room; the next size up", fit), true
			}
		}
	}
	return Candidate{}, "", false
}

// TuneMargin is the share of the usable memory a trial's guess may fill:
// closer to it than a run's Margin, because a trial that runs out costs
// seconds, not a relaunch of a long job.
const TuneMargin = 0.97

// fitting is the largest micro-batch the line puts under TuneMargin of
// usable.
func fitting(fixed, perSample, usable float64) int {
	if perSample <= 0 {
		return 0
	}
	return int(math.Floor((usable*TuneMargin - fixed) / perSample))
}

// candidate is micro-batch m of a family, the effective batch kept.
func (t *Tuner) candidate(m int, ckpt bool) Candidate {
	c := Candidate{Micro: m, Checkpointing: ckpt}
	if t.accumKnob {
		c.Accum = t.typed.Micro * t.typed.Accum / m
	}
	return c
}

// sizes are the micro-batches a trial may take: the divisors of the
// effective batch (all sizes up to the typed one without an accumulation
// knob), from minMicro up.
func (t *Tuner) sizes() []int {
	total := t.typed.Micro
	if t.accumKnob {
		total *= t.typed.Accum
	}
	var out []int
	for m := t.minMicro; m <= total; m++ {
		if !t.accumKnob || total%m == 0 {
			out = append(out, m)
		}
	}
	return out
}

// bounds are the largest micro-batch that fit and the smallest that ran
// out, in one family (0 none).
func (t *Tuner) bounds(ckpt bool) (fit, oom int) {
	for _, tr := range t.trials {
		if tr.Checkpointing != ckpt {
			continue
		}
		if tr.Fits && tr.Micro > fit {
			fit = tr.Micro
		}
		if tr.OOM && (oom == 0 || tr.Micro < oom) {
			oom = tr.Micro
		}
	}
	return fit, oom
}

func (t *Tuner) tried(ckpt bool) bool {
	for _, tr := range t.trials {
		if tr.Checkpointing == ckpt {
			return true
		}
	}
	return false
}

// peakAt is the measured peak of the trial of size m in a family that fit,
// 0 unknown.
func (t *Tuner) peakAt(m int, ckpt bool) float64 {
	for _, tr := range t.trials {
		if tr.Checkpointing == ckpt && tr.Micro == m && tr.Fits {
			return float64(tr.Point.Demand)
		}
	}
	return 0
}

func (t *Tuner) triedAt(m int, ckpt bool) bool {
	for _, tr := range t.trials {
		if tr.Checkpointing == ckpt && tr.Micro == m {
			return true
		}
	}
	return false
}

// line is memory = fixed + perSample x micro-batch for one family. With a
// fit among its trials (a measured peak) it is fitted to them all; with
// OOMs alone (lower bounds) it is the smallest OOM's figures all per
// sample, the largest guess they allow: a trial that runs out costs less
// than one too small, and draws the line for the next. A single fit with
// checkpointing takes the fixed part from the line without it (the same
// weights and optimizer state), else FixedShare of its peak.
func (t *Tuner) line(ckpt bool) (fixed, perSample, usable float64, ok bool) {
	var pts []Point
	fits := 0
	var lowest *Point
	for _, tr := range t.trials {
		if tr.Checkpointing == ckpt && tr.Point.Demand > 0 && tr.Point.Usable > 0 {
			pt := tr.Point
			pt.Size, pt.OOM = tr.Micro, tr.OOM
			pts = append(pts, pt)
			if tr.Fits {
				fits++
			} else if lowest == nil || pt.Size < lowest.Size {
				lowest = &pts[len(pts)-1]
			}
		}
	}
	if len(pts) == 0 {
		return 0, 0, 0, false
	}
	usable = float64(pts[len(pts)-1].Usable)
	if fits == 0 {
		return 0, float64(lowest.Demand) / float64(lowest.Size), usable, true
	}
	if len(pts) >= 2 {
		if f, s, fitted := fitLine(pts); fitted {
			return f, s, usable, true
		}
	}
	last := pts[len(pts)-1]
	d := float64(last.Demand)
	if ckpt {
		if f, _, _, known := t.line(false); known && f > 0 && f < d {
			return f, (d - f) / float64(last.Size), usable, true
		}
	}
	fixed, perSample = lineOf(nil, last)
	return fixed, perSample, usable, true
}

// Best is the winner: the fastest trial that fit, by measured speed; when
// no trial that fit has a speed, the largest micro-batch that fit without
// checkpointing, else with it. False when none fit.
func (t *Tuner) Best() (Trial, bool) {
	var fits []Trial
	for _, tr := range t.trials {
		if tr.Fits {
			fits = append(fits, tr)
		}
	}
	if len(fits) == 0 {
		return Trial{}, false
	}
	sort.SliceStable(fits, func(i, j int) bool {
		a, b := fits[i], fits[j]
		if a.SamplesPerS != b.SamplesPerS {
			return a.SamplesPerS > b.SamplesPerS
		}
		if a.Checkpointing != b.Checkpointing {
			return !a.Checkpointing
		}
		return a.Micro > b.Micro
	})
	return fits[0], true
}

func largestAtMost(sizes []int, target, below int) int {
	best := 0
	for _, m := range sizes {
		if m <= target && (below == 0 || m < below) {
			best = m
		}
	}
	return best
}

func nextAbove(sizes []int, m int) int {
	for _, s := range sizes {
		if s > m {
			return s
		}
	}
	return math.MaxInt
}
