package lightning

import (
	"strings"
)

// precisionOf reads a Trainer precision value (reference B4): the 2.x
// names, their 1.x aliases and the numbers. half is true for any 16-bit
// compute, mixed or true; known is false for a value Lightning does not
// take.
func precisionOf(v string) (dtype string, half, known bool) {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`)) {
	case "", "32", "32-true", "32.0":
		return "fp32", false, true
	case "64", "64-true":
		return "fp64", false, true
	case "16", "16-mixed", "16-true", "16.0":
		return "fp16", true, true
	case "bf16", "bf16-mixed", "bf16-true":
		return "bf16", true, true
	case "transformer-engine", "transformer-engine-float16":
		return "fp8", true, true
	}
	return "", false, false
}

// mixedValue is the precision value that turns on mixed precision in
// dtype ("bf16" or "fp16"): Lightning 2.x's names, or the short aliases
// Lightning 1.x also takes.
func mixedValue(dtype string, short bool) string {
	switch {
	case dtype == "bf16" && short:
		return "bf16"
	case dtype == "bf16":
		return "bf16-mixed"
	case short:
		return "16"
	}
	return "16-mixed"
}

// precisionUnsupported says why mixed precision cannot be applied over
// the current value v, or "".
func precisionUnsupported(v, where string) string {
	dtype, half, known := precisionOf(v)
	switch {
	case !known:
		return "precision " + v + " (" + where + ") is not one vramrun knows"
	case half:
		return "already in " + dtype + " (" + where + " " + v + ")"
	case dtype == "fp64":
		return "the Trainer runs in 64-bit precision on purpose (" + where + " " + v + ")"
	}
	return ""
}

// offloadStrategy is the strategy that keeps the optimizer state in host
// memory instead of strategy, or why there is none. An offload strategy
// is already on; a DeepSpeed stage 3 keeps its stage; FSDP is not
// switched to DeepSpeed, which would change how the model is sharded and
// checkpointed.
func offloadStrategy(strategy string) (target, reason string) {
	s := strings.ToLower(strings.Trim(strings.TrimSpace(strategy), `"'`))
	switch {
	case strings.Contains(s, "offload"):
		return "", "already on (strategy " + strategy + ")"
	case strings.HasPrefix(s, "deepspeed_stage_3"):
		return "deepspeed_stage_3_offload", ""
	case strings.HasPrefix(s, "fsdp"):
		return "", "the strategy is " + strategy + "; vramrun offloads only through DeepSpeed (name a flag under flags.cpu_offload in vramrun.yaml)"
	}
	return "deepspeed_stage_2_offload", ""
}

// offloadOn says whether a strategy name keeps state in host memory.
func offloadOn(strategy string) bool {
	return strings.Contains(strings.ToLower(strategy), "offload")
}
