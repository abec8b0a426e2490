package lightning

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// A plain Lightning script builds its Trainer from its own argparse flags
// (--batch_size, --accumulate_grad_batches, --precision, --strategy). A
// Lightning 1.x script that calls Trainer.add_argparse_args has every
// Trainer argument as a flag without defining it itself.

// plainFlags are the batch flags' usual spellings, each group one flag.
func plainFlags() pyscript.BatchFlags {
	return pyscript.BatchFlags{
		Batch: [][]string{{"-b", "--batch_size", "--batch-size"}, {"--train_batch_size", "--train-batch-size"},
			{"--micro_batch_size", "--micro-batch-size"}},
		Accum: [][]string{{"--accumulate_grad_batches", "--accumulate-grad-batches"},
			{"--gradient_accumulation_steps", "--gradient-accumulation-steps"},
			{"--grad_accum_steps", "--grad-accum-steps"}, {"--accum_steps", "--accum-steps"}},
		Eval: [][]string{{"--val_batch_size", "--val-batch-size"}, {"--eval_batch_size", "--eval-batch-size"},
			{"--valid_batch_size", "--valid-batch-size"}, {"--test_batch_size", "--test-batch-size"}},
	}
}

// plainKnobs are a plain script's options.
type plainKnobs struct {
	batch, accum, eval, precision, strategy pyscript.Option
	// trainerFlags says Trainer.add_argparse_args adds the Trainer's
	// arguments (Lightning 1.x).
	trainerFlags bool
}

func findPlain(s *pyscript.Script) plainKnobs {
	k := plainKnobs{trainerFlags: bytesContain(s.Source, "add_argparse_args")}
	precisionFlag, strategyFlag := []string{"--precision"}, []string{"--strategy"}
	k.batch, k.accum, k.eval = s.BatchOptions(plainFlags())
	k.precision, k.strategy = s.Find(precisionFlag), s.Find(strategyFlag)
	if k.trainerFlags {
		implicit := func(o *pyscript.Option, names []string, def string) {
			if !o.Exists() {
				*o = pyscript.Option{Names: names, Defined: true, Value: def, Known: def != ""}
			}
		}
		implicit(&k.accum, []string{"--accumulate_grad_batches"}, "1")
		implicit(&k.precision, precisionFlag, "32")
		implicit(&k.strategy, strategyFlag, "")
	}
	return k
}

func analyzePlain(s *pyscript.Script) pyscript.Analysis {
	a := baseAnalysis(s)
	k := findPlain(s)
	a.Knobs.BatchSize = k.batch.IntPtr()
	if k.accum.Exists() {
		a.Knobs.GradAccumulation = k.accum.IntPtr()
		if a.Knobs.GradAccumulation == nil && !k.accum.Known {
			a.Knobs.GradAccumulation = sdk.Int(1) // Lightning's default
		}
	}
	a.Knobs.EvalBatchSize = k.eval.IntPtr()
	if !k.batch.Exists() {
		a.Unsupported[sdk.FixBatchSize] = s.NoFlag("batch-size", "batch_size")
	}
	if !k.eval.Exists() {
		a.Unsupported[sdk.FixEvalBatchSize] = s.NoFlag("evaluation batch-size", "eval_batch_size")
	}
	if k.precision.Exists() {
		if dtype, _, known := precisionOf(k.precision.Value); known && dtype != "fp64" && dtype != "fp8" {
			a.Knobs.Precision = sdk.Str(dtype)
		}
		if reason := precisionUnsupported(k.precision.Value, k.precision.LongName()); reason != "" {
			a.Unsupported[sdk.FixMixedPrecision] = reason
		}
	} else {
		a.Unsupported[sdk.FixMixedPrecision] = s.NoFlag("precision", "mixed_precision")
	}
	if k.strategy.Exists() {
		a.Knobs.Offload = sdk.Bool(offloadOn(k.strategy.Value))
		if _, reason := offloadStrategy(k.strategy.Value); reason != "" {
			a.Unsupported[sdk.FixCPUOffload] = reason
		}
	} else {
		a.Unsupported[sdk.FixCPUOffload] = s.NoFlag("strategy", "cpu_offload")
	}
	a.Unsupported[sdk.FixGradCheckpointing] = noCheckpointing
	a.Unsupported[sdk.FixOptimizer8bit] = noOptimizer8bit
	s.ProfileTemplates(&a)
	return a
}

func applyPlain(s *pyscript.Script, fix sdk.Fix) ([]string, string, error) {
	if reason, no := analyzePlain(s).Unsupported[fix.ID]; no {
		return nil, "", sdk.Unsupported(fix.ID, "%s", reason)
	}
	k := findPlain(s)
	args := append([]string(nil), s.Inv.Args...)
	switch fix.ID {
	case sdk.FixBatchSize:
		args, summary := pyscript.ApplyBatch(args, k.batch, k.accum, fix)
		return args, summary, nil
	case sdk.FixEvalBatchSize:
		return k.eval.SetInt(args, fix.BatchSize), pyscript.Change(k.eval.DisplayName(), k.eval.Value, fmt.Sprint(fix.BatchSize)), nil
	case sdk.FixMixedPrecision:
		value, note := plainPrecision(s, k.precision, fix.Precision)
		return k.precision.Set(args, value), pyscript.Change(k.precision.DisplayName(), k.precision.Value, value) + note, nil
	case sdk.FixCPUOffload:
		target, _ := offloadStrategy(k.strategy.Value)
		return k.strategy.Set(args, target), pyscript.Change(k.strategy.DisplayName(), k.strategy.Value, target) + " (" + needsDeepSpeed + ")", nil
	}
	return nil, "", sdk.Unsupported(fix.ID, "not supported for plain Lightning scripts")
}

// plainPrecision is the value to give a script's own --precision flag: a
// number when the flag is typed int (16: fp16 only), Lightning 2.x's
// names when the script already speaks them, else the short aliases both
// 1.x and 2.x take.
func plainPrecision(s *pyscript.Script, o pyscript.Option, dtype string) (string, string) {
	if dtype != "bf16" {
		dtype = "fp16"
	}
	if def, ok := s.Def(o.Names...); ok && def.Type == "int" {
		if dtype == "bf16" {
			return "16", " (fp16: the flag takes a number)"
		}
		return "16", ""
	}
	if strings.Contains(o.Value, "-") {
		return mixedValue(dtype, false), ""
	}
	return mixedValue(dtype, true), ""
}
