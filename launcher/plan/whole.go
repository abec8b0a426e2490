package plan

import (
	"fmt"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/sdk"
)

// fasterWhole answers the choice run mode meets when the figures size a
// cut of the micro-batch while checkpointing is still open in the ladder:
// the cut alone, or checkpointing at the larger micro-batch its prior
// saving leaves room for (a cut of its own when even that is below the
// current size, a grow-back up to the size typed when above). The speed
// model compares the two whole configurations (checkpointing's factor
// against what the smaller micro-batch loses); nil when the cut is
// predicted at least as fast, when the figures did not size the cut, or
// when nothing is known of the memory line.
func (p *Planner) fasterWhole(cut *Step) *Proposal {
	const ckpt = sdk.FixGradCheckpointing
	k := p.command.Knobs
	if p.cfg.NoGrowBack || !cut.estimated || cut.Fix.ID != sdk.FixBatchSize || k.BatchSize == nil ||
		!p.open(ckpt) || !p.inLadder(ckpt) {
		return nil
	}
	l, ok := p.memoryLine()
	if !ok {
		return nil
	}
	perSample, usable := l.perSample, l.usable
	micro, accum := *k.BatchSize, AccumOf(k)
	saving := Savings()[ckpt]
	ckFixed, ckPerSample := l.fixed*saving.Fixed, perSample*saving.PerSample
	target := p.under(ckFixed, ckPerSample, usable)
	var batch *Step
	switch {
	case target > micro:
		newMicro, newAccum, ok := Grow(micro, accum, min(target, max(p.growth.typed, micro)), p.cfg.KeepEffectiveBatch)
		if ok {
			batch = &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhyGrowBack, estimated: true}
		}
	case target < micro:
		newMicro, newAccum, ok := Resize(micro, accum, target, p.cfg.MinBatchSize, p.cfg.KeepEffectiveBatch)
		if !ok {
			return nil
		}
		batch = &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhySized, estimated: true}
	}
	ckMicro := micro
	if batch != nil {
		ckMicro = batch.Fix.BatchSize
	}
	factor := p.factor(ckpt)
	ckSpeed := p.efficiency(ckMicro, perSample) * factor
	cutSpeed := p.efficiency(cut.Fix.BatchSize, perSample)
	if ckMicro <= cut.Fix.BatchSize || ckSpeed <= cutSpeed {
		return nil
	}
	step := p.simpleStep(ckpt)
	step.Why = WhySpeed
	step.Reason = fmt.Sprintf("predicted faster than cutting the micro-batch to %d: checkpointing costs about %.0f %% of the speed, "+
		"micro-batch %d about %.0f %% against %d (%s); predicted %s of %s usable with checkpointing at %d%s",
		cut.Fix.BatchSize, 100*(1-factor), cut.Fix.BatchSize, 100*(1-cutSpeed/p.efficiency(ckMicro, perSample)), ckMicro, p.speedSource(),
		human.Bytes(int64(ckFixed+ckPerSample*float64(ckMicro))), human.Bytes(int64(usable)), ckMicro, l.words())
	pr := &Proposal{Step: step}
	if batch != nil {
		batch.Reason = fmt.Sprintf("the micro-batch checkpointing leaves room for; effective batch kept at %s", effective(ckMicro*max(batch.Fix.GradAccumulation, 1), p.command.WorldSize))
		if batch.Fix.GradAccumulation == 0 {
			batch.Reason = "the micro-batch checkpointing leaves room for"
		}
		pr.With = []*Step{batch}
	}
	return pr
}
