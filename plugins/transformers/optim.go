package transformers

import (
	"context"
	"strings"
)

// The optimizer_8bit fix: HF's 8-bit AdamW needs bitsandbytes in the job's
// own Python; Adafactor (part of transformers) is the fallback.
const (
	optim8bit      = "adamw_bnb_8bit"
	optimAdafactor = "adafactor"
)

// lowMemoryOptimizers are the OptimizerNames values whose state is small
// already (transformers' training_args.py OptimizerNames).
var lowMemoryOptimizers = map[string]bool{
	"adafactor": true, "adamw_bnb_8bit": true, "adamw_8bit": true, "ademamix_8bit": true,
	"lion_8bit": true, "rmsprop_bnb_8bit": true, "rmsprop_8bit": true, "adamw_torch_4bit": true,
	"adamw_torch_8bit": true, "lomo": true, "adalomo": true,
}

// LowMemoryOptimizer says whether an optim value already saves optimizer
// memory: the list above, paged optimizers (state in host memory), GaLore
// and APOLLO (low-rank state) and any other 8- or 4-bit variant.
func LowMemoryOptimizer(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	if lowMemoryOptimizers[name] {
		return true
	}
	for _, prefix := range []string{"paged_", "galore_", "apollo_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return strings.HasSuffix(name, "_8bit") || strings.HasSuffix(name, "_4bit")
}

// choice is the optimizer the fix picks and why.
type choice struct {
	optim string
	why   string
}

// pickOptimizer checks whether bitsandbytes imports in the job's Python,
// run with the job's environment in an empty folder.
func (j *job) pickOptimizer(ctx context.Context) choice {
	found := j.probes.Import(ctx, j.s, "bitsandbytes")
	if found.There {
		return choice{optim8bit, found.Why}
	}
	return choice{optimAdafactor, found.Why + ", so adafactor"}
}
