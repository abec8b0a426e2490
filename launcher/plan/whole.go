package plan

import (
	"fmt"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/sdk"
)

// outOfTurn are the fixes run mode may take before their turn on the
// ladder when the speed model predicts them faster than a cut of the
// micro-batch: those that free memory at a known, moderate cost in speed.
// CPU offload is left out: its prior (half the speed) is the hopeful end of
// a range that reaches 50x slower, too uncertain to jump the ladder for.
var outOfTurn = []sdk.FixID{sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixActivationOffload}

// wholeChoice is one alternative to a cut: fix id on, at micro-batch micro
// (batch the step that sets it, nil when it stays), with its predicted
// speed relative to the others and the memory the line predicts.
type wholeChoice struct {
	id    sdk.FixID
	micro int
	batch *Step
	speed float64
	need  int64
}

// fasterWhole answers the choice run mode meets when the figures size a
// cut of the micro-batch while a fix that frees memory is still open in
// the ladder (checkpointing, the 8-bit optimizer, activation offload): the
// cut alone, or that fix at the larger micro-batch its prior saving leaves
// room for (a cut of its own when even that is below the current size, a
// grow-back up to the size typed when above). The speed model compares
// the whole configurations (the fix's factor against what the smaller
// micro-batch loses) and the fastest wins; nil when the cut is predicted at
// least as fast as every other, when the figures did not size the cut, or
// when nothing is known of the memory line.
func (p *Planner) fasterWhole(cut *Step) *Proposal {
	k := p.command.Knobs
	if p.cfg.NoGrowBack || !cut.estimated || cut.Fix.ID != sdk.FixBatchSize || k.BatchSize == nil {
		return nil
	}
	l, ok := p.memoryLine()
	if !ok {
		return nil
	}
	perSample, usable := l.perSample, l.usable
	cutSpeed := p.efficiency(cut.Fix.BatchSize, perSample)
	var best *wholeChoice
	for _, id := range outOfTurn {
		if !p.open(id) || !p.inLadder(id) {
			continue
		}
		c, ok := p.wholeWith(id, l.fixed, perSample, usable)
		if ok && c.micro > cut.Fix.BatchSize && c.speed > cutSpeed && (best == nil || c.speed > best.speed) {
			best = &c
		}
	}
	if best == nil {
		return nil
	}
	factor := p.factor(best.id)
	step := p.simpleStep(best.id)
	step.Why = WhySpeed
	step.Reason = fmt.Sprintf("predicted faster than cutting the micro-batch to %d: %s costs about %.0f %% of the speed, "+
		"micro-batch %d about %.0f %% against %d (%s); predicted %s of %s usable with %s at %d%s",
		cut.Fix.BatchSize, best.id, 100*(1-factor), cut.Fix.BatchSize, 100*(1-cutSpeed/p.efficiency(best.micro, perSample)), best.micro,
		p.speedSource(), human.Bytes(best.need), human.Bytes(int64(usable)), best.id, best.micro, l.words())
	pr := &Proposal{Step: step}
	if batch := best.batch; batch != nil {
		batch.Reason = fmt.Sprintf("the micro-batch %s leaves room for", best.id)
		if batch.Fix.GradAccumulation > 0 {
			batch.Reason += "; effective batch kept at " + effective(best.micro*batch.Fix.GradAccumulation, p.command.WorldSize)
		}
		pr.With = []*Step{batch}
	}
	return pr
}

// wholeWith is fix id on at the micro-batch its prior saving puts under
// the aim on the memory line fixed + perSample x b; ok is false when no
// micro-batch keeps the effective batch there.
func (p *Planner) wholeWith(id sdk.FixID, fixed, perSample, usable float64) (wholeChoice, bool) {
	k := p.command.Knobs
	micro, accum := *k.BatchSize, AccumOf(k)
	saving := Savings()[id]
	fixed, perSample2 := fixed*saving.Fixed, perSample*saving.PerSample
	target := p.under(fixed, perSample2, usable)
	c := wholeChoice{id: id, micro: micro}
	switch {
	case target > micro:
		newMicro, newAccum, ok := Grow(micro, accum, min(target, max(p.growth.typed, micro)), p.cfg.KeepEffectiveBatch)
		if ok {
			c.micro = newMicro
			c.batch = &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhyGrowBack, estimated: true}
		}
	case target < micro:
		newMicro, newAccum, ok := Resize(micro, accum, target, p.cfg.MinBatchSize, p.cfg.KeepEffectiveBatch)
		if !ok {
			return c, false
		}
		c.micro = newMicro
		c.batch = &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhySized, estimated: true}
	}
	// Efficiency is read at the per-sample memory without the fix: the work
	// a sample takes does not shrink because its activations are kept less.
	c.speed = p.efficiency(c.micro, perSample) * p.factor(id)
	c.need = int64(fixed + perSample2*float64(c.micro))
	return c, true
}
