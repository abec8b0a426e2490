package hydra

import (
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/sdk"
)

// bridgeOptimizerOffload is cpu_offload for Megatron-Bridge: Megatron-Core's
// optimizer CPU offload (megatron/core/optimizer/optimizer_config.py's
// optimizer_cpu_offload; __init__.py then builds a HybridDeviceOptimizer
// that keeps optimizer_offload_fraction of the state, and its step, on
// the host). The fraction is 0.0 unless set, which offloads nothing, so
// the fix sets 1.0. Megatron-Core's own recipe for it (megatron/core/
// optimizer/cpu_offloading/README.md, and megatron/training/arguments.py,
// which asserts "The optimizer cpu offload must be used in conjunction
// with `--use-precision-aware-optimizer`") adds the precision-aware
// optimizer, which OptimizerConfig allows only with Adam and the
// distributed optimizer ("--use-precision-aware-optimizer only supported
// with distributed optimizer"; Bridge's OptimizerConfig.finalize runs
// those checks before it syncs ddp's and the optimizer's switch), so the
// fix turns the distributed optimizer on too (the recipes have it on).
var bridgeOffload = []string{"optimizer.optimizer_cpu_offload=true", "optimizer.optimizer_offload_fraction=1.0",
	"optimizer.use_precision_aware_optimizer=true", "optimizer.use_distributed_optimizer=true"}

// bridgeOffloadConflict says why the command's settings leave no room for
// the optimizer offload ("" when they do): the checks Megatron-Core and
// Bridge make of it and of the precision-aware optimizer it needs.
func (c *command) bridgeOffloadConflict() string {
	v := c.vals
	off := func(key string) bool {
		on, known := cfgcli.Bool(v[key])
		return known && !on
	}
	optimizer := strings.ToLower(v["optimizer.optimizer"])
	switch {
	case v.On("optimizer.optimizer_cpu_offload") && c.offloadFraction() >= 1:
		return "already on (optimizer.optimizer_cpu_offload=" + v["optimizer.optimizer_cpu_offload"] + ")"
	case optimizer != "" && optimizer != "adam":
		return "Megatron-Core's precision-aware optimizer, which its optimizer CPU offload needs, is Adam's only (optimizer.optimizer=" +
			v["optimizer.optimizer"] + ")"
	case off("optimizer.use_distributed_optimizer"):
		return "Megatron-Core's optimizer CPU offload needs the precision-aware optimizer, which needs the distributed optimizer, and the command turns it off (optimizer.use_distributed_optimizer=" +
			v["optimizer.use_distributed_optimizer"] + ")"
	case off("optimizer.decoupled_weight_decay"):
		return "Megatron-Core offloads only AdamW's optimizer (optimizer.decoupled_weight_decay=" + v["optimizer.decoupled_weight_decay"] + ")"
	case (v.On("ddp.use_megatron_fsdp") || v.On("dist.use_megatron_fsdp")) && v["ddp.megatron_fsdp_version"] == "2":
		return "Megatron-Bridge's MFSDP V2 does not support optimizer CPU offload (ddp.megatron_fsdp_version=2)"
	}
	return c.bridgeOffloadPrecision()
}

// bridgeOffloadPrecision is the precision's part of bridgeOffloadConflict.
// Bridge's _validate_mixed_precision_consistency wants, with the
// precision-aware optimizer, optimizer.bf16 and optimizer.fp16 both off
// for an fp32 model, and the recipes' optimizer (recipes/utils/
// optimizer_utils.py) has bf16 on, which only a mixed-precision preset
// keeps in step. Megatron-LM's arguments.py refuses the offload with FP8
// parameter gathering (the FP8 presets have it) unless the FP8 recipe is
// delayed scaling.
func (c *command) bridgeOffloadPrecision() string {
	now, from := c.precisionNow()
	bf16, named := cfgcli.Bool(c.vals["optimizer.bf16"])
	if now == "fp32" && (bf16 || !named) {
		return "Megatron-Bridge refuses the precision-aware optimizer, which optimizer CPU offload needs, for an fp32 model while the optimizer is in bf16, as the recipes' is (" +
			from + "): take a mixed-precision preset first"
	}
	preset := strings.ToLower(c.vals[c.tool.precision])
	if strings.Contains(preset, "fp8") && !strings.Contains(preset, "delayed") {
		return "Megatron-Core offloads the optimizer with FP8 parameter gathering only under delayed scaling (" + from + ")"
	}
	return ""
}

// offloadFraction is the command's optimizer_offload_fraction (0: unset,
// Megatron-Core's default, which offloads nothing).
func (c *command) offloadFraction() float64 {
	f, err := strconv.ParseFloat(c.vals["optimizer.optimizer_offload_fraction"], 64)
	if err != nil {
		return 0
	}
	return f
}

// bridgeOptimizerOffloadFix is the cpu_offload override, or why there is
// none.
func (c *command) bridgeOptimizerOffloadFix(id sdk.FixID) ([]string, error) {
	if why := c.bridgeOffloadConflict(); why != "" {
		return nil, sdk.Unsupported(id, "%s", why)
	}
	return bridgeOffload, nil
}
