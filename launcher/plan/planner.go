// Package plan chooses which fix comes next after an out-of-memory attempt
// and sizes batch reductions (contract section 2). Plugins apply fixes; only
// this package decides them.
package plan

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// Config is what the planner needs from the settings and the GPU.
type Config struct {
	Ladder             []sdk.FixID
	KeepEffectiveBatch bool
	MinBatchSize       int
	// Precision is auto, bf16 or fp16 (profile key precision).
	Precision string
	// BF16 says whether the GPU supports bf16; nil when unknown.
	BF16 *bool
}

// Step is the fix for the next attempt and why.
type Step struct {
	Fix    sdk.Fix
	Reason string
	// EffectiveBatchChanged is set when a batch_size step could not keep the
	// effective batch (no accumulation knob, or keep_effective_batch off and
	// the rounding changed it).
	EffectiveBatchChanged bool
}

// Skip is a fix passed over, with a one-line reason.
type Skip struct {
	Fix    sdk.FixID `json:"fix"`
	Reason string    `json:"reason"`
}

// Decision is the planner's answer for one failed attempt: a step, or a
// reason to give up. Skipped lists what was passed over on the way.
type Decision struct {
	Step    *Step
	Skipped []Skip
	GiveUp  string
}

// Observation is what an OOM attempt tells about memory at its batch sizes.
type Observation struct {
	// Demand is the attempt's memory need: NVML peak when known, else the
	// sum of the OOM figures; 0 when unknown.
	Demand int64
	// Usable is what the job could have had: capacity or the allowed share,
	// less other processes; 0 when unknown.
	Usable int64
}

// Planner walks the ladder across the attempts of one run.
type Planner struct {
	cfg      Config
	trainPos int
	evalPos  int
	applied  map[sdk.FixID]bool
	// points since the last change of anything but the batch, per phase.
	trainPoints, evalPoints []Point
	// estimated says the last batch step of a phase was an estimate: when
	// the next OOM comes at that size, estimates have proved optimistic.
	estimated map[sdk.FixID]bool
}

// New makes a planner for one run.
func New(cfg Config) *Planner {
	if cfg.MinBatchSize < 1 {
		cfg.MinBatchSize = 1
	}
	if len(cfg.Ladder) == 0 {
		cfg.Ladder = sdk.DefaultLadder()
	}
	return &Planner{cfg: cfg, applied: map[sdk.FixID]bool{}, estimated: map[sdk.FixID]bool{}}
}

// Resume marks fixes applied before the first attempt (learned state), so
// that the ladder continues after the last of them.
func (p *Planner) Resume(fixes []sdk.Fix) {
	for _, f := range fixes {
		p.applied[f.ID] = true
		for i := p.trainPos; i < len(p.cfg.Ladder); i++ {
			if p.cfg.Ladder[i] == f.ID {
				p.trainPos = i + 1
				break
			}
		}
	}
}

// Next decides the fix after an attempt that ran out of GPU memory with
// diagnosis d, on a command the plugin analysed as a.
func (p *Planner) Next(d sdk.Diagnosis, a sdk.Analysis, obs Observation) Decision {
	if d.Phase == sdk.PhaseEval {
		return p.nextEval(a, obs)
	}
	return p.nextTrain(d, a, obs)
}

func (p *Planner) nextTrain(d sdk.Diagnosis, a sdk.Analysis, obs Observation) Decision {
	var dec Decision
	if a.Knobs.BatchSize != nil {
		p.trainPoints = appendPoint(p.trainPoints, *a.Knobs.BatchSize, obs)
	}
	if d.Fragmented && p.inLadder(sdk.FixAllocator) && !p.applied[sdk.FixAllocator] && a.Supports(sdk.FixAllocator) {
		return p.take(dec, p.simpleStep(sdk.FixAllocator, "fragmentation: the allocator held memory it could not use", a))
	}
	for p.trainPos < len(p.cfg.Ladder) {
		id := p.cfg.Ladder[p.trainPos]
		p.trainPos++
		if p.applied[id] && id != sdk.FixBatchSize {
			// Taken out of turn already (a fragmented OOM, learned state).
			continue
		}
		step, skip := p.consider(id, a, false)
		if step != nil {
			return p.take(dec, step)
		}
		dec.Skipped = append(dec.Skipped, *skip)
	}
	// The ladder is used up: keep shrinking the batch down to the floor.
	step, skip := p.consider(sdk.FixBatchSize, a, false)
	if step != nil {
		return p.take(dec, step)
	}
	dec.GiveUp = "no fix left: " + skip.Reason
	return dec
}

