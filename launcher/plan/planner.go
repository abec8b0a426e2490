// Package plan chooses which fix comes next after an out-of-memory attempt
// and sizes batch reductions. Plugins apply fixes; only this package decides
// them.
//
// The planner proposes and the loop disposes: after each OOM the loop calls
// Observe, then Propose, which changes nothing. When the plugin has applied
// the proposed step the loop Commits it; when the plugin turns it down the
// loop Rejects it with the plugin's reason, and the next Propose offers the
// step after it. A rejected step leaves the planner's estimates as they were.
package plan

import (
	"fmt"
	"maps"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Config is what the planner needs from the settings and the GPU.
type Config struct {
	// Ladder is the fix order: nil means sdk.DefaultLadder(), an empty
	// one no fixes at all (Propose gives up at once).
	Ladder             []sdk.FixID
	KeepEffectiveBatch bool
	MinBatchSize       int
	// Precision is auto, bf16 or fp16 (profile key precision).
	Precision string
	// BF16 says whether the GPU supports bf16; nil when unknown.
	BF16 *bool
	// NoGrowBack keeps the micro-batch where the ladder cut it when a
	// later fix frees memory, and NoRideAlong gives the allocator a
	// relaunch of its own, as the ladder did before either (the
	// convergence benchmark compares).
	NoGrowBack, NoRideAlong bool
	// Aim is the share of the usable memory the size estimates and
	// grow-backs aim for (memory_margin's complement); 0 means Margin.
	Aim float64
	// RoomGain is the predicted speed gain (0.1: 10 %) a larger micro-batch
	// must reach for the end of a run to name it (room_gain).
	RoomGain float64
	// Speed is what earlier runs measured of the command's speed (see
	// LearnSpeed); zero: the speed model's priors alone.
	Speed Measured
}

// aim is the share of the usable memory the estimates aim for.
func (p *Planner) aim() float64 {
	if p.cfg.Aim > 0 {
		return p.cfg.Aim
	}
	return Margin
}

// Why says what chose a step, for the words around it.
type Why int

// What chooses steps.
const (
	// WhyLadder: the step is next on the ladder, and there is nothing more
	// to say; the attempt line shows no reason.
	WhyLadder Why = iota
	// WhyFragmented: the allocator held memory it could not use.
	WhyFragmented
	// WhyPrecision: mixed_precision, and Reason says which precision and why.
	WhyPrecision
	// WhySized: a batch step, and Reason says how the size was chosen.
	WhySized
	// WhyLearned: re-applied from what fit last time (set by the loop).
	WhyLearned
	// WhyLate: the OOM came after the job had run past learn_after, and
	// the step is the smallest change, taken before the ladder's next.
	WhyLate
	// WhyGrowBack: a batch step up that goes with a fix that frees memory
	// (Proposal.With).
	WhyGrowBack
	// WhyRideAlong: a fix that costs no speed, going with the step that
	// covers the overshoot (Proposal.With).
	WhyRideAlong
	// WhySpeed: a fix taken out of the ladder's turn, with the micro-batch
	// it leaves room for (Proposal.With), because the speed model predicts
	// that whole configuration faster than the ladder's next step.
	WhySpeed
)

// Step is the fix for the next attempt and why.
type Step struct {
	Fix sdk.Fix
	Why Why
	// Reason says why in words; for WhyLadder it is "next on the ladder".
	Reason string
	// EffectiveBatchChanged is set when a batch_size step could not keep the
	// effective batch (no accumulation knob, or keep_effective_batch off and
	// the rounding changed it).
	EffectiveBatchChanged bool
	// Along says the step goes with another in the same attempt (it is in
	// a Proposal's With).
	Along bool
	// estimated says the size came from the figures, not from halving.
	estimated bool
}

// Skip is a fix passed over, with a one-line reason.
type Skip struct {
	Fix    sdk.FixID `json:"fix"`
	Reason string    `json:"reason"`
}

// Proposal is the planner's answer for one OOM: a step, or a reason to give
// up. Skipped lists the ladder entries passed over on the way, each with the
// planner's own reason (a refusal by the plugin comes through Reject).
type Proposal struct {
	Step *Step
	// With are steps that go with Step in the same attempt: the allocator
	// riding along when fragmentation alone cannot explain the OOM (see
	// ridesAlong), and the micro-batch growing back when Step frees memory
	// after it was cut (see growBack).
	With    []*Step
	Skipped []Skip
	GiveUp  string
	// eval says which ladder the proposal walked; next is the position in
	// it after the step (Commit and Reject move there).
	eval bool
	next int
}

// Observation is what an OOM attempt tells about memory at its batch sizes.
type Observation struct {
	// Demand is the attempt's memory need: NVML peak when known, else the
	// sum of the OOM figures; 0 when unknown.
	Demand int64
	// Usable is what the job could have had: capacity or the allowed share,
	// less other processes; 0 when unknown.
	Usable int64
	// PreStep is NVML's level before the attempt's first step; 0 unknown.
	PreStep int64
	// Late says the attempt ran past learn_after before the OOM: the
	// configuration nearly fits, so the smallest change that covers the
	// overshoot comes before the next big step of the ladder.
	Late bool
}

// Planner walks the ladder across the attempts of one run.
type Planner struct {
	cfg Config
	// last and command are the OOM being answered and the plugin's
	// analysis of the command that ran out of memory.
	last    oom.Diagnosis
	command sdk.AnalyzeResponse
	// trainPos and evalPos are the next positions on the two ladders.
	trainPos, evalPos int
	applied           map[sdk.FixID]bool
	// refused holds the fixes the plugin turned down, with its reason.
	refused map[sdk.FixID]string
	// points since the last change of anything but the batch, per batch
	// fix (batch_size, eval_batch_size).
	points map[sdk.FixID][]Point
	// estimated says the last batch step of a kind was an estimate: when the
	// next OOM comes at that size, estimates have proved optimistic.
	estimated map[sdk.FixID]bool
	// late says the OOM being answered came after learn_after.
	late   bool
	growth growth
	// ride is the allocator that rode along with a step the plugin turned
	// down: it goes with the next step proposed for the same OOM.
	ride *Step
}

// growth is what the micro-batch may grow back to, and where it grew from.
type growth struct {
	// typed is the micro-batch the command was typed with; 0 unknown.
	typed int
	// from is the micro-batch before the last step's grow-back, 0 when the
	// last step grew nothing: should the grown size run out of memory,
	// the next cut goes no lower than from.
	from int
}

// New makes a planner for one run.
func New(cfg Config) *Planner {
	if cfg.MinBatchSize < 1 {
		cfg.MinBatchSize = 1
	}
	if cfg.Ladder == nil {
		cfg.Ladder = sdk.DefaultLadder()
	}
	return &Planner{cfg: cfg, last: oom.NoOOM(), applied: map[sdk.FixID]bool{}, refused: map[sdk.FixID]string{},
		points: map[sdk.FixID][]Point{}, estimated: map[sdk.FixID]bool{}}
}

// Clone is a copy of the planner as it is now, to go back to.
func (p *Planner) Clone() *Planner {
	out := *p
	out.applied = maps.Clone(p.applied)
	out.refused = maps.Clone(p.refused)
	out.estimated = maps.Clone(p.estimated)
	out.points = make(map[sdk.FixID][]Point, len(p.points))
	for k, v := range p.points {
		out.points[k] = append([]Point(nil), v...)
	}
	return &out
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

// Observe takes an attempt that ran out of GPU memory with diagnosis d, on
// a command the plugin analysed as a, and what it tells about memory.
func (p *Planner) Observe(d oom.Diagnosis, a sdk.AnalyzeResponse, obs Observation) {
	p.last, p.command, p.late = d, a, obs.Late
	if p.growth.typed == 0 && a.Knobs.BatchSize != nil {
		p.growth.typed = *a.Knobs.BatchSize
	}
	if id, size := p.batchKnob(); size != nil {
		p.points[id] = appendPoint(p.points[id], *size, obs)
	}
}

// Reanalyzed takes a new analysis of the command the last OOM ran: another
// plugin took it over, and the proposals answer its knobs from now on.
func (p *Planner) Reanalyzed(a sdk.AnalyzeResponse) { p.command = a }

// batchKnob is the batch fix of the OOM's phase and the command's size for it.
func (p *Planner) batchKnob() (sdk.FixID, *int) {
	if p.last.Phase == sdk.PhaseEval {
		return sdk.FixEvalBatchSize, p.command.Knobs.EvalBatchSize
	}
	return sdk.FixBatchSize, p.command.Knobs.BatchSize
}

// Propose says what the next attempt should change, without changing the
// planner: Commit or Reject the proposal next.
func (p *Planner) Propose() Proposal {
	if len(p.cfg.Ladder) == 0 {
		return Proposal{GiveUp: "the ladder is empty: no fixes"}
	}
	if p.last.Phase == sdk.PhaseEval {
		return p.walk(true, p.evalLadder(), p.evalPos, sdk.FixEvalBatchSize, "no fix left for evaluation: ")
	}
	if p.last.Fragmented && p.open(sdk.FixAllocator) && p.inLadder(sdk.FixAllocator) {
		step := p.simpleStep(sdk.FixAllocator)
		step.Why, step.Reason = WhyFragmented, "fragmentation: the allocator held memory it could not use"
		return Proposal{Step: step, next: p.trainPos}
	}
	if p.late {
		if pr, ok := p.lateStep(); ok {
			return pr
		}
	}
	if p.growth.from > 0 && p.inLadder(sdk.FixBatchSize) && p.refused[sdk.FixBatchSize] == "" {
		// The micro-batch grew back too far: cut it again, to no less than
		// it was before the fix that freed the memory.
		if step, _ := p.batchStep(p.growth.from); step != nil {
			return Proposal{Step: step, next: p.trainPos}
		}
	}
	pr := p.walk(false, p.cfg.Ladder, p.trainPos, sdk.FixBatchSize, "no fix left: ")
	if pr.Step != nil && pr.Step.Fix.ID == sdk.FixAllocator && !p.cfg.NoRideAlong && p.ridesAlong() {
		// The allocator is free but cannot cover this OOM alone: it goes
		// with the next step instead of spending a relaunch of its own.
		p.applied[sdk.FixAllocator] = true
		rest := p.walk(false, p.cfg.Ladder, pr.next, sdk.FixBatchSize, "no fix left: ")
		delete(p.applied, sdk.FixAllocator)
		if rest.Step != nil {
			alloc := pr.Step
			alloc.Why, alloc.Reason = WhyRideAlong, "free of speed cost; the allocator held too little unused to cover the OOM alone"
			rest.Skipped = append(pr.Skipped, rest.Skipped...)
			rest.With = append(rest.With, alloc)
			pr = rest
		}
	}
	if pr.Step != nil {
		if whole := p.fasterWhole(pr.Step); whole != nil {
			whole.With = append(whole.With, pr.With...)
			whole.Skipped, whole.next = pr.Skipped, pr.next
			pr = *whole
		}
	}
	if p.ride != nil && pr.Step != nil && pr.Step.Fix.ID != sdk.FixAllocator && p.open(sdk.FixAllocator) {
		pr.With = append(pr.With, p.ride)
	}
	if pr.Step != nil && !p.cfg.NoGrowBack && pr.Step.Why != WhySpeed {
		if grow := p.growBack(pr.Step.Fix.ID); grow != nil {
			pr.With = append(pr.With, grow)
		}
	}
	return pr
}

// ridesAlong says the allocator fix cannot cover the OOM being answered by
// itself: what the allocator held unused is under half of how far the
// demand went past the usable memory.
func (p *Planner) ridesAlong() bool {
	pts := p.points[sdk.FixBatchSize]
	if len(pts) == 0 || p.last.ReservedUnallocatedBytes == nil {
		return false
	}
	last := pts[len(pts)-1]
	over := last.Demand - last.Usable
	return over > 0 && 2**p.last.ReservedUnallocatedBytes < over
}

// Typed takes the plugin's analysis of the command as typed: the
// micro-batch a grow-back goes no higher than.
func (p *Planner) Typed(a sdk.AnalyzeResponse) {
	if a.Knobs.BatchSize != nil {
		p.growth.typed = *a.Knobs.BatchSize
	}
}

// CommitWith takes a step of the proposal's With that the plugin applied
// too (after Commit).
func (p *Planner) CommitWith(s *Step) {
	p.applied[s.Fix.ID] = true
	if s.Why == WhyGrowBack && p.command.Knobs.BatchSize != nil {
		p.growth.from = *p.command.Knobs.BatchSize
	}
}

// lateStep answers an OOM that came after the job ran past learn_after:
// the configuration nearly fits, so the smallest change that covers the
// overshoot comes first — the allocator when it is still off, else one
// step down in micro-batch (or the cut the figures call for) — out of the
// ladder's turn. False when neither is open: the ladder goes on as usual.
func (p *Planner) lateStep() (Proposal, bool) {
	const why = "the OOM came after the job had run past learn_after, so the configuration nearly fits: the smallest change first"
	if p.open(sdk.FixAllocator) && p.inLadder(sdk.FixAllocator) {
		step := p.simpleStep(sdk.FixAllocator)
		step.Why, step.Reason = WhyLate, why
		return Proposal{Step: step, next: p.trainPos}, true
	}
	if !p.inLadder(sdk.FixBatchSize) || p.refused[sdk.FixBatchSize] != "" {
		return Proposal{}, false
	}
	step, _ := p.batchStep(0)
	if step == nil {
		return Proposal{}, false
	}
	step.Why, step.Reason = WhyLate, why+"; "+step.Reason
	return Proposal{Step: step, next: p.trainPos}, true
}

// walk goes down a ladder from pos: the first entry that is neither on
// already nor turned down, and that the planner can size, is the step. Past
// the end the batch fix repeats down to the floor.
func (p *Planner) walk(eval bool, ladder []sdk.FixID, pos int, batch sdk.FixID, giveUp string) Proposal {
	pr := Proposal{eval: eval}
	for ; pos < len(ladder); pos++ {
		id := ladder[pos]
		if !p.open(id) && id != batch || p.refused[id] != "" {
			// Taken out of turn already (a fragmented OOM, learned state),
			// or turned down by the plugin.
			continue
		}
		if id == sdk.FixCPUOffload && !eval && p.offloadWaits(ladder[:pos]) {
			// CPU offload is the last resort: while the batch can still
			// shrink, shrink it, and come back to offload after.
			if step, _ := p.consider(sdk.FixBatchSize); step != nil {
				pr.Step, pr.next = step, pos
				return pr
			}
		}
		step, skip := p.consider(id)
		if step != nil {
			pr.Step, pr.next = step, pos+1
			return pr
		}
		pr.Skipped = append(pr.Skipped, *skip)
	}
	pr.next = pos
	if reason := p.refused[batch]; reason != "" {
		pr.GiveUp = giveUp + reason
		return pr
	}
	step, skip := p.consider(batch)
	if step == nil {
		pr.GiveUp = giveUp + skip.Reason
		return pr
	}
	pr.Step = step
	return pr
}

// offloadWaits says cpu_offload gives way to more batch cuts: the ladder
// cut the batch before it (a profile that puts offload first means it), and
// the plugin has not turned batch cuts down. The OOM figures are only lower
// bounds, so they cannot prove that no smaller batch fits: offload waits
// until the batch is at min_batch_size.
func (p *Planner) offloadWaits(before []sdk.FixID) bool {
	cuts := false
	for _, id := range before {
		cuts = cuts || id == sdk.FixBatchSize
	}
	return cuts && p.refused[sdk.FixBatchSize] == ""
}

// open says a fix is neither applied nor turned down.
func (p *Planner) open(id sdk.FixID) bool { return !p.applied[id] && p.refused[id] == "" }

// Commit takes a proposal whose step the plugin applied.
func (p *Planner) Commit(pr Proposal) {
	p.moveTo(pr)
	p.growth.from, p.ride = 0, nil
	id := pr.Step.Fix.ID
	if id != sdk.FixBatchSize && id != sdk.FixEvalBatchSize {
		// Anything but the batch changes the memory curve.
		p.points = map[sdk.FixID][]Point{}
	} else {
		p.estimated[id] = pr.Step.estimated
	}
	p.applied[id] = true
}

// Reject takes a proposal whose step the plugin turned down, with its
// reason. The estimates stay as they were; the next Propose offers the step
// after it.
func (p *Planner) Reject(pr Proposal, reason string) {
	p.moveTo(pr)
	p.refused[pr.Step.Fix.ID] = reason
	for _, s := range pr.With {
		if s.Why == WhyRideAlong {
			p.ride = s
		}
	}
}

func (p *Planner) moveTo(pr Proposal) {
	if pr.eval {
		p.evalPos = pr.next
	} else {
		p.trainPos = pr.next
	}
}

// evalLadder is the sequence for an OOM in evaluation: moving predictions
// off the GPU as they come (it changes no metric, and an evaluation that
// gathers every prediction on the GPU runs out at any batch size), the
// evaluation batch, then the ladder's fixes that also help evaluation.
func (p *Planner) evalLadder() []sdk.FixID {
	seq := []sdk.FixID{sdk.FixEvalAccumulation, sdk.FixEvalBatchSize}
	for _, id := range p.cfg.Ladder {
		if id == sdk.FixAllocator || id == sdk.FixMixedPrecision {
			seq = append(seq, id)
		}
	}
	return seq
}

// consider returns a step for fix id, or why it is skipped.
func (p *Planner) consider(id sdk.FixID) (*Step, *Skip) {
	switch id {
	case sdk.FixBatchSize:
		return p.batchStep(0)
	case sdk.FixEvalBatchSize:
		return p.evalBatchStep()
	}
	return p.simpleStep(id), nil
}

func (p *Planner) simpleStep(id sdk.FixID) *Step {
	step := &Step{Fix: sdk.Fix{ID: id}, Why: WhyLadder, Reason: "next on the ladder"}
	if id == sdk.FixMixedPrecision {
		step.Fix.Precision, step.Reason = p.precision()
		step.Why = WhyPrecision
	}
	return step
}

// precision picks what mixed_precision switches to, and says why.
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

// batchStep cuts the micro-batch to the size the figures call for, but not
// below floor (0: none).
func (p *Planner) batchStep(floor int) (*Step, *Skip) {
	k := p.command.Knobs
	if k.BatchSize == nil {
		return nil, &Skip{Fix: sdk.FixBatchSize, Reason: "the command's batch size is unknown"}
	}
	micro, accum := *k.BatchSize, AccumOf(k)
	size := p.size(sdk.FixBatchSize, micro)
	if floor > 0 && size.proposal < floor {
		size = sizing{floor, fmt.Sprintf("back to %d, the size before the grow-back", floor), false}
	}
	newMicro, newAccum, ok := Resize(micro, accum, size.proposal, p.cfg.MinBatchSize, p.cfg.KeepEffectiveBatch)
	if !ok {
		return nil, &Skip{Fix: sdk.FixBatchSize, Reason: fmt.Sprintf("batch size %d cannot go lower (min_batch_size %d)", micro, p.cfg.MinBatchSize)}
	}
	step := &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhySized, estimated: size.estimated}
	switch {
	case accum == 0:
		step.EffectiveBatchChanged = true
		step.Reason = fmt.Sprintf("%s; no accumulation knob, so the effective batch changes from %d to %d", size.how, micro, newMicro)
	case newMicro*newAccum != micro*accum:
		step.EffectiveBatchChanged = true
		step.Reason = fmt.Sprintf("%s; effective batch %d -> %d (keep_effective_batch is off)", size.how, micro*accum, newMicro*newAccum)
	default:
		step.Reason = fmt.Sprintf("%s; effective batch kept at %s", size.how, effective(micro*accum, p.command.WorldSize))
	}
	if l, ok := p.memoryLine(); ok && size.estimated {
		// The speed model's word on the cut, where the figures sized it.
		loss := 1 - p.speedRatio(micro, newMicro, l.perSample)
		step.Reason += fmt.Sprintf("; predicted to cost about %.0f %% of the speed %d would have (%s)", 100*loss, micro, p.speedSource())
	}
	return step, nil
}

// AccumOf is the command's gradient accumulation, at least 1, or 0 when it
// has no accumulation knob.
func AccumOf(k sdk.Knobs) int {
	if k.GradAccumulation == nil {
		return 0
	}
	return max(*k.GradAccumulation, 1)
}

// effective says the effective batch, across processes when there are
// several: "256", or "128 per process x 2 = 256".
func effective(perProcess, world int) string {
	if world > 1 {
		return fmt.Sprintf("%d per process x %d = %d", perProcess, world, perProcess*world)
	}
	return fmt.Sprint(perProcess)
}

func (p *Planner) evalBatchStep() (*Step, *Skip) {
	if p.command.Knobs.EvalBatchSize == nil {
		return nil, &Skip{Fix: sdk.FixEvalBatchSize, Reason: "the command's evaluation batch size is unknown"}
	}
	current := *p.command.Knobs.EvalBatchSize
	size := p.size(sdk.FixEvalBatchSize, current)
	newSize, _, ok := Resize(current, 0, size.proposal, p.cfg.MinBatchSize, false)
	if !ok {
		return nil, &Skip{Fix: sdk.FixEvalBatchSize, Reason: fmt.Sprintf("evaluation batch %d cannot go lower (min_batch_size %d)", current, p.cfg.MinBatchSize)}
	}
	return &Step{Fix: sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: newSize}, Why: WhySized, Reason: size.how, estimated: size.estimated}, nil
}

