// Package torchtune is the built-in plugin for torchtune: `tune run
// [torchrun options] RECIPE --config NAME|PATH [key=value ...]`.
//
// A fix is one more key=value override (torchtune applies them after the
// config, in order), so neither the user's file nor a registry config is
// touched. A config given by its registry name (--config
// llama3_1/8B_lora_single_device) is read from where the job's Python has
// torchtune's recipes package installed (recipes/configs/NAME.yaml, as
// tune run resolves it; registry.go), asked of that Python without
// importing anything. When it cannot tell (no Python, no torchtune), the
// registry config is not read: its values are known only where the
// command overrides them, and a note says so.
package torchtune

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "torchtune"

// New returns the plugin; the OOM texts are PyTorch's.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		// The recipes' metric logger: "Step 10 | loss:2.31 ... tokens_per_second_per_gpu:1234.5";
		// else their tqdm bar, which ticks once per optimizer step and is
		// described "epoch|step|Loss: x" (recipes/full_finetune_*.py:
		// pbar.update(1); pbar.set_description(f"{curr_epoch + 1}|{self.global_step}|Loss: ...")),
		// for a trial whose metric logger writes to a file.
		Progress: append([]sdk.ProgressPattern{{ID: Name + ".tokens_per_second_per_gpu",
			Regexp: `tokens_per_second_per_gpu:(?P<per_s>[0-9]+(?:\.[0-9]+)?)`, Unit: sdk.UnitToken, PerProcess: true}},
			pyscript.Tqdm(Name, `[0-9]+\|[0-9]+\|Loss: `, sdk.UnitStep)...),
		Rejections: append(pyscript.Rejections(Name), constructorRejection)}, 95, "a tune run command", load)
}

// command is a tune run command as read.
type command struct {
	// probes asks the job's Python what it has.
	probes *pyscript.Probes
	s      *pyscript.Script
	// recipeAt is the index of the recipe in the script's arguments.
	recipeAt int
	recipe   string
	config   string
	// registry says config is a registry name, not a file.
	registry bool
	// installed is the registry config's installed file, when read;
	// unread says why it was not.
	installed, unread string
	vals              cfgcli.Values
	// file is what the config file itself sets, before the overrides.
	file cfgcli.Values
	err  error
	// launch is what tune run starts (world.go).
	launch launch
}

// Why says what gave the command away.
func (c *command) Why() string { return "tune run " + c.recipe }

// torchrunSwitches are torchrun's options that take no value.
var torchrunSwitches = map[string]bool{"--standalone": true, "--no-python": true, "--no_python": true, "--run-path": true, "--run_path": true, "-m": true, "--module": true}

func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil || filepath.Base(inv.Script) != "tune" || inv.Module || len(inv.Args) < 2 || inv.Args[0] != "run" {
		return nil, false
	}
	c := &command{probes: probes, s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, recipeAt: -1, vals: cfgcli.Values{}}
	args := inv.Args
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			c.recipeAt, c.recipe = i, a
			break
		}
		_, _, eq := strings.Cut(a, "=")
		if !eq && !torchrunSwitches[a] && i+1 < len(args) {
			i++
		}
	}
	if c.recipeAt < 0 {
		return nil, false
	}
	c.readWorld()
	if f, ok := cmdline.FindFlag(args[c.recipeAt+1:], "--config"); ok && f.HasValue {
		c.config = f.Value
		if cfgcli.IsConfig(c.config) {
			if c.vals, c.err = cfgcli.Read(cmd, c.config); c.vals == nil {
				c.vals = cfgcli.Values{}
			}
			c.file = maps.Clone(c.vals)
		} else {
			c.registry = true
			c.readRegistry(context.Background())
		}
	}
	for _, a := range c.overrides() {
		if strings.HasPrefix(a, "~") {
			delete(c.vals, a[1:])
			continue
		}
		k, v, _ := strings.Cut(a, "=")
		c.vals[k] = cfgcli.Scalar(v)
	}
	return c, true
}

// overrides are the key=value and ~key arguments after the recipe.
func (c *command) overrides() []string {
	var out []string
	for _, a := range c.s.Inv.Args[c.recipeAt+1:] {
		if !strings.HasPrefix(a, "-") && (strings.Contains(a, "=") || strings.HasPrefix(a, "~")) {
			out = append(out, a)
		}
	}
	return out
}

