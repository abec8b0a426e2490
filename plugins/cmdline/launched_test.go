package cmdline

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestLaunched: the launcher command a tool builds counts as a typed one
// behind the command's own wrappers: a process per GPU seen, the
// accelerate config the job's env names, srun's tasks (whose GPUs vramrun
// does not see) times the launcher's, ray job submit (whose GPUs vramrun
// does not see either), a shell that runs the tool dropped.
func TestLaunched(t *testing.T) {
	cfg := map[string][]byte{"/h/accelerate/default_config.yaml": []byte("distributed_type: MULTI_GPU\nnum_processes: 8\n")}
	accelerate := strings.Fields("accelerate launch -m axolotl.cli.train cfg.yml")
	tests := []struct {
		argv     string
		files    map[string][]byte
		launcher []string
		gpus     int
		want     int
		name     string
	}{
		{"axolotl train cfg.yml", nil, accelerate, 4, 4, "accelerate"},
		{"axolotl train cfg.yml", nil, accelerate, 0, 0, "accelerate"},
		{"uv run axolotl train cfg.yml", nil, accelerate, 2, 2, "accelerate"},
		{"env HF_HOME=/h axolotl train cfg.yml", cfg, accelerate, 4, 8, "accelerate"},
		{"srun -n 2 axolotl train cfg.yml", nil, accelerate, 4, 2, "accelerate"},
		{"srun -n 2 -- axolotl train cfg.yml", nil, strings.Fields("torchrun --nproc_per_node 3 x.py"), 4, 6, "torchrun"},
		// Ray runs the job on its cluster: no GPU of this machine counts,
		// and a launcher that gets options behind a bare ray job submit
		// gets the "--" that keeps them from ray.
		{"ray job submit -- axolotl train cfg.yml", nil, accelerate, 4, 1, "accelerate"},
		{"ray job submit ./run_train.sh", nil, strings.Fields("torchrun --nproc_per_node=gpu -m torchtitan.train"), 8, 0, "torchrun"},
		{"bash run_train.sh", nil, strings.Fields("torchrun --nproc_per_node=auto -m torchtitan.train"), 2, 2, "torchrun"},
		{"env NGPU=4 ./run_train.sh", nil, strings.Fields("torchrun --nproc_per_node=4 -m torchtitan.train"), 8, 4, "torchrun"},
	}
	for _, tt := range tests {
		cmd := sdk.Command{Argv: strings.Fields(tt.argv), Env: map[string]string{"HOME": "/home/u"}, Files: tt.files, GPUs: tt.gpus}
		inv, err := Parse(cmd.Argv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Launched(cmd, inv, tt.launcher...)
		if err != nil || got.WorldSize != tt.want || got.Launcher != tt.name {
			t.Errorf("%s running %v (%d GPUs seen): world %d, launcher %q (%v); want %d, %s", tt.argv, tt.launcher, tt.gpus, got.WorldSize, got.Launcher, err, tt.want, tt.name)
		}
	}
}

// TestAccelerateEnvPrefix: `env HF_HOME=...` in front of accelerate names
// the default config it reads.
func TestAccelerateEnvPrefix(t *testing.T) {
	cmd := sdk.Command{Argv: strings.Fields("env HF_HOME=/h accelerate launch train.py"), Env: map[string]string{"HOME": "/home/u"},
		Files: map[string][]byte{"/h/accelerate/default_config.yaml": []byte("num_processes: 8\n")}, GPUs: 2}
	if inv, err := ParseCommand(cmd); err != nil || inv.WorldSize != 8 {
		t.Errorf("%s: world %d (%v), want the config's 8", cmd.Argv, inv.WorldSize, err)
	}
}
