package pytorch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// nanoTrain is nanoGPT's train.py up to its configurator: the defaults are
// module globals, and dtype is an expression the plugin cannot evaluate.
const nanoTrain = `import os
import time
import math
import pickle
from contextlib import nullcontext

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group, destroy_process_group

from model import GPTConfig, GPT

# -----------------------------------------------------------------------------
# default config values designed to train a gpt2 (124M) on OpenWebText
out_dir = 'out'
eval_interval = 2000
eval_iters = 200
always_save_checkpoint = True # if True, always save a checkpoint after each eval
# wandb logging
wandb_log = False # disabled by default
# data
dataset = 'openwebtext'
gradient_accumulation_steps = 5 * 8 # used to simulate larger batch sizes
batch_size = 12 # if gradient_accumulation_steps > 1, this is the micro-batch size
block_size = 1024
# system
device = 'cuda'
dtype = 'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float16'
compile = True
# -----------------------------------------------------------------------------
config_keys = [k for k,v in globals().items() if not k.startswith('_') and isinstance(v, (int, float, bool, str))]
exec(open('configurator.py').read()) # overrides from command line or config file
config = {k: globals()[k] for k in config_keys} # will be useful for logging
`

// shakespeareConfig is nanoGPT's config/train_shakespeare_char.py.
const shakespeareConfig = `# train a miniature character-level shakespeare model
out_dir = 'out-shakespeare-char'
eval_interval = 250 # keep frequent because we'll overfit
eval_iters = 200

dataset = 'shakespeare_char'
gradient_accumulation_steps = 1
batch_size = 64
block_size = 256 # context of up to 256 previous characters

n_layer = 6
learning_rate = 1e-3 # with baby networks can afford to go a bit higher
`

// gpt2Config is nanoGPT's config/train_gpt2.py, with the dtype it runs
// in on an A100 written out.
const gpt2Config = `# config for training GPT-2 (124M) down to very nice loss of ~2.85 on 1 node of 8X A100 40GB
# $ torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py

wandb_log = True
wandb_project = 'owt'
wandb_run_name='gpt2-124M'

# 12 batch size * 1024 block size * 5 gradaccum * 8 GPUs = 491,520
batch_size = 12
block_size = 1024
gradient_accumulation_steps = 5 * 8
dtype = 'bfloat16'

max_iters = 600000
lr_decay_iters = 600000
`

const (
	shakespeareCmd = "python train.py config/train_shakespeare_char.py --batch_size=32"
	gpt2Torchrun   = "torchrun --standalone --nproc_per_node=4 train.py config/train_gpt2.py"
)

func nanoFiles() map[string]string {
	return plugintab.Files("train.py", nanoTrain, "config/train_shakespeare_char.py", shakespeareConfig,
		"config/train_gpt2.py", gpt2Config)
}

// nanoTrainNoTorch is train.py with its torch imports moved elsewhere: only
// the configurator tells it apart.
func nanoTrainNoTorch() string {
	return strings.NewReplacer("import torch\n", "",
		"from torch.nn.parallel import DistributedDataParallel as DDP\n", "",
		"from torch.distributed import init_process_group, destroy_process_group\n", "").Replace(nanoTrain)
}

