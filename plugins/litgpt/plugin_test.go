package litgpt

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const loraYAML = `checkpoint_dir: checkpoints/meta-llama/Llama-3.2-1B
out_dir: out/finetune/lora-llama-3.2-1b
precision: bf16-true
devices: 1
train:
  global_batch_size: 16
  micro_batch_size: 4
`

func cmd(argv string, files map[string]string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env("PATH", "/nonexistent-vramrun-test"))
}

func TestGlobalBatchIsTheTruth(t *testing.T) {
	files := map[string]string{"lora.yaml": loraYAML}
	// A flag before --config is overridden by the file; one after wins.
	a := plugintab.Analyze(t, New(), cmd("litgpt finetune_lora --train.micro_batch_size 1 --config lora.yaml --devices 2", files))
	got := plugintab.KnobsText(a.Knobs)
	if !strings.Contains(got, `"batch_size":4`) || !strings.Contains(got, `"grad_accumulation":2`) || a.WorldSize != 2 {
		t.Errorf("knobs %s world %d, want micro 4, accumulation 16/2/4 = 2, world 2", got, a.WorldSize)
	}
	c := cmd("litgpt finetune_lora --config lora.yaml", files)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 8},
		"litgpt finetune_lora --config lora.yaml --train.micro_batch_size 2", nil,
		"--train.micro_batch_size 2 (train.global_batch_size stays; litgpt derives the accumulation)")
	// The user's flag before --config, which the file overrides: the cut
	// goes after it, where it wins.
	before := cmd("litgpt finetune_lora --train.micro_batch_size 1 --config lora.yaml --devices 2", files)
	plugintab.WantApplied(t, New(), before, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 8},
		"litgpt finetune_lora --config lora.yaml --devices 2 --train.micro_batch_size 2", nil,
		"--train.micro_batch_size 2 (train.global_batch_size stays; litgpt derives the accumulation)")
	_, err := plugintab.Apply(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	plugintab.WantUnsupported(t, err, sdk.FixMixedPrecision, "already in bf16 (precision bf16-true)")
	// --devices auto (or -1) is every GPU the job sees; one when vramrun
	// cannot tell how many. pretrain's default is auto, finetune's 1.
	for argv, want := range map[string][2]int{
		"litgpt finetune_lora --config lora.yaml --devices auto": {1, 4},
		"litgpt finetune_lora --config lora.yaml --devices=-1":   {1, 4},
		"litgpt finetune_lora --config lora.yaml":                {1, 1},
		"litgpt pretrain pythia-14m --train.micro_batch_size 2":  {1, 4},
		"litgpt pretrain pythia-14m --devices 2":                 {2, 2},
	} {
		for i, gpus := range []int{0, 4} {
			c := cmd(argv, files)
			c.GPUs = gpus
			if a := plugintab.Analyze(t, New(), c); a.WorldSize != want[i] {
				t.Errorf("%s with %d GPUs seen: world %d, want %d", argv, gpus, a.WorldSize, want[i])
			}
		}
	}
	seen := cmd("litgpt finetune_lora --config lora.yaml --devices auto", files)
	seen.GPUs = 4
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), seen).Knobs); !strings.Contains(got, `"grad_accumulation":1`) {
		t.Errorf("--devices auto on 4 GPUs: knobs %s, want accumulation 16/4/4 = 1", got)
	}
	if got := plugintab.Recognize(t, New(), cmd("litgpt chat checkpoints/x", nil)); got.Confidence != 0 {
		t.Errorf("litgpt chat claimed")
	}
}

// TestTrialWritesUnderTheScratchFolder: --out_dir is the scratch folder,
// with no step checkpoint, CSV logs, no final validation and no resume.
// A flag that a later --config would override is moved to the end; one
// after it is edited in place.
func TestTrialWritesUnderTheScratchFolder(t *testing.T) {
	files := map[string]string{"lora.yaml": loraYAML + "logger_name: wandb\neval:\n  initial_validation: true\n"}
	trial := sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}
	plugintab.WantApplied(t, New(), cmd("litgpt finetune_full checkpoints/x --out_dir mine --config lora.yaml --resume auto --train.save_interval=5", files), trial,
		"litgpt finetune_full checkpoints/x --config lora.yaml --resume false --train.save_interval=null --out_dir /s --logger_name csv --eval.final_validation false --eval.initial_validation false", nil,
		"--out_dir /s, --logger_name csv, --train.save_interval null, --eval.final_validation false, --eval.initial_validation false, --resume false")
	plugintab.WantApplied(t, New(), cmd("litgpt pretrain pythia-14m --out_dir=mine", nil), trial,
		"litgpt pretrain pythia-14m --out_dir=/s --logger_name csv --train.save_interval null --eval.final_validation false", nil,
		"--out_dir /s, --logger_name csv, --train.save_interval null, --eval.final_validation false")
	plugintab.WantRefused(t, New(), cmd("litgpt finetune checkpoints/x --config missing.yaml", nil), trial, "missing.yaml")
}
