package trl

import (
	"fmt"
	"strconv"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/sdk"
)

// GRPO's batch rules (trl/trainer/grpo_config.py __post_init__): the
// generation batch is per-device batch x processes x steps_per_generation
// (which defaults to the accumulation) unless generation_batch_size is
// given, when it must be divisible by per-device batch x processes; it
// must be divisible by num_generations (default 8); and with evaluation on,
// the evaluation batch x processes must be too.
const (
	keyNumGen       = "num_generations"
	keyNumGenEval   = "num_generations_eval"
	keyGenBatch     = "generation_batch_size"
	keyStepsPerGen  = "steps_per_generation"
	defaultNumGen   = 8
	defaultMicroTRL = 8
)

// grpoBatch checks a new micro-batch against GRPO's rules and gives the
// steps_per_generation to set with it ("" for none): an explicit one is
// scaled so that the generation batch — how many completions are sampled
// at a time — stays what it was.
func (c *command) grpoBatch(fix sdk.Fix, micro *int) (string, error) {
	world := c.world()
	if v, ok := c.value(keyGenBatch); ok {
		gen := cfgcli.Int(v)
		if gen != nil && *gen%(fix.BatchSize*world) != 0 {
			return "", sdk.Unsupported(fix.ID, "%s %d is not divisible by the new per-device batch %d x %d processes", keyGenBatch, *gen, fix.BatchSize, world)
		}
		return "", nil
	}
	v, ok := c.value(keyStepsPerGen)
	if !ok {
		return "", nil // it follows the accumulation, which keeps micro x accumulation
	}
	spg := cfgcli.Int(v)
	if spg == nil || micro == nil {
		return "", nil
	}
	gen := *micro * *spg
	if gen%fix.BatchSize != 0 {
		return "", sdk.Unsupported(fix.ID, "the generation batch (%d per device) is not divisible by the new per-device batch %d", gen, fix.BatchSize)
	}
	return strconv.Itoa(gen / fix.BatchSize), nil
}

// grpoEvalBatch is the largest evaluation batch up to want that keeps the
// evaluation batch x processes divisible by the number of generations.
func (c *command) grpoEvalBatch(want int) (int, error) {
	g := defaultNumGen
	for _, key := range []string{keyNumGen, keyNumGenEval} {
		if v, ok := c.value(key); ok {
			if n := cfgcli.Int(v); n != nil && *n > 0 {
				g = *n
			}
		}
	}
	world := c.world()
	for b := want; b >= 1; b-- {
		if b*world%g == 0 {
			return b, nil
		}
	}
	return 0, sdk.Unsupported(sdk.FixEvalBatchSize, "no evaluation batch up to %d makes the evaluation batch x %d processes divisible by %d generations", want, world, g)
}

// grpoEvalNote says why the evaluation batch is not the planner's.
func grpoEvalNote(want, got int) string {
	return fmt.Sprintf("%d, not %d: GRPO needs the evaluation batch x processes divisible by num_generations", got, want)
}
