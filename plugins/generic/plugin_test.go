package generic

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// profile is a flags: mapping that names every key a profile may use.
func profile() map[string]string {
	return map[string]string{"batch_size": "--bsz", "grad_accumulation": "--accum", "eval_batch_size": "--eval-bsz",
		"grad_checkpointing": "--ckpt", "mixed_precision": "--amp --amp-dtype {dtype}", "optimizer_8bit": "--optim adamw8bit",
		"cpu_offload": "--offload", "fused_loss": "--fused-ce", "activation_offload": "--offload-act",
		"eval_accumulation": "--eval-accum 1"}
}

// ownParser is a script whose parser defines the mapped batch flag with a
// default.
const ownParser = `import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--bsz", type=int, default=64)
`

// command builds a command with the given profile mapping; its files come
// only from the path, content pairs.
func command(argv string, flags map[string]string, files ...string) sdk.Command {
	return plugintab.Command(argv, plugintab.Files(files...), plugintab.Flags(flags))
}

func TestRecognize(t *testing.T) {
	tests := []struct {
		name       string
		cmd        sdk.Command
		confidence int
	}{
		{"a mapping claims any program", command("./train --bsz 32", map[string]string{"batch_size": "--bsz"}), 5},
		{"a shell script", command("bash run.sh --bsz 32", profile()), 5},
		{"a torch script too, at the lowest confidence", command("python train.py", profile(), "train.py", "import torch\n"), 5},
		{"no mapping", command("./train --bsz 32", nil), 0},
		{"an empty mapping", command("./train --bsz 32", map[string]string{}), 0},
		{"no program", command("python -c pass", profile()), 0},
		{"an empty command", command("", profile()), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(context.Background(), sdk.RecognizeRequest{Command: tt.cmd})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Confidence != tt.confidence || (tt.confidence > 0 && (rec.Framework != "generic" || rec.Reason != "the profile's flags: mapping")) {
				t.Errorf("Recognize = %+v, want confidence %d", rec, tt.confidence)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	notMapped := func(f sdk.FixID) string {
		return "not in the profile's flags: mapping (name the script's flag under flags." + string(f)
	}
	const noAllocator = "no framework recognised, so no allocator settings are known"
	tests := []struct {
		name     string
		cmd      sdk.Command
		launcher string
		world    int
		knobs    sdk.Knobs
		cannot   map[sdk.FixID]string
	}{
		{"every key mapped", command("./train --bsz 32 --accum 2", profile()), "", 1,
			sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(2)},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator}},
		{"only the batch mapped", command("./train --bsz 32 --accum 2", map[string]string{"batch_size": "--bsz"}), "", 1,
			sdk.Knobs{BatchSize: sdk.Int(32)},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator, sdk.FixEvalBatchSize: "no evaluation batch-size flag in ./train (name it under flags.eval_batch_size",
				sdk.FixMixedPrecision: notMapped(sdk.FixMixedPrecision), sdk.FixGradCheckpointing: notMapped(sdk.FixGradCheckpointing),
				sdk.FixOptimizer8bit: notMapped(sdk.FixOptimizer8bit), sdk.FixCPUOffload: notMapped(sdk.FixCPUOffload),
				sdk.FixFusedLoss: notMapped(sdk.FixFusedLoss), sdk.FixActivationOffload: notMapped(sdk.FixActivationOffload),
				sdk.FixEvalAccumulation: notMapped(sdk.FixEvalAccumulation)}},
		{"only a template mapped", command("./train --batch-size 32", map[string]string{"grad_checkpointing": "--ckpt"}), "", 1,
			sdk.Knobs{},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator, sdk.FixBatchSize: "no batch-size flag in ./train (name it under flags.batch_size",
				sdk.FixEvalBatchSize: "no evaluation batch-size flag", sdk.FixMixedPrecision: notMapped(sdk.FixMixedPrecision),
				sdk.FixOptimizer8bit: notMapped(sdk.FixOptimizer8bit), sdk.FixCPUOffload: notMapped(sdk.FixCPUOffload),
				sdk.FixFusedLoss: notMapped(sdk.FixFusedLoss), sdk.FixActivationOffload: notMapped(sdk.FixActivationOffload),
				sdk.FixEvalAccumulation: notMapped(sdk.FixEvalAccumulation)}},
		{"templates already in the command", command("./train --bsz 32 --ckpt --amp --optim adamw8bit --offload", profile()), "", 1,
			sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(1)},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator, sdk.FixGradCheckpointing: "already on (--ckpt is in the command)",
				sdk.FixMixedPrecision: "already on (--amp is in the command)", sdk.FixOptimizer8bit: "already on (--optim is in the command)",
				sdk.FixCPUOffload: "already on (--offload is in the command)"}},
		{"the mapped flag's default from the script's parser", command("python train.py", map[string]string{"batch_size": "--bsz", "eval_batch_size": "--eval-bsz"}, "train.py", ownParser),
			"python", 1, sdk.Knobs{BatchSize: sdk.Int(64)},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator, sdk.FixMixedPrecision: notMapped(sdk.FixMixedPrecision),
				sdk.FixGradCheckpointing: notMapped(sdk.FixGradCheckpointing), sdk.FixOptimizer8bit: notMapped(sdk.FixOptimizer8bit),
				sdk.FixCPUOffload: notMapped(sdk.FixCPUOffload),
				sdk.FixFusedLoss:  notMapped(sdk.FixFusedLoss), sdk.FixActivationOffload: notMapped(sdk.FixActivationOffload),
				sdk.FixEvalAccumulation: notMapped(sdk.FixEvalAccumulation)}},
		{"under torchrun", command("torchrun --nnodes 2 --nproc_per_node 4 train.py --bsz 8 --eval-bsz 16", profile()), "torchrun", 8,
			sdk.Knobs{BatchSize: sdk.Int(8), GradAccumulation: sdk.Int(1), EvalBatchSize: sdk.Int(16)},
			map[sdk.FixID]string{sdk.FixAllocator: noAllocator}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := plugintab.Analyze(t, New(), tt.cmd)
			if a.Framework != "generic" || a.Launcher != tt.launcher || a.WorldSize != tt.world {
				t.Errorf("Analyze = %q %q world %d, want generic %q %d", a.Framework, a.Launcher, a.WorldSize, tt.launcher, tt.world)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %+v, want %+v", a.Knobs, tt.knobs)
			}
			plugintab.WantRefusals(t, New(), tt.cmd, plugintab.PlanFix, tt.cannot)
		})
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		cmd     sdk.Command
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"batch and accumulation", command("./train --bsz 32 --accum 2", profile()), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4},
			"./train --bsz 16 --accum 4", "--bsz 32 -> 16, --accum 2 -> 4"},
		{"accumulation added", command("./train --bsz=32", profile()), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			"./train --bsz=16 --accum 2", "--bsz 32 -> 16, --accum 1 -> 2"},
		{"batch only when no accumulation is mapped", command("./train --bsz 32", map[string]string{"batch_size": "--bsz"}),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2}, "./train --bsz 16", "--bsz 32 -> 16"},
		{"batch at the script's default", command("python train.py", map[string]string{"batch_size": "--bsz"}, "train.py", ownParser),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32}, "python train.py --bsz 32", "--bsz 64 -> 32"},
		{"evaluation batch", command("./train --eval-bsz 64", profile()), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 32},
			"./train --eval-bsz 32", "--eval-bsz 64 -> 32"},
		{"checkpointing", command("./train --bsz 32", profile()), sdk.Fix{ID: sdk.FixGradCheckpointing}, "./train --bsz 32 --ckpt", "--ckpt"},
		{"mixed precision bf16", command("./train", profile()), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"./train --amp --amp-dtype bf16", "--amp --amp-dtype bf16"},
		{"mixed precision fp16", command("./train", profile()), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			"./train --amp --amp-dtype fp16", "--amp --amp-dtype fp16"},
		{"8-bit optimizer", command("./train", profile()), sdk.Fix{ID: sdk.FixOptimizer8bit}, "./train --optim adamw8bit", "--optim adamw8bit"},
		{"offload", command("./train", profile()), sdk.Fix{ID: sdk.FixCPUOffload}, "./train --offload", "--offload"},
		{"fused loss", command("./train", profile()), sdk.Fix{ID: sdk.FixFusedLoss}, "./train --fused-ce", "--fused-ce"},
		{"activation offload", command("./train", profile()), sdk.Fix{ID: sdk.FixActivationOffload}, "./train --offload-act", "--offload-act"},
		{"evaluation accumulation", command("./train --eval-accum 0", profile()), sdk.Fix{ID: sdk.FixEvalAccumulation},
			"./train --eval-accum 1", "--eval-accum 1"},
		{"flags go before a bare --", command("./train --bsz 32 -- data/", profile()), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			"./train --bsz 16 --accum 2 -- data/", "--bsz 32 -> 16, --accum 1 -> 2"},
		{"under torchrun only the script's arguments change", command("torchrun --nproc_per_node=4 train.py --bsz 8", profile()),
			sdk.Fix{ID: sdk.FixGradCheckpointing}, "torchrun --nproc_per_node=4 train.py --bsz 8 --ckpt", "--ckpt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintab.WantApplied(t, New(), tt.cmd, tt.fix, tt.want, nil, tt.summary)
		})
	}
}

