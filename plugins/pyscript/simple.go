package pyscript

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// BatchFlags are the spellings a plugin knows for the batch knobs, each
// group one flag.
type BatchFlags struct {
	Batch, Accum, Eval [][]string
}

// BatchOptions finds the batch knobs, the profile's mapping first.
func (s *Script) BatchOptions(f BatchFlags) (batch, accum, eval Option) {
	return s.Knob("batch_size", f.Batch...), s.Knob("grad_accumulation", f.Accum...), s.Knob("eval_batch_size", f.Eval...)
}

// AnalyzeBatch fills the batch knobs of a and marks the batch fixes the
// command cannot take.
func (s *Script) AnalyzeBatch(a *Analysis, f BatchFlags) {
	batch, accum, eval := s.BatchOptions(f)
	a.Knobs.BatchSize = batch.IntPtr()
	if accum.Exists() {
		a.Knobs.GradAccumulation = accum.IntPtr()
		if a.Knobs.GradAccumulation == nil {
			a.Knobs.GradAccumulation = sdk.Int(1)
		}
	}
	a.Knobs.EvalBatchSize = eval.IntPtr()
	if a.Unsupported == nil {
		a.Unsupported = map[sdk.FixID]string{}
	}
	if !batch.Exists() {
		a.Unsupported[sdk.FixBatchSize] = s.NoFlag("batch-size", "batch_size")
	}
	if !eval.Exists() {
		a.Unsupported[sdk.FixEvalBatchSize] = s.NoFlag("evaluation batch-size", "eval_batch_size")
	}
}

// ApplyBatchFix applies batch_size or eval_batch_size through the flags
// found; handled is false for other fixes.
func (s *Script) ApplyBatchFix(fix sdk.Fix, f BatchFlags) (args []string, summary string, handled bool, err error) {
	batch, accum, eval := s.BatchOptions(f)
	args = append([]string(nil), s.Inv.Args...)
	switch fix.ID {
	case sdk.FixBatchSize:
		if !batch.Exists() {
			return nil, "", true, sdk.Unsupported(fix.ID, "%s", s.NoFlag("batch-size", "batch_size"))
		}
		args, summary = ApplyBatch(args, batch, accum, fix)
		return args, summary, true, nil
	case sdk.FixEvalBatchSize:
		if !eval.Exists() {
			return nil, "", true, sdk.Unsupported(fix.ID, "%s", s.NoFlag("evaluation batch-size", "eval_batch_size"))
		}
		return eval.SetInt(args, fix.BatchSize), Change(eval.DisplayName(), eval.Value, fmt.Sprint(fix.BatchSize)), true, nil
	}
	return nil, "", false, nil
}

// NoFlag is the reason for a fix whose flag the script does not have.
func (s *Script) NoFlag(what, key string) string {
	name := s.Inv.Script
	if name == "" {
		name = "the command"
	}
	return fmt.Sprintf("no %s flag in %s (name it under flags.%s in vramrun.yaml)", what, name, key)
}

// Simple is the analysis and fixes of a framework whose scripts expose only
// their batch flags: an allocator setting in the environment, the batch
// flags, and the profile's flags: mapping for everything else (TensorFlow
// and JAX set precision and checkpointing in code).
type Simple struct {
	Framework string
	Batch     BatchFlags
	// Allocator gives the variables of the allocator fix for a job with
	// environment env and the summary, or why it has nothing to add
	// (unsupported non-empty). Nil: the framework has no allocator fix.
	Allocator func(env map[string]string) (vars map[string]string, summary, unsupported string)
	// NoAllocator is the reason when Allocator is nil.
	NoAllocator string
	// InCode is the reason for the fixes the framework sets in code; the
	// fix id and the flags: hint are added to it.
	InCode string
}

// inCodeFixes are the fixes a Simple framework leaves to the profile.
var inCodeFixes = []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload,
	sdk.FixFusedLoss, sdk.FixActivationOffload, sdk.FixEvalAccumulation}

// Analyze finds the command's batch knobs and what it cannot take.
func (p Simple) Analyze(cmd sdk.Command) (Analysis, error) {
	s, ok := Load(cmd)
	if !ok {
		return Analysis{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	return p.analyze(s), nil
}

func (p Simple) analyze(s *Script) Analysis {
	a := Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: p.Framework, Launcher: s.Inv.Launcher, Script: s.Inv.Script,
		WorldSize: max(s.Inv.WorldSize, 1), Notes: s.LauncherNotes()}, Unsupported: map[sdk.FixID]string{}}
	s.AnalyzeBatch(&a, p.Batch)
	switch {
	case p.Allocator == nil:
		a.Unsupported[sdk.FixAllocator] = p.NoAllocator
	default:
		if _, _, why := p.Allocator(s.Cmd.Env); why != "" {
			a.Unsupported[sdk.FixAllocator] = why
		}
	}
	for _, f := range inCodeFixes {
		a.Unsupported[f] = fmt.Sprintf("%s (name the script's flag under flags.%s in vramrun.yaml)", p.InCode, f)
	}
	s.ProfileTemplates(&a)
	return a
}

// Apply rewrites the command for one fix, or says why it cannot.
func (p Simple) Apply(cmd sdk.Command, fix sdk.Fix) (sdk.ApplyResponse, error) {
	s, ok := Load(cmd)
	if !ok {
		return sdk.ApplyResponse{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	if why, no := p.analyze(s).Unsupported[fix.ID]; no {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", why)
	}
	if fix.ID == sdk.FixAllocator {
		vars, summary, _ := p.Allocator(cmd.Env)
		return sdk.ApplyResponse{Argv: append([]string(nil), cmd.Argv...), Env: vars, Summary: summary}, nil
	}
	if args, summary, ok := s.ApplyTemplate(fix); ok {
		return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	args, summary, handled, err := s.ApplyBatchFix(fix, p.Batch)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	if !handled {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for %s scripts", p.Framework)
	}
	return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
}
