// Package torchtitan is the built-in plugin for torchtitan's TOML
// configs (v0.2.2 and before): `torchrun ... -m torchtitan.train
// --job.config_file x.toml [--section.key v ...]`, and `run_train.sh`
// with CONFIG_FILE (or --job.config_file) and the same overrides.
//
// The global batch is torchtitan's truth: gradient accumulation is
// training.global_batch_size ÷ (training.local_batch_size × data-parallel
// degree), which must divide (torchtitan/train.py). A batch fix sets
// --training.local_batch_size, and pins --training.global_batch_size to
// what it was when the config leaves it at -1 (local × dp), so that the
// global batch stays what it was.
package torchtitan

import (
	"context"
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
const Name = "torchtitan"

// New returns the plugin; the OOM texts are PyTorch's.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		// The metrics processor's line, per log_freq steps: "step: 10  loss: 2.3  memory: ...
		// tps: 1,234  tflops: ...", tps the tokens a second of one device, thousands separated.
		Progress: []sdk.ProgressPattern{{ID: Name + ".tps", Regexp: `step: *[0-9]+ .*tps: (?P<per_s>[0-9][0-9,]*(?:\.[0-9]+)?)`,
			Unit: sdk.UnitToken, PerProcess: true}},
		Rejections: append(pyscript.Rejections(Name), tyroUnrecognized)}, 95, "a torchtitan command", load)
}

// tyroUnrecognized is tyro's error for flags no field of JobConfig takes,
// drawn in a box ("│ Unrecognized options: --a.b --c.d │", tyro/_cli.py):
// a key vramrun writes that an older torchtitan lacks.
var tyroUnrecognized = sdk.RejectionPattern{ID: Name + ".tyro_unrecognized", Regexp: `Unrecognized options: (?P<name>--[^ │]+(?: --[^ │]+)*)`}

type command struct {
	s    *pyscript.Script
	cfg  string
	vals cfgcli.Values
	err  error
	why  string
}

// Why says what gave the command away.
func (c *command) Why() string { return c.why }

func load(cmd sdk.Command, _ *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		return nil, false
	}
	c := &command{s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, vals: cfgcli.Values{}}
	switch {
	case inv.Module && inv.Script == "torchtitan.train":
		c.why = "-m torchtitan.train"
	case filepath.Base(inv.Script) == "run_train.sh":
		c.why = "torchtitan's run_train.sh"
		c.cfg = cmdline.JobEnv(cmd, inv)["CONFIG_FILE"]
	default:
		return nil, false
	}
	if f, ok := cmdline.FindFlag(inv.Args, "--job.config_file", "--job.config-file"); ok && f.HasValue {
		c.cfg = f.Value
	}
	if c.cfg != "" {
		if c.vals, c.err = cfgcli.ReadTOML(cmd, c.cfg); c.vals == nil {
			c.vals = cfgcli.Values{}
		}
	}
	args := inv.Args
	for i := 0; i < len(args); i++ {
		name, value, eq := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "--") || !strings.Contains(name, ".") {
			continue
		}
		key := strings.ReplaceAll(strings.TrimPrefix(name, "--"), "-", "_")
		switch {
		case eq:
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "--"):
			value = args[i+1]
			i++
		default:
			// tyro's boolean flags: --section.key, --section.no-key.
			value = "true"
			if section, field, _ := strings.Cut(key, "."); strings.HasPrefix(field, "no_") {
				key, value = section+"."+strings.TrimPrefix(field, "no_"), "false"
			}
		}
		c.vals[key] = cfgcli.Scalar(value)
	}
	return c, true
}

// dp is the data-parallel degree: the processes torchrun starts, less
// what tensor and pipeline parallelism take.
func (c *command) dp(world int) int {
	dp := world
	if s := c.vals["parallelism.data_parallel_shard_degree"]; s != "" && s != "-1" {
		if n := cfgcli.Int(s); n != nil && *n > 0 {
			dp = *n
		}
	}
	return max(dp, 1)
}

// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	v := c.vals
	launched, notes := c.world()
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: launched.Launcher, Script: c.s.Inv.Script,
		WorldSize: max(launched.WorldSize, 1), Notes: notes}, Unsupported: map[sdk.FixID]string{}}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil {
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = c.err.Error()
		}
		return a
	}
	local := v.IntOr("training.local_batch_size", 8)
	a.Knobs.BatchSize = local
	if global := v.IntOr("training.global_batch_size", -1); local != nil && global != nil && *local > 0 {
		accum := 1
		if *global > 0 {
			accum = max(*global/(*local*c.dp(a.WorldSize)), 1)
		}
		a.Knobs.GradAccumulation = sdk.Int(accum)
	}
	if s := v["validation.local_batch_size"]; s != "" {
		a.Knobs.EvalBatchSize = cfgcli.Int(s)
	} else {
		a.Unsupported[sdk.FixEvalBatchSize] = "no validation section in the config"
	}
	switch mode := v["activation_checkpoint.mode"]; mode {
	case "full":
		a.Knobs.GradCheckpointing = sdk.Bool(true)
		a.Unsupported[sdk.FixGradCheckpointing] = "already on (activation_checkpoint.mode full)"
	default:
		a.Knobs.GradCheckpointing = sdk.Bool(mode == "selective" || mode == "")
	}
	if p := v["training.mixed_precision_param"]; p == "float32" {
		a.Knobs.Precision = sdk.Str("fp32")
	} else {
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (training.mixed_precision_param)"
	}
	a.Unsupported[sdk.FixOptimizer8bit] = "torchtitan has no 8-bit optimizer"
	on := v.On("training.enable_cpu_offload")
	a.Knobs.Offload = sdk.Bool(on)
	if on {
		a.Unsupported[sdk.FixCPUOffload] = "already on (training.enable_cpu_offload)"
	}
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	return a
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(_ context.Context, fix sdk.Fix, a pyscript.Analysis) (sdk.ApplyResponse, error) {
	args := c.s.Inv.Args
	var parts []string
	set := func(key, value string) {
		args = cmdline.SetFlag(args, []string{"--" + key}, value, cmdline.Space)
		parts = append(parts, "--"+key+" "+value)
	}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		if g := c.vals.IntOr("training.global_batch_size", -1); g != nil && *g <= 0 {
			// -1 means local x dp: pin it, or the global batch would
			// shrink with the local one.
			set("training.global_batch_size", strconv.Itoa(*a.Knobs.BatchSize*c.dp(a.WorldSize)))
		}
		set("training.local_batch_size", strconv.Itoa(fix.BatchSize))
	case sdk.FixEvalBatchSize:
		set("validation.local_batch_size", strconv.Itoa(fix.BatchSize))
	case sdk.FixGradCheckpointing:
		set("activation_checkpoint.mode", "full")
	case sdk.FixMixedPrecision:
		if fix.Precision != "bf16" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "torchtitan's mixed precision is bfloat16 only, and this GPU has no bf16")
		}
		set("training.mixed_precision_param", "bfloat16")
	case sdk.FixCPUOffload:
		// A tyro boolean is a flag that takes no value.
		args = cmdline.AddSwitch(cmdline.RemoveFlag(args, "--training.no-enable-cpu-offload", "--training.no_enable_cpu_offload"),
			"--training.enable_cpu_offload", "--training.enable-cpu-offload")
		parts = append(parts, "--training.enable_cpu_offload")
	case sdk.FixTrial:
		var err error
		if args, parts, err = c.trial(args, fix); err != nil {
			return sdk.ApplyResponse{}, err
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for torchtitan")
	}
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(args), Summary: strings.Join(parts, ", ")}, nil
}
