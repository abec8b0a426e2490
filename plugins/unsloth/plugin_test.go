package unsloth

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const cfgYAML = `model:
  name: unsloth/Llama-3.2-1B-Instruct
training:
  batch_size: 8
  gradient_accumulation_steps: 2
  gradient_checkpointing: none
`

func TestFlatFlagsOverTheSections(t *testing.T) {
	files := map[string]string{"cfg.yaml": cfgYAML}
	c := plugintab.Command("unsloth train --config cfg.yaml --batch-size 16", files)
	a := plugintab.Analyze(t, New(), c)
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"batch_size":16`) || !strings.Contains(got, `"grad_accumulation":2`) ||
		!strings.Contains(got, `"grad_checkpointing":false`) {
		t.Errorf("knobs %s, want the flag's 16 over the file's 8, accumulation 2, checkpointing none", got)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4},
		"unsloth train --config cfg.yaml --batch-size 8 --gradient-accumulation-steps 4", nil,
		"--batch-size 8, --gradient-accumulation-steps 4")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"unsloth train --config cfg.yaml --batch-size 16 --gradient-checkpointing unsloth", nil, "--gradient-checkpointing unsloth")
	if got := plugintab.Recognize(t, New(), plugintab.Command("unsloth studio", nil)); got.Confidence != 0 {
		t.Errorf("unsloth studio claimed")
	}
	d, _ := New().Describe(t.Context(), sdk.DescribeRequest{})
	if err := d.Validate(); err != nil || len(d.Patterns) != 1 {
		t.Errorf("description %+v: %v", d, err)
	}
}

func TestTrialsWriteToTheScratchFolder(t *testing.T) {
	trial := sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}
	c := plugintab.Command("unsloth train --config cfg.yaml --output-dir out --save-steps 10 --enable-wandb --wandb-project p --resume --enable-tensorboard", nil)
	plugintab.WantApplied(t, New(), c, trial,
		"unsloth train --config cfg.yaml --output-dir /s --save-steps 0 --wandb-project p --no-enable-wandb --no-enable-tensorboard",
		map[string]string{"UNSLOTH_COMPILE_LOCATION": "/s/unsloth_compiled_cache"},
		"--output-dir /s --save-steps 0 --no-enable-wandb --no-enable-tensorboard UNSLOTH_COMPILE_LOCATION=/s/unsloth_compiled_cache")
	// An absolute cache folder of the user's own is not the working folder:
	// it stays; an explicit checkpoint to resume from goes.
	c = plugintab.Command("unsloth train --model m --resume-from-checkpoint outputs/checkpoint-10", nil,
		plugintab.Env("UNSLOTH_COMPILE_LOCATION", "/cache/unsloth"))
	plugintab.WantApplied(t, New(), c, trial,
		"unsloth train --model m --output-dir /s --save-steps 0 --no-enable-wandb --no-enable-tensorboard", nil,
		"--output-dir /s --save-steps 0 --no-enable-wandb --no-enable-tensorboard")
}

// TestOneProcessWhateverTheGPUs: Unsloth's CLI trains in one worker
// process, on one GPU, however many the job sees.
func TestOneProcessWhateverTheGPUs(t *testing.T) {
	c := plugintab.Command("unsloth train --config cfg.yaml", map[string]string{"cfg.yaml": cfgYAML})
	c.GPUs = 4
	if a := plugintab.Analyze(t, New(), c); a.WorldSize != 1 {
		t.Errorf("world %d, want 1", a.WorldSize)
	}
}
