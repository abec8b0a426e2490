package pytorch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Command lines from the projects' documentation.
const (
	timmCmd        = "python train.py --data-dir /imagenet --model resnet50 -b 128 --grad-accum-steps 2 --amp --amp-dtype bfloat16"
	timmShellCmd   = "./distributed_train.sh 8 --data-dir /data --model resnet50 -b 64"
	timmTorchrun   = "torchrun --nproc_per_node=8 train.py --data-dir /data --model resnet50 -b 64 --amp"
	visionCmd      = "python train.py --model resnet50"
	visionTorchrun = "torchrun --nproc_per_node=8 train.py --model resnet50 --batch-size 32 --amp"
)

func timmFiles() map[string]string { return plugintab.Files("train.py", timmTrain) }

func shellFiles() map[string]string {
	return plugintab.Files("./distributed_train.sh", timmDistributed, "train.py", timmTrain)
}

func visionFiles() map[string]string { return plugintab.Files("train.py", torchvisionTrain) }

func TestRecognize(t *testing.T) {
	tests := []struct {
		name       string
		argv       string
		files      map[string]string
		confidence int
		reason     string
	}{
		{"timm imports torch", timmCmd, timmFiles(), 60, "the script imports torch"},
		{"torchvision reference under torchrun", visionTorchrun, visionFiles(), 70, "the script imports torch, started by torchrun"},
		{"nanoGPT's configurator without a torch import", "python train.py config/train_gpt2.py",
			plugintab.Files("train.py", nanoTrainNoTorch(), "config/train_gpt2.py", gpt2Config), 60, "nanoGPT's configurator"},
		{"nanoGPT under torchrun", "torchrun --standalone --nproc_per_node=4 train.py config/train_gpt2.py",
			plugintab.Files("train.py", nanoTrainNoTorch(), "config/train_gpt2.py", gpt2Config), 70, "nanoGPT's configurator, started by torchrun"},
		{"torchrun and a script importing nothing known", "torchrun --nproc_per_node=2 train.py --batch-size 8",
			plugintab.Files("train.py", plainNoImports), 40, "started by torchrun"},
		{"torchrun and a script that cannot be read", "torchrun --nproc_per_node=2 missing.py", nil, 40, "started by torchrun"},
		{"a script importing nothing known", "python train.py --batch-size 8", plugintab.Files("train.py", plainNoImports), 0, ""},
		{"a tensorflow script", "python train.py", plugintab.Files("train.py", "import tensorflow as tf\n"), 0, ""},
		{"no script at all", "python -c print(1)", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := plugintab.Recognize(t, New(), plugintab.Command(tt.argv, tt.files))
			if rec.Confidence != tt.confidence || rec.Reason != tt.reason || (rec.Confidence > 0 && rec.Framework != "pytorch") {
				t.Errorf("Recognize(%q) = %+v, want confidence %d framework pytorch reason %q", tt.argv, rec, tt.confidence, tt.reason)
			}
		})
	}
}

