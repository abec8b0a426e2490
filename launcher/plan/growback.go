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

// FixedShare is the prior share of a demand that does not grow with the
// batch, when one attempt is all there is to tell and NVML did not see the
// job before its first step (see split).
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
	l, ok := p.memoryLine()
	if !ok {
		return nil
	}
	fixed, perSample, usable := l.fixed*saving.Fixed, l.perSample*saving.PerSample, l.usable
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
	reason := fmt.Sprintf("%s frees memory, so the micro-batch grows back: predicted %s of %s usable at %d%s, about %.0f %% faster than %s at %d (%s)",
		id, human.Bytes(need), human.Bytes(int64(usable)), newMicro, l.words(), 100*gain, id, micro, p.speedSource())
	if newAccum > 0 {
		reason += "; effective batch kept at " + effective(newMicro*newAccum, p.command.WorldSize)
	}
	return &Step{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: newMicro, GradAccumulation: newAccum}, Why: WhyGrowBack,
		Reason: reason, estimated: true}
}

// memLine is demand = fixed + perSample x micro-batch, with the usable
// memory it is aimed under; preStep is NVML's level before the first step
// when a single point's split took it as the fixed part (see split), else 0.
type memLine struct {
	fixed, perSample, usable float64
	preStep                  int64
}

// words says where the fixed part came from when it was measured.
func (l memLine) words() string {
	if l.preStep == 0 {
		return ""
	}
	return fmt.Sprintf(" with the %s NVML saw before the first step as the fixed part", human.Bytes(l.preStep))
}

// memoryLine is the memory line of the configuration now running, from
// its OOMs: fitted to two or more, else the last one split (see split).
// Usable is the last one's.
func (p *Planner) memoryLine() (memLine, bool) {
	var pts []Point
	for _, pt := range p.points[sdk.FixBatchSize] {
		if pt.Size > 0 && pt.Demand > 0 && pt.Usable > 0 {
			pts = append(pts, pt)
		}
	}
	if len(pts) == 0 {
		return memLine{}, false
	}
	last := pts[len(pts)-1]
	l := lineOf(pts, last)
	l.usable = float64(last.Usable)
	return l, true
}

// lineOf is demand = fixed + perSample x size through pts: fitted to two or
// more (see fitLine), else, or when the fit makes no sense, through point
// at alone (see split).
func lineOf(pts []Point, at Point) memLine {
	if len(pts) >= 2 {
		if f, s, fitted := fitLine(pts); fitted {
			return memLine{fixed: f, perSample: s}
		}
	}
	fixed, measured := split(at)
	l := memLine{fixed: fixed, perSample: (float64(at.Demand) - fixed) / float64(at.Size)}
	if measured {
		l.preStep = at.PreStep
	}
	return l
}

// split is the fixed part of a point's demand when it is all there is to
// tell: the prior FixedShare of it, raised to the level NVML saw the job
// hold before its first step (Point.PreStep) where that is sane (above 0,
// below the demand) and higher. That level is a lower bound of the fixed
// part: the weights and what the framework allocates before training, not
// the gradients nor the optimizer state most optimizers create at their
// first step. So it refutes a prior below it, and says nothing against one
// above it: with Adam's state to come it is often an eighth to a quarter
// of the fixed part, far below the truth, while frozen weights (adapters)
// or an optimizer that builds its state at once put it near the truth, far
// above a quarter of the demand. Raising the fixed part to it is on the
// safe side both ways, as long as the level is no more than the truth:
//   - through an attempt that fit (the room at the end, tune's next size),
//     a larger fixed part predicts a larger size, but with it at most the
//     true fixed part, never more than the true line would;
//   - through an OOM (a grow-back, checkpointing's micro-batch), a larger
//     fixed part leaves less to the per-sample part a fix's saving cuts,
//     so it predicts a smaller size.
//
// Taking the level as the fixed part even below the prior was tried: on
// the configuration grid it halves the room hints and ends tune slower on
// 4 of 540 jobs (README). measured says the level set the fixed part.
func split(at Point) (fixed float64, measured bool) {
	prior := float64(at.Demand) * FixedShare
	if at.PreStep <= 0 || at.PreStep >= at.Demand || float64(at.PreStep) <= prior {
		return prior, false
	}
	return float64(at.PreStep), true
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
