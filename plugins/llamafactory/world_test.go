package llamafactory

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
)

// TestWorldIsTheCLIs: llamafactory-cli train relaunches itself under
// torchrun when forced or when it sees more than one GPU, with
// NPROC_PER_NODE (else a process per GPU it sees) x NNODES; src/train.py
// and the launcher module are what their own launcher starts.
func TestWorldIsTheCLIs(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML}
	tests := []struct {
		argv     string
		gpus     int
		env      []string
		want     int
		launcher string
	}{
		{"llamafactory-cli train cfg.yaml", 4, nil, 4, "torchrun"},
		{"llamafactory-cli train cfg.yaml", 1, nil, 1, ""},
		{"lmf train cfg.yaml", 4, []string{"NPROC_PER_NODE", "2", "NNODES", "2"}, 4, "torchrun"},
		{"env NPROC_PER_NODE=3 llamafactory-cli train cfg.yaml", 4, nil, 3, "torchrun"},
		{"llamafactory-cli train cfg.yaml", 1, []string{"FORCE_TORCHRUN", "1"}, 1, "torchrun"},
		{"llamafactory-cli train cfg.yaml", 2, []string{"USE_MCA", "true"}, 2, "torchrun"},
		{"llamafactory-cli train cfg.yaml", 4, []string{"USE_RAY", "1"}, 1, ""},
		{"llamafactory-cli train cfg.yaml", 0, []string{"CUDA_VISIBLE_DEVICES", "0,1"}, 2, "torchrun"},
		{"python -m llamafactory.launcher cfg.yaml", 4, []string{"FORCE_TORCHRUN", "1"}, 1, "python -m"},
		{"torchrun --nproc_per_node 2 -m llamafactory.launcher cfg.yaml", 4, nil, 2, "torchrun"},
	}
	for _, tt := range tests {
		c := cmd(tt.argv, files, tt.env...)
		c.GPUs = tt.gpus
		a := plugintab.Analyze(t, New(), c)
		if a.WorldSize != tt.want || a.Launcher != tt.launcher || len(a.Notes) != 0 {
			t.Errorf("%s %v (%d GPUs): world %d launcher %q notes %q, want %d, %q and no note", tt.argv, tt.env, tt.gpus, a.WorldSize, a.Launcher, a.Notes, tt.want, tt.launcher)
		}
	}
}

// TestWorldUncounted: where the GPUs the CLI sees are not known (no NVML,
// srun), a note says the effective batch is one process's.
func TestWorldUncounted(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML}
	for argv, want := range map[string]string{
		"llamafactory-cli train cfg.yaml":                      "llamafactory-cli train (under torchrun when it sees more than one GPU) starts a process per GPU",
		"env FORCE_TORCHRUN=1 llamafactory-cli train cfg.yaml": "llamafactory-cli train's torchrun starts a process per GPU",
	} {
		a := plugintab.Analyze(t, New(), cmd(argv, files))
		if a.WorldSize != 1 || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], want) {
			t.Errorf("%s: world %d notes %q, want 1 and %q", argv, a.WorldSize, a.Notes, want)
		}
	}
	c := cmd("srun -n 2 llamafactory-cli train cfg.yaml", files)
	c.GPUs = 4
	if a := plugintab.Analyze(t, New(), c); a.WorldSize != 2 || len(a.Notes) != 1 {
		t.Errorf("srun: world %d notes %q, want srun's 2 tasks and a note", a.WorldSize, a.Notes)
	}
}
