package jax

import (
	"context"
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// jaxTrain is a plain JAX script with a batch flag.
const jaxTrain = `import argparse

import jax
import jax.numpy as jnp

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=128)
parser.add_argument("--num_steps", type=int, default=1000)
args = parser.parse_args()

key = jax.random.PRNGKey(0)
`

// flaxTrain is a Flax script in the shape of the Flax examples, with an
// accumulation and an evaluation batch flag.
const flaxTrain = `import argparse
from flax import linen as nn
from flax.training import train_state
import optax

parser = argparse.ArgumentParser()
parser.add_argument("--per_device_batch_size", type=int, default=64)
parser.add_argument("--gradient_accumulation_steps", type=int, default=1)
parser.add_argument("--eval_batch_size", type=int, default=256)
`

const fractionSummary = "XLA_PYTHON_CLIENT_MEM_FRACTION=.95 XLA_CLIENT_MEM_FRACTION=.95"

func fractionEnv() map[string]string {
	return map[string]string{"XLA_PYTHON_CLIENT_MEM_FRACTION": ".95", "XLA_CLIENT_MEM_FRACTION": ".95"}
}

// command builds a command whose one file is train.py holding script,
// with env's name, value pairs set.
func command(argv, script string, env ...string) sdk.Command {
	return plugintab.Command(argv, plugintab.Files("train.py", script), plugintab.Env(env...))
}

func TestRecognize(t *testing.T) {
	tests := []struct {
		name       string
		cmd        sdk.Command
		confidence int
	}{
		{"import jax", command("python train.py", jaxTrain), 60},
		{"flax and optax only", command("python train.py", flaxTrain), 60},
		{"a torch script", command("python train.py", "import torch\n"), 0},
		{"no script", command("python -c pass", ""), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(context.Background(), sdk.RecognizeRequest{Command: tt.cmd})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Confidence != tt.confidence || (tt.confidence > 0 && (rec.Framework != "jax" || rec.Reason == "")) {
				t.Errorf("Recognize = %+v, want confidence %d", rec, tt.confidence)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name   string
		cmd    sdk.Command
		knobs  sdk.Knobs
		cannot map[sdk.FixID]string
	}{
		{"batch from the default", command("python train.py --num_steps 10", jaxTrain), sdk.Knobs{BatchSize: sdk.Int(128)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag in train.py"}},
		{"typed batch", command("python train.py --batch_size 32", jaxTrain), sdk.Knobs{BatchSize: sdk.Int(32)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation"}},
		{"flax: per-device batch, accumulation, evaluation batch", command("python train.py --gradient_accumulation_steps 2", flaxTrain),
			sdk.Knobs{BatchSize: sdk.Int(64), GradAccumulation: sdk.Int(2), EvalBatchSize: sdk.Int(256)}, map[sdk.FixID]string{}},
		{"a fraction of .95 is already there", command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", ".95"), sdk.Knobs{BatchSize: sdk.Int(128)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation", sdk.FixAllocator: "JAX may already use 95% of the GPU"}},
		{"more under the new name", command("python train.py", jaxTrain, "XLA_CLIENT_MEM_FRACTION", "0.99"), sdk.Knobs{BatchSize: sdk.Int(128)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation", sdk.FixAllocator: "JAX may already use 99% of the GPU"}},
		{"a smaller fraction can be raised", command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", ".5"), sdk.Knobs{BatchSize: sdk.Int(128)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation"}},
		{"an unreadable fraction can be replaced", command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", "most"), sdk.Knobs{BatchSize: sdk.Int(128)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation"}},
	}
	inCode := []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload,
		sdk.FixFusedLoss, sdk.FixActivationOffload, sdk.FixEvalAccumulation}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := plugintab.Analyze(t, New(), tt.cmd)
			if a.Framework != "jax" || a.Launcher != "python" || a.Script != "train.py" || a.WorldSize != 1 {
				t.Errorf("Analyze = %q %q %q world %d, want jax python train.py 1", a.Framework, a.Launcher, a.Script, a.WorldSize)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %+v, want %+v", a.Knobs, tt.knobs)
			}
			for _, f := range inCode {
				tt.cannot[f] = "JAX sets this in code, not with a flag (name the script's flag under flags." + string(f)
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
		env     map[string]string
		summary string
	}{
		{"allocator: both names", command("python train.py --batch_size 32", jaxTrain), sdk.Fix{ID: sdk.FixAllocator},
			"python train.py --batch_size 32", fractionEnv(), fractionSummary},
		{"allocator raises a smaller fraction", command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", ".5"), sdk.Fix{ID: sdk.FixAllocator},
			"python train.py", fractionEnv(), fractionSummary},
		{"batch without accumulation", command("python train.py --batch_size 32", jaxTrain), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16},
			"python train.py --batch_size 16", nil, "--batch_size 32 -> 16"},
		{"batch typed in the hyphen and equals form", command("python train.py --batch-size=128", jaxTrain), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64},
			"python train.py --batch-size=64", nil, "--batch-size 128 -> 64"},
		{"flax batch and accumulation", command("python train.py", flaxTrain), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2},
			"python train.py --per_device_batch_size 32 --gradient_accumulation_steps 2", nil,
			"--per_device_batch_size 64 -> 32, --gradient_accumulation_steps 1 -> 2"},
		{"flax evaluation batch", command("python train.py --eval_batch_size=256", flaxTrain), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 128},
			"python train.py --eval_batch_size=128", nil, "--eval_batch_size 256 -> 128"},
		{"checkpointing through the profile", func() sdk.Command {
			c := command("python train.py", jaxTrain)
			c.Flags = map[string]string{"grad_checkpointing": "--remat"}
			return c
		}(), sdk.Fix{ID: sdk.FixGradCheckpointing}, "python train.py --remat", nil, "--remat"},
		{"precision through the profile", func() sdk.Command {
			c := command("python train.py", jaxTrain)
			c.Flags = map[string]string{"mixed_precision": "--dtype {dtype}"}
			return c
		}(), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "python train.py --dtype bf16", nil, "--dtype bf16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintab.WantApplied(t, New(), tt.cmd, tt.fix, tt.want, tt.env, tt.summary)
		})
	}
}

