package host

import (
	"strings"
	"testing"
)

// TestJobGPUs: the GPUs vramrun sees are the job's only when its
// processes run here.
func TestJobGPUs(t *testing.T) {
	for argv, want := range map[string]int{
		"python3 -m lightning_main fit":                           4,
		"srun python3 train.py":                                   0,
		"ray job submit -- python3 -m openrlhf.cli.train_ppo_ray": 0,
	} {
		if got := JobGPUs(strings.Fields(argv), 4); got != want {
			t.Errorf("JobGPUs(%q, 4) = %d, want %d", argv, got, want)
		}
	}
}