// sizing is a proposed batch size, how it was found, and whether it is an
// estimate from the figures.
type sizing struct {
	proposal  int
	how       string
	estimated bool
}

// size estimates a size from the points, or halves when the figures say
// nothing. Once an estimate has itself run out of memory, the figures have
// proved optimistic for this job: from then on a step is never smaller than
// halving, so that vramrun needs at most one relaunch more than halving
// would, and usually fewer.
func (p *Planner) size(fix sdk.FixID, current int) sizing {
	points := p.points[fix]
	size, how, ok := Estimate(points, current, p.aim())
	half := clampBelow(current/2, current)
	if p.late && (!ok || size >= current) {
		// A late OOM: one step down, not half (Resize finds the next
		// size that keeps the effective batch).
		return sizing{current - 1, "one step down", false}
	}
	switch {
	case !ok && len(points) == 0:
		return sizing{half, "halved (no memory figures)", false}
	case !ok:
		return sizing{half, "halved (the OOM figures do not say by how much)", false}
	case p.estimated[fix] && size > half:
		return sizing{half, "halved (the last estimate still ran out of memory)", true}
	}
	return sizing{size, how, true}
}

// Allows says the ladder has fix id: tune tries only what the ladder has.
func (p *Planner) Allows(id sdk.FixID) bool { return p.inLadder(id) }

// Before are the ladder's fixes ahead of id, in order: what a run applies
// before it gets to id.
func (p *Planner) Before(id sdk.FixID) []sdk.FixID {
	for i, f := range p.cfg.Ladder {
		if f == id {
			return append([]sdk.FixID(nil), p.cfg.Ladder[:i]...)
		}
	}
	return nil
}

// FixFor is fix id as the planner would ask for it, precision chosen.
func (p *Planner) FixFor(id sdk.FixID) sdk.Fix { return p.simpleStep(id).Fix }

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
	return append(points, Point{Size: size, Demand: obs.Demand, Usable: obs.Usable, OOM: true, PreStep: obs.PreStep})
}

// FromSettings is the planner's configuration for a run's settings, on GPUs
// that support bf16 or not (nil: unknown).
func FromSettings(s profiles.Settings, bf16 *bool) Config {
	return Config{Ladder: s.Ladder, KeepEffectiveBatch: s.KeepEffectiveBatch,
		MinBatchSize: s.MinBatchSize, Precision: s.Precision, BF16: bf16, Aim: 1 - float64(s.MemoryMargin)/100,
		RoomGain: float64(s.RoomGain) / 100}
}