// set returns the arguments with key=value after the recipe.
func (c *command) set(args []string, key, value string) []string {
	return cfgcli.SetOverride(args, c.recipeAt, key, value)
}

// distributed says the recipe shards the model with FSDP.
func (c *command) distributed() bool { return strings.Contains(c.recipe, "distributed") }

// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	v := c.vals
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: "tune run", Script: c.recipe,
		WorldSize: c.launch.world, Notes: c.launch.notes}, Unsupported: map[sdk.FixID]string{}}
	switch {
	case c.installed != "":
		a.ConfigFiles = []string{c.installed}
	case !c.registry && c.config != "":
		a.ConfigFiles = []string{c.config}
	}
	if c.err != nil {
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = c.err.Error()
		}
		return a
	}
	if c.unreadRegistry() && v["batch_size"] == "" {
		a.Notes = append(a.Notes, fmt.Sprintf("the config %s is a registry name vramrun could not read (%s): give batch_size=N on the command line (or tune cp it to a file) so that a batch fix can be sized", c.config, c.unread))
	}
	a.Knobs.BatchSize = cfgcli.Int(v["batch_size"])
	a.Knobs.GradAccumulation = sdk.Int(1)
	if s := v["gradient_accumulation_steps"]; s != "" {
		a.Knobs.GradAccumulation = cfgcli.Int(s)
	}
	switch s := v["batch_size_val"]; {
	case s == "" || strings.Contains(s, "${batch_size}"):
		a.Knobs.EvalBatchSize = a.Knobs.BatchSize
	default:
		a.Knobs.EvalBatchSize = cfgcli.Int(s)
	}
	c.analyzeSettings(&a)
	return a
}

// analyzeSettings reads precision, checkpointing, the optimizer, offload
// and the allocator.
func (c *command) analyzeSettings(a *pyscript.Analysis) {
	v := c.vals
	switch dt := v["dtype"]; dt {
	case "bf16":
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (dtype=bf16)"
	case "fp32":
		a.Knobs.Precision = sdk.Str("fp32")
	default:
		if !c.unreadRegistry() {
			a.Knobs.Precision = sdk.Str("bf16")
			a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (torchtune's default dtype)"
		}
	}
	if mode := c.acMode(); mode != "" {
		// The distributed recipes' newer AC: ac_mode applies only while
		// enable_activation_checkpointing is off.
		a.Knobs.GradCheckpointing = sdk.Bool(mode == "full" && !v.On("enable_activation_checkpointing"))
		if *a.Knobs.GradCheckpointing {
			a.Unsupported[sdk.FixGradCheckpointing] = "already on (ac_mode full)"
		}
	} else if on, known := cfgcli.Bool(v["enable_activation_checkpointing"]); known {
		a.Knobs.GradCheckpointing = sdk.Bool(on)
		if on {
			a.Unsupported[sdk.FixGradCheckpointing] = "already on (enable_activation_checkpointing)"
		}
	}
	if opt := v["optimizer._component_"]; opt != "" {
		a.Knobs.Optimizer = sdk.Str(opt)
		if strings.Contains(strings.ToLower(opt), "8bit") {
			a.Unsupported[sdk.FixOptimizer8bit] = "already " + opt
		}
	}
	if c.distributed() {
		on := v.On("fsdp_cpu_offload")
		a.Knobs.Offload = sdk.Bool(on)
		if on {
			a.Unsupported[sdk.FixCPUOffload] = "already on (fsdp_cpu_offload)"
		}
	} else {
		a.Unsupported[sdk.FixCPUOffload] = "single-device recipes offload only with the CPUOffloadOptimizer component, which vramrun does not swap in"
	}
	c.analyzeModelFixes(a)
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	} else if c.s.Cmd.Env["PYTORCH_CUDA_ALLOC_CONF"] == "" && c.s.Cmd.Env["PYTORCH_ALLOC_CONF"] == "" {
		a.Unsupported[sdk.FixAllocator] = "already in force: torchtune sets PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True itself when it is unset"
	}
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, _ pyscript.Analysis) (sdk.ApplyResponse, error) {
	probes := c.probes
	args := c.s.Inv.Args
	var parts []string
	set := func(key, value string) {
		args = c.set(args, key, value)
		parts = append(parts, key+"="+value)
	}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		set("batch_size", strconv.Itoa(fix.BatchSize))
		if fix.GradAccumulation > 0 {
			set("gradient_accumulation_steps", strconv.Itoa(fix.GradAccumulation))
		}
	case sdk.FixEvalBatchSize:
		set("batch_size_val", strconv.Itoa(fix.BatchSize))
	case sdk.FixMixedPrecision:
		if fix.Precision != "bf16" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "torchtune's recipes train in bf16 or fp32 only, and this GPU has no bf16")
		}
		set("dtype", "bf16")
	case sdk.FixGradCheckpointing:
		if c.acMode() == "" {
			set("enable_activation_checkpointing", "True")
			break
		}
		// Selective (or no) AC by ac_mode: full AC by the same key, with
		// the older switch off, which would otherwise turn both off.
		if c.vals.On("enable_activation_checkpointing") {
			set("enable_activation_checkpointing", "False")
		}
		set("ac_mode", "full")
	case sdk.FixOptimizer8bit:
		found := probes.Import(ctx, c.s, "bitsandbytes")
		if found.Known && !found.There {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s, which bitsandbytes.optim.PagedAdamW8bit needs", found.Why)
		}
		// Assigning the component keeps the optimizer's other arguments;
		// those PagedAdamW8bit does not take go, or instantiating it fails.
		set("optimizer._component_", pagedAdamW8bit)
		for _, key := range c.foreignOptimizerArgs() {
			args = c.drop(args, key)
			parts = append(parts, "~"+key+" (PagedAdamW8bit takes no "+strings.TrimPrefix(key, "optimizer.")+")")
		}
	case sdk.FixCPUOffload:
		set("fsdp_cpu_offload", "True")
	case sdk.FixFusedLoss:
		set(keyLoss, linearCE)
	case sdk.FixActivationOffload:
		set(keyActOffload, "True")
	case sdk.FixTrial:
		if err := c.trial(fix, set); err != nil {
			return sdk.ApplyResponse{}, err
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for tune run")
	}
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(args), Summary: strings.Join(parts, ", ")}, nil
}

