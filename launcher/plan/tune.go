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
	Micro, Accum int
	Family
}

// Family is which of the fixes that free memory at a speed cost a
// candidate has on: gradient checkpointing, the 8-bit optimizer.
type Family struct {
	Checkpointing bool `json:"grad_checkpointing"`
	Optimizer8bit bool `json:"optimizer_8bit"`
}

// families are the ones a tuner may try, cheapest first.
var families = [...]Family{{}, {Checkpointing: true}, {Optimizer8bit: true}, {Checkpointing: true, Optimizer8bit: true}}

// within says every fix of f is on in g too: g frees at least f's memory.
func (f Family) within(g Family) bool {
	return (!f.Checkpointing || g.Checkpointing) && (!f.Optimizer8bit || g.Optimizer8bit)
}

// saving is what g's fixes beyond f's do to the two parts of memory.
func (f Family) saving(g Family) Saving {
	out := Saving{Fixed: 1, PerSample: 1}
	for _, x := range []struct {
		on  bool
		fix sdk.FixID
	}{{g.Checkpointing && !f.Checkpointing, sdk.FixGradCheckpointing}, {g.Optimizer8bit && !f.Optimizer8bit, sdk.FixOptimizer8bit}} {
		if x.on {
			s := Savings()[x.fix]
			out.Fixed, out.PerSample = out.Fixed*s.Fixed, out.PerSample*s.PerSample
		}
	}
	return out
}

