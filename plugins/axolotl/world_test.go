package axolotl

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
)

// TestWorldIsTheLaunchers: axolotl train execs accelerate launch (or
// torchrun) with the arguments after "--" and the legacy --num-processes:
// its world is that launcher's, a process per GPU the job sees where
// accelerate has no config; python and ray train without one.
func TestWorldIsTheLaunchers(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML, "acc.yaml": "num_processes: 2\n"}
	withDefault := map[string]string{"cfg.yml": loraYAML, "/home/u/.cache/huggingface/accelerate/default_config.yaml": "num_processes: 6\n"}
	tests := []struct {
		argv     string
		files    map[string]string
		want     int
		launcher string
	}{
		{"axolotl train cfg.yml", files, 4, "accelerate"},
		{"axolotl train cfg.yml", withDefault, 6, "accelerate"},
		{"axolotl train cfg.yml -- --num_processes 2", files, 2, "accelerate"},
		{"axolotl train cfg.yml --num-processes 3", files, 3, "accelerate"},
		{"axolotl train cfg.yml -- --config_file acc.yaml", files, 2, "accelerate"},
		{"axolotl train --launcher torchrun cfg.yml", files, 1, "torchrun"},
		{"axolotl train --launcher=torchrun cfg.yml -- --nproc_per_node gpu", files, 4, "torchrun"},
		{"axolotl train --launcher torchrun cfg.yml --num-processes 2", files, 2, "torchrun"},
		{"axolotl train --launcher python cfg.yml", files, 1, ""},
		{"axolotl train --launcher torchrun cfg.yml --use-ray", files, 1, ""},
		{"srun -n 2 axolotl train cfg.yml", files, 2, "accelerate"},
		{"accelerate launch -m axolotl.cli.train cfg.yml", files, 4, "accelerate"},
	}
	for _, tt := range tests {
		c := cmd(tt.argv, tt.files, "HOME", "/home/u")
		c.GPUs = 4
		a := plugintab.Analyze(t, New(), c)
		if a.WorldSize != tt.want || a.Launcher != tt.launcher || len(a.Notes) != 0 {
			t.Errorf("%s (4 GPUs): world %d launcher %q notes %q, want %d, %q and no note", tt.argv, a.WorldSize, a.Launcher, a.Notes, tt.want, tt.launcher)
		}
	}
	a := plugintab.Analyze(t, New(), cmd("axolotl train cfg.yml", files, "HOME", "/home/u"))
	if want := "axolotl train's accelerate starts a process per GPU, and vramrun cannot count"; a.WorldSize != 1 || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], want) {
		t.Errorf("no GPU count: world %d notes %q, want 1 and %q", a.WorldSize, a.Notes, want)
	}
}
