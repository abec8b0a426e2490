// Package litgpt is the built-in plugin for litgpt: `litgpt finetune|
// finetune_lora|finetune_full|finetune_adapter|pretrain MODEL [--config
// f.yaml] [--a.b v ...]`.
//
// The global batch is litgpt's truth: gradient accumulation is derived
// from train.global_batch_size ÷ (devices × num_nodes) ÷
// train.micro_batch_size (litgpt/args.py), so a batch fix sets only the
// micro-batch and never adds an accumulation key.
package litgpt

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
const Name = "litgpt"

var subcommands = map[string]bool{"finetune": true, "finetune_lora": true, "finetune_full": true, "finetune_adapter": true,
	"finetune_adapter_v2": true, "pretrain": true}

// New returns the plugin; the OOM texts are PyTorch's.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		// litgpt logs "iter 12 step 3 | loss train: 2.1, val: n/a | iter time: 312.45 ms"
		// per micro-batch (an iter; a step is an optimizer step).
		Progress:   []sdk.ProgressPattern{{ID: Name + ".iter_time", Regexp: `\| iter time: (?P<ms_per>[0-9]+(?:\.[0-9]+)?) ms`, Unit: sdk.UnitMicroBatch}},
		Rejections: pyscript.Rejections(Name)}, 95, "a litgpt training command", load)
}

type command struct {
	// probes asks the job's Python what it has.
	probes *pyscript.Probes
	s      *pyscript.Script
	sub    string
	cfg    string
	vals   cfgcli.Values
	err    error
}

// Why says what gave the command away.
func (c *command) Why() string { return "litgpt " + c.sub }

func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil || filepath.Base(inv.Script) != "litgpt" || inv.Module || len(inv.Args) == 0 || !subcommands[inv.Args[0]] {
		return nil, false
	}
	c := &command{probes: probes, s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, sub: inv.Args[0], vals: cfgcli.Values{}}
	// jsonargparse applies the arguments in order: a --config sets what
	// it holds over what came before it, a flag after it wins.
	args := c.args()
	for i := 0; i < len(args); i++ {
		name, value, eq := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "--") {
			continue
		}
		if !eq && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			value = args[i+1]
			i++
		}
		if name == "--config" {
			c.cfg = value
			file, err := cfgcli.Read(cmd, value)
			if err != nil {
				c.err = err
				continue
			}
			for k, v := range file {
				c.vals[k] = v
			}
			continue
		}
		c.vals[strings.TrimPrefix(name, "--")] = cfgcli.Scalar(value)
	}
	return c, true
}

func (c *command) args() []string { return c.s.Inv.Args[1:] }

// world is devices × num_nodes. devices auto or -1 is every GPU the job
// sees (litgpt's parse_devices: torch.cuda.device_count() or 1), and
// pretrain's default is auto (the finetune commands' is 1); 1 when vramrun
// cannot tell how many the job sees.
func (c *command) world() int {
	devices := c.vals.Count("devices")
	v, set := c.vals["devices"]
	if !set && c.sub == "pretrain" {
		v = "auto"
	}
	if n, every := cmdline.EveryGPU(v, c.s.Cmd.GPUs); every {
		devices = n
	}
	return devices * c.vals.Count("num_nodes")
}

// Analyze reads the knobs as the tool merges them.
func (c *command) Analyze() pyscript.Analysis {
	v := c.vals
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: "litgpt", Script: "litgpt " + c.sub,
		WorldSize: max(c.world(), 1)}, Unsupported: map[sdk.FixID]string{}}
	if c.cfg != "" {
		a.ConfigFiles = []string{c.cfg}
	}
	if c.err != nil {
		for _, f := range sdk.AllFixes() {
			a.Unsupported[f] = c.err.Error()
		}
		return a
	}
	micro, global := v.IntOr("train.micro_batch_size", 1), v.IntOr("train.global_batch_size", 16)
	a.Knobs.BatchSize = micro
	if micro != nil && global != nil && *micro > 0 && a.WorldSize > 0 {
		// What litgpt derives; the effective batch is micro x this.
		a.Knobs.GradAccumulation = sdk.Int(max(*global/a.WorldSize / *micro, 1))
	}
	a.Unsupported[sdk.FixEvalBatchSize] = "litgpt evaluates at the micro-batch: train.micro_batch_size sets both"
	switch p := v["precision"]; p {
	case "", "bf16-mixed", "bf16-true":
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (precision " + orDefault(p, "bf16-mixed, litgpt's default") + ")"
	case "16-mixed", "16-true":
		a.Knobs.Precision = sdk.Str("fp16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in fp16 (precision " + p + ")"
	default:
		a.Knobs.Precision = sdk.Str("fp32")
	}
	a.Unsupported[sdk.FixGradCheckpointing] = "litgpt exposes no activation-checkpointing switch (FSDP runs turn it on themselves)"
	a.Unsupported[sdk.FixCPUOffload] = "litgpt exposes no CPU offload setting"
	if opt := v["optimizer"]; strings.Contains(strings.ToLower(opt), "8bit") {
		a.Knobs.Optimizer = sdk.Str(opt)
		a.Unsupported[sdk.FixOptimizer8bit] = "already " + opt
	}
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	return a
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, _ pyscript.Analysis) (sdk.ApplyResponse, error) {
	probes := c.probes
	args := c.args()
	var summary string
	set := func(name, value string) {
		args = setWinning(args, name, value)
		summary = name + " " + value
	}
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		// Only the micro-batch: litgpt derives the accumulation from the
		// global batch, which stays.
		set("--train.micro_batch_size", strconv.Itoa(fix.BatchSize))
		summary += " (train.global_batch_size stays; litgpt derives the accumulation)"
	case sdk.FixMixedPrecision:
		p := "16-mixed"
		if fix.Precision == "bf16" {
			p = "bf16-mixed"
		}
		set("--precision", p)
	case sdk.FixOptimizer8bit:
		found := probes.Import(ctx, c.s, "bitsandbytes")
		if found.Known && !found.There {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s, which bitsandbytes.optim.PagedAdamW8bit needs", found.Why)
		}
		set("--optimizer", "bitsandbytes.optim.PagedAdamW8bit")
	case sdk.FixTrial:
		trial, parts, err := c.trial(fix)
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		args, summary = trial, strings.Join(parts, ", ")
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for litgpt")
	}
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(append([]string{c.sub}, args...)), Summary: summary}, nil
}