func TestAnalyzeArgparse(t *testing.T) {
	// noEightBit: no plain script has these options.
	noEightBit := append([]sdk.FixID{sdk.FixOptimizer8bit, sdk.FixCPUOffload}, pyscript.ModelFixes()...)
	tests := []struct {
		name      string
		argv      string
		files     map[string]string
		launcher  string
		script    string
		world     int
		knobs     sdk.Knobs
		cannot    []sdk.FixID
		precision string // the mixed_precision reason, when it is "already in ..."
	}{
		{name: "timm with bf16 autocast", argv: timmCmd, files: timmFiles(), launcher: "python", script: "train.py", world: 1,
			knobs: sdk.Knobs{BatchSize: sdk.Int(128), GradAccumulation: sdk.Int(2), EvalBatchSize: sdk.Int(128),
				Precision: sdk.Str("bf16"), GradCheckpointing: sdk.Bool(false), Optimizer: sdk.Str("sgd")},
			cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, noEightBit...), precision: "already in bf16"},
		{name: "timm's distributed_train.sh: only the typed flags are known", argv: timmShellCmd, files: shellFiles(),
			launcher: "", script: "./distributed_train.sh", world: 1, knobs: sdk.Knobs{BatchSize: sdk.Int(64)},
			cannot: append([]sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixEvalBatchSize}, noEightBit...)},
		{name: "timm under torchrun: fp16 autocast by default", argv: timmTorchrun, files: timmFiles(), launcher: "torchrun", script: "train.py", world: 8,
			knobs: sdk.Knobs{BatchSize: sdk.Int(64), GradAccumulation: sdk.Int(1), EvalBatchSize: sdk.Int(64),
				Precision: sdk.Str("fp16"), GradCheckpointing: sdk.Bool(false), Optimizer: sdk.Str("sgd")},
			cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, noEightBit...), precision: "already in fp16"},
		{name: "timm defaults when nothing is typed", argv: "python train.py /imagenet", files: timmFiles(), launcher: "python", script: "train.py", world: 1,
			knobs: sdk.Knobs{BatchSize: sdk.Int(128), GradAccumulation: sdk.Int(1), EvalBatchSize: sdk.Int(128),
				Precision: sdk.Str("fp32"), GradCheckpointing: sdk.Bool(false), Optimizer: sdk.Str("sgd")},
			cannot: noEightBit},
		{name: "timm with checkpointing on and an explicit eval batch", argv: "python train.py --grad-checkpointing -vb 256 --opt adamw", files: timmFiles(),
			launcher: "python", script: "train.py", world: 1,
			knobs: sdk.Knobs{BatchSize: sdk.Int(128), GradAccumulation: sdk.Int(1), EvalBatchSize: sdk.Int(256),
				Precision: sdk.Str("fp32"), GradCheckpointing: sdk.Bool(true), Optimizer: sdk.Str("adamw")},
			cannot: append([]sdk.FixID{sdk.FixGradCheckpointing}, noEightBit...)},
		{name: "torchvision reference", argv: visionCmd, files: visionFiles(), launcher: "python", script: "train.py", world: 1,
			knobs:  sdk.Knobs{BatchSize: sdk.Int(32), Precision: sdk.Str("fp32"), Optimizer: sdk.Str("sgd")},
			cannot: append([]sdk.FixID{sdk.FixGradCheckpointing, sdk.FixEvalBatchSize}, noEightBit...)},
		{name: "torchvision reference under torchrun with --amp", argv: visionTorchrun, files: visionFiles(), launcher: "torchrun", script: "train.py", world: 8,
			knobs:  sdk.Knobs{BatchSize: sdk.Int(32), Precision: sdk.Str("fp16"), Optimizer: sdk.Str("sgd")},
			cannot: append([]sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixEvalBatchSize}, noEightBit...), precision: "already in fp16"},
		{name: "python -m torch.distributed.run counts as torchrun", argv: "python -m torch.distributed.run --nnodes 2 --nproc-per-node 4 train.py -b 16",
			files: visionFiles(), launcher: "torchrun", script: "train.py", world: 8,
			knobs:  sdk.Knobs{BatchSize: sdk.Int(16), Precision: sdk.Str("fp32"), Optimizer: sdk.Str("sgd")},
			cannot: append([]sdk.FixID{sdk.FixGradCheckpointing, sdk.FixEvalBatchSize}, noEightBit...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := plugintab.Command(tt.argv, tt.files)
			a := plugintab.Analyze(t, New(), cmd)
			if a.Framework != "pytorch" || a.Launcher != tt.launcher || a.Script != tt.script || a.WorldSize != tt.world {
				t.Errorf("Analyze = framework %q launcher %q script %q world %d, want pytorch %q %q %d",
					a.Framework, a.Launcher, a.Script, a.WorldSize, tt.launcher, tt.script, tt.world)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %s\nwant   %s", plugintab.KnobsText(a.Knobs), plugintab.KnobsText(tt.knobs))
			}
			refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
			checkRefused(t, refused, tt.cannot)
			if tt.precision != "" && refused[sdk.FixMixedPrecision] != tt.precision {
				t.Errorf("mixed_precision reason = %q, want %q", refused[sdk.FixMixedPrecision], tt.precision)
			}
		})
	}
}