func TestApplyUnsupported(t *testing.T) {
	tests := []struct {
		name string
		cmd  sdk.Command
		fix  sdk.Fix
		want string
	}{
		{"fraction already .95", command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", ".95"), sdk.Fix{ID: sdk.FixAllocator},
			"JAX may already use 95% of the GPU"},
		{"fraction already 1", command("python train.py", jaxTrain, "XLA_CLIENT_MEM_FRACTION", "1"), sdk.Fix{ID: sdk.FixAllocator},
			"JAX may already use 100% of the GPU"},
		{"precision is code", command("python train.py", jaxTrain), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "flags.mixed_precision"},
		{"checkpointing is code", command("python train.py", jaxTrain), sdk.Fix{ID: sdk.FixGradCheckpointing}, "flags.grad_checkpointing"},
		{"no evaluation flag", command("python train.py", jaxTrain), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8}, "no evaluation batch-size flag in train.py"},
		{"no offload", command("python train.py", jaxTrain), sdk.Fix{ID: sdk.FixCPUOffload}, "flags.cpu_offload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintab.WantRefused(t, New(), tt.cmd, tt.fix, tt.want)
		})
	}
}

// TestApplyAgreesWithAnalyze: every fix either applies, keeping the argv
// up to the script as typed, or is turned down with the reason the
// plugin's analysis holds for it.
func TestApplyAgreesWithAnalyze(t *testing.T) {
	withFlags := command("python train.py --remat", jaxTrain)
	withFlags.Flags = map[string]string{"grad_checkpointing": "--remat", "mixed_precision": "--bf16"}
	cmds := map[string]sdk.Command{
		"plain":         command("python train.py --batch_size 32", jaxTrain),
		"fraction set":  command("python train.py", jaxTrain, "XLA_PYTHON_CLIENT_MEM_FRACTION", ".95"),
		"flax":          command("python3 -X dev train.py --gradient_accumulation_steps=4", flaxTrain),
		"profile flags": withFlags,
		"srun":          command("srun --ntasks 8 python train.py", jaxTrain),
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
