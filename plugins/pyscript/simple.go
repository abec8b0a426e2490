package pyscript

import (
	"fmt"

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
func (s *Script) AnalyzeBatch(a *sdk.Analysis, f BatchFlags) {
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
