package pytorch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// customTorch reads its flags with a parser vramrun cannot see: only the
// profile's flags: mapping names them.
const customTorch = `import torch
from mytrainer import Config

cfg = Config.from_cli()
`

// twoBatchFlags defines a global batch and a micro-batch; the profile says
// which one is the micro-batch.
const twoBatchFlags = `import argparse
import torch
p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, default=512, help="global batch")
p.add_argument("--bsz", type=int, default=32, help="micro-batch per GPU")
`

// profileFlags is a profile's flags: mapping for a script with its own
// flag names.
func profileFlags() map[string]string {
	return map[string]string{"batch_size": "--bsz", "grad_accumulation": "--accum", "grad_checkpointing": "--ckpt",
		"mixed_precision": "--amp --amp-dtype {dtype}", "optimizer_8bit": "--optim adamw8bit",
		"fused_loss": "--fused-ce"}
}

func TestProfileFlagsAnalyze(t *testing.T) {
	tests := []struct {
		name   string
		cmd    sdk.Command
		knobs  sdk.Knobs
		cannot map[sdk.FixID]string
	}{
		{"the mapping names every knob", plugintab.Command("python train.py --bsz 32 --accum 2", plugintab.Files("train.py", customTorch), plugintab.Flags(profileFlags())),
			sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(2)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag", sdk.FixCPUOffload: "flags.cpu_offload",
				sdk.FixActivationOffload: "flags.activation_offload", sdk.FixEvalAccumulation: "flags.eval_accumulation"}},
		{"accumulation not typed is 1", plugintab.Command("python train.py --bsz 32", plugintab.Files("train.py", customTorch), plugintab.Flags(profileFlags())),
			sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(1)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag", sdk.FixCPUOffload: "flags.cpu_offload",
				sdk.FixActivationOffload: "flags.activation_offload", sdk.FixEvalAccumulation: "flags.eval_accumulation"}},
		{"templates already in the command are on", plugintab.Command("python train.py --bsz 32 --ckpt --amp --amp-dtype bf16 --optim adamw8bit", plugintab.Files("train.py", customTorch), plugintab.Flags(profileFlags())),
			sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(1), Precision: sdk.Str("bf16"), Optimizer: sdk.Str("adamw8bit")},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag", sdk.FixCPUOffload: "flags.cpu_offload",
				sdk.FixActivationOffload: "flags.activation_offload", sdk.FixEvalAccumulation: "flags.eval_accumulation",
				sdk.FixGradCheckpointing: "already on (--ckpt is in the command)", sdk.FixMixedPrecision: "already on (--amp is in the command)",
				sdk.FixOptimizer8bit: "already on (--optim is in the command)"}},
		{"without the mapping the script's global batch is found", plugintab.Command("python train.py", plugintab.Files("train.py", twoBatchFlags)),
			sdk.Knobs{BatchSize: sdk.Int(512)}, nil},
		{"the mapping overrides the flag the plugin finds", plugintab.Command("python train.py", plugintab.Files("train.py", twoBatchFlags), plugintab.Flags(map[string]string{"batch_size": "--bsz"})),
			sdk.Knobs{BatchSize: sdk.Int(32)}, nil},
		{"the mapping adds checkpointing torchvision lacks", plugintab.Command(visionCmd, visionFiles(), plugintab.Flags(map[string]string{"grad_checkpointing": "--ckpt"})),
			sdk.Knobs{BatchSize: sdk.Int(32), Precision: sdk.Str("fp32"), Optimizer: sdk.Str("sgd")},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag", sdk.FixCPUOffload: "flags.cpu_offload",
				sdk.FixActivationOffload: "flags.activation_offload", sdk.FixEvalAccumulation: "flags.eval_accumulation",
				sdk.FixOptimizer8bit: "flags.optimizer_8bit", sdk.FixFusedLoss: "flags.fused_loss"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := plugintab.Analyze(t, New(), tt.cmd)
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %s\nwant   %s", plugintab.KnobsText(a.Knobs), plugintab.KnobsText(tt.knobs))
			}
			if tt.cannot == nil {
				return
			}
			refused := plugintab.CheckFixes(t, New(), tt.cmd, plugintab.PlanFix, nil)
			var ids []sdk.FixID
			for id, want := range tt.cannot {
				ids = append(ids, id)
				if got := refused[id]; !strings.Contains(got, want) {
					t.Errorf("%s reason = %q, want one containing %q", id, got, want)
				}
			}
			checkRefused(t, refused, ids)
		})
	}
}

