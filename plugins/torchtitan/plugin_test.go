package torchtitan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const llama3TOML = `[job]
dump_folder = "./outputs"

[training]
local_batch_size = 8
seq_len = 8192
steps = 1000

[activation_checkpoint]
mode = "selective"
`

func cmd(argv string, files map[string]string, env ...string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env(append([]string{"PATH", "/nonexistent-vramrun-test"}, env...)...))
}

func TestLocalBatchWithTheGlobalPinned(t *testing.T) {
	files := map[string]string{"llama3_8b.toml": llama3TOML}
	c := cmd("torchrun --nproc_per_node=8 -m torchtitan.train --job.config_file llama3_8b.toml --training.local_batch_size 4", files)
	a := plugintab.Analyze(t, New(), c)
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"batch_size":4`) || !strings.Contains(got, `"grad_accumulation":1`) || a.WorldSize != 8 {
		t.Errorf("knobs %s world %d", got, a.WorldSize)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 2},
		"torchrun --nproc_per_node=8 -m torchtitan.train --job.config_file llama3_8b.toml --training.local_batch_size 2 --training.global_batch_size 32", nil,
		"--training.global_batch_size 32, --training.local_batch_size 2")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"torchrun --nproc_per_node=8 -m torchtitan.train --job.config_file llama3_8b.toml --training.local_batch_size 4 --activation_checkpoint.mode full", nil,
		"--activation_checkpoint.mode full")
	sh := cmd("./run_train.sh --training.global_batch_size 64", files, "CONFIG_FILE", "llama3_8b.toml", "NGPU", "1")
	a = plugintab.Analyze(t, New(), sh)
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"batch_size":8`) || !strings.Contains(got, `"grad_accumulation":8`) {
		t.Errorf("run_train.sh knobs %s, want local 8 from CONFIG_FILE and accumulation 64/8 on NGPU=1", got)
	}
}

func TestBooleansAreTyroFlags(t *testing.T) {
	files := map[string]string{"llama3_8b.toml": llama3TOML}
	c := cmd("torchrun --nproc_per_node=1 -m torchtitan.train --job.config_file llama3_8b.toml --training.no-enable-cpu-offload", files)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"offload":false`) {
		t.Errorf("knobs %s", got)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload},
		"torchrun --nproc_per_node=1 -m torchtitan.train --job.config_file llama3_8b.toml --training.enable_cpu_offload", nil, "--training.enable_cpu_offload")
	on := cmd("torchrun -m torchtitan.train --job.config_file llama3_8b.toml --training.enable_cpu_offload", files)
	_, err := plugintab.Apply(t, New(), on, sdk.Fix{ID: sdk.FixCPUOffload})
	plugintab.WantUnsupported(t, err, sdk.FixCPUOffload, "already on (training.enable_cpu_offload)")
}

// TestTrialWritesUnderTheScratchFolder: job.dump_folder is the scratch
// folder; checkpoints, W&B and TensorBoard are off, and validation where
// the config turns it on. The user's switches become tyro's negative
// flags in place, not one more flag each.
func TestTrialWritesUnderTheScratchFolder(t *testing.T) {
	files := map[string]string{"llama3_8b.toml": llama3TOML, "val.toml": llama3TOML + "\n[validation]\nenabled = true\n"}
	trial := sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}
	plugintab.WantApplied(t, New(), cmd("torchrun --nproc_per_node=8 -m torchtitan.train --job.config_file llama3_8b.toml --checkpoint.enable --metrics.enable_wandb --job.dump-folder=out --metrics.no_enable_wandb", files), trial,
		"torchrun --nproc_per_node=8 -m torchtitan.train --job.config_file llama3_8b.toml --checkpoint.no-enable --job.dump-folder=/s --metrics.no-enable-wandb --metrics.no-enable-tensorboard", nil,
		"--job.dump_folder /s, --checkpoint.no-enable, --metrics.no-enable-wandb, --metrics.no-enable-tensorboard")
	plugintab.WantApplied(t, New(), cmd("./run_train.sh", files, "CONFIG_FILE", "val.toml"), trial,
		"./run_train.sh --job.dump_folder /s --checkpoint.no-enable --metrics.no-enable-wandb --metrics.no-enable-tensorboard --validation.no-enabled", nil,
		"--job.dump_folder /s, --checkpoint.no-enable, --metrics.no-enable-wandb, --metrics.no-enable-tensorboard, --validation.no-enabled")
	// The profiler's folders may be absolute (os.path.join then drops the
	// dump folder): a trial turns profiling and memory snapshots off where
	// the file or the command turns them on.
	files["prof.toml"] = llama3TOML + "\n[profiling]\nenable_profiling = true\nsave_traces_folder = \"/data/traces\"\n"
	plugintab.WantApplied(t, New(), cmd("torchrun -m torchtitan.train --job.config_file prof.toml --profiling.enable-memory-snapshot", files), trial,
		"torchrun -m torchtitan.train --job.config_file prof.toml --profiling.no-enable-memory-snapshot --job.dump_folder /s --checkpoint.no-enable --metrics.no-enable-wandb --metrics.no-enable-tensorboard --profiling.no-enable-profiling", nil,
		"--job.dump_folder /s, --checkpoint.no-enable, --metrics.no-enable-wandb, --metrics.no-enable-tensorboard, --profiling.no-enable-profiling, --profiling.no-enable-memory-snapshot")
	plugintab.WantRefused(t, New(), cmd("torchrun -m torchtitan.train --job.config_file missing.toml", files), trial, "missing.toml")
}
