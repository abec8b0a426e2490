// Package openrlhf is the built-in plugin for OpenRLHF's trainers:
// `deepspeed --module openrlhf.cli.train_sft ...` (and train_dpo, train_rm,
// train_ppo_ray...), argparse flags only.
//
// The global batch is OpenRLHF's truth: the accumulation is derived from
// train.batch_size ÷ micro-batch ÷ world (openrlhf/utils/deepspeed), so a
// batch fix sets only the micro-batch. A Ray trainer's world is its
// actor's data-parallel processes, which Ray starts itself (ray.go). The
// flags were renamed to a dotted form in 2026 (--train.micro_batch_size;
// before, --micro_train_batch_size), and later the DeepSpeed section
// (--ds.*) gave way to an FSDP2 one (--fsdp.*,
// openrlhf/utils/fsdp/strategy.py): vramrun writes the spelling the
// command uses.
package openrlhf

import (
	"context"
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
const Name = "openrlhf"

// New returns the plugin; the OOM texts are PyTorch's, the speed line
// the training bar (Progress).
func New() *cfgcli.Plugin {
	// The rejections are argparse's: OpenRLHF's flags came and went across
	// releases of one generation (--use_liger_kernel is in the older names'
	// last releases only), so a flag a fix writes that the installed release
	// lacks ends the attempt with "unrecognized arguments", and vramrun
	// takes the fix back.
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name}, Progress: Progress(),
		Rejections: pyscript.Rejections(Name)}, 95, "an OpenRLHF trainer", load)
}

// spelling is one generation of OpenRLHF's flag names ("" where it has
// none). dtype is the default of the precision flag where it takes a value
// (bf16 in both dotted generations, choices bf16 and fp16); unknown, where
// set, is why the backend's own flags (precision, offload, Liger) are not
// written: a dotted command that names neither backend section. actor is
// where a Ray trainer's actor trains.
type spelling struct {
	micro, global, ckptSFT, ckptPPO, precision, offload, liger string
	dtype, unknown                                             string
	actor                                                      rayActor
}

var (
	dotted = spelling{micro: "--train.micro_batch_size", global: "--train.batch_size", ckptSFT: "--model.gradient_checkpointing_enable",
		ckptPPO: "--actor.gradient_checkpointing_enable", precision: "--ds.param_dtype", offload: "--ds.adam_offload", liger: "--ds.use_liger_kernel",
		dtype: "bf16", actor: dottedRay}
	// fsdp is the FSDP2 (NeMo Automodel) generation: its --fsdp.cpu_offload
	// is FSDP2's CPUOffloadPolicy (parameters, gradients and optimizer state
	// together); it has no ZeRO stage (FSDP2 always shards fully) and no
	// optimizer-only offload.
	fsdp = spelling{micro: dotted.micro, global: dotted.global, ckptSFT: dotted.ckptSFT, ckptPPO: dotted.ckptPPO,
		precision: "--fsdp.param_dtype", offload: "--fsdp.cpu_offload", liger: "--fsdp.use_liger_kernel", dtype: "bf16",
		actor: fsdpRay}
	dottedBare = spelling{micro: dotted.micro, global: dotted.global, ckptSFT: dotted.ckptSFT, ckptPPO: dotted.ckptPPO, dtype: "bf16",
		unknown: "give a --ds.* or --fsdp.* flag: OpenRLHF's DeepSpeed and FSDP releases spell this knob differently", actor: dottedBareRay}
	legacy = spelling{micro: "--micro_train_batch_size", global: "--train_batch_size", ckptSFT: "--gradient_checkpointing",
		ckptPPO: "--gradient_checkpointing", precision: "--bf16", offload: "--adam_offload", liger: "--use_liger_kernel",
		actor: legacyRay}
)

type command struct {
	probes *pyscript.Probes
	s      *pyscript.Script
	names  spelling
	ppo    bool
	ray    bool
}

// Why says what gave the command away.
func (c *command) Why() string { return c.s.Inv.Script }

func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil || !inv.Module || !strings.HasPrefix(inv.Script, "openrlhf.cli.train_") {
		return nil, false
	}
	c := &command{probes: probes, s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, names: generation(inv.Args),
		ppo: strings.Contains(inv.Script, "ppo"), ray: isRay(inv.Script)}
	return c, true
}

// generation tells the flag generation from the flag names: every flag of
// the dotted generations has a dot in its name (--train.micro_batch_size,
// --ckpt.output_dir), none before them; the DeepSpeed one has a --ds.
// section, the FSDP one a --fsdp. section instead (each lacks the other).
func generation(args []string) spelling {
	dots, ds := false, false
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		switch {
		case !strings.HasPrefix(name, "--") || !strings.Contains(name, "."):
		case strings.HasPrefix(name, "--fsdp."):
			return fsdp
		case strings.HasPrefix(name, "--ds."):
			ds = true
		default:
			dots = true
		}
	}
	switch {
	case ds:
		return dotted
	case dots:
		return dottedBare
	}
	return legacy
}

func (c *command) flag(name string) (cmdline.Flag, bool) {
	return cmdline.FindFlag(c.s.Inv.Args, name)
}

func (c *command) num(name string) *int {
	if f, ok := c.flag(name); ok && f.HasValue {
		return cfgcli.Int(f.Value)
	}
	return nil
}

func (c *command) on(name string) bool {
	_, ok := c.flag(name)
	return name != "" && ok
}

func (c *command) ckpt() string {
	if c.ppo {
		return c.names.ckptPPO
	}
	return c.names.ckptSFT
}