// evalLadder is the sequence for an OOM in evaluation: the evaluation batch,
// then the ladder's fixes that also help evaluation.
func (p *Planner) evalLadder() []sdk.FixID {
	seq := []sdk.FixID{sdk.FixEvalBatchSize}
	for _, id := range p.cfg.Ladder {
		if id == sdk.FixAllocator || id == sdk.FixMixedPrecision {
			seq = append(seq, id)
		}
	}
	return seq
}

func (p *Planner) nextEval(a sdk.Analysis, obs Observation) Decision {
	var dec Decision
	if a.Knobs.EvalBatchSize != nil {
		p.evalPoints = appendPoint(p.evalPoints, *a.Knobs.EvalBatchSize, obs)
	}
	seq := p.evalLadder()
	for p.evalPos < len(seq) {
		id := seq[p.evalPos]
		p.evalPos++
		if p.applied[id] && id != sdk.FixEvalBatchSize {
			continue
		}
		step, skip := p.consider(id, a, true)
		if step != nil {
			return p.take(dec, step)
		}
		dec.Skipped = append(dec.Skipped, *skip)
	}
	step, skip := p.consider(sdk.FixEvalBatchSize, a, true)
	if step != nil {
		return p.take(dec, step)
	}
	dec.GiveUp = "no fix left for evaluation: " + skip.Reason
	return dec
}

func (p *Planner) take(dec Decision, step *Step) Decision {
	if step.Fix.ID != sdk.FixBatchSize && step.Fix.ID != sdk.FixEvalBatchSize {
		// Anything but the batch changes the memory curve.
		p.trainPoints, p.evalPoints = nil, nil
	}
	p.applied[step.Fix.ID] = true
	dec.Step = step
	return dec
}

// consider returns a step for fix id, or why it is skipped.
func (p *Planner) consider(id sdk.FixID, a sdk.Analysis, eval bool) (*Step, *Skip) {
	if reason, no := a.Unsupported[id]; no {
		return nil, &Skip{Fix: id, Reason: reason}
	}
	switch id {
	case sdk.FixBatchSize:
		return p.batchStep(a)
	case sdk.FixEvalBatchSize:
		return p.evalBatchStep(a)
	}
	return p.simpleStep(id, "next on the ladder", a), nil
}

func (p *Planner) simpleStep(id sdk.FixID, reason string, a sdk.Analysis) *Step {
	step := &Step{Fix: sdk.Fix{ID: id}, Reason: reason}
	if id == sdk.FixMixedPrecision {
		prec, why := p.precision()
		step.Fix.Precision = prec
		if why != "" {
			step.Reason = why
		}
	}
	return step
}

// precision picks what mixed_precision switches to, and says why when the
// choice is not the obvious one.
func (p *Planner) precision() (string, string) {
	switch p.cfg.Precision {
	case "bf16", "fp16":
		return p.cfg.Precision, "precision " + p.cfg.Precision + " from the profile"
	}
	switch {
	case p.cfg.BF16 == nil:
		return "fp16", "fp16 because the GPU's compute capability is unknown (bf16 needs 8.0)"
	case !*p.cfg.BF16:
		return "fp16", "fp16 because this GPU has no bf16 (compute capability below 8.0)"
	}
	return "bf16", "bf16, which this GPU supports"
}

