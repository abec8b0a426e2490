package pytorch

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Flag spellings of common PyTorch scripts (timm's train.py, torchvision's
// references, and the usual argparse names), each group one flag.
var (
	batchFlags = [][]string{{"-b", "--batch-size", "--batch_size"}, {"--train-batch-size", "--train_batch_size"},
		{"--micro-batch-size", "--micro_batch_size"}}
	accumFlags = [][]string{{"--grad-accum-steps", "--grad_accum_steps"},
		{"--gradient-accumulation-steps", "--gradient_accumulation_steps"},
		{"--accum-steps", "--accum_steps"}, {"--accumulation-steps", "--accumulation_steps"}}
	evalFlags = [][]string{{"-vb", "--validation-batch-size", "--validation_batch_size"},
		{"--val-batch-size", "--val_batch_size"}, {"--eval-batch-size", "--eval_batch_size"},
		{"--test-batch-size", "--test_batch_size"}}
	ampFlags      = [][]string{{"--amp"}}
	ampDtypeFlags = [][]string{{"--amp-dtype", "--amp_dtype"}}
	bf16Flags     = [][]string{{"--bf16"}}
	fp16Flags     = [][]string{{"--fp16"}}
	ckptFlags     = [][]string{{"--grad-checkpointing", "--grad_checkpointing"},
		{"--gradient-checkpointing", "--gradient_checkpointing"},
		{"--activation-checkpointing", "--activation_checkpointing"}}
	optFlags = [][]string{{"--opt", "--optimizer"}, {"--optim"}}
)

// argparseKnobs are the options of one argparse script.
type argparseKnobs struct {
	batch, accum, eval        pyscript.Option
	amp, ampDtype, bf16, fp16 pyscript.Option
	ckpt, opt                 pyscript.Option
}

func findArgparse(s *pyscript.Script) argparseKnobs {
	return argparseKnobs{
		batch:    s.Knob("batch_size", batchFlags...),
		accum:    s.Knob("grad_accumulation", accumFlags...),
		eval:     s.Knob("eval_batch_size", evalFlags...),
		amp:      s.Find(ampFlags...),
		ampDtype: s.Find(ampDtypeFlags...),
		bf16:     s.Find(bf16Flags...),
		fp16:     s.Find(fp16Flags...),
		ckpt:     s.Find(ckptFlags...),
		opt:      s.Find(optFlags...),
	}
}

func isOn(o pyscript.Option) bool {
	if !o.Known {
		return false
	}
	b, err := cmdline.ParseBool(o.Value)
	return err == nil && b
}

// precision is what the script computes in now: fp32 unless a precision
// switch is on.
func (k argparseKnobs) precision() (string, bool) {
	switch {
	case isOn(k.bf16):
		return "bf16", true
	case isOn(k.fp16):
		return "fp16", true
	case isOn(k.amp):
		if strings.Contains(k.ampDtype.Value, "bf") {
			return "bf16", true
		}
		return "fp16", true
	case k.amp.Exists() || k.bf16.Exists() || k.fp16.Exists():
		return "fp32", true
	}
	return "", false
}

func analyzeArgparse(s *pyscript.Script) pyscript.Analysis {
	a := baseAnalysis(s)
	k := findArgparse(s)
	a.Knobs.BatchSize = k.batch.IntPtr()
	if k.accum.Exists() {
		a.Knobs.GradAccumulation = k.accum.IntPtr()
		if a.Knobs.GradAccumulation == nil {
			a.Knobs.GradAccumulation = sdk.Int(1)
		}
	}
	a.Knobs.EvalBatchSize = k.eval.IntPtr()
	if a.Knobs.EvalBatchSize == nil && k.eval.Exists() {
		// timm and most scripts evaluate at the training batch when the
		// evaluation batch is left unset.
		a.Knobs.EvalBatchSize = a.Knobs.BatchSize
	}
	if p, ok := k.precision(); ok {
		a.Knobs.Precision = sdk.Str(p)
	}
	if k.ckpt.Exists() {
		a.Knobs.GradCheckpointing = sdk.Bool(isOn(k.ckpt))
	}
	if k.opt.Known {
		a.Knobs.Optimizer = sdk.Str(k.opt.Value)
	}

	if !k.batch.Exists() {
		a.Unsupported[sdk.FixBatchSize] = noFlag(s, "batch-size", "batch_size")
	}
	if !k.eval.Exists() {
		a.Unsupported[sdk.FixEvalBatchSize] = noFlag(s, "evaluation batch-size", "eval_batch_size")
	}
	switch p := a.Knobs.Precision; {
	case p == nil:
		a.Unsupported[sdk.FixMixedPrecision] = noFlag(s, "mixed-precision", "mixed_precision")
	case *p != "fp32":
		a.Unsupported[sdk.FixMixedPrecision] = "already in " + *p
	}
	switch {
	case !k.ckpt.Exists():
		a.Unsupported[sdk.FixGradCheckpointing] = noFlag(s, "gradient-checkpointing", "grad_checkpointing")
	case isOn(k.ckpt):
		a.Unsupported[sdk.FixGradCheckpointing] = "already on"
	}
	a.Unsupported[sdk.FixOptimizer8bit] = "no 8-bit optimizer option known for a plain PyTorch script (name it under flags.optimizer_8bit in vramrun.yaml)"
	a.Unsupported[sdk.FixCPUOffload] = "CPU offload needs DeepSpeed or FSDP settings vramrun cannot add to a plain PyTorch script (name it under flags.cpu_offload in vramrun.yaml)"
	a.Lacks(func(id sdk.FixID) string {
		return fmt.Sprintf("no %s option known for a plain PyTorch script (name it under flags.%s in vramrun.yaml)", pyscript.FixWords(id), id)
	}, pyscript.ModelFixes()...)
	a.Checkpoints = argparseCheckpoints(s)
	s.ProfileTemplates(&a)
	return a
}

func applyArgparse(s *pyscript.Script, fix sdk.Fix) ([]string, string, error) {
	k := findArgparse(s)
	args := append([]string(nil), s.Inv.Args...)
	switch fix.ID {
	case sdk.FixBatchSize:
		if !k.batch.Exists() {
			return nil, "", sdk.Unsupported(fix.ID, "%s", noFlag(s, "batch-size", "batch_size"))
		}
		args, summary := pyscript.ApplyBatch(args, k.batch, k.accum, fix)
		return args, summary, nil
	case sdk.FixEvalBatchSize:
		if !k.eval.Exists() {
			return nil, "", sdk.Unsupported(fix.ID, "%s", noFlag(s, "evaluation batch-size", "eval_batch_size"))
		}
		from := k.eval.Value
		return k.eval.SetInt(args, fix.BatchSize), pyscript.Change(k.eval.DisplayName(), from, fmt.Sprint(fix.BatchSize)), nil
	case sdk.FixMixedPrecision:
		return applyPrecision(s, k, args, fix)
	case sdk.FixGradCheckpointing:
		if !k.ckpt.Exists() {
			return nil, "", sdk.Unsupported(fix.ID, "%s", noFlag(s, "gradient-checkpointing", "grad_checkpointing"))
		}
		return k.ckpt.TurnOn(args), k.ckpt.LongName(), nil
	case sdk.FixTrial:
		return nil, "", sdk.Unsupported(fix.ID, "vramrun does not know where %s writes its checkpoints and logs: point them at a scratch folder and pass --trust-trials", scriptName(s))
	}
	a := analyzeArgparse(s)
	if reason, no := a.Unsupported[fix.ID]; no {
		return nil, "", sdk.Unsupported(fix.ID, "%s", reason)
	}
	return nil, "", sdk.Unsupported(fix.ID, "not supported for plain PyTorch scripts")
}

// applyPrecision turns on mixed precision with the switches the script has:
// timm's --amp --amp-dtype, torchvision's --amp (fp16 autocast), or
// --bf16/--fp16 (never both).
func applyPrecision(s *pyscript.Script, k argparseKnobs, args []string, fix sdk.Fix) ([]string, string, error) {
	want := fix.Precision
	if want == "" {
		want = "fp16"
	}
	switch {
	case k.amp.Exists():
		args = k.amp.TurnOn(args)
		if k.ampDtype.Exists() {
			dtype := map[string]string{"bf16": "bfloat16", "fp16": "float16"}[want]
			args = k.ampDtype.Set(args, dtype)
			return args, k.amp.LongName() + " " + k.ampDtype.LongName() + " " + dtype, nil
		}
		if want == "bf16" {
			return args, k.amp.LongName() + " (fp16 autocast: the script has no dtype option)", nil
		}
		return args, k.amp.LongName(), nil
	case want == "bf16" && k.bf16.Exists(), want == "fp16" && k.fp16.Exists():
		on, off := k.bf16, k.fp16
		if want == "fp16" {
			on, off = k.fp16, k.bf16
		}
		args = cmdline.RemoveFlag(args, off.Names...)
		return on.TurnOn(args), on.LongName(), nil
	case k.bf16.Exists() || k.fp16.Exists():
		on := k.bf16
		if !on.Exists() {
			on = k.fp16
		}
		return on.TurnOn(args), on.LongName() + " (the script has no " + want + " switch)", nil
	}
	return nil, "", sdk.Unsupported(fix.ID, "%s", noFlag(s, "mixed-precision", "mixed_precision"))
}