func TestAnalyzeNanoGPT(t *testing.T) {
	nanoCannot := append([]sdk.FixID{sdk.FixGradCheckpointing, sdk.FixEvalBatchSize, sdk.FixOptimizer8bit, sdk.FixCPUOffload},
		pyscript.ModelFixes()...)
	tests := []struct {
		name     string
		argv     string
		launcher string
		world    int
		knobs    sdk.Knobs
		configs  []string
		cannot   []sdk.FixID
		reason   string // the mixed_precision reason, when unsupported
	}{
		{name: "shakespeare with a batch override", argv: shakespeareCmd, launcher: "python", world: 1,
			knobs: sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(1)}, configs: []string{"config/train_shakespeare_char.py"},
			cannot: nanoCannot},
		{name: "gpt2 on 4 GPUs: the config's batch, accumulation per process (40 in all) and dtype", argv: gpt2Torchrun, launcher: "torchrun", world: 4,
			knobs:   sdk.Knobs{BatchSize: sdk.Int(12), GradAccumulation: sdk.Int(10), Precision: sdk.Str("bf16")},
			configs: []string{"config/train_gpt2.py"}, cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, nanoCannot...),
			reason: "already in bf16 (dtype='bfloat16')"},
		{name: "a total the world size does not divide: no accumulation knob (train.py's assert fails anyway)",
			argv: "torchrun --standalone --nproc_per_node=4 train.py config/train_gpt2.py --gradient_accumulation_steps=6", launcher: "torchrun", world: 4,
			knobs:   sdk.Knobs{BatchSize: sdk.Int(12), Precision: sdk.Str("bf16")},
			configs: []string{"config/train_gpt2.py"}, cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, nanoCannot...),
			reason: "already in bf16 (dtype='bfloat16')"},
		{name: "train.py's own defaults", argv: "python train.py", launcher: "python", world: 1,
			knobs: sdk.Knobs{BatchSize: sdk.Int(12), GradAccumulation: sdk.Int(40)}, cannot: nanoCannot},
		{name: "overrides after the config win", argv: "python train.py config/train_gpt2.py --gradient_accumulation_steps=8 --batch_size=4 --dtype=float32",
			launcher: "python", world: 1, knobs: sdk.Knobs{BatchSize: sdk.Int(4), GradAccumulation: sdk.Int(8), Precision: sdk.Str("fp32")},
			configs: []string{"config/train_gpt2.py"}, cannot: nanoCannot},
		{name: "a config after an override wins", argv: "python train.py --batch_size=4 config/train_gpt2.py",
			launcher: "python", world: 1, knobs: sdk.Knobs{BatchSize: sdk.Int(12), GradAccumulation: sdk.Int(40), Precision: sdk.Str("bf16")},
			configs: []string{"config/train_gpt2.py"}, cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, nanoCannot...),
			reason: "already in bf16 (dtype='bfloat16')"},
		{name: "fp16", argv: "python train.py --dtype=float16", launcher: "python", world: 1,
			knobs:  sdk.Knobs{BatchSize: sdk.Int(12), GradAccumulation: sdk.Int(40), Precision: sdk.Str("fp16")},
			cannot: append([]sdk.FixID{sdk.FixMixedPrecision}, nanoCannot...), reason: "already in fp16 (dtype='float16')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := plugintab.Command(tt.argv, nanoFiles())
			a := plugintab.Analyze(t, New(), cmd)
			if a.Framework != "pytorch" || a.Launcher != tt.launcher || a.Script != "train.py" || a.WorldSize != tt.world {
				t.Errorf("Analyze = framework %q launcher %q script %q world %d, want pytorch %q train.py %d",
					a.Framework, a.Launcher, a.Script, a.WorldSize, tt.launcher, tt.world)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %s\nwant   %s", plugintab.KnobsText(a.Knobs), plugintab.KnobsText(tt.knobs))
			}
			if !reflect.DeepEqual(a.ConfigFiles, tt.configs) {
				t.Errorf("config files = %q, want %q", a.ConfigFiles, tt.configs)
			}
			refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
			checkRefused(t, refused, tt.cannot)
			if tt.reason != "" && refused[sdk.FixMixedPrecision] != tt.reason {
				t.Errorf("mixed_precision reason = %q, want %q", refused[sdk.FixMixedPrecision], tt.reason)
			}
		})
	}
}

