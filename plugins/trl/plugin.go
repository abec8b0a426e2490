// Package trl is the built-in plugin for TRL's CLI: `trl sft|dpo|grpo|kto|
// reward|rloo [--config f.yaml] [--key value ...]`, with accelerate launch's
// options accepted on the same command line, behind any launcher prefix.
//
// TRL parses Hugging Face TrainingArguments (and its own configs) with the
// command line winning over the --config file, so a fix is a flag. Its
// defaults differ from the Trainer's: gradient checkpointing and bf16 are
// on unless the command turns them off (trl/trainer/base_config.py).
package trl

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "trl"

// subcommands are the trainers the CLI runs.
var subcommands = map[string]bool{"sft": true, "dpo": true, "grpo": true, "kto": true, "reward": true, "rloo": true}

// New returns the plugin. The OOM texts are PyTorch's and the frames the
// Trainer's.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		Progress: transformers.Progress(Name), Rejections: transformers.Rejections(Name)}, 95, "a trl command", load)
}

// command is a trl command as read: the subcommand, its --config file's
// values with the flags on top.
type command struct {
	// probes asks the job's Python what it has.
	probes *pyscript.Probes
	s      *pyscript.Script
	sub    string
	cfg    string
	vals   cfgcli.Values
	err    error
	// procs are the processes its accelerate launch starts (1 when that
	// cannot be told); notes say what vramrun could not count.
	procs int
	notes []string
}

// Why says what gave the command away.
func (c *command) Why() string { return "trl " + c.sub }

func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil || filepath.Base(inv.Script) != "trl" || inv.Module || len(inv.Args) == 0 || !subcommands[inv.Args[0]] {
		return nil, false
	}
	c := &command{probes: probes, s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, sub: inv.Args[0], vals: cfgcli.Values{}}
	if f, ok := cmdline.FindFlag(c.args(), "--config"); ok && f.HasValue {
		c.cfg = f.Value
		if c.vals, c.err = cfgcli.Read(cmd, c.cfg); c.vals == nil {
			c.vals = cfgcli.Values{}
		}
	}
	c.readWorld(context.Background())
	return c, true
}

// args are the subcommand's arguments.
func (c *command) args() []string { return c.s.Inv.Args[1:] }

// value is a field as TRL merges it: the flag, else the config file.
func (c *command) value(field string) (string, bool) {
	if f, ok := cmdline.FindFlag(c.args(), cmdline.HFNames(field)...); ok && f.HasValue {
		return f.Value, true
	}
	v, ok := c.vals[field]
	return v, ok && v != ""
}

// on is a boolean field as TRL merges it, def when neither sets it.
func (c *command) on(field string, def bool) bool {
	if v, present := cmdline.HFBool(c.args(), field); present {
		return v
	}
	if s, ok := c.vals[field]; ok {
		if b, known := cfgcli.Bool(s); known {
			return b
		}
	}
	return def
}

func (c *command) intOr(field string, def int) *int {
	if v, ok := c.value(field); ok {
		return cfgcli.Int(v)
	}
	return sdk.Int(def)
}

// world is the processes trl's accelerate launch starts (readWorld).
func (c *command) world() int { return c.procs }

// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: "accelerate",
		Script: "trl " + c.sub, WorldSize: c.world(), Notes: append(c.s.LauncherNotes(), c.notes...)}, Unsupported: map[sdk.FixID]string{}}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil {
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = c.err.Error()
		}
		return a
	}
	if c.on(transformers.AutoFindField, false) {
		a.Notes = append(a.Notes, transformers.AutoFindNote(transformers.AutoFindField))
	}
	a.Knobs.BatchSize = c.intOr("per_device_train_batch_size", defaultMicroTRL)
	a.Knobs.GradAccumulation = c.intOr("gradient_accumulation_steps", 1)
	a.Knobs.EvalBatchSize = c.intOr("per_device_eval_batch_size", 8)
	switch {
	case c.on("fp16", false):
		a.Knobs.Precision = sdk.Str("fp16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in fp16"
	case c.on("bf16", true):
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (TRL's default)"
	default:
		a.Knobs.Precision = sdk.Str("fp32")
	}
	gc := c.on("gradient_checkpointing", true)
	a.Knobs.GradCheckpointing = sdk.Bool(gc)
	if gc {
		a.Unsupported[sdk.FixGradCheckpointing] = "already on (TRL's default)"
	}
	optim, ok := c.value("optim")
	if !ok {
		optim = "adamw_torch"
	}
	a.Knobs.Optimizer = sdk.Str(optim)
	if transformers.LowMemoryOptimizer(optim) {
		a.Unsupported[sdk.FixOptimizer8bit] = "already " + optim + " (a low-memory optimizer)"
	}
	a.Unsupported[sdk.FixCPUOffload] = "needs DeepSpeed or FSDP offload: run with --accelerate_config zero3 and an offload DeepSpeed config (vramrun does not pick one for you)"
	c.analyzeModelFixes(&a)
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	// No Checkpoints: TRL's scripts call trainer.train() without
	// resume_from_checkpoint, so a --resume_from_checkpoint flag would be
	// accepted and ignored, and the job would start at step 1 again.
	return a
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, a pyscript.Analysis) (sdk.ApplyResponse, error) {
	probes := c.probes
	args := c.args()
	var parts []string
	set := func(field, value string) {
		args = cmdline.SetFlag(args, cmdline.HFNames(field), value, cmdline.Space)
		parts = append(parts, "--"+field+" "+value)
	}
	resp := sdk.ApplyResponse{}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		spg := ""
		if c.sub == "grpo" {
			var err error
			if spg, err = c.grpoBatch(fix, a.Knobs.BatchSize); err != nil {
				return sdk.ApplyResponse{}, err
			}
		}
		set("per_device_train_batch_size", strconv.Itoa(fix.BatchSize))
		if fix.GradAccumulation > 0 {
			set("gradient_accumulation_steps", strconv.Itoa(fix.GradAccumulation))
		}
		if spg != "" {
			set(keyStepsPerGen, spg)
		}
	case sdk.FixEvalBatchSize:
		size := fix.BatchSize
		if c.sub == "grpo" {
			var err error
			if size, err = c.grpoEvalBatch(fix.BatchSize); err != nil {
				return sdk.ApplyResponse{}, err
			}
			if size != fix.BatchSize {
				resp.Notes = append(resp.Notes, grpoEvalNote(fix.BatchSize, size))
			}
		}
		set("per_device_eval_batch_size", strconv.Itoa(size))
	case sdk.FixMixedPrecision:
		// TRL declares bf16 as bool | None, which takes a value: a bare
		// --bf16 is an error there.
		field := "fp16"
		if fix.Precision == "bf16" {
			field = "bf16"
		}
		set(field, "true")
	case sdk.FixGradCheckpointing:
		set("gradient_checkpointing", "true")
	case sdk.FixOptimizer8bit:
		found := probes.Import(ctx, c.s, "bitsandbytes")
		if found.Known && !found.There {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s, which adamw_bnb_8bit needs", found.Why)
		}
		set("optim", "adamw_bnb_8bit")
	case sdk.FixFusedLoss:
		set(keyLossType, chunkedNLL)
	case sdk.FixActivationOffload:
		set(keyActOffload, "true")
	case sdk.FixEvalAccumulation:
		set(keyEvalAccum, "1")
	case sdk.FixTrial:
		// The Trainer's own fields, on the command line over the config
		// file: outputs to the scratch folder, no checkpoint, evaluation,
		// logging service or hub push.
		for _, kv := range [][2]string{{"output_dir", fix.Scratch}, {"save_strategy", "no"}, {"eval_strategy", "no"},
			{"report_to", "none"}, {"push_to_hub", "False"}} {
			set(kv[0], kv[1])
		}
		if c.on(transformers.AutoFindField, false) {
			// Its silent retries would measure another micro-batch.
			set(transformers.AutoFindField, "False")
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for the trl CLI")
	}
	resp.Argv = c.s.Inv.WithArgs(append([]string{c.sub}, args...))
	resp.Summary = strings.Join(parts, ", ")
	return resp, nil
}

// SFTConfig's memory fields: loss_type chunked_nll (TRL's default) computes
// the cross-entropy chunk by chunk, never holding the whole logits tensor;
// activation_offloading moves saved activations to the host. Both are
// trl sft's only.
const (
	keyLossType   = "loss_type"
	chunkedNLL    = "chunked_nll"
	keyActOffload = "activation_offloading"
	keyEvalAccum  = "eval_accumulation_steps"
)

func (c *command) analyzeModelFixes(a *pyscript.Analysis) {
	if v, _ := c.value(keyEvalAccum); transformers.EvalAccumulationOn(v) {
		a.Unsupported[sdk.FixEvalAccumulation] = "already on (" + keyEvalAccum + " 1)"
	}
	if c.sub != "sft" {
		a.Unsupported[sdk.FixFusedLoss] = "trl " + c.sub + " computes its loss from the whole logits; only trl sft has a chunked loss"
		a.Unsupported[sdk.FixActivationOffload] = "only trl sft has " + keyActOffload
		return
	}
	switch loss, set := c.value(keyLossType); {
	case c.on("use_liger_kernel", false):
		a.Unsupported[sdk.FixFusedLoss] = "already on (use_liger_kernel)"
	case !set || loss == chunkedNLL:
		a.Unsupported[sdk.FixFusedLoss] = "already on (loss_type " + chunkedNLL + ", TRL's default)"
	case loss != "nll":
		// Another loss (dft...) is what is trained: changing it would change
		// the training.
		a.Unsupported[sdk.FixFusedLoss] = "loss_type " + loss + " is not the plain cross-entropy, which is the one chunked_nll computes"
	}
	if c.on(keyActOffload, false) {
		a.Unsupported[sdk.FixActivationOffload] = "already on (" + keyActOffload + ")"
	}
}
