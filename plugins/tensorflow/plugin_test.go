package tensorflow

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
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

// command builds a command whose files come only from the overlay.
func command(argv string, files map[string]string) sdk.Command {
	cmd := sdk.Command{Argv: strings.Fields(argv), Env: map[string]string{"PATH": "/usr/bin"},
		Dir: "/nonexistent-vramrun-test-dir", Files: map[string][]byte{}}
	for p, c := range files {
		cmd.Files[p] = []byte(c)
	}
	return cmd
}

func fitCmd(argv string) sdk.Command { return command(argv, map[string]string{"train.py": kerasFit}) }

func withEnv(cmd sdk.Command, kv ...string) sdk.Command {
	for i := 0; i+1 < len(kv); i += 2 {
		cmd.Env[kv[i]] = kv[i+1]
	}
	return cmd
}

func withFlags(cmd sdk.Command, flags map[string]string) sdk.Command {
	cmd.Flags = flags
	return cmd
}

func analyze(t *testing.T, cmd sdk.Command) sdk.Analysis {
	t.Helper()
	before := cmd.Clone()
	a, err := New().Analyze(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Analyze(%q): %v", cmd.Argv, err)
	}
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("Analyze changed its input")
	}
	if err := a.Validate(); err != nil {
		t.Errorf("invalid analysis: %v", err)
	}
	return a
}

func apply(t *testing.T, cmd sdk.Command, fix sdk.Fix) (sdk.Applied, error) {
	t.Helper()
	before := cmd.Clone()
	got, err := New().Apply(context.Background(), cmd, fix, "/copies")
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("Apply(%s) changed its input:\nbefore %+v\nafter  %+v", fix.ID, before, cmd)
	}
	return got, err
}

func wantUnsupported(t *testing.T, err error, fix sdk.FixID, want string) {
	t.Helper()
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) {
		t.Fatalf("Apply(%s) error = %v (%T), want *sdk.UnsupportedError", fix, err, err)
	}
	if unsupported.Fix != fix || !strings.Contains(unsupported.Reason, want) {
		t.Errorf("Apply(%s) = unsupported %s: %q, want a reason containing %q", fix, unsupported.Fix, unsupported.Reason, want)
	}
}

func TestRecognize(t *testing.T) {
	tests := []struct {
		name       string
		cmd        sdk.Command
		confidence int
	}{
		{"tensorflow", fitCmd("python train.py"), 60},
		{"keras alone", command("python train.py", map[string]string{"train.py": keras3}), 60},
		{"tf_keras", command("python train.py", map[string]string{"train.py": "import tf_keras as keras\n"}), 60},
		{"a module", command("python -m trainer.task", map[string]string{"trainer/task.py": kerasFit}), 60},
		{"a torch script", command("python train.py", map[string]string{"train.py": "import torch\n"}), 0},
		{"an unreadable script", command("python train.py", nil), 0},
		{"no script", command("python -c pass", nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(context.Background(), tt.cmd)
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
	inCode := []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload}
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
		{"typed batch, allocator already set", withEnv(fitCmd("python train.py --batch_size=512"), "TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true"),
			"python", "train.py", sdk.Knobs{BatchSize: sdk.Int(512)},
			map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation", sdk.FixAllocator: "already set"}},
		{"keras 3 with an evaluation batch", command("python3 train.py --val-batch-size 32", map[string]string{"train.py": keras3}), "python", "train.py",
			sdk.Knobs{BatchSize: sdk.Int(64), EvalBatchSize: sdk.Int(32)}, map[sdk.FixID]string{}},
		{"a module", command("python -m trainer.task --batch_size 32", map[string]string{"trainer/task.py": kerasFit}), "python -m", "trainer.task",
			sdk.Knobs{BatchSize: sdk.Int(32)}, map[sdk.FixID]string{sdk.FixEvalBatchSize: "no evaluation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := analyze(t, tt.cmd)
			if a.Framework != "tensorflow" || a.Launcher != tt.launcher || a.Script != tt.script || a.WorldSize != 1 {
				t.Errorf("Analyze = %q %q %q world %d, want tensorflow %q %q 1", a.Framework, a.Launcher, a.Script, a.WorldSize, tt.launcher, tt.script)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs = %+v, want %+v", a.Knobs, tt.knobs)
			}
			for _, f := range inCode {
				tt.cannot[f] = "Keras sets this in code, not with a flag (name the script's flag under flags." + string(f)
			}
			for _, f := range sdk.AllFixes() {
				reason, listed := a.Unsupported[f]
				want, cannot := tt.cannot[f]
				if listed != cannot || !strings.Contains(reason, want) {
					t.Errorf("%s: unsupported %v (%q), want %v (%q)", f, listed, reason, cannot, want)
				}
			}
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
		{"allocator when only one variable is set", withEnv(fitCmd("python train.py"), "TF_GPU_ALLOCATOR", "cuda_malloc_async"), sdk.Fix{ID: sdk.FixAllocator},
			"python train.py", allocatorVars(), allocatorSummary},
		{"allocator when growth is spelled True: TensorFlow wants exactly true", withEnv(fitCmd("python train.py"), "TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "True"),
			sdk.Fix{ID: sdk.FixAllocator}, "python train.py", allocatorVars(), allocatorSummary},
		{"batch added at the script's default, no accumulation", fitCmd("python train.py --epochs 5"), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 128},
			"python train.py --epochs 5 --batch_size 128", nil, "--batch_size 256 -> 128"},
		{"batch in the equals form; an accumulation the script lacks is ignored", fitCmd("python train.py --batch_size=512 --epochs 5"),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 256, GradAccumulation: 2}, "python train.py --batch_size=256 --epochs 5", nil, "--batch_size 512 -> 256"},
		{"evaluation batch", command("python train.py --val-batch-size 32", map[string]string{"train.py": keras3}), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 16},
			"python train.py --val-batch-size 16", nil, "--val-batch-size 32 -> 16"},
		{"a module's arguments", command("python -m trainer.task --batch_size 32", map[string]string{"trainer/task.py": kerasFit}),
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16}, "python -m trainer.task --batch_size 16", nil, "--batch_size 32 -> 16"},
		{"mixed precision through the profile", withFlags(fitCmd("python train.py"), profile), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"python train.py --mixed_precision", nil, "--mixed_precision"},
		{"checkpointing through the profile", withFlags(fitCmd("python train.py"), profile), sdk.Fix{ID: sdk.FixGradCheckpointing},
			"python train.py --recompute", nil, "--recompute"},
		{"evaluation batch through the profile", withFlags(fitCmd("python train.py"), profile), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 64},
			"python train.py --val_bs 64", nil, "--val_bs 64"},
		{"a {dtype} template", withFlags(fitCmd("python train.py"), map[string]string{"mixed_precision": "--policy mixed_{dtype}"}),
			sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}, "python train.py --policy mixed_fp16", nil, "--policy mixed_fp16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(t, tt.cmd, tt.fix)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if strings.Join(got.Argv, " ") != tt.want || got.Summary != tt.summary || !reflect.DeepEqual(got.Env, tt.env) {
				t.Errorf("Apply =\n %q %v (%s)\nwant\n %q %v (%s)", strings.Join(got.Argv, " "), got.Env, got.Summary, tt.want, tt.env, tt.summary)
			}
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
		{"allocator already set", withEnv(fitCmd("python train.py"), "TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true"),
			sdk.Fix{ID: sdk.FixAllocator}, "TF_GPU_ALLOCATOR=cuda_malloc_async and memory growth are already set"},
		{"mixed precision is code", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "flags.mixed_precision"},
		{"checkpointing is code", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixGradCheckpointing}, "flags.grad_checkpointing"},
		{"no 8-bit optimizer", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixOptimizer8bit}, "flags.optimizer_8bit"},
		{"no offload", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixCPUOffload}, "flags.cpu_offload"},
		{"no evaluation batch flag", fitCmd("python train.py"), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8}, "no evaluation batch-size flag in train.py"},
		{"no batch flag", command("python train.py", map[string]string{"train.py": "import tensorflow as tf\n"}), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8},
			"no batch-size flag in train.py (name it under flags.batch_size in vramrun.yaml)"},
		{"the profile's template already on", withFlags(fitCmd("python train.py --mixed_precision"), profile), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			"already on (--mixed_precision is in the command)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(t, tt.cmd, tt.fix)
			if err == nil {
				t.Fatalf("Apply = %q (%s), want unsupported", got.Argv, got.Summary)
			}
			wantUnsupported(t, err, tt.fix.ID, tt.want)
		})
	}
}

