package trl

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const sftYAML = `model_name_or_path: Qwen/Qwen2.5-0.5B
dataset_name: trl-lib/Capybara
per_device_train_batch_size: 16
output_dir: Qwen2.5-0.5B-SFT
`

func cmd(argv string, files map[string]string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env("PATH", "/nonexistent-vramrun-test"))
}

func TestRecognizeAndDefaults(t *testing.T) {
	files := map[string]string{"sft.yaml": sftYAML}
	if got := plugintab.Recognize(t, New(), cmd("uv run trl sft --config sft.yaml", files)); got.Confidence != 95 {
		t.Errorf("confidence %d", got.Confidence)
	}
	if got := plugintab.Recognize(t, New(), cmd("trl env", files)); got.Confidence != 0 {
		t.Errorf("trl env claimed")
	}
	a := plugintab.Analyze(t, New(), cmd("trl sft --config sft.yaml --num_processes 2 --per_device_train_batch_size 8", files))
	got := plugintab.KnobsText(a.Knobs)
	for _, want := range []string{`"batch_size":8`, `"grad_accumulation":1`, `"precision":"bf16"`, `"grad_checkpointing":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s (the flag wins over the file; TRL's defaults)", got, want)
		}
	}
	if a.WorldSize != 2 || a.Checkpoints != nil {
		t.Errorf("world %d checkpoints %+v", a.WorldSize, a.Checkpoints)
	}
	a = plugintab.Analyze(t, New(), cmd("trl sft --config sft.yaml --bf16 false --gradient_checkpointing false", files))
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"precision":"fp32"`) || !strings.Contains(got, `"grad_checkpointing":false`) {
		t.Errorf("knobs %s, want the defaults turned off", got)
	}
}

func TestFixesAreFlags(t *testing.T) {
	files := map[string]string{"sft.yaml": sftYAML}
	c := cmd("trl sft --config sft.yaml", files)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
		"trl sft --config sft.yaml --per_device_train_batch_size 8 --gradient_accumulation_steps 2", nil,
		"--per_device_train_batch_size 8, --gradient_accumulation_steps 2")
	_, err := plugintab.Apply(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing})
	plugintab.WantUnsupported(t, err, sdk.FixGradCheckpointing, "already on (TRL's default)")
	off := cmd("trl sft --config sft.yaml --gradient_checkpointing false", files)
	plugintab.WantApplied(t, New(), off, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"trl sft --config sft.yaml --gradient_checkpointing true", nil, "--gradient_checkpointing true")
}