func (c Candidate) String() string {
	s := fmt.Sprintf("micro-batch %d", c.Micro)
	if c.Accum > 0 {
		s += fmt.Sprintf(" x %d", c.Accum)
	}
	if c.Checkpointing {
		s += ", checkpointing"
	}
	if c.Optimizer8bit {
		s += ", 8-bit optimizer"
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
// family (none, checkpointing, the 8-bit optimizer, both) it looks for the
// largest micro-batch that fits, from the memory line the trials so far
// draw (an OOM's figures are a lower bound, a fit's peak a measurement); a
// family with more fixes is tried only at a micro-batch larger than the
// largest that fits with fewer, because at the same size its fixes only
// cost speed. The winner is the fastest measured trial that fit.
type Tuner struct {
	typed Candidate
	// accumKnob says the command has an accumulation knob: the micro-batch
	// may then move while the effective batch stays.
	accumKnob bool
	// allowed says which fixes the families may have.
	allowed  Family
	minMicro int
	trials   []Trial
}

// NewTuner makes the tuner of one command: micro x accum as typed (accum 0
// when the command has no accumulation knob), whether checkpointing may be
// tried, and the smallest micro-batch allowed.
func NewTuner(micro, accum int, checkpointing bool, minMicro int) *Tuner {
	return &Tuner{typed: Candidate{Micro: micro, Accum: accum}, accumKnob: accum > 0,
		allowed: Family{Checkpointing: checkpointing}, minMicro: max(minMicro, 1)}
}

// AllowOptimizer8bit lets the families have the 8-bit optimizer too.
func (t *Tuner) AllowOptimizer8bit() *Tuner {
	t.allowed.Optimizer8bit = true
	return t
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
	for _, f := range families {
		if !f.within(t.allowed) {
			continue
		}
		if c, why, ok := t.nextIn(f); ok {
			return c, why, true
		}
	}
	return Candidate{}, "", false
}

// floor is the largest micro-batch that fits in a family with fewer of
// f's fixes, and the family of fewer fixes whose line says most (the one
// tried, fewest fixes first): f is worth a trial only above floor.
func (t *Tuner) floor(f Family) (floor int, parent Family, known bool) {
	for _, g := range families {
		if g == f || !g.within(f) || !g.within(t.allowed) {
			continue
		}
		fit, _ := t.bounds(g)
		floor = max(floor, fit)
		if !known && t.tried(g) {
			parent, known = g, true
		}
	}
	return floor, parent, known
}

// nextIn is the next candidate of one family. Sizes at or below floor are
// not worth a trial: for checkpointing, the largest micro-batch that fits
// without it.
func (t *Tuner) nextIn(f Family) (Candidate, string, bool) {
	floor, parent, known := t.floor(f)
	fit, oom := t.bounds(f)
	fit = max(fit, floor)
	sizes := t.sizes()
	if f != (Family{}) && !t.tried(f) {
		// The line of a family with fewer fixes, its parts scaled by the
		// others' saving, says how far above floor this one may go.
		if !known {
			return Candidate{}, "", false
		}
		fixed, perSample, usable, ok := t.line(parent)
		if !ok {
			return Candidate{}, "", false
		}
		s := parent.saving(f)
		m := largestAtMost(sizes, fitting(fixed*s.Fixed, perSample*s.PerSample, usable), 0)
		if m <= floor {
			return Candidate{}, "", false
		}
		return t.candidate(m, f), fmt.Sprintf("%s predicted to fit micro-batch %d", savingWords(parent, f), m), true
	}
	fixed, perSample, usable, ok := t.line(f)
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
		if m <= fit || t.triedAt(m, f) {
			return Candidate{}, "", false
		}
		return t.candidate(m, f), why, true
	case oom == 0 && fit > 0 && ok:
		// Everything tried fits: up to the largest the line leaves room
		// for; when it says none but the peak is under the margin, the
		// next size up (the line's fixed part is a prior, and a trial
		// that runs out only bounds the next).
		m := largestAtMost(sizes, target, 0)
		if m > fit && !t.triedAt(m, f) {
			return t.candidate(m, f), fmt.Sprintf("the peak at %d leaves room for %d", fit, m), true
		}
		if peak := t.peakAt(fit, f); peak > 0 && peak < usable*TuneMargin {
			if up := nextAbove(sizes, fit); up != math.MaxInt && !t.triedAt(up, f) {
				return t.candidate(up, f), fmt.Sprintf("the peak at %d leaves room; the next size up", fit), true
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

// savingWords names what g's fixes beyond f's save: "checkpointing's
// saving is", "the 8-bit optimizer's saving is", "their savings are".
func savingWords(f, g Family) string {
	ckpt, q8 := g.Checkpointing && !f.Checkpointing, g.Optimizer8bit && !f.Optimizer8bit
	switch {
	case ckpt && q8:
		return "checkpointing's and the 8-bit optimizer's savings are"
	case q8:
		return "the 8-bit optimizer's saving is"
	}
	return "checkpointing's saving is"
}

// candidate is micro-batch m of a family, the effective batch kept.
func (t *Tuner) candidate(m int, f Family) Candidate {
	c := Candidate{Micro: m, Family: f}
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
func (t *Tuner) bounds(f Family) (fit, oom int) {
	for _, tr := range t.trials {
		if tr.Family != f {
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

func (t *Tuner) tried(f Family) bool {
	for _, tr := range t.trials {
		if tr.Family == f {
			return true
		}
	}
	return false
}

// peakAt is the measured peak of the trial of size m in a family that fit,
// 0 unknown.
func (t *Tuner) peakAt(m int, f Family) float64 {
	for _, tr := range t.trials {
		if tr.Family == f && tr.Micro == m && tr.Fits {
			return float64(tr.Point.Demand)
		}
	}
	return 0
}

func (t *Tuner) triedAt(m int, f Family) bool {
	for _, tr := range t.trials {
		if tr.Family == f && tr.Micro == m {
			return true
		}
	}
	return false
}

// line is memory = fixed + perSample x micro-batch for one family. With a
// fit among its trials (a measured peak) it is fitted to them all; with
// OOMs alone (lower bounds) it is the smallest OOM's figures all per
// sample, the largest guess they allow: a trial that runs out costs less
// than one too small, and draws the line for the next. A single fit in a
// family with fixes takes the fixed part from the line of the family
// without them (the same weights and optimizer state; the 8-bit
// optimizer's saving applied), else it is split (see split: NVML's level
// before the first step, else FixedShare of its peak).
func (t *Tuner) line(f Family) (fixed, perSample, usable float64, ok bool) {
	var pts []Point
	fits := 0
	var lowest *Point
	for _, tr := range t.trials {
		if tr.Family == f && tr.Point.Demand > 0 && tr.Point.Usable > 0 {
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
	if f != (Family{}) {
		base := Family{}
		if fx, _, _, known := t.line(base); known && fx > 0 {
			fx *= base.saving(f).Fixed
			if fx < d {
				return fx, (d - fx) / float64(last.Size), usable, true
			}
		}
	}
	l := lineOf(nil, last)
	return l.fixed, l.perSample, usable, true
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
		if fa, fb := fixesOf(a.Family), fixesOf(b.Family); fa != fb {
			return fa < fb
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

// fixesOf counts a family's fixes: of two equally fast trials, fewer fixes win.
func fixesOf(f Family) int {
	n := 0
	for _, on := range []bool{f.Checkpointing, f.Optimizer8bit} {
		if on {
			n++
		}
	}
	return n
}