// TestApplyAgreesWithAnalyze: every fix either applies, keeping the argv
// up to the script as typed, or is turned down with Analyze's reason.
func TestApplyAgreesWithAnalyze(t *testing.T) {
	cmds := map[string]sdk.Command{
		"plain":          fitCmd("python train.py --epochs 5"),
		"allocator set":  withEnv(fitCmd("python train.py"), "TF_GPU_ALLOCATOR", "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH", "true"),
		"keras 3":        command("env TF_CPP_MIN_LOG_LEVEL=2 python3 -u train.py --val-batch-size 32", map[string]string{"train.py": keras3}),
		"profile":        withFlags(fitCmd("python train.py"), map[string]string{"mixed_precision": "--mixed_precision", "optimizer_8bit": "--opt adam8"}),
		"profile, on":    withFlags(fitCmd("python train.py --mixed_precision"), map[string]string{"mixed_precision": "--mixed_precision"}),
		"no batch flag":  command("python train.py", map[string]string{"train.py": "import tensorflow as tf\n"}),
		"srun of python": command("srun -n 4 python train.py --batch_size 64", map[string]string{"train.py": kerasFit}),
	}
	for name, cmd := range cmds {
		t.Run(name, func(t *testing.T) {
			a := analyze(t, cmd)
			inv, err := cmdline.Parse(cmd.Argv)
			if err != nil {
				t.Fatal(err)
			}
			head := cmd.Argv[:inv.ScriptIndex+1]
			for _, id := range sdk.AllFixes() {
				fix := sdk.Fix{ID: id, BatchSize: 8, Precision: "bf16"}
				got, err := apply(t, cmd, fix)
				reason, listed := a.Unsupported[id]
				var unsupported *sdk.UnsupportedError
				switch {
				case listed && (!errors.As(err, &unsupported) || unsupported.Reason != reason):
					t.Errorf("%s: Analyze says unsupported (%s), Apply gave %q, %v", id, reason, got.Argv, err)
				case !listed && err != nil:
					t.Errorf("%s: supported by Analyze, but Apply: %v", id, err)
				case !listed && (len(got.Argv) < len(head) || !reflect.DeepEqual(got.Argv[:len(head)], head)):
					t.Errorf("%s: the argv up to the script changed: %q", id, got.Argv)
				}
			}
		})
	}
}
