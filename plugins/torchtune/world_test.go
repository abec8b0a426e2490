package torchtune

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
)

// TestWorldIsTorchruns: tune run with torchrun options runs the recipe
// under torchrun with them, --nproc_per_node auto or gpu a process per GPU
// the job sees; without any it runs the recipe in its own process.
func TestWorldIsTorchruns(t *testing.T) {
	files := map[string]string{"my.yaml": fullYAML}
	tests := []struct {
		argv string
		gpus int
		want int
	}{
		{"tune run --nproc_per_node auto full_finetune_distributed --config my.yaml", 4, 4},
		{"tune run --nproc-per-node=gpu full_finetune_distributed --config my.yaml", 2, 2},
		{"tune run --nnodes 2 --nproc_per_node 2 full_finetune_distributed --config my.yaml", 8, 4},
		{"tune run --standalone --nproc_per_node 3 full_finetune_distributed --config my.yaml", 8, 3},
		{"tune run full_finetune_distributed --config my.yaml", 4, 1},
		{"srun -n 2 tune run --nproc_per_node 2 full_finetune_distributed --config my.yaml", 4, 4},
	}
	for _, tt := range tests {
		c := cmd(tt.argv, files)
		c.GPUs = tt.gpus
		if a := plugintab.Analyze(t, New(), c); a.WorldSize != tt.want || len(a.Notes) != 0 {
			t.Errorf("%s (%d GPUs): world %d notes %q, want %d and no note", tt.argv, tt.gpus, a.WorldSize, a.Notes, tt.want)
		}
	}
	a := plugintab.Analyze(t, New(), cmd("tune run --nproc_per_node auto full_finetune_distributed --config my.yaml", files))
	if want := "tune run's torchrun starts a process per GPU, and vramrun cannot count"; a.WorldSize != 1 || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], want) {
		t.Errorf("no GPU count: world %d notes %q, want 1 and %q", a.WorldSize, a.Notes, want)
	}
}
