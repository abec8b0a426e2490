package pyscript_test

import (
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/plugins/generic"
	"github.com/vramrun/vramrun/plugins/jax"
	"github.com/vramrun/vramrun/plugins/lightning"
	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/tensorflow"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// Each plugin's kind of script, so that each analyses a command of its own.
var scripts = map[string]string{
	"pytorch": "import argparse\nimport torch\np = argparse.ArgumentParser()\np.add_argument('--batch-size', type=int, default=8)\n",
	"transformers": "from transformers import HfArgumentParser, TrainingArguments, Trainer\n" +
		"parser = HfArgumentParser((TrainingArguments,))\n",
	"lightning":  "from lightning.pytorch.cli import LightningCLI\nLightningCLI()\n",
	"tensorflow": "import argparse\nimport tensorflow as tf\n",
	"jax":        "import argparse\nimport jax\n",
	"generic":    "print('no framework')\n",
}

// TestTorchrunRestartsNoteIsShared: every built-in plugin that may claim a
// torchrun command says the same about torchrun's own restarts, in the
// same words, and nothing when torchrun does not restart; the same holds
// for the notes on the launcher's GPUs and on ray job submit --no-wait.
func TestTorchrunRestartsNoteIsShared(t *testing.T) {
	plugins := map[string]sdk.Framework{"pytorch": pytorch.New(), "transformers": transformers.New(),
		"lightning": lightning.New(), "tensorflow": tensorflow.New(), "jax": jax.New(), "generic": generic.New()}
	note := []string{"torchrun restarts failed workers itself (--max_restarts 2); vramrun relaunches with a fix instead, " +
		"and may end torchrun during one of its restarts: pass --max_restarts 0 to let vramrun alone decide"}
	tests := []struct {
		name, argv string
		want       []string
	}{
		{"torchrun --max_restarts 2", "torchrun --nproc_per_node 2 --max_restarts 2 train.py fit", note},
		{"torchrun --max_restarts 0", "torchrun --nproc_per_node 2 --max_restarts 0 train.py fit", nil},
		{"torchrun's default", "torchrun --nproc_per_node 2 train.py fit", nil},
		// A process per GPU, and nothing counted them (no GPUs in the command).
		{"a process per GPU, uncounted", "torchrun --nproc_per_node gpu train.py fit", []string{"torchrun starts a process per GPU, " +
			"and vramrun cannot count the GPUs the job sees (no NVML, or behind srun): the effective batch it reports is one process's"}},
		// Ray runs the job on its cluster's GPUs, which vramrun does not see.
		{"a process per GPU behind ray job submit", "ray job submit --address=http://h:8265 -- torchrun --nproc_per_node gpu train.py fit",
			[]string{"torchrun starts a process per GPU, and vramrun cannot count the GPUs the job sees " +
				"(behind ray job submit, it runs on the Ray cluster's): the effective batch it reports is one process's"}},
		// What vramrun refuses to run, said in a plan.
		{"ray job submit --no-wait", "ray job submit --no-wait -- torchrun --nproc_per_node 2 train.py fit",
			[]string{"ray job submit --no-wait returns once the job is submitted, without waiting for it or streaming its logs, " +
				"so vramrun would see no OOM: drop --no-wait to run it under vramrun"}},
	}
	for name, p := range plugins {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				cmd := plugintab.Command(tt.argv, plugintab.Files("train.py", scripts[name]),
					plugintab.Flags(map[string]string{"batch_size": "--batch-size"}))
				if got := plugintab.Analyze(t, p, cmd).Notes; !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Notes = %q, want %q", got, tt.want)
				}
			})
		}
	}
}