func TestApplyNanoGPT(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"shakespeare: override edited, accumulation added as --key=value", shakespeareCmd,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			"python train.py config/train_shakespeare_char.py --batch_size=16 --gradient_accumulation_steps=2",
			"--batch_size 32 -> 16, --gradient_accumulation_steps 1 -> 2"},
		{"gpt2 on 4 GPUs: only the script's arguments change; 20 per process is 80 in all", gpt2Torchrun,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 6, GradAccumulation: 20},
			"torchrun --standalone --nproc_per_node=4 train.py config/train_gpt2.py --batch_size=6 --gradient_accumulation_steps=80",
			"--batch_size 12 -> 6, --gradient_accumulation_steps 40 -> 80"},
		{"an accumulation override edited in place", "python train.py config/train_gpt2.py --gradient_accumulation_steps=8 --batch_size=4",
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 16},
			"python train.py config/train_gpt2.py --gradient_accumulation_steps=16 --batch_size=2",
			"--batch_size 4 -> 2, --gradient_accumulation_steps 8 -> 16"},
		{"no accumulation asked: the batch only", shakespeareCmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8},
			"python train.py config/train_shakespeare_char.py --batch_size=8", "--batch_size 32 -> 8"},
		{"bf16", shakespeareCmd, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			shakespeareCmd + " --dtype=bfloat16", "--dtype=bfloat16"},
		{"fp16", shakespeareCmd, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			shakespeareCmd + " --dtype=float16", "--dtype=float16"},
		{"a typed float32 replaced", "python train.py --dtype=float32 --compile=False", sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --dtype=bfloat16 --compile=False", "--dtype=bfloat16"},
		{"a tune trial: out_dir to the scratch folder, a typed one replaced; no save after each eval, no W&B", "python train.py config/train_shakespeare_char.py --out_dir=mine",
			sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"},
			"python train.py config/train_shakespeare_char.py --out_dir=/s --always_save_checkpoint=False --wandb_log=False",
			"--out_dir=/s --always_save_checkpoint=False --wandb_log=False"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintab.MustApply(t, New(), plugintab.Command(tt.argv, nanoFiles()), tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want || got.Summary != tt.summary {
				t.Errorf("Apply =\n %q (%s)\nwant\n %q (%s)", plugintab.ArgvText(got.Argv), got.Summary, tt.want, tt.summary)
			}
			// configurator.py rejects --key value: every flag after the
			// script must be --key=value.
			for _, arg := range argsOf(plugintab.ArgvText(got.Argv)) {
				if strings.HasPrefix(arg, "--") && !strings.Contains(arg, "=") {
					t.Errorf("%q is not in the --key=value form", arg)
				}
			}
		})
	}
}

// argsOf is the part of a nanoGPT command line after train.py.
func argsOf(argv string) []string {
	words := strings.Fields(argv)
	for i, w := range words {
		if w == "train.py" {
			return words[i+1:]
		}
	}
	return nil
}

func TestApplyNanoGPTUnsupported(t *testing.T) {
	tests := []struct {
		name string
		argv string
		fix  sdk.Fix
		want string
	}{
		{"gpt2 already in bf16", gpt2Torchrun, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16"},
		{"no checkpointing option", shakespeareCmd, sdk.Fix{ID: sdk.FixGradCheckpointing}, "nanoGPT has no gradient-checkpointing option"},
		{"evaluation runs at the training batch", shakespeareCmd, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8}, "evaluates at the training batch size"},
		{"no 8-bit optimizer", shakespeareCmd, sdk.Fix{ID: sdk.FixOptimizer8bit}, "no 8-bit optimizer option"},
		{"no offload", shakespeareCmd, sdk.Fix{ID: sdk.FixCPUOffload}, "no CPU offload option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plugintab.Apply(t, New(), plugintab.Command(tt.argv, nanoFiles()), tt.fix)
			if err == nil {
				t.Fatalf("Apply = %q (%s), want unsupported", got.Argv, got.Summary)
			}
			plugintab.WantUnsupported(t, err, tt.fix.ID, tt.want)
		})
	}
}

// TestNanoGPTCheckpointAndResume: train.py saves out_dir/ckpt.pt (out_dir
// from the config file or an override) and resumes with --init_from=resume.
func TestNanoGPTCheckpointAndResume(t *testing.T) {
	files := map[string]string{"train.py": nanoTrain, "config/train_shakespeare_char.py": shakespeareConfig}
	for argv, want := range map[string]string{
		"python train.py": "out/ckpt.pt",
		"python train.py config/train_shakespeare_char.py":                  "out-shakespeare-char/ckpt.pt",
		"python train.py config/train_shakespeare_char.py --out_dir=runs/a": "runs/a/ckpt.pt",
	} {
		a := plugintab.Analyze(t, New(), plugintab.Command(argv, files))
		if a.Checkpoints == nil || !reflect.DeepEqual(a.Checkpoints.Globs, []string{want}) {
			t.Errorf("%s: checkpoints %+v, want %s", argv, a.Checkpoints, want)
		}
	}
	cmd := plugintab.Command("python train.py config/train_shakespeare_char.py --batch_size=32", files)
	plugintab.WantApplied(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out-shakespeare-char/ckpt.pt"},
		"python train.py config/train_shakespeare_char.py --batch_size=32 --init_from=resume", nil,
		"--init_from=resume (out-shakespeare-char/ckpt.pt)")
	_, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "elsewhere/ckpt.pt"})
	plugintab.WantUnsupported(t, err, sdk.FixResume, "nanoGPT resumes only from out-shakespeare-char/ckpt.pt, not elsewhere/ckpt.pt")
}
