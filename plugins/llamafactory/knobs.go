package llamafactory

import (
	"context"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// The keys vramrun reads and sets, and their TrainingArguments or
// LLaMA-Factory defaults.
const (
	keyBatch      = "per_device_train_batch_size"
	keyAccum      = "gradient_accumulation_steps"
	keyEval       = "per_device_eval_batch_size"
	keyNoGC       = "disable_gradient_checkpointing"
	keyOptim      = "optim"
	keyOutput     = "output_dir"
	keyResume     = "resume_from_checkpoint"
	keyIgnoreSkip = "ignore_data_skip"
	keyLiger      = "enable_liger_kernel"
	keyOffloadGC  = "use_unsloth_gc"
	keyEvalAccum  = "eval_accumulation_steps"
	defaultBatch  = 8
	defaultOptim  = "adamw_torch"
)

// analyze reads the knobs as LLaMA-Factory merges them: the file, then the
// overrides in order.
// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	v := c.vals
	launched, notes := c.world()
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: launched.Launcher,
		Script: c.s.Inv.Script, WorldSize: max(launched.WorldSize, 1), Notes: notes}, Unsupported: map[sdk.FixID]string{}}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil {
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = c.err.Error()
		}
		return a
	}
	if v.On(transformers.AutoFindField) {
		a.Notes = append(a.Notes, transformers.AutoFindNote(transformers.AutoFindField))
	}
	a.Knobs.BatchSize = v.IntOr(keyBatch, defaultBatch)
	a.Knobs.GradAccumulation = v.IntOr(keyAccum, 1)
	a.Knobs.EvalBatchSize = v.IntOr(keyEval, defaultBatch)
	switch {
	case v.On("bf16") || v.On("pure_bf16"):
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16"
	case v.On("fp16"):
		a.Knobs.Precision = sdk.Str("fp16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in fp16"
	default:
		a.Knobs.Precision = sdk.Str("fp32")
	}
	gc := !v.On(keyNoGC)
	a.Knobs.GradCheckpointing = sdk.Bool(gc)
	if gc {
		a.Unsupported[sdk.FixGradCheckpointing] = "already on (LLaMA-Factory turns it on unless disable_gradient_checkpointing)"
	}
	optim := v[keyOptim]
	if optim == "" {
		optim = defaultOptim
	}
	a.Knobs.Optimizer = sdk.Str(optim)
	if transformers.LowMemoryOptimizer(optim) {
		a.Unsupported[sdk.FixOptimizer8bit] = "already " + optim + " (a low-memory optimizer)"
	}
	a.Knobs.Offload = sdk.Bool(false)
	a.Unsupported[sdk.FixCPUOffload] = "needs a DeepSpeed offload config: set deepspeed: examples/deepspeed/ds_z3_offload_config.json (vramrun does not pick a ZeRO stage for you)"
	c.analyzeModelFixes(&a, gc)
	if reason := c.allocatorUnsupported(); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	out := v[keyOutput]
	if out == "" {
		out = "trainer_output"
	}
	if v["save_strategy"] != "no" {
		a.Checkpoints = transformers.TrainerCheckpoints(out)
	}
	return a
}

// apply writes the fix as overrides.
// Apply writes the fix as the tool takes it.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, a pyscript.Analysis) (sdk.ApplyResponse, error) {
	probes := c.probes
	args := c.s.Inv.Args
	var parts []string
	set := func(key, value string) {
		args = c.set(args, key, value)
		parts = append(parts, key+"="+value)
	}
	resp := sdk.ApplyResponse{}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		set(keyBatch, strconv.Itoa(fix.BatchSize))
		if fix.GradAccumulation > 0 {
			set(keyAccum, strconv.Itoa(fix.GradAccumulation))
		}
	case sdk.FixEvalBatchSize:
		set(keyEval, strconv.Itoa(fix.BatchSize))
	case sdk.FixMixedPrecision:
		p := fix.Precision
		if p != "bf16" {
			p = "fp16"
		}
		set(p, "true")
	case sdk.FixOptimizer8bit:
		found := probes.Import(ctx, c.s, "bitsandbytes")
		if found.Known && !found.There {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s, which adamw_bnb_8bit needs", found.Why)
		}
		set(keyOptim, "adamw_bnb_8bit")
	case sdk.FixFusedLoss:
		if why := transformers.LigerMissing(ctx, probes, c.s); why != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", why)
		}
		set(keyLiger, "true")
	case sdk.FixActivationOffload:
		set(keyOffloadGC, "true")
	case sdk.FixEvalAccumulation:
		set(keyEvalAccum, "1")
	case sdk.FixResume:
		if reason := resumeCheck(ctx, probes, c, fix.Checkpoint, *a.Knobs.BatchSize); reason != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
		}
		set(keyResume, fix.Checkpoint)
		resp.Notes = transformers.ResumeNotes(c.s.Cmd, fix.Checkpoint, *a.Knobs.GradAccumulation, c.vals.On(keyIgnoreSkip), keyIgnoreSkip+"=true")
	case sdk.FixTrial:
		// The Trainer's fields as key=value overrides. OmegaConf reads an
		// override as YAML, where a bare no is the boolean false: the
		// strategies are quoted to stay the string "no".
		for _, kv := range [][2]string{{"output_dir", fix.Scratch}, {"save_strategy", `"no"`}, {"eval_strategy", `"no"`},
			{"report_to", "none"}, {"push_to_hub", "false"}} {
			set(kv[0], kv[1])
		}
		if c.vals.On(transformers.AutoFindField) {
			// Its silent retries would measure another micro-batch.
			set(transformers.AutoFindField, "false")
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for llamafactory-cli")
	}
	resp.Argv = c.s.Inv.WithArgs(args)
	resp.Summary = strings.Join(parts, ", ")
	return resp, nil
}

// analyzeModelFixes: Liger's kernels (enable_liger_kernel) are the fused
// loss; LLaMA-Factory's own offloaded checkpointing (use_unsloth_gc, which
// needs no unsloth) offloads what checkpointing keeps; predictions leave
// the GPU every eval_accumulation_steps.
func (c *command) analyzeModelFixes(a *pyscript.Analysis, gc bool) {
	v := c.vals
	if v.On(keyLiger) {
		a.Unsupported[sdk.FixFusedLoss] = "already on (" + keyLiger + ")"
	}
	switch {
	case v.On(keyOffloadGC):
		a.Unsupported[sdk.FixActivationOffload] = "already on (" + keyOffloadGC + ")"
	case !gc:
		a.Unsupported[sdk.FixActivationOffload] = keyOffloadGC + " offloads what gradient checkpointing keeps, and " + keyNoGC + " turns it off"
	}
	if transformers.EvalAccumulationOn(v[keyEvalAccum]) {
		a.Unsupported[sdk.FixEvalAccumulation] = "already on (" + keyEvalAccum + "=1)"
	}
}
