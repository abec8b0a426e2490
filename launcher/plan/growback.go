package plan

import (
	"fmt"
	"math"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/sdk"
)

// Saving is what a fix is expected to do to the two parts of a step's
// memory, fixed (weights, gradients, optimizer state) and per sample
// (activations), as factors: the priors of the fixes' own papers and docs
// (see the README's table), used only where no attempt measured better.
type Saving struct {
	Fixed, PerSample float64
}

// Savings are the priors of the fixes that free memory. Checkpointing keeps
// about one layer input per layer; bf16/fp16 halves activations but keeps
// fp32 master weights; a fused loss drops the logits, a share of the
// activations that varies with the vocabulary; activation offload moves
// what checkpointing keeps to the host; 8-bit Adam takes its state from 8
// to 2 bytes a parameter of some 16; CPU offload moves optimizer state (12
// of some 16 bytes a parameter) off the GPU. Each is on the safe side of
// its source, because a grow-back that runs out costs a relaunch.
func Savings() map[sdk.FixID]Saving {
	return map[sdk.FixID]Saving{
		sdk.FixGradCheckpointing: {Fixed: 1, PerSample: 0.4},
		sdk.FixMixedPrecision:    {Fixed: 1, PerSample: 0.6},
		sdk.FixFusedLoss:         {Fixed: 1, PerSample: 0.85},
		sdk.FixActivationOffload: {Fixed: 1, PerSample: 0.6},
		sdk.FixOptimizer8bit:     {Fixed: 0.75, PerSample: 1},
		sdk.FixCPUOffload:        {Fixed: 0.4, PerSample: 1},
	}
}

// FixedShare is the prior share of an OOM's demand that does not grow with
// the batch, when one attempt is all there is to tell. Low on purpose: a
// low fixed share makes each sample dearer, and the grow-back smaller.
const FixedShare = 0.25

// growBack is the batch step that goes with fix id when the fix frees
// memory after the micro-batch was cut: the largest micro-batch, up to the
// one the command was typed with, that the memory line of the attempts
// since the last change, scaled by the fix's Saving, puts under Margin of
// the usable memory. Nil when nothing grows: no figures, no saving, the
// batch as typed, or no larger size that keeps the effective batch.
func (p *Planner) growBack(id sdk.FixID) *Step {
	saving, frees := Savings()[id]
	k := p.command.Knobs
	if !frees || k.BatchSize == nil || p.growth.typed == 0 || !p.inLadder(sdk.FixBatchSize) || p.refused[sdk.FixBatchSize] != "" {
		return nil
	}
	micro := *k.BatchSize
	if micro >= p.growth.typed {
		return nil
	}
	fixed, perSample, usable, ok := p.memoryLine()
	if !ok {
		return nil
	}
	fixed, perSample = fixed*saving.Fixed, perSample*saving.PerSample
	target := p.under(fixed, perSample, usable)
	if target <= micro {
		return nil
	}
	newMicro, newAccum, ok := Grow(micro, AccumOf(k), min(target, p.growth.typed), p.cfg.KeepEffectiveBatch)
	if !ok {
		return nil
	}
	need := int64(fixed + perSample*float64(newMicro))
	gain := p.speedRatio(micro, newMicro, perSample/saving.PerSample) - 1
	reason := fmt.Sprintf("%s frees memory, so the micro-batch grows back: predicted %s of %s usable at %d, about %.0f %% faster than %s at %d (%s)",
		id, human.Bytes(need), human.Bytes(int64(usable)), newMicro, 100*gain, id, micro, p.speedSource())
	if newAccum > 0 {
		reason += "; effective batch kept at " + effective(newMicro*newAccum, p.command.WorldSize)
	}
	return &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhyGrowBack,
		Reason: reason, estimated: true}
}

// memoryLine is demand = fixed + perSample x micro-batch for the
// configuration now running, from its OOMs: fitted to two or more, else
// the last one split by FixedShare. Usable is the last one's.
func (p *Planner) memoryLine() (fixed, perSample, usable float64, ok bool) {
	var pts []Point
	for _, pt := range p.points[sdk.FixBatchSize] {
		if pt.Size > 0 && pt.Demand > 0 && pt.Usable > 0 {
			pts = append(pts, pt)
		}
	}
	if len(pts) == 0 {
		return 0, 0, 0, false
	}
	last := pts[len(pts)-1]
	fixed, perSample = lineOf(pts, last)
	return fixed, perSample, float64(last.Usable), true
}

// lineOf is demand = fixed + perSample x size through pts: fitted to two or
// more (see fitLine), else, or when the fit makes no sense, through split
// with FixedShare of its demand taken as fixed.
func lineOf(pts []Point, split Point) (fixed, perSample float64) {
	if len(pts) >= 2 {
		if f, s, fitted := fitLine(pts); fitted {
			return f, s
		}
	}
	d := float64(split.Demand)
	return d * FixedShare, d * (1 - FixedShare) / float64(split.Size)
}

// under is the largest micro-batch that the line fixed + perSample x b
// puts under the share of usable the estimates aim for.
func (p *Planner) under(fixed, perSample, usable float64) int {
	return int(math.Floor((usable*p.aim() - fixed) / perSample))
}

// Grow is Resize upwards: the micro-batch above micro and at most target
// that keeps the effective batch (with keep and an accumulation knob: the
// largest divisor of micro x accum in that range), and its accumulation.
// Without an accumulation knob (accum 0) the micro-batch is target. ok is
// false when no size above micro qualifies.
func Grow(micro, accum, target int, keep bool) (newMicro, newAccum int, ok bool) {
	if target <= micro {
		return 0, 0, false
	}
	if accum <= 0 {
		return target, 0, true
	}
	effective := micro * accum
	if !keep {
		return target, max((effective+target-1)/target, 1), true
	}
	for d := min(target, effective); d > micro; d-- {
		if effective%d == 0 {
			return d, effective / d, true
		}
	}
	return 0, 0, false
}