func TestApplyUnsupported(t *testing.T) {
	batchOnly := map[string]string{"batch_size": "--bsz"}
	tests := []struct {
		name string
		cmd  sdk.Command
		fix  sdk.Fix
		want string
	}{
		{"no allocator without a framework", command("./train", profile()), sdk.Fix{ID: sdk.FixAllocator}, "no framework recognised"},
		{"checkpointing not mapped", command("./train", batchOnly), sdk.Fix{ID: sdk.FixGradCheckpointing}, "flags.grad_checkpointing"},
		{"precision not mapped", command("./train", batchOnly), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "flags.mixed_precision"},
		{"evaluation batch not mapped", command("./train", batchOnly), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8}, "flags.eval_batch_size"},
		{"batch not mapped", command("./train --batch-size 8", map[string]string{"cpu_offload": "--offload"}), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4}, "flags.batch_size"},
		{"checkpointing already on", command("./train --ckpt", profile()), sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on (--ckpt is in the command)"},
		{"precision already on", command("./train --amp", profile()), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already on (--amp is in the command)"},
		{"offload already on", command("./train --offload", profile()), sdk.Fix{ID: sdk.FixCPUOffload}, "already on (--offload is in the command)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintab.WantRefused(t, New(), tt.cmd, tt.fix, tt.want)
		})
	}
}

