package trl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// installTRL lays out trl's accelerate_configs in a new site folder and
// writes a python3 whose Locate probe answers with that trl folder. It
// returns the folder to put on PATH.
func installTRL(t *testing.T, configs map[string]string) string {
	t.Helper()
	site, bin := t.TempDir(), t.TempDir()
	pkg := filepath.Join(site, "trl")
	if err := os.MkdirAll(filepath.Join(pkg, "accelerate_configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range configs {
		if err := os.WriteFile(filepath.Join(pkg, "accelerate_configs", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte("#!/bin/sh\nprintf '%s' '"+pkg+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// seeing is the command with PATH bin and HOME set (accelerate's default
// config lives under it), the job seeing gpus GPUs.
func seeing(argv string, files map[string]string, bin string, gpus int) sdk.Command {
	c := plugintab.Command(argv, files, plugintab.Env("PATH", bin, "HOME", "/home/u"))
	c.GPUs = gpus
	return c
}

// TestWorldIsAccelerates: trl's accelerate launch starts --num_processes,
// else the config --config_file or --accelerate_config names (a file, or
// TRL's bundled NAME.yaml, found where the job's Python has trl), else
// the default config's, else a process per GPU the job sees.
func TestWorldIsAccelerates(t *testing.T) {
	bin := installTRL(t, map[string]string{"zero2.yaml": "distributed_type: DEEPSPEED\nnum_processes: 8\n",
		"multi_gpu.yaml": "distributed_type: MULTI_GPU\nnum_processes: 3\n"})
	files := map[string]string{"sft.yaml": sftYAML, "acc.yaml": "num_processes: 2\n",
		"zero.yaml": sftYAML + "accelerate_config: zero2\n",
		"/home/u/.cache/huggingface/accelerate/default_config.yaml": "num_processes: 5\n"}
	nohome := map[string]string{"sft.yaml": sftYAML, "acc.yaml": "num_processes: 2\n"}
	tests := []struct {
		argv  string
		files map[string]string
		gpus  int
		want  int
	}{
		{"trl sft --config sft.yaml", nohome, 4, 4},
		{"trl sft --config sft.yaml", files, 4, 5},
		{"trl sft --config sft.yaml --num_processes 2", nohome, 4, 2},
		{"trl sft --config sft.yaml --cpu", nohome, 4, 1},
		{"trl sft --config sft.yaml --config_file acc.yaml", nohome, 4, 2},
		{"trl sft --config sft.yaml --accelerate_config acc.yaml", nohome, 4, 2},
		{"trl sft --config sft.yaml --accelerate_config zero2", nohome, 4, 8},
		{"trl sft --config sft.yaml --accelerate_config=multi_gpu", nohome, 1, 3},
		{"trl sft --config zero.yaml", files, 4, 8},
		{"trl dpo --config sft.yaml --accelerate_config zero2 --num_processes 2", nohome, 4, 2},
		// A bundled name that is not there fails in TRL: unknown, as one.
		{"trl sft --config sft.yaml --accelerate_config zero9", nohome, 4, 1},
		{"srun -n 2 trl sft --config sft.yaml", nohome, 4, 2},
	}
	for _, tt := range tests {
		a := plugintab.Analyze(t, New(), seeing(tt.argv, tt.files, bin, tt.gpus))
		if a.WorldSize != tt.want || len(a.Notes) != 0 {
			t.Errorf("%s (%d GPUs): world %d notes %q, want %d and no note", tt.argv, tt.gpus, a.WorldSize, a.Notes, tt.want)
		}
	}
}

// TestWorldUnknown: a process per GPU that vramrun cannot count, and a
// bundled config where the job's Python has no trl, are one process,
// with a note that says so.
func TestWorldUnknown(t *testing.T) {
	files := map[string]string{"sft.yaml": sftYAML}
	for argv, want := range map[string]string{
		"trl sft --config sft.yaml":                            "trl sft's accelerate launch starts a process per GPU, and vramrun cannot count",
		"trl grpo --config sft.yaml --accelerate_config zero3": "--accelerate_config zero3 is one of TRL's bundled configs, which vramrun could not read (no python3 or python found",
	} {
		a := plugintab.Analyze(t, New(), seeing(argv, files, "/nonexistent-vramrun-test", 0))
		if a.WorldSize != 1 || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], want) {
			t.Errorf("%s: world %d notes %q, want 1 and a note %q", argv, a.WorldSize, a.Notes, want)
		}
	}
}

// TestGRPOCountsTheGPUs: GRPO's divisibility counts every process
// accelerate starts, a process per GPU seen.
func TestGRPOCountsTheGPUs(t *testing.T) {
	c := seeing("trl grpo --per_device_train_batch_size 16 --generation_batch_size 48", nil, "/nonexistent-vramrun-test", 4)
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
		"generation_batch_size 48 is not divisible by the new per-device batch 8 x 4 processes")
}
