package axolotl

import (
	"context"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// axolotl's config fields vramrun reads and sets, with their defaults
// (src/axolotl/utils/schemas).
const (
	keyMicro      = "micro_batch_size"
	keyAccum      = "gradient_accumulation_steps"
	keyEval       = "eval_batch_size"
	keyGC         = "gradient_checkpointing"
	keyOptimizer  = "optimizer"
	keyOutput     = "output_dir"
	keyResume     = "resume_from_checkpoint"
	keyDeepSpeed  = "deepspeed"
	keyChunkedCE  = "chunked_cross_entropy"
	keyActOffload = "activation_offloading"
	defaultOptim  = "adamw_torch_fused"
	defaultOut    = "./model-out"
)

// allocatorVars are the variables axolotl's CLI sets when both are unset.
var allocatorVars = []string{"PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"}

// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	v := c.vals
	launched, notes := c.world()
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: launched.Launcher,
		Script: c.s.Inv.Script, WorldSize: max(launched.WorldSize, 1), Notes: notes}, Unsupported: map[sdk.FixID]string{}}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil || c.cfg == "" {
		reason := "no config file given"
		if c.err != nil {
			reason = c.err.Error()
		}
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = reason
		}
		return a
	}
	if v.On(transformers.AutoFindField) {
		a.Notes = append(a.Notes, transformers.AutoFindNote(transformers.AutoFindField))
	}
	a.Knobs.BatchSize = v.IntOr(keyMicro, 1)
	a.Knobs.GradAccumulation = v.IntOr(keyAccum, 1)
	a.Knobs.EvalBatchSize = a.Knobs.BatchSize
	if s := v[keyEval]; s != "" {
		a.Knobs.EvalBatchSize = cfgcli.Int(s)
	}
	c.analyzePrecision(&a)
	switch gc := strings.ToLower(v[keyGC]); gc {
	case "", "false", "no", "off":
		a.Knobs.GradCheckpointing = sdk.Bool(false)
	default:
		a.Knobs.GradCheckpointing = sdk.Bool(true)
		a.Unsupported[sdk.FixGradCheckpointing] = "already on (gradient_checkpointing: " + v[keyGC] + ")"
	}
	optim := v[keyOptimizer]
	if optim == "" {
		optim = defaultOptim
	}
	a.Knobs.Optimizer = sdk.Str(optim)
	if transformers.LowMemoryOptimizer(optim) {
		a.Unsupported[sdk.FixOptimizer8bit] = "already " + optim + " (a low-memory optimizer)"
	}
	a.Unsupported[sdk.FixCPUOffload] = "needs a DeepSpeed offload config: set deepspeed: deepspeed_configs/zero3_bf16_cpuoffload_all.json (vramrun does not pick a ZeRO stage for you)"
	c.analyzeModelFixes(&a)
	if reason := c.allocatorUnsupported(); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	out := v[keyOutput]
	if out == "" {
		out = defaultOut
	}
	a.Checkpoints = transformers.TrainerCheckpoints(out)
	return a
}