// The loss component and the offload switch. LinearCrossEntropyLoss
// computes the output projection and the cross-entropy chunk by chunk, so
// the whole logits tensor is never held; CEWithChunkedOutputLoss, its
// predecessor, chunks the logits it is given.
const (
	keyLoss       = "loss._component_"
	linearCE      = "torchtune.modules.loss.LinearCrossEntropyLoss"
	keyActOffload = "enable_activation_offloading"
)

// chunkedLosses are the loss components that already chunk the logits.
var chunkedLosses = []string{"LinearCrossEntropyLoss", "CEWithChunkedOutputLoss"}

func (c *command) analyzeModelFixes(a *pyscript.Analysis) {
	v := c.vals
	loss := v["loss"] // an override that assigns the parent wins
	if loss == "" {
		loss = v[keyLoss]
	}
	for _, name := range chunkedLosses {
		if strings.HasSuffix(loss, "."+name) || loss == name {
			a.Unsupported[sdk.FixFusedLoss] = "already on (loss " + loss + ")"
		}
	}
	if loss == "" {
		// A registry config not read, or a file without one: the recipes
		// need a loss, and every config torchtune ships names
		// LinearCrossEntropyLoss.
		a.Unsupported[sdk.FixFusedLoss] = "already on as far as vramrun can tell: torchtune's configs use LinearCrossEntropyLoss (name loss=... to say otherwise)"
	}
	ac, known := cfgcli.Bool(v["enable_activation_checkpointing"])
	switch {
	case v.On(keyActOffload):
		a.Unsupported[sdk.FixActivationOffload] = "already on (" + keyActOffload + ")"
	case known && !ac:
		// The recipes raise a RuntimeError for offloading without checkpointing.
		a.Unsupported[sdk.FixActivationOffload] = keyActOffload + " needs enable_activation_checkpointing, which is off"
	}
	a.Unsupported[sdk.FixEvalAccumulation] = "torchtune's recipes keep no predictions during validation"
}

// acMode is the distributed recipes' ac_mode ("" when unset, or in a
// single-device recipe, which has no such key).
func (c *command) acMode() string {
	if !c.distributed() {
		return ""
	}
	mode := strings.TrimSpace(c.vals["ac_mode"])
	if mode == "null" || mode == "~" {
		return ""
	}
	return mode
}
