// Package lightning is the built-in plugin for PyTorch Lightning: LightningCLI
// commands (`python main.py fit --config config.yaml --data.batch_size 32`),
// whose settings come from --section.key flags and -c/--config YAML or JSON
// files, and plain scripts that build a Trainer from their own argparse
// flags. It declares the traceback frames that tell Lightning's training
// from its evaluation; the OOM texts are PyTorch's.
package lightning

import (
	"context"
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the Lightning plugin. It holds no state but what the job's
// Python answered to a probe: every call reads the command it is given.
type Plugin struct {
	probes *pyscript.Probes
}

// New returns the plugin.
func New() *Plugin { return &Plugin{probes: pyscript.NewProbes()} }

// Describe declares the plugin and Lightning's traceback frames.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	// Lightning's training bar ticks once per batch (a micro-batch under
	// accumulate_grad_batches); its validation bars say "Validation".
	return sdk.DescribeResponse{Name: "lightning", Version: Version, Frameworks: []string{"lightning"}, Frames: Frames(),
		Progress: pyscript.Tqdm("lightning", `Epoch [0-9]+: `, sdk.UnitMicroBatch),
		Rejections: append(pyscript.Rejections("lightning"),
			// jsonargparse's unknown key, and the strategy that needs a
			// package ("To use the `DeepSpeedStrategy`, you must have
			// DeepSpeed installed.").
			sdk.RejectionPattern{ID: "lightning.unknown_key", Regexp: `(?i)(?:unrecognized key|parser key) ['"](?P<name>[^'"]+)['"]`},
			sdk.RejectionPattern{ID: "lightning.needs_package", Regexp: `you must have (?P<name>\w+) installed`})}, nil
}

// Recognize claims scripts that import Lightning (80; 85 when they also
// import transformers but use no Hugging Face Trainer, so that the
// transformers plugin does not take a LightningModule around a Hugging
// Face model) and commands shaped like LightningCLI's (70: its
// --trainer./--data./--model. flags, or a subcommand with a config file;
// 50 for a subcommand alone).
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.RecognizeResponse{}, nil
	}
	rec := sdk.RecognizeResponse{Framework: "lightning"}
	c := parseCLI(s)
	switch {
	case s.ImportsAny("lightning", "pytorch_lightning"):
		rec.Confidence, rec.Reason = 80, "the script imports lightning"
		if s.ImportsAny("pytorch_lightning") && !s.ImportsAny("lightning") {
			rec.Reason = "the script imports pytorch_lightning"
		}
		if s.ImportsAny("transformers") && !bytesContain(s.Source, "TrainingArguments") && !bytesContain(s.Source, "HfArgumentParser") {
			// A Lightning module around a Hugging Face model: Lightning's
			// Trainer, not Hugging Face's, owns the memory settings.
			rec.Confidence += 5
			rec.Reason += " and trains a transformers model with its own Trainer"
		}
	case dottedFlag(c.args) != "":
		rec.Confidence, rec.Reason = 70, "LightningCLI flag "+dottedFlag(c.args)
	case c.sub != "" && len(c.configs) > 0:
		rec.Confidence, rec.Reason = 70, "LightningCLI subcommand "+c.sub+" with a config file"
	case c.sub != "" && c.subAt == 0:
		rec.Confidence, rec.Reason = 50, "LightningCLI subcommand "+c.sub
	}
	return rec, nil
}

// Analyze finds the command's knobs, and under plain python the processes
// Lightning starts itself (countProcesses).
func (p *Plugin) Analyze(ctx context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.AnalyzeResponse{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	if c := parseCLI(s); looksLikeCLI(s, c) {
		a := analyzeCLI(c)
		p.countProcesses(ctx, s, c.cliDevices(), &a)
		return a.AnalyzeResponse, nil
	}
	a := analyzePlain(s)
	if t, ok := plainDevices(s); ok {
		p.countProcesses(ctx, s, t, &a)
	}
	return a.AnalyzeResponse, nil
}

// Apply rewrites the command for one fix. The input is never changed: the
// answer is built from copies.
func (p *Plugin) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	resp, err := applyFix(req)
	if err != nil || req.Fix.ID != sdk.FixCPUOffload {
		return resp, err
	}
	// Lightning's DeepSpeed strategies refuse to start without DeepSpeed:
	// ask the job's Python first rather than spend an attempt on it.
	s, _ := pyscript.Load(req.Command)
	if found := p.probes.Find(ctx, s, "deepspeed"); found.Known && !found.There {
		return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "%s (Lightning's DeepSpeed offload strategy needs it)", found.Why)
	}
	return resp, nil
}

func applyFix(req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	cmd, fix, copyDir := req.Command.Clone(), req.Fix, req.CopyDir
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.ApplyResponse{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	if fix.ID == sdk.FixAllocator {
		if reason := pytorch.AllocatorUnsupported(cmd.Env); reason != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
		}
		env, summary, err := pytorch.AllocatorEnv(cmd.Env)
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		return sdk.ApplyResponse{Argv: cmd.Argv, Env: env, Summary: summary}, nil
	}
	if fix.ID == sdk.FixResume {
		if c := parseCLI(s); looksLikeCLI(s, c) {
			return resumeCLI(c, fix)
		}
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "a Lightning script without LightningCLI resumes in its own code (trainer.fit(ckpt_path=...))")
	}
	if args, summary, ok := s.ApplyTemplate(fix); ok {
		return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	if c := parseCLI(s); looksLikeCLI(s, c) {
		return applyCLI(c, fix, copyDir)
	}
	args, summary, err := applyPlain(s, fix)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
}

// baseAnalysis fills what both command styles share.
func baseAnalysis(s *pyscript.Script) pyscript.Analysis {
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: "lightning", Launcher: s.Inv.Launcher,
		Script: s.Inv.Script, WorldSize: s.Inv.WorldSize, Notes: s.LauncherNotes()}, Unsupported: map[sdk.FixID]string{}}
	if a.WorldSize == 0 {
		a.WorldSize = 1
	}
	if reason := pytorch.AllocatorUnsupported(s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	return a
}

// Reasons shared by both command styles.
const (
	noCheckpointing = "Lightning has no Trainer switch for gradient checkpointing; the model turns it on in code (name a flag under flags.grad_checkpointing in vramrun.yaml)"
	noOptimizer8bit = "Lightning sets the optimizer in configure_optimizers; name a flag under flags.optimizer_8bit in vramrun.yaml"
	needsDeepSpeed  = "needs DeepSpeed installed"
)
