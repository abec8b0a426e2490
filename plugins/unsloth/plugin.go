// Package unsloth is the built-in plugin for Unsloth's 2026 CLI:
// `unsloth train [--config cfg.yaml] [--batch-size N ...]`, flat kebab-case
// flags over the YAML's sections (model, data, training, lora, logging),
// the command line winning.
//
// Its training worker catches a CUDA OOM and reports it in its own words
// ("GPU ran out of VRAM during training."), which this plugin declares as
// an OOM text. Precision (bf16 where supported) and the optimizer
// (adamw_8bit) are Unsloth's own choices; checkpointing defaults to its
// offloaded "unsloth" mode.
package unsloth

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
const Name = "unsloth"

// New returns the plugin, with its worker's OOM wording
// (studio/backend/core/training/worker.py).
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		Progress: transformers.Progress(Name), Rejections: pyscript.Rejections(Name),
		Patterns: []sdk.OOMPattern{{ID: "unsloth.vram", Framework: Name, Kind: sdk.KindGPU,
			Regexp: `GPU ran out of VRAM during training\.`}}}, 95, "an unsloth train command", load)
}

type command struct {
	cmd  sdk.Command
	inv  cmdline.Invocation
	vals cfgcli.Values
	err  error
	cfg  string
}

// Why says what gave the command away.
func (c *command) Why() string { return "unsloth train" }

func load(cmd sdk.Command, _ *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil || filepath.Base(inv.Script) != "unsloth" || inv.Module || len(inv.Args) == 0 || inv.Args[0] != "train" {
		return nil, false
	}
	c := &command{cmd: cmd, inv: inv, vals: cfgcli.Values{}}
	if f, ok := cmdline.FindFlag(c.args(), "--config"); ok && f.HasValue {
		c.cfg = f.Value
		file, err := cfgcli.Read(cmd, f.Value)
		c.err = err
		for k, v := range file {
			// Flat flags name the field without its section.
			if _, field, ok := strings.Cut(k, "."); ok {
				c.vals[field] = v
			}
		}
	}
	args := c.args()
	for i := 0; i < len(args); i++ {
		name, value, eq := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "--") || name == "--config" {
			continue
		}
		key := strings.ReplaceAll(strings.TrimPrefix(name, "--"), "-", "_")
		switch {
		case eq:
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "--"):
			value = args[i+1]
			i++
		case strings.HasPrefix(key, "no_"):
			key, value = strings.TrimPrefix(key, "no_"), "false"
		default:
			value = "true"
		}
		c.vals[key] = cfgcli.Scalar(value)
	}
	return c, true
}

func (c *command) args() []string { return c.inv.Args[1:] }

// Analyze reads the knobs the command gives; every fix is the apply's to
// take or turn down.
func (c *command) Analyze() pyscript.Analysis {
	return pyscript.Analysis{AnalyzeResponse: c.analysis(), Unsupported: map[sdk.FixID]string{}}
}

func (c *command) analysis() sdk.AnalyzeResponse {
	a := sdk.AnalyzeResponse{Framework: Name, Launcher: c.inv.Launcher, Script: "unsloth train", WorldSize: 1}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil {
		a.Notes = append(a.Notes, c.err.Error())
		return a
	}
	a.Knobs.BatchSize = c.vals.IntOr("batch_size", 2)
	a.Knobs.GradAccumulation = c.vals.IntOr("gradient_accumulation_steps", 4)
	a.Knobs.Precision = sdk.Str("bf16")
	a.Knobs.Optimizer = sdk.Str("adamw_8bit")
	gc := strings.ToLower(c.vals["gradient_checkpointing"])
	a.Knobs.GradCheckpointing = sdk.Bool(gc != "none" && gc != "false")
	return a
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(_ context.Context, fix sdk.Fix, _ pyscript.Analysis) (sdk.ApplyResponse, error) {
	args := c.args()
	var parts []string
	set := func(flag, value string) {
		args = cmdline.SetFlag(args, []string{flag}, value, cmdline.Space)
		parts = append(parts, flag+" "+value)
	}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.cmd.Argv, c.cmd.Env)
	case sdk.FixTrial:
		return c.trial(fix)
	case sdk.FixBatchSize:
		set("--batch-size", strconv.Itoa(fix.BatchSize))
		if fix.GradAccumulation > 0 {
			set("--gradient-accumulation-steps", strconv.Itoa(fix.GradAccumulation))
		}
	case sdk.FixGradCheckpointing:
		if gc := strings.ToLower(c.vals["gradient_checkpointing"]); gc != "none" && gc != "false" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "already on (Unsloth's offloaded checkpointing unless gradient_checkpointing is none)")
		}
		set("--gradient-checkpointing", "unsloth")
	case sdk.FixMixedPrecision:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "already in bf16 (Unsloth picks it where the GPU has it)")
	case sdk.FixOptimizer8bit:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "already adamw_8bit (Unsloth's fixed optimizer)")
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "no %s setting in Unsloth's CLI", fix.ID)
	}
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(append([]string{"train"}, args...)), Summary: strings.Join(parts, ", ")}, nil
}
