package plan

import (
	"math"

	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// The speed model: what a configuration's samples a second are predicted
// to be, relative to another's. Like the memory model it starts from
// priors and gives way to measurements: a prediction is always a factor on
// a speed vramrun measured (the attempt that fit), never an absolute figure.
//
// A configuration's speed is the product of its fixes' factors and the
// efficiency of its micro-batch. The effective batch is kept, so the only
// speed a smaller micro-batch loses is what each micro-batch costs beyond
// its samples (kernel launches, the optimizer's share, collectives): the
// efficiency b / (b + o), where o is that cost in samples' worth.

// SpeedFactors are the priors of what each fix does to samples a second,
// from ../reference/the-fixes.md and the fixes' own docs, each near the
// middle of its source's range: checkpointing runs the forward pass again
// (20-33 % slower); activation offload moves what checkpointing keeps over
// PCIe; 8-bit Adam is within a few percent; CPU offload runs the optimizer
// on the host (1.3-50x slower: 2x is the hopeful end, for large micro-
// batches). mixed_precision is 1.5x faster where tensor cores take bf16
// (compute capability 8.0 and up, bf16 true), and claimed as nothing where
// that is unknown. The allocator and a fused loss cost nothing.
func SpeedFactors(bf16 *bool) map[sdk.FixID]float64 {
	mixed := 1.0
	if bf16 != nil && *bf16 {
		mixed = 1.5
	}
	return map[sdk.FixID]float64{
		sdk.FixAllocator:         1,
		sdk.FixMixedPrecision:    mixed,
		sdk.FixFusedLoss:         1,
		sdk.FixGradCheckpointing: 0.77,
		sdk.FixActivationOffload: 0.7,
		sdk.FixOptimizer8bit:     0.98,
		sdk.FixCPUOffload:        0.5,
	}
}

// SaturationBytes is the prior for the activation memory one micro-batch
// needs before the GPU runs near full speed: a micro-batch whose
// activations take this much spends about half its time on its own
// overhead. Per-sample activation memory stands in for per-sample work
// (both grow with layers, width and sequence length), so a model whose
// samples are large loses little to a small micro-batch and one whose
// samples are small loses much, as the fixes' sources say. It is a prior:
// the measured speed of every attempt that fit is what predictions scale.
const SaturationBytes = 1 << 30

// overhead is o, a micro-batch's fixed cost in samples' worth, for a
// per-sample activation memory of perSample bytes (clamped to what
// training jobs show: from a fraction of a sample for large language
// models to some dozens for small vision models).
func overhead(perSample float64) float64 {
	if perSample <= 0 {
		return 8
	}
	return math.Min(math.Max(SaturationBytes/perSample, 0.25), 64)
}

// Efficiency is the share of full speed that micro-batch b runs at, for a
// per-sample activation memory of perSample bytes (0: unknown, a middling
// prior).
func Efficiency(b int, perSample float64) float64 { return efficiencyAt(b, overhead(perSample)) }

// efficiencyAt is b / (b + o) for a micro-batch overhead of o samples.
func efficiencyAt(b int, o float64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(b) / (float64(b) + o)
}

// efficiency is Efficiency with the overhead earlier runs measured, where
// they did.
func (p *Planner) efficiency(b int, perSample float64) float64 {
	if o := p.cfg.Speed.Overhead; o > 0 {
		return efficiencyAt(b, o)
	}
	return Efficiency(b, perSample)
}

// speedRatio is the predicted speed of micro-batch to over that of
// micro-batch from, both with the same fixes, with what earlier runs
// measured.
func (p *Planner) speedRatio(from, to int, perSample float64) float64 {
	return p.efficiency(to, perSample) / p.efficiency(from, perSample)
}

// factor is fix id's speed factor: measured by earlier runs where they
// did (checkpointing), else its prior.
func (p *Planner) factor(id sdk.FixID) float64 {
	if id == sdk.FixGradCheckpointing && p.cfg.Speed.Checkpointing > 0 {
		return p.cfg.Speed.Checkpointing
	}
	return SpeedFactors(p.cfg.BF16)[id]
}

// speedSource says where the speed predictions come from, for the words.
func (p *Planner) speedSource() string {
	if p.cfg.Speed != (Measured{}) {
		return "speed model, with what earlier runs measured"
	}
	return "speed model"
}

// LearnSpeed takes what earlier runs of the command measured (its learned
// facts): their speeds replace the priors where they say more.
func (p *Planner) LearnSpeed(facts []profiles.Fact) { p.cfg.Speed = MeasureSpeed(facts) }