// Analyze reads the knobs from the flags.
func (c *command) Analyze() pyscript.Analysis {
	n := c.names
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: c.s.Inv.Launcher, Script: c.s.Inv.Script,
		WorldSize: max(c.s.Inv.WorldSize, 1), Notes: c.s.LauncherNotes()}, Unsupported: map[sdk.FixID]string{}}
	if c.ray {
		// Ray starts the actor's processes; the driver is one process.
		world, note := c.rayWorld()
		a.WorldSize = world
		if note != "" {
			a.Notes = append(a.Notes, note)
		}
	}
	micro, global := c.num(n.micro), c.num(n.global)
	a.Knobs.BatchSize = micro
	if micro == nil {
		a.Unsupported[sdk.FixBatchSize] = "give " + n.micro + " N on the command line so that the batch fix can be sized"
	} else if global != nil && *micro > 0 {
		a.Knobs.GradAccumulation = sdk.Int(max(*global / *micro / a.WorldSize, 1))
	}
	a.Unsupported[sdk.FixEvalBatchSize] = "no evaluation batch flag vramrun knows for OpenRLHF"
	c.analyzeSettings(&a)
	a.Lacks(func(id sdk.FixID) string { return "no " + pyscript.FixWords(id) + " flag vramrun knows for OpenRLHF" },
		sdk.FixOptimizer8bit, sdk.FixActivationOffload, sdk.FixEvalAccumulation)
	return a
}

func (c *command) analyzeSettings(a *pyscript.Analysis) {
	n := c.names
	c.analyzePrecision(a)
	a.Knobs.GradCheckpointing = sdk.Bool(c.on(c.ckpt()))
	if *a.Knobs.GradCheckpointing {
		a.Unsupported[sdk.FixGradCheckpointing] = "already on (" + c.ckpt() + ")"
	}
	// Offload is off by default in every generation.
	a.Knobs.Offload = sdk.Bool(c.on(n.offload))
	switch {
	case n.unknown != "":
		a.Unsupported[sdk.FixCPUOffload] = n.unknown
	case *a.Knobs.Offload:
		a.Unsupported[sdk.FixCPUOffload] = "already on (" + n.offload + ")"
	}
	switch {
	case n.unknown != "":
		a.Unsupported[sdk.FixFusedLoss] = n.unknown
	case c.on(n.liger):
		a.Unsupported[sdk.FixFusedLoss] = "already on (" + n.liger + ")"
	}
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
}

// analyzePrecision reads the precision: the legacy --bf16 switch (fp32
// without it), or the dotted generations' param_dtype, bf16 unless given.
func (c *command) analyzePrecision(a *pyscript.Analysis) {
	n := c.names
	if n.dtype == "" {
		a.Knobs.Precision = sdk.Str("fp32")
		if c.on(n.precision) {
			a.Knobs.Precision = sdk.Str("bf16")
			a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (" + n.precision + ")"
		}
		return
	}
	v, where := n.dtype, "the default of "+n.precision
	if n.precision == "" {
		where = "the default of OpenRLHF's dotted releases"
	} else if f, ok := c.flag(n.precision); ok && f.HasValue {
		v, where = f.Value, n.precision
	}
	a.Knobs.Precision = sdk.Str(v)
	if v == "bf16" || v == "fp16" {
		a.Unsupported[sdk.FixMixedPrecision] = "already in " + v + " (" + where + ")"
	}
}

// Apply writes the fix as a flag.
func (c *command) Apply(ctx context.Context, fix sdk.Fix, _ pyscript.Analysis) (sdk.ApplyResponse, error) {
	n := c.names
	args := c.s.Inv.Args
	var summary string
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.s.Cmd.Argv, c.s.Cmd.Env)
	case sdk.FixBatchSize:
		args = cmdline.SetFlag(args, []string{n.micro}, strconv.Itoa(fix.BatchSize), cmdline.Space)
		summary = n.micro + " " + strconv.Itoa(fix.BatchSize) + " (" + strings.TrimPrefix(n.global, "--") + " stays; OpenRLHF derives the accumulation)"
	case sdk.FixMixedPrecision, sdk.FixCPUOffload, sdk.FixFusedLoss:
		return c.applyBackend(ctx, fix)
	case sdk.FixGradCheckpointing:
		args, summary = cmdline.AddSwitch(args, c.ckpt()), c.ckpt()
	case sdk.FixTrial:
		args, summary = c.trial(fix)
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for OpenRLHF")
	}
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(args), Summary: summary}, nil
}

// applyBackend writes a fix whose flag lives in the backend's section
// (--ds.* or --fsdp.* in the dotted generations).
func (c *command) applyBackend(ctx context.Context, fix sdk.Fix) (sdk.ApplyResponse, error) {
	n := c.names
	args := c.s.Inv.Args
	var summary string
	if n.unknown != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", n.unknown)
	}
	switch fix.ID {
	case sdk.FixMixedPrecision:
		if n == legacy {
			if fix.Precision != "bf16" {
				return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "OpenRLHF's --bf16 is its only mixed-precision switch, and this GPU has no bf16")
			}
			args, summary = cmdline.AddSwitch(args, n.precision), n.precision
			break
		}
		args = cmdline.SetFlag(args, []string{n.precision}, fix.Precision, cmdline.Space)
		summary = n.precision + " " + fix.Precision
	case sdk.FixCPUOffload:
		args, summary = cmdline.AddSwitch(args, n.offload), n.offload
	case sdk.FixFusedLoss:
		if why := transformers.LigerMissing(ctx, c.probes, c.s); why != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", why)
		}
		args, summary = cmdline.AddSwitch(args, n.liger), n.liger
	}
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(args), Summary: summary}, nil
}