// checkRefused checks that Apply turned down exactly the fixes cannot,
// each with a reason: refused is what plugintab.CheckFixes found.
func checkRefused(t *testing.T, refused map[sdk.FixID]string, cannot []sdk.FixID) {
	t.Helper()
	want := map[sdk.FixID]bool{}
	for _, f := range cannot {
		want[f] = true
	}
	for _, f := range sdk.AllFixes() {
		reason, listed := refused[f]
		switch {
		case want[f] && !listed:
			t.Errorf("%s applies, want it turned down", f)
		case !want[f] && listed:
			t.Errorf("%s is turned down (%s), want it applied", f, reason)
		case listed && strings.TrimSpace(reason) == "":
			t.Errorf("%s is unsupported without a reason", f)
		}
	}
}

// TestBatchFlagForms reads the batch the way argparse would from each way
// of typing it, and writes the new one in the same place and form.
func TestBatchFlagForms(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		batch   int
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"equals form", "python train.py --batch-size=64", 64, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2},
			"python train.py --batch-size=32 --grad-accum-steps 2", "--batch-size 64 -> 32, --grad-accum-steps 1 -> 2"},
		{"short attached", "python train.py -b64 --model vit_base_patch16_224", 64, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16},
			"python train.py -b16 --model vit_base_patch16_224", "-b 64 -> 16"},
		{"absent: the script's default", "python train.py --model resnet50", 128, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 2},
			"python train.py --model resnet50 --batch-size 64 --grad-accum-steps 2", "--batch-size 128 -> 64, --grad-accum-steps 1 -> 2"},
		{"typed twice: the last wins and is the one changed", "python train.py -b 64 --model resnet50 --batch-size 96", 96,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 48, GradAccumulation: 2},
			"python train.py -b 64 --model resnet50 --batch-size 48 --grad-accum-steps 2", "--batch-size 96 -> 48, --grad-accum-steps 1 -> 2"},
		{"short typed twice", "python train.py -b 64 -b 32", 32, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16},
			"python train.py -b 64 -b 16", "-b 32 -> 16"},
		{"accumulation in the equals form", "python train.py -b 128 --grad-accum-steps=3", 128, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 6},
			"python train.py -b 64 --grad-accum-steps=6", "-b 128 -> 64, --grad-accum-steps 3 -> 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := plugintab.Command(tt.argv, timmFiles())
			if got := plugintab.Analyze(t, New(), cmd).Knobs.BatchSize; got == nil || *got != tt.batch {
				t.Errorf("batch knob = %v, want %d", got, tt.batch)
			}
			got := plugintab.MustApply(t, New(), cmd, tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want || got.Summary != tt.summary {
				t.Errorf("Apply =\n %q (%s)\nwant\n %q (%s)", plugintab.ArgvText(got.Argv), got.Summary, tt.want, tt.summary)
			}
			if got.Env != nil || got.Copies != nil {
				t.Errorf("a batch fix set env %v and copies %v", got.Env, got.Copies)
			}
		})
	}
}

// switchesPy has --bf16/--fp16 switches and a str2bool checkpointing flag.
const switchesPy = `import argparse
import torch
p = argparse.ArgumentParser()
p.add_argument("--batch_size", type=int, default=16)
p.add_argument("--bf16", action="store_true")
p.add_argument("--fp16", action="store_true")
p.add_argument("--gradient_checkpointing", type=str2bool, default=False)
p.add_argument("--eval_batch_size", type=int, default=64)
`

// fp16OnlyPy has an --fp16 switch and nothing for bf16.
const fp16OnlyPy = `import argparse
import torch
p = argparse.ArgumentParser()
p.add_argument("--fp16", action="store_true")
`