func TestAnalyzeNeedsAProgram(t *testing.T) {
	_, err := New().Analyze(context.Background(), sdk.AnalyzeRequest{Command: command("python -c pass", profile())})
	if err == nil || !strings.Contains(err.Error(), "python -c pass") {
		t.Errorf("Analyze error = %v, want one naming the command", err)
	}
}

// TestApplyAgreesWithAnalyze: every fix either applies, keeping the argv
// up to the script as typed, or is turned down with the reason the
// plugin's analysis holds for it.
func TestApplyAgreesWithAnalyze(t *testing.T) {
	cmds := map[string]sdk.Command{
		"every key":      command("./train --bsz 32", profile()),
		"every key, on":  command("./train --bsz 32 --ckpt --amp --optim adamw8bit --offload", profile()),
		"batch only":     command("./train --bsz 32", map[string]string{"batch_size": "--bsz"}),
		"template only":  command("bash run.sh", map[string]string{"grad_checkpointing": "--ckpt"}),
		"torchrun":       command("torchrun --nproc_per_node=4 train.py --bsz 8", profile()),
		"script default": command("python train.py", map[string]string{"batch_size": "--bsz"}, "train.py", ownParser),
	}
	for name, cmd := range cmds {
		t.Run(name, func(t *testing.T) {
			a, err := simple.Analyze(cmd)
			if err != nil {
				t.Fatal(err)
			}
			plugintab.CheckFixes(t, New(), cmd, plugintab.SameSizes(sdk.Fix{BatchSize: 8, GradAccumulation: 2, Precision: "bf16"}), a.Unsupported)
		})
	}
}
