package hydra

import (
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/sdk"
)

// Megatron-Bridge's evaluation settings moved between releases
// (src/megatron/bridge/training/config.py):
//
//   - in the releases before February 2026 (0.1 to 0.3, by their dates),
//     TrainingConfig holds eval_iters (100), eval_interval (1000) and
//     skip_train, the recipes set train.eval_*, and the ConfigContainer
//     has no validation group, so an override of validation.eval_iters
//     fails Hydra's struct check ("Could not override
//     'validation.eval_iters'"), and validation runs at
//     train.micro_batch_size;
//   - from February 2026 (PR #2282) ValidationConfig holds them under
//     validation.* and the recipes set those; TrainingConfig keeps
//     eval_iters, eval_interval and skip_train as deprecated fields,
//     None by default, which validate() copies over validation's with a
//     warning when they are set;
//   - from March 2026 (PR #2838) ValidationConfig, now Megatron-LM's
//     megatron.training.config one, also has eval_micro_batch_size and
//     eval_global_batch_size (train's unless set; eval.py runs at them,
//     and validate() asserts "eval_global_batch_size (G) must be divisible
//     by eval_micro_batch_size * eval_data_parallel_size") and
//     start_eval_at_iter.
//
// vramrun reads the release from the command's own keys: a validation.*
// key says ValidationConfig, one of bridgeEvalBatchKeys says the eval
// batch sizes. When nothing tells, it writes train.*, which every release
// takes.
var bridgeEvalBatchKeys = []string{"validation.eval_micro_batch_size", "validation.eval_global_batch_size",
	"validation.start_eval_at_iter"}

// bridgeValidationGroup says the command names a key of the validation
// group, which only releases with ValidationConfig have.
func (c *command) bridgeValidationGroup() bool {
	for key := range c.vals {
		if strings.HasPrefix(key, "validation.") {
			return true
		}
	}
	return false
}

// bridgeEvalBatches says the command names a key that only releases with
// ValidationConfig's eval batch sizes have.
func (c *command) bridgeEvalBatches() bool {
	for _, key := range bridgeEvalBatchKeys {
		if _, named := c.vals[key]; named {
			return true
		}
	}
	return false
}

// bridgeEvalOff turns evaluation off for a trial: eval_iters 0 (training/
// utils' data loaders then build no validation or test iterator, so
// neither the interval's validation nor the final one runs; eval_interval
// null would still leave the final one). Each eval_iters the command
// names is set in place, the deprecated train.eval_iters too, since a set
// one overrides validation's; else validation.eval_iters where the command
// uses the validation group, and train.eval_iters otherwise (the old
// releases' key, which newer ones still copy over validation's).
func (c *command) bridgeEvalOff() []override {
	var set []override
	for _, key := range []string{"train.eval_iters", "validation.eval_iters"} {
		if _, named := c.vals[key]; named {
			set = append(set, override{key: key, value: "0"})
		}
	}
	if len(set) > 0 {
		return set
	}
	if c.bridgeValidationGroup() {
		return []override{{key: "validation.eval_iters", value: "0"}}
	}
	return []override{{key: "train.eval_iters", value: "0"}}
}

// bridgeEvalMicro is the command's validation.eval_micro_batch_size, else
// nil (validation runs at the training micro-batch).
func (c *command) bridgeEvalMicro() *int {
	if c.tool.name != "Megatron-Bridge" || !c.bridgeEvalBatches() {
		return nil
	}
	return c.keyOr("validation.eval_micro_batch_size", 0)
}

// bridgeEvalBatch is eval_batch_size on a release with ValidationConfig's
// eval batch sizes: validation.eval_micro_batch_size comes down and
// training's micro-batch stays; the new size divides each data-parallel
// GPU's share of the evaluation's global batch (validation's, else the
// training one).
func (c *command) bridgeEvalBatch(fix sdk.Fix) (sdk.ApplyResponse, error) {
	const key = "validation.eval_micro_batch_size"
	global := c.keyOr("validation.eval_global_batch_size", 0)
	if global == nil {
		global = c.global()
	}
	n := fix.BatchSize
	if global != nil {
		n = divisorUpTo(*global/c.analysis().WorldSize, n)
	}
	summary := key + "=" + strconv.Itoa(n) + " (train.micro_batch_size stays"
	if n != fix.BatchSize {
		summary += "; " + strconv.Itoa(n) + ", not " + strconv.Itoa(fix.BatchSize) +
			": it must divide each GPU's share of the evaluation's global batch"
	}
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(cfgcli.SetOverride(c.inv.Args, -1, key, strconv.Itoa(n))), Summary: summary + ")"}, nil
}

// divisorUpTo is the largest divisor of share that is at most n (n when
// share is not positive).
func divisorUpTo(share, n int) int {
	for d := min(n, share); d >= 1; d-- {
		if share%d == 0 {
			return d
		}
	}
	return n
}