func TestApplyArgparse(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		files   map[string]string
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"timm batch and accumulation", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 4},
			"python train.py --data-dir /imagenet --model resnet50 -b 64 --grad-accum-steps 4 --amp --amp-dtype bfloat16",
			"-b 128 -> 64, --grad-accum-steps 2 -> 4"},
		{"timm gradient checkpointing", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixGradCheckpointing},
			timmCmd + " --grad-checkpointing", "--grad-checkpointing"},
		{"timm evaluation batch added", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 64},
			timmCmd + " --validation-batch-size 64", "--validation-batch-size 64"},
		{"timm evaluation batch edited in its short form", "python train.py -vb 256", timmFiles(), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 128},
			"python train.py -vb 128", "-vb 256 -> 128"},
		{"timm bf16 autocast", "python train.py --model resnet50", timmFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --model resnet50 --amp --amp-dtype bfloat16", "--amp --amp-dtype bfloat16"},
		{"timm fp16 autocast", "python train.py --model resnet50", timmFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			"python train.py --model resnet50 --amp --amp-dtype float16", "--amp --amp-dtype float16"},
		{"timm: a typed --amp-dtype is edited, not added", "python train.py --amp-dtype float16", timmFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --amp-dtype bfloat16 --amp", "--amp --amp-dtype bfloat16"},
		{"timm's shell launcher: the script's arguments only, no accumulation known", timmShellCmd, shellFiles(),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32},
			"./distributed_train.sh 8 --data-dir /data --model resnet50 -b 32", "-b 64 -> 32"},
		{"timm under torchrun", timmTorchrun, timmFiles(), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2},
			"torchrun --nproc_per_node=8 train.py --data-dir /data --model resnet50 -b 32 --amp --grad-accum-steps 2",
			"-b 64 -> 32, --grad-accum-steps 1 -> 2"},
		{"torchvision bf16 becomes fp16 autocast", visionCmd, visionFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			visionCmd + " --amp", "--amp (fp16 autocast: the script has no dtype option)"},
		{"torchvision fp16", visionCmd, visionFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			visionCmd + " --amp", "--amp"},
		{"torchvision under torchrun: the batch per GPU, no accumulation", visionTorchrun, visionFiles(), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16},
			"torchrun --nproc_per_node=8 train.py --model resnet50 --batch-size 16 --amp", "--batch-size 32 -> 16"},
		{"--bf16 switch added", "python train.py --batch_size 8", plugintab.Files("train.py", switchesPy), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --batch_size 8 --bf16", "--bf16"},
		{"--fp16 switch added", "python train.py", plugintab.Files("train.py", switchesPy), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			"python train.py --fp16", "--fp16"},
		{"only --fp16 exists", "python train.py", plugintab.Files("train.py", fp16OnlyPy), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --fp16", "--fp16 (the script has no bf16 switch)"},
		{"a str2bool flag typed false becomes true", "python train.py --gradient_checkpointing false --batch_size 8", plugintab.Files("train.py", switchesPy),
			sdk.Fix{ID: sdk.FixGradCheckpointing}, "python train.py --gradient_checkpointing true --batch_size 8", "--gradient_checkpointing"},
		{"underscore evaluation flag edited at its default", "python train.py", plugintab.Files("train.py", switchesPy), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 32},
			"python train.py --eval_batch_size 32", "--eval_batch_size 64 -> 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintab.MustApply(t, New(), plugintab.Command(tt.argv, tt.files), tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want || got.Summary != tt.summary {
				t.Errorf("Apply =\n %q (%s)\nwant\n %q (%s)", plugintab.ArgvText(got.Argv), got.Summary, tt.want, tt.summary)
			}
			if got.Env != nil || got.Copies != nil {
				t.Errorf("fix %s set env %v and copies %v", tt.fix.ID, got.Env, got.Copies)
			}
		})
	}
}

func TestApplyArgparseUnsupported(t *testing.T) {
	tests := []struct {
		name  string
		argv  string
		files map[string]string
		fix   sdk.Fix
		want  string
	}{
		{"timm already in bf16", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16"},
		{"timm checkpointing already on", "python train.py --grad-checkpointing", timmFiles(), sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on"},
		{"no 8-bit optimizer flag known", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixOptimizer8bit}, "flags.optimizer_8bit"},
		{"no CPU offload for a plain script", timmCmd, timmFiles(), sdk.Fix{ID: sdk.FixCPUOffload}, "flags.cpu_offload"},
		{"torchvision has no checkpointing flag", visionCmd, visionFiles(), sdk.Fix{ID: sdk.FixGradCheckpointing},
			"no gradient-checkpointing flag in train.py (name it under flags.grad_checkpointing in vramrun.yaml)"},
		{"torchvision has no evaluation batch flag", visionCmd, visionFiles(), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8},
			"no evaluation batch-size flag in train.py"},
		{"torchvision already in fp16", visionTorchrun, visionFiles(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in fp16"},
		{"a script with no batch flag", "python train.py", plugintab.Files("train.py", fp16OnlyPy), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8},
			"no batch-size flag in train.py (name it under flags.batch_size in vramrun.yaml)"},
		{"a script with no precision switch", "python train.py", plugintab.Files("train.py", plainNoImports), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"no mixed-precision flag in train.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plugintab.Apply(t, New(), plugintab.Command(tt.argv, tt.files), tt.fix)
			if err == nil {
				t.Fatalf("Apply = %q (%s), want unsupported", got.Argv, got.Summary)
			}
			plugintab.WantUnsupported(t, err, tt.fix.ID, tt.want)
		})
	}
}