// analyzePrecision: bf16 defaults to auto, which is bf16 wherever the GPU
// has it; fp32 only when the config turns both off.
func (c *command) analyzePrecision(a *pyscript.Analysis) {
	v := c.vals
	bf16, fp16 := strings.ToLower(v["bf16"]), v.On("fp16")
	switch {
	case bf16 == "" || bf16 == "auto":
		a.Unsupported[sdk.FixMixedPrecision] = "bf16: auto already trains in bf16 where the GPU has it"
	case v.On("bf16"):
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16"
	case fp16:
		a.Knobs.Precision = sdk.Str("fp16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in fp16"
	default:
		a.Knobs.Precision = sdk.Str("fp32")
	}
}

// allocatorUnsupported: the axolotl CLI sets expandable segments itself
// when the user sets neither variable, so the fix is in force already
// (the module run directly sets nothing).
func (c *command) allocatorUnsupported() string {
	env := c.s.Cmd.Env
	if reason := pytorch.AllocatorUnsupported(env); reason != "" || c.legacy {
		return reason
	}
	for _, name := range allocatorVars {
		if env[name] != "" {
			return ""
		}
	}
	return "already in force: axolotl sets expandable_segments:True itself when PYTORCH_ALLOC_CONF and PYTORCH_CUDA_ALLOC_CONF are unset"
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, a pyscript.Analysis) (sdk.ApplyResponse, error) {
	probes := c.probes
	args := c.s.Inv.Args
	var parts []string
	set := func(key, value string) {
		args = c.set(args, key, value)
		if switches[key] && !c.legacy {
			parts = append(parts, c.flagName(key))
			return
		}
		parts = append(parts, c.flagName(key)+"="+value)
	}
	resp := sdk.ApplyResponse{}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		set(keyMicro, strconv.Itoa(fix.BatchSize))
		if fix.GradAccumulation > 0 {
			set(keyAccum, strconv.Itoa(fix.GradAccumulation))
		}
	case sdk.FixEvalBatchSize:
		set(keyEval, strconv.Itoa(fix.BatchSize))
	case sdk.FixMixedPrecision:
		if fix.Precision == "bf16" {
			set("bf16", "true")
		} else {
			set("fp16", "true")
		}
	case sdk.FixGradCheckpointing:
		set(keyGC, "true")
	case sdk.FixOptimizer8bit:
		found := probes.Import(ctx, c.s, "bitsandbytes")
		if found.Known && !found.There {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s, which adamw_bnb_8bit needs", found.Why)
		}
		set(keyOptimizer, "adamw_bnb_8bit")
	case sdk.FixFusedLoss:
		set(keyChunkedCE, "true")
	case sdk.FixActivationOffload:
		set(keyActOffload, "true")
	case sdk.FixResume:
		if reason := transformers.BatchRestoreRefusal(ctx, probes, c.s, fix.Checkpoint, *a.Knobs.BatchSize); reason != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
		}
		set(keyResume, fix.Checkpoint)
		resp.Notes = transformers.ResumeNotes(c.s.Cmd, fix.Checkpoint, *a.Knobs.GradAccumulation, false, "")
	case sdk.FixTrial:
		// A trial writes only to the scratch folder and reports to no W&B
		// project; a hub_model_id would push the model when a short job
		// ends, so it is refused. Saving and evaluating stay as they are:
		// axolotl's CLI reads --save-strategy=no as false (its
		// _coerce_value takes "no" for a boolean), which its config then
		// rejects; the checkpoints land in the scratch folder.
		if hub := c.vals["hub_model_id"]; hub != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "hub_model_id is %s: a trial that runs to its end would push to it; drop it for tune, or pass --trust-trials", hub)
		}
		set("output_dir", fix.Scratch)
		set("wandb_mode", "disabled")
		if c.vals.On(transformers.AutoFindField) {
			// Its silent retries would measure another micro-batch.
			set(transformers.AutoFindField, "false")
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for axolotl")
	}
	resp.Argv = c.s.Inv.WithArgs(args)
	resp.Summary = strings.Join(parts, ", ")
	return resp, nil
}

// fusedLossKeys are the config keys that already keep the whole logits
// tensor off the GPU: chunked cross-entropy, the cut-cross-entropy plugin
// and Liger's fused linear cross-entropy.
var fusedLossKeys = []string{keyChunkedCE, "cut_cross_entropy", "liger_fused_linear_cross_entropy"}

// analyzeModelFixes: chunked_cross_entropy needs no extra package (the
// plugins do), so it is the fused loss vramrun sets; activation_offloading
// (or gradient_checkpointing: offload) moves the saved activations to the
// host. axolotl has no evaluation-accumulation key.
func (c *command) analyzeModelFixes(a *pyscript.Analysis) {
	v := c.vals
	for _, k := range fusedLossKeys {
		if v.On(k) {
			a.Unsupported[sdk.FixFusedLoss] = "already on (" + k + ": true)"
		}
	}
	switch gc := strings.ToLower(v[keyGC]); {
	case gc == "offload" || gc == "offload_disk":
		a.Unsupported[sdk.FixActivationOffload] = "already on (gradient_checkpointing: " + gc + ")"
	case v.On(keyActOffload) || activationOffloadModes[v[keyActOffload]]:
		a.Unsupported[sdk.FixActivationOffload] = "already on (activation_offloading: " + v[keyActOffload] + ")"
	}
	a.Unsupported[sdk.FixEvalAccumulation] = "axolotl has no eval_accumulation_steps key (a smaller eval_batch_size is the fix there)"
}

// activationOffloadModes are activation_offloading's values besides true
// (src/axolotl/utils/schemas): each offloads.
var activationOffloadModes = map[string]bool{"legacy": true, "disk": true, "hidden_states": true}