func (p *Planner) batchStep(a sdk.Analysis) (*Step, *Skip) {
	if a.Knobs.BatchSize == nil {
		return nil, &Skip{Fix: sdk.FixBatchSize, Reason: "the command's batch size is unknown"}
	}
	micro := *a.Knobs.BatchSize
	accum := 0
	if a.Knobs.GradAccumulation != nil {
		accum = *a.Knobs.GradAccumulation
		if accum < 1 {
			accum = 1
		}
	}
	proposal, how := p.propose(sdk.FixBatchSize, p.trainPoints, micro)
	newMicro, newAccum, ok := Resize(micro, accum, proposal, p.cfg.MinBatchSize, p.cfg.KeepEffectiveBatch)
	if !ok {
		return nil, &Skip{Fix: sdk.FixBatchSize, Reason: fmt.Sprintf("batch size %d cannot go lower (min_batch_size %d)", micro, p.cfg.MinBatchSize)}
	}
	step := &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}}
	switch {
	case accum == 0:
		step.EffectiveBatchChanged = true
		step.Reason = fmt.Sprintf("%s; no accumulation knob, so the effective batch changes from %d to %d", how, micro, newMicro)
	case newMicro*newAccum != micro*accum:
		step.EffectiveBatchChanged = true
		step.Reason = fmt.Sprintf("%s; effective batch %d -> %d (keep_effective_batch is off)", how, micro*accum, newMicro*newAccum)
	default:
		step.Reason = fmt.Sprintf("%s; effective batch kept at %s", how, effective(micro*accum, a.WorldSize))
	}
	return step, nil
}

// effective says the effective batch, across processes when there are
// several: "256", or "128 per process x 2 = 256".
func effective(perProcess, world int) string {
	if world > 1 {
		return fmt.Sprintf("%d per process x %d = %d", perProcess, world, perProcess*world)
	}
	return fmt.Sprint(perProcess)
}

func (p *Planner) evalBatchStep(a sdk.Analysis) (*Step, *Skip) {
	if a.Knobs.EvalBatchSize == nil {
		return nil, &Skip{Fix: sdk.FixEvalBatchSize, Reason: "the command's evaluation batch size is unknown"}
	}
	size := *a.Knobs.EvalBatchSize
	proposal, how := p.propose(sdk.FixEvalBatchSize, p.evalPoints, size)
	newSize, _, ok := Resize(size, 0, proposal, p.cfg.MinBatchSize, false)
	if !ok {
		return nil, &Skip{Fix: sdk.FixEvalBatchSize, Reason: fmt.Sprintf("evaluation batch %d cannot go lower (min_batch_size %d)", size, p.cfg.MinBatchSize)}
	}
	return &Step{Fix: sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: newSize}, Reason: how}, nil
}

// propose estimates a size from the points, or halves when the figures say
// nothing. Once an estimate has itself run out of memory, the figures have
// proved optimistic for this job: from then on a step is never smaller than
// halving, so that vramrun needs at most one relaunch more than halving
// would, and usually fewer.
func (p *Planner) propose(fix sdk.FixID, points []Point, current int) (int, string) {
	size, how, ok := Estimate(points, current)
	half := clampBelow(current/2, current)
	switch {
	case !ok && len(points) == 0:
		p.estimated[fix] = false
		return half, "halved (no memory figures)"
	case !ok:
		p.estimated[fix] = false
		return half, "halved (the OOM figures do not say by how much)"
	case p.estimated[fix] && size > half:
		return half, "halved (the last estimate still ran out of memory)"
	}
	p.estimated[fix] = true
	return size, how
}

func (p *Planner) inLadder(id sdk.FixID) bool {
	for _, l := range p.cfg.Ladder {
		if l == id {
			return true
		}
	}
	return false
}

func appendPoint(points []Point, size int, obs Observation) []Point {
	if obs.Demand <= 0 || obs.Usable <= 0 {
		return points
	}
	return append(points, Point{Size: size, Demand: obs.Demand, Usable: obs.Usable, OOM: true})
}

// ObservationFrom adds up what an OOM diagnosis says about memory. peak is the
// attempt's NVML peak (0 unknown), capacity the GPU's total from NVML (0
// unknown) for texts that do not print it.
func ObservationFrom(d sdk.Diagnosis, peak, capacity int64) Observation {
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
func NextFixes(cfg Config, d sdk.Diagnosis) []sdk.FixID {
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