func TestAnalyzeNeedsAScript(t *testing.T) {
	if _, err := New().Analyze(t.Context(), sdk.AnalyzeRequest{Command: plugintab.Command("python -c pass", nil)}); err == nil || !strings.Contains(err.Error(), "python -c pass") {
		t.Errorf("Analyze(python -c pass) error = %v, want one naming the command", err)
	}
	if _, err := New().Apply(t.Context(), sdk.ApplyRequest{Command: plugintab.Command("python", nil), Fix: sdk.Fix{ID: sdk.FixAllocator}, CopyDir: "/copies"}); err == nil {
		t.Errorf("Apply to a bare python succeeded, want an error")
	}
}

// TestApplyAgreesWithAnalyze puts every fix to each documented command:
// a fix the plugin's analysis finds the command cannot take, Apply turns
// down with the analysis' reason; any other applies and leaves the
// launcher part of argv as typed.
func TestApplyAgreesWithAnalyze(t *testing.T) {
	profile := map[string]string{"batch_size": "--bsz", "grad_accumulation": "--accum", "grad_checkpointing": "--ckpt",
		"mixed_precision": "--amp --amp-dtype {dtype}", "optimizer_8bit": "--optim adamw8bit"}
	tests := []struct {
		name  string
		cmd   sdk.Command
		flags map[string]string
	}{
		{"timm", plugintab.Command(timmCmd, timmFiles()), nil},
		{"timm defaults", plugintab.Command("python3 -u train.py /imagenet", timmFiles()), nil},
		{"timm shell launcher", plugintab.Command(timmShellCmd, shellFiles()), nil},
		{"timm torchrun", plugintab.Command(timmTorchrun, timmFiles()), nil},
		{"timm under srun and torchrun", plugintab.Command("srun -N 2 torchrun --nproc_per_node 4 train.py -b 32 --grad-checkpointing", timmFiles()), nil},
		{"torchvision", plugintab.Command(visionCmd, visionFiles()), nil},
		{"torchvision torchrun", plugintab.Command(visionTorchrun, visionFiles()), nil},
		{"switches", plugintab.Command("env CUDA_VISIBLE_DEVICES=0 python train.py --fp16", plugintab.Files("train.py", switchesPy)), nil},
		{"nanoGPT shakespeare", plugintab.Command(shakespeareCmd, nanoFiles()), nil},
		{"nanoGPT gpt2 torchrun", plugintab.Command(gpt2Torchrun, nanoFiles()), nil},
		{"profile flags", plugintab.Command("python train.py --bsz 32", plugintab.Files("train.py", customTorch)), profile},
		{"profile flags already on", plugintab.Command("python train.py --bsz 32 --ckpt --amp --optim adamw8bit", plugintab.Files("train.py", customTorch)), profile},
		{"profile flags over timm", plugintab.Command(timmCmd, timmFiles()), profile},
		{"profile flags over nanoGPT", plugintab.Command(shakespeareCmd, nanoFiles()), profile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cmd.Flags = tt.flags
			s, ok := pyscript.Load(tt.cmd)
			if !ok {
				t.Fatalf("pyscript.Load(%q) found no script", tt.cmd.Argv)
			}
			plugintab.CheckFixes(t, New(), tt.cmd, plugintab.PlanFix, analyze(s).Unsupported)
		})
	}
}
