package slurm_test

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/generic"
	"github.com/vramrun/vramrun/plugins/jax"
	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/tensorflow"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

const (
	torchScript = "import argparse\nimport torch\np = argparse.ArgumentParser()\np.add_argument('--batch-size', type=int, default=64)\np.add_argument('--grad-accum-steps', type=int, default=1)\nargs = p.parse_args()\n"
	hfScript    = "from transformers import Trainer, TrainingArguments, HfArgumentParser\n"
	kerasScript = "import argparse\nimport tensorflow as tf\np = argparse.ArgumentParser()\np.add_argument('--batch_size', type=int, default=256)\n"
	jaxScript   = "import argparse\nimport jax\np = argparse.ArgumentParser()\np.add_argument('--batch_size', type=int, default=128)\n"
)

// The slurm plugin claims no command: the framework plugin of the script
// inside srun does, and reports srun as the launcher when srun starts the
// script's processes itself (python is then only what each task runs). A
// launcher with processes of its own under srun (torchrun, accelerate)
// stays the launcher, its options being the ones fixes edit; the world
// counts both.
func TestFrameworkPluginsUnderSrun(t *testing.T) {
	tests := []struct {
		name     string
		f        sdk.Framework
		argv     string
		files    map[string]string
		launcher string
		world    int
		batch    string // the batch fix's command line: srun's part is kept as typed
	}{
		{"pytorch, the issue's command", pytorch.New(), "srun -n 2 python3 train.py", plugintab.Files("train.py", torchScript),
			"srun", 2, "srun -n 2 python3 train.py --batch-size 32 --grad-accum-steps 2"},
		{"pytorch, srun options and python options", pytorch.New(), "srun -l -N 1 --ntasks-per-node=2 -- python3 -u train.py --batch-size 64",
			plugintab.Files("train.py", torchScript), "srun", 2, "srun -l -N 1 --ntasks-per-node=2 -- python3 -u train.py --batch-size 32 --grad-accum-steps 2"},
		{"pytorch, srun torchrun", pytorch.New(), "srun -N 2 torchrun --nproc-per-node 2 train.py --batch-size 64",
			plugintab.Files("train.py", torchScript), "torchrun", 4, "srun -N 2 torchrun --nproc-per-node 2 train.py --batch-size 32 --grad-accum-steps 2"},
		{"transformers", transformers.New(), "srun -n 4 python run.py --per_device_train_batch_size 8 --output_dir out",
			plugintab.Files("run.py", hfScript), "srun", 4, "srun -n 4 python run.py --per_device_train_batch_size 4 --output_dir out --gradient_accumulation_steps 2"},
		{"transformers, srun accelerate launch", transformers.New(), "srun -N 2 accelerate launch --num_processes 4 run.py --per_device_train_batch_size 8 --output_dir out",
			plugintab.Files("run.py", hfScript), "accelerate", 8, ""},
		{"tensorflow", tensorflow.New(), "srun -n 4 python train.py --batch_size 64", plugintab.Files("train.py", kerasScript), "srun", 4, ""},
		{"jax", jax.New(), "srun --ntasks 8 python -m train", plugintab.Files("train.py", jaxScript), "srun", 8, ""},
		{"generic", generic.New(), "srun -n 2 ./train --bsz 8",
			nil, "srun", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []plugintab.Option
			if tt.files == nil {
				opts = append(opts, plugintab.Flags(map[string]string{"batch_size": "--bsz"}))
			}
			cmd := plugintab.Command(tt.argv, tt.files, opts...)
			a := plugintab.Analyze(t, tt.f, cmd)
			if a.Launcher != tt.launcher || a.WorldSize != tt.world {
				t.Errorf("Analyze(%s) = launcher %q world %d, want %q %d", tt.argv, a.Launcher, a.WorldSize, tt.launcher, tt.world)
			}
			if tt.batch == "" {
				return
			}
			fix := sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}
			if strings.Contains(tt.argv, "per_device") {
				fix = sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 2}
			}
			got := plugintab.MustApply(t, tt.f, cmd, fix)
			if s := plugintab.ArgvText(got.Argv); s != tt.batch {
				t.Errorf("batch fix:\n got %s\nwant %s", s, tt.batch)
			}
		})
	}
}
