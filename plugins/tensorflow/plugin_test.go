package tensorflow

import (
	"context"
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// kerasFit is a Keras script in the shape of the Keras examples: its own
// argparse flags, the batch passed to model.fit.
const kerasFit = `import argparse

import tensorflow as tf
from tensorflow import keras

parser = argparse.ArgumentParser(description="Train a Keras model")
parser.add_argument("--batch_size", type=int, default=256)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--learning_rate", type=float, default=1e-3)
args = parser.parse_args()

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1)
`

// keras3 imports keras alone and reads an evaluation batch.
const keras3 = `import argparse
import keras
p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--val-batch-size", type=int, default=128)
`

const allocatorSummary = "TF_GPU_ALLOCATOR=cuda_malloc_async TF_FORCE_GPU_ALLOW_GROWTH=true"

func allocatorVars() map[string]string {
	return map[string]string{"TF_GPU_ALLOCATOR": "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
}

// fitCmd is argv run on the kerasFit script.
func fitCmd(argv string, opts ...plugintab.Option) sdk.Command {
	return plugintab.Command(argv, plugintab.Files("train.py", kerasFit), opts...)
}

func TestRecognize(t *testing.T) {
	tests := []struct {
		name       string
		cmd        sdk.Command
		confidence int
	}{
		{"tensorflow", fitCmd("python train.py"), 60},
		{"keras alone", plugintab.Command("python train.py", map[string]string{"train.py": keras3}), 60},
		{"tf_keras", plugintab.Command("python train.py", map[string]string{"train.py": "import tf_keras as keras\n"}), 60},
		{"a module", plugintab.Command("python -m trainer.task", map[string]string{"trainer/task.py": kerasFit}), 60},
		{"a torch script", plugintab.Command("python train.py", map[string]string{"train.py": "import torch\n"}), 0},
		{"an unreadable script", plugintab.Command("python train.py", nil), 0},
		{"no script", plugintab.Command("python -c pass", nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(context.Background(), sdk.RecognizeRequest{Command: tt.cmd})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Confidence != tt.confidence || (tt.confidence > 0 && rec.Framework != "tensorflow") {
				t.Errorf("Recognize = %+v, want confidence %d", rec, tt.confidence)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	inCode := []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload,
		sdk.FixFusedLoss, sdk.FixActivationOffload, sdk.FixEvalAccumulation}
	tests := []struct {
		name     string
		cmd      sdk.Command
		launcher string
		script   string
		knobs    sdk.Knobs
		cannot   map[sdk.FixID]string
	}{
		{"model.fit batch from the script's default", fitCmd("python train.py --epochs 5"), "python", "train.py",
			sdk.Knobs{BatchSize: sdk.Int(256)}, map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation batch-size flag in train.py"}},
		{"typed batch, allocator already set", fitCmd("python train.py --batch_size=512", plugintab.Env("TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true")),
			"python", "train.py", sdk.Knobs{BatchSize: sdk.Int(512)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation", sdk.FixAllocator: "already set"}},
		{"keras 3 with an evaluation batch", plugintab.Command("python3 train.py --val-batch-size 32", map[string]string{"train.py": keras3}), "python", "train.py",
			sdk.Knobs{BatchSize: sdk.Int(64), EvalBatchSize: sdk.Int(32)}, map[sdk.FixID]string{}},
		{"a module", plugintab.Command("python -m trainer.task --batch_size 32", map[string]string{"trainer/task.py": kerasFit}), "python -m", "trainer.task",
			sdk.Knobs{BatchSize: sdk.Int(32)}, map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := plugintab.Analyze(t, New(), tt.cmd)
			if a.Framework != "tensorflow" || a.Launcher != tt.launcher || a.Script != tt.script || a.WorldSize != 1 {
				t.Errorf("Analyze = %q %q %q world %d, want tensorflow %q %q 1", a.Framework, a.Launcher, a.Script, a.WorldSize, tt.launcher, tt.script)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %+v, want %+v", a.Knobs, tt.knobs)
			}
			for _, f := range inCode {
				tt.cannot[f] = "Keras sets this in code, not with a flag (name the script's flag under flags." + string(f)
			}
			plugintab.WantRefusals(t, New(), tt.cmd, plugintab.PlanFix, tt.cannot)
		})
	}
}

func TestApply(t *testing.T) {
	profile := map[string]string{"mixed_precision": "--mixed_precision", "grad_checkpointing": "--recompute", "eval_batch_size": "--val_bs"}
	tests := []struct {
		name    string
		cmd     sdk.Command
		fix     sdk.Fix
		want    string
		env     map[string]string
		summary string
	}{
		{"allocator", fitCmd("python train.py --epochs 5"), sdk.Fix{ID: sdk.FixAllocator},
			"python train.py --epochs 5", allocatorVars(), allocatorSummary},
		{"allocator when only one variable is set", fitCmd("python train.py", plugintab.Env("TF_GPU_ALLOCATOR", "cuda_malloc_async")), sdk.Fix{ID: sdk.FixAllocator},
			"python train.py", allocatorVars(), allocatorSummary},
		{"allocator when growth is spelled True: TensorFlow wants exactly true", fitCmd("python train.py", plugintab.Env("TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "True")),
			sdk.Fix{ID: sdk.FixAllocator}, "python train.py", allocatorVars(), allocatorSummary},
		{"batch added at the script's default, no accumulation", fitCmd("python train.py --epochs 5"), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 128},
			"python train.py --epochs 5 --batch_size 128", nil, "--batch_size 256 -> 128"},
		{"batch in the equals form; an accumulation the script lacks is ignored", fitCmd("python train.py --batch_size=512 --epochs 5"),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 256, GradAccumulation: 2}, "python train.py --batch_size=256 --epochs 5", nil, "--batch_size 512 -> 256"},
		{"evaluation batch", plugintab.Command("python train.py --val-batch-size 32", map[string]string{"train.py": keras3}), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 16},
			"python train.py --val-batch-size 16", nil, "--val-batch-size 32 -> 16"},
		{"a module's arguments", plugintab.Command("python -m trainer.task --batch_size 32", map[string]string{"trainer/task.py": kerasFit}),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16}, "python -m trainer.task --batch_size 16", nil, "--batch_size 32 -> 16"},
		{"mixed precision through the profile", fitCmd("python train.py", plugintab.Flags(profile)), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --mixed_precision", nil, "--mixed_precision"},
		{"checkpointing through the profile", fitCmd("python train.py", plugintab.Flags(profile)), sdk.Fix{ID: sdk.FixGradCheckpointing},
			"python train.py --recompute", nil, "--recompute"},
		{"evaluation batch through the profile", fitCmd("python train.py", plugintab.Flags(profile)), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 64},
			"python train.py --val_bs 64", nil, "--val_bs 64"},
		{"a {dtype} template", fitCmd("python train.py", plugintab.Flags(map[string]string{"mixed_precision": "--policy mixed_{dtype}"})),
			sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}, "python train.py --policy mixed_fp16", nil, "--policy mixed_fp16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintab.WantApplied(t, New(), tt.cmd, tt.fix, tt.want, tt.env, tt.summary)
		})
	}
}

func TestApplyUnsupported(t *testing.T) {
	profile := map[string]string{"mixed_precision": "--mixed_precision"}
	tests := []struct {
		name string
		cmd  sdk.Command
		fix  sdk.Fix
		want string
	}{
		{"allocator already set", fitCmd("python train.py", plugintab.Env("TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true")),
			sdk.Fix{ID: sdk.FixAllocator}, "TF_GPU_ALLOCATOR=cuda_malloc_async and memory growth are already set"},
		{"mixed precision is code", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "flags.mixed_precision"},
		{"checkpointing is code", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixGradCheckpointing}, "flags.grad_checkpointing"},
		{"no 8-bit optimizer", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixOptimizer8bit}, "flags.optimizer_8bit"},
		{"no offload", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixCPUOffload}, "flags.cpu_offload"},
		{"no evaluation batch flag", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8}, "no evaluation batch-size flag in train.py"},
		{"no batch flag", plugintab.Command("python train.py", map[string]string{"train.py": "import tensorflow as tf\n"}), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8},
			"no batch-size flag in train.py (name it under flags.batch_size in vramrun.yaml)"},
		{"the profile's template already on", fitCmd("python train.py --mixed_precision", plugintab.Flags(profile)), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"already on (--mixed_precision is in the command)"},
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
	cmds := map[string]sdk.Command{
		"plain":          fitCmd("python train.py --epochs 5"),
		"allocator set":  fitCmd("python train.py", plugintab.Env("TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true")),
		"keras 3":        plugintab.Command("env TF_CPP_MIN_LOG_LEVEL=2 python3 -u train.py --val-batch-size 32", map[string]string{"train.py": keras3}),
		"profile":        fitCmd("python train.py", plugintab.Flags(map[string]string{"mixed_precision": "--mixed_precision", "optimizer_8bit": "--opt adam8"})),
		"profile, on":    fitCmd("python train.py --mixed_precision", plugintab.Flags(map[string]string{"mixed_precision": "--mixed_precision"})),
		"no batch flag":  plugintab.Command("python train.py", map[string]string{"train.py": "import tensorflow as tf\n"}),
		"srun of python": plugintab.Command("srun -n 4 python train.py --batch_size 64", map[string]string{"train.py": kerasFit}),
	}
	for name, cmd := range cmds {
		t.Run(name, func(t *testing.T) {
			a, err := simple.Analyze(cmd)
			if err != nil {
				t.Fatal(err)
			}
			plugintab.CheckFixes(t, New(), cmd, plugintab.SameSizes(sdk.Fix{BatchSize: 8, Precision: "bf16"}), a.Unsupported)
		})
	}
}