func TestProfileFlagsApply(t *testing.T) {
	custom := plugintab.Files("train.py", customTorch)
	tests := []struct {
		name    string
		cmd     sdk.Command
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"batch and accumulation through the mapped flags", plugintab.Command("python train.py --bsz 32 --accum 2", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4},
			"python train.py --bsz 16 --accum 4", "--bsz 32 -> 16, --accum 2 -> 4"},
		{"accumulation added", plugintab.Command("python train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			"python train.py --bsz 16 --accum 2", "--bsz 32 -> 16, --accum 1 -> 2"},
		{"batch flag added when not typed", plugintab.Command("python train.py", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8},
			"python train.py --bsz 8", "--bsz 8"},
		{"checkpointing appended", plugintab.Command("python train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixGradCheckpointing}, "python train.py --bsz 32 --ckpt", "--ckpt"},
		{"mixed precision: {dtype} becomes bf16", plugintab.Command("python train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "python train.py --bsz 32 --amp --amp-dtype bf16", "--amp --amp-dtype bf16"},
		{"mixed precision: {dtype} becomes fp16", plugintab.Command("python train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}, "python train.py --bsz 32 --amp --amp-dtype fp16", "--amp --amp-dtype fp16"},
		{"8-bit optimizer", plugintab.Command("python train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixOptimizer8bit}, "python train.py --bsz 32 --optim adamw8bit", "--optim adamw8bit"},
		{"the mapped micro-batch, not the script's global batch", plugintab.Command("python train.py --batch-size 512", plugintab.Files("train.py", twoBatchFlags), plugintab.Flags(map[string]string{"batch_size": "--bsz"})),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16}, "python train.py --batch-size 512 --bsz 16", "--bsz 32 -> 16"},
		{"the mapping's template wins over timm's own switches", plugintab.Command("python train.py --model resnet50", timmFiles(), plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "python train.py --model resnet50 --amp --amp-dtype bf16", "--amp --amp-dtype bf16"},
		{"under torchrun only the script's arguments change", plugintab.Command("torchrun --nproc_per_node 2 train.py --bsz 32", custom, plugintab.Flags(profileFlags())),
			sdk.Fix{ID: sdk.FixGradCheckpointing}, "torchrun --nproc_per_node 2 train.py --bsz 32 --ckpt", "--ckpt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintab.MustApply(t, New(), tt.cmd, tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want || got.Summary != tt.summary {
				t.Errorf("Apply =\n %q (%s)\nwant\n %q (%s)", plugintab.ArgvText(got.Argv), got.Summary, tt.want, tt.summary)
			}
		})
	}
}

func TestProfileFlagsAlreadyOn(t *testing.T) {
	custom := plugintab.Files("train.py", customTorch)
	tests := []struct {
		name string
		argv string
		fix  sdk.Fix
		want string
	}{
		{"checkpointing", "python train.py --ckpt", sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on (--ckpt is in the command)"},
		{"mixed precision", "python train.py --amp --amp-dtype fp16", sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already on (--amp is in the command)"},
		{"8-bit optimizer", "python train.py --optim adamw8bit", sdk.Fix{ID: sdk.FixOptimizer8bit}, "already on (--optim is in the command)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugintab.Apply(t, New(), plugintab.Command(tt.argv, custom, plugintab.Flags(profileFlags())), tt.fix)
			plugintab.WantUnsupported(t, err, tt.fix.ID, tt.want)
		})
	}
}
