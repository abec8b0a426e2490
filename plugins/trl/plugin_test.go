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

func TestModelFixes(t *testing.T) {
	files := map[string]string{"sft.yaml": sftYAML}
	c := cmd("trl sft --config sft.yaml", files)
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss}, "already on (loss_type chunked_nll, TRL's default)")
	plugintab.WantApplied(t, New(), cmd("trl sft --config sft.yaml --loss_type nll", files), sdk.Fix{ID: sdk.FixFusedLoss},
		"trl sft --config sft.yaml --loss_type chunked_nll", nil, "--loss_type chunked_nll")
	plugintab.WantRefused(t, New(), cmd("trl sft --config sft.yaml --loss_type dft", files), sdk.Fix{ID: sdk.FixFusedLoss},
		"loss_type dft is not the plain cross-entropy")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixActivationOffload},
		"trl sft --config sft.yaml --activation_offloading true", nil, "--activation_offloading true")
	plugintab.WantRefused(t, New(), cmd("trl sft --config sft.yaml --activation_offloading", files), sdk.Fix{ID: sdk.FixActivationOffload},
		"already on (activation_offloading)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixEvalAccumulation},
		"trl sft --config sft.yaml --eval_accumulation_steps 1", nil, "--eval_accumulation_steps 1")

	dpo := cmd("trl dpo --config sft.yaml", files)
	plugintab.WantRefused(t, New(), dpo, sdk.Fix{ID: sdk.FixFusedLoss}, "trl dpo computes its loss from the whole logits")
	plugintab.WantRefused(t, New(), dpo, sdk.Fix{ID: sdk.FixActivationOffload}, "only trl sft has activation_offloading")
	plugintab.WantApplied(t, New(), dpo, sdk.Fix{ID: sdk.FixEvalAccumulation},
		"trl dpo --config sft.yaml --eval_accumulation_steps 1", nil, "--eval_accumulation_steps 1")
}

// TestGRPOKeepsItsDivisibility: GRPO's generation batch must hold whole
// prompt groups of num_generations, and its evaluation batch x processes
// too.
func TestGRPOKeepsItsDivisibility(t *testing.T) {
	// The default: steps_per_generation follows the accumulation, so micro x
	// accumulation kept keeps the generation batch.
	c := cmd("trl grpo --per_device_train_batch_size 16 --num_generations 8", nil)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
		"trl grpo --per_device_train_batch_size 8 --num_generations 8 --gradient_accumulation_steps 2", nil,
		"--per_device_train_batch_size 8, --gradient_accumulation_steps 2")
	// An explicit steps_per_generation is scaled with the micro-batch.
	spg := cmd("trl grpo --per_device_train_batch_size 16 --steps_per_generation 2", nil)
	plugintab.WantApplied(t, New(), spg, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
		"trl grpo --per_device_train_batch_size 8 --steps_per_generation 4 --gradient_accumulation_steps 2", nil,
		"--per_device_train_batch_size 8, --gradient_accumulation_steps 2, --steps_per_generation 4")
	plugintab.WantRefused(t, New(), cmd("trl grpo --per_device_train_batch_size 16 --generation_batch_size 48", nil),
		sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 5, GradAccumulation: 3}, "generation_batch_size 48 is not divisible by the new per-device batch 5 x 1 processes")
	// The evaluation batch goes down to a multiple of num_generations / processes.
	ev := cmd("trl grpo --num_processes 2 --num_generations 8 --per_device_eval_batch_size 16", nil)
	got := plugintab.MustApply(t, New(), ev, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 11})
	if plugintab.ArgvText(got.Argv) != "trl grpo --num_processes 2 --num_generations 8 --per_device_eval_batch_size 8" || len(got.Notes) != 1 {
		t.Errorf("argv %s notes %q, want eval batch 8 (8 x 2 processes divisible by 8) and a note", plugintab.ArgvText(got.Argv), got.Notes)
	}
	plugintab.WantRefused(t, New(), cmd("trl grpo --num_generations 8", nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 7},
		"no evaluation batch up to 7 makes the evaluation batch x 1 processes divisible by 8 generations")
}

// TestAutoFindNotedAndOffInTrials: the Trainer's own batch search hides
// OOMs and would have a trial measure a micro-batch vramrun did not set.
func TestAutoFindNotedAndOffInTrials(t *testing.T) {
	on := cmd("trl sft --config sft.yaml", map[string]string{"sft.yaml": sftYAML + "auto_find_batch_size: true\n"})
	off := cmd("trl sft --config sft.yaml", map[string]string{"sft.yaml": sftYAML})
	plugintab.WantSetting(t, New(), on, off, "auto_find_batch_size", "auto_find_batch_size is on: ", "--auto_find_batch_size False")
}
