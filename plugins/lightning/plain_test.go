package lightning

import (
	"errors"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// trainPy is a plain Lightning 2.x script: its own argparse flags, passed
// to the Trainer and the DataModule.
const trainPy = `import argparse
import lightning as L

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=64)
parser.add_argument("--accumulate_grad_batches", type=int, default=1)
parser.add_argument("--precision", type=str, default="32-true")
parser.add_argument("--val_batch_size", type=int, default=128)
args = parser.parse_args()
trainer = L.Trainer(precision=args.precision, accumulate_grad_batches=args.accumulate_grad_batches)
`

// legacyPy is a Lightning 1.x script whose Trainer flags come from
// Trainer.add_argparse_args.
const legacyPy = `from argparse import ArgumentParser
import pytorch_lightning as pl

parser = ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
parser = pl.Trainer.add_argparse_args(parser)
args = parser.parse_args()
trainer = pl.Trainer.from_argparse_args(args)
`

// intPrecisionPy types its precision flag as a number.
const intPrecisionPy = `import argparse
import pytorch_lightning as pl
p = argparse.ArgumentParser()
p.add_argument("-b", type=int, default=16)
p.add_argument("--precision", type=int, default=32)
`

func TestPlainScript(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		script  string
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"batch and accumulation", "python train.py --batch_size=64", trainPy,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4},
			"python train.py --batch_size=16 --accumulate_grad_batches 4", "--batch_size 64 -> 16, --accumulate_grad_batches 1 -> 4"},
		{"2.x precision names", "python train.py", trainPy, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --precision bf16-mixed", "--precision 32-true -> bf16-mixed"},
		{"eval batch", "python train.py --val_batch_size 256", trainPy, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 64},
			"python train.py --val_batch_size 64", "--val_batch_size 256 -> 64"},
		{"1.x Trainer flags", "python train.py --batch-size 32 --gpus 1", legacyPy,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4},
			"python train.py --batch-size 8 --gpus 1 --accumulate_grad_batches 4", "--batch-size 32 -> 8, --accumulate_grad_batches 1 -> 4"},
		{"1.x precision alias", "python train.py", legacyPy, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --precision bf16", "--precision 32 -> bf16"},
		{"1.x offload", "python train.py --strategy ddp", legacyPy, sdk.Fix{ID: sdk.FixCPUOffload},
			"python train.py --strategy deepspeed_stage_2_offload", "--strategy ddp -> deepspeed_stage_2_offload (needs DeepSpeed installed)"},
		{"numeric precision flag", "python train.py", intPrecisionPy, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --precision 16", "--precision 32 -> 16 (fp16: the flag takes a number)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(t, command(tt.argv, map[string]string{"train.py": tt.script}), tt.fix)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got.Argv, " "); s != tt.want || got.Summary != tt.summary {
				t.Errorf("got %q (%s), want %q (%s)", s, got.Summary, tt.want, tt.summary)
			}
		})
	}
}

func TestAnalyzePlain(t *testing.T) {
	cmd := command("python train.py --batch_size 48 --precision 16-mixed", map[string]string{"train.py": trainPy})
	a := plugintab.Analyze(t, New(), cmd)
	if intp(a.Knobs.BatchSize) != 48 || intp(a.Knobs.GradAccumulation) != 1 || intp(a.Knobs.EvalBatchSize) != 128 || strp(a.Knobs.Precision) != "fp16" {
		t.Errorf("knobs batch %v accum %v eval %v precision %v", intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation),
			intp(a.Knobs.EvalBatchSize), strp(a.Knobs.Precision))
	}
	refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
	if !strings.HasPrefix(refused[sdk.FixMixedPrecision], "already in fp16") {
		t.Errorf("mixed_precision: %q", refused[sdk.FixMixedPrecision])
	}
	if _, no := refused[sdk.FixCPUOffload]; !no || a.ConfigFiles != nil {
		t.Errorf("cpu_offload supported without a --strategy flag, or config files %v", a.ConfigFiles)
	}

	cmd = command("python train.py", map[string]string{"train.py": legacyPy})
	a = plugintab.Analyze(t, New(), cmd)
	if intp(a.Knobs.BatchSize) != 32 || intp(a.Knobs.GradAccumulation) != 1 || strp(a.Knobs.Precision) != "fp32" {
		t.Errorf("1.x knobs batch %v accum %v precision %v", intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation), strp(a.Knobs.Precision))
	}
	refused = plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
	for _, f := range []sdk.FixID{sdk.FixBatchSize, sdk.FixMixedPrecision, sdk.FixCPUOffload} {
		if reason, no := refused[f]; no {
			t.Errorf("1.x script: %s turned down: %s", f, reason)
		}
	}
	if _, no := refused[sdk.FixEvalBatchSize]; !no {
		t.Error("1.x script: eval_batch_size supported without a flag")
	}

	cmd = command("python train.py", map[string]string{"train.py": "import lightning\n"})
	refused = plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
	for _, f := range []sdk.FixID{sdk.FixBatchSize, sdk.FixMixedPrecision, sdk.FixEvalBatchSize, sdk.FixCPUOffload} {
		if !strings.Contains(refused[f], "vramrun.yaml") {
			t.Errorf("%s: %q, want a hint to name a flag", f, refused[f])
		}
		_, err := apply(t, cmd, sdk.Fix{ID: f, BatchSize: 4})
		var unsup *sdk.UnsupportedError
		if !errors.As(err, &unsup) {
			t.Errorf("%s: Apply gave %v, want unsupported", f, err)
		}
	}
}
