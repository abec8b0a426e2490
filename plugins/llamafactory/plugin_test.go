package llamafactory

import (
	"errors"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// sftYAML is LLaMA-Factory's examples/train_lora/llama3_lora_sft.yaml, cut
// down to the keys that matter here.
const sftYAML = `### model
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8

### dataset
dataset: identity,alpaca_en_demo
template: llama3
cutoff_len: 2048

### output
output_dir: saves/llama3-8b/lora/sft
save_steps: 500

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
bf16: true
`

func cmd(argv string, files map[string]string, env ...string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env(append([]string{"PATH", "/nonexistent-vramrun-test"}, env...)...))
}

func TestRecognize(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML, "src/train.py": "from llamafactory.train.tuner import run_exp\n\ndef main():\n    run_exp()\n"}
	for argv, want := range map[string]int{
		"llamafactory-cli train cfg.yaml":                           95,
		"uv run llamafactory-cli train cfg.yaml learning_rate=1e-5": 95,
		"srun lmf train cfg.yaml":                                   95,
		"accelerate launch src/train.py cfg.yaml":                   95,
		"llamafactory-cli chat cfg.yaml":                            0,
		"python train.py cfg.yaml":                                  0,
	} {
		if got := plugintab.Recognize(t, New(), cmd(argv, files)); got.Confidence != want {
			t.Errorf("%s: confidence %d (%s), want %d", argv, got.Confidence, got.Reason, want)
		}
	}
}

func TestKnobsAsLLaMAFactoryMergesThem(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML}
	a := plugintab.Analyze(t, New(), cmd("llamafactory-cli train cfg.yaml per_device_train_batch_size=4 per_device_train_batch_size=2", files))
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"batch_size":2`) || !strings.Contains(got, `"grad_accumulation":8`) ||
		!strings.Contains(got, `"precision":"bf16"`) || !strings.Contains(got, `"grad_checkpointing":true`) {
		t.Errorf("knobs %s, want the last override's batch 2, accumulation 8 from the file, bf16, checkpointing on by default", got)
	}
	if a.Checkpoints == nil || a.Checkpoints.Globs[0] != "saves/llama3-8b/lora/sft/checkpoint-*" {
		t.Errorf("checkpoints %+v", a.Checkpoints)
	}
	a = plugintab.Analyze(t, New(), cmd("llamafactory-cli train cfg.yaml disable_gradient_checkpointing=true bf16=false", files))
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"grad_checkpointing":false`) || !strings.Contains(got, `"precision":"fp32"`) {
		t.Errorf("knobs %s, want checkpointing off and fp32 from the overrides", got)
	}
}

func TestFixesAreOverrides(t *testing.T) {
	files := map[string]string{"cfg.yaml": strings.Replace(sftYAML, "bf16: true\n", "", 1)}
	c := cmd("llamafactory-cli train cfg.yaml per_device_train_batch_size=4", files)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 16},
		"llamafactory-cli train cfg.yaml per_device_train_batch_size=2 gradient_accumulation_steps=16", nil,
		"per_device_train_batch_size=2, gradient_accumulation_steps=16")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		"llamafactory-cli train cfg.yaml per_device_train_batch_size=4 bf16=true", nil, "bf16=true")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4},
		"llamafactory-cli train cfg.yaml per_device_train_batch_size=4 per_device_eval_batch_size=4", nil, "per_device_eval_batch_size=4")
	_, err := plugintab.Apply(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing})
	plugintab.WantUnsupported(t, err, sdk.FixGradCheckpointing, "already on (LLaMA-Factory turns it on unless disable_gradient_checkpointing)")
}

func TestAllocatorOnTheTorchrunPath(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML}
	_, err := plugintab.Apply(t, New(), cmd("llamafactory-cli train cfg.yaml", files, "FORCE_TORCHRUN", "1"), sdk.Fix{ID: sdk.FixAllocator})
	plugintab.WantUnsupported(t, err, sdk.FixAllocator,
		"already in force: on its torchrun path llamafactory-cli sets PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True itself (OPTIM_TORCH is on)")
	got := plugintab.MustApply(t, New(), cmd("llamafactory-cli train cfg.yaml", files), sdk.Fix{ID: sdk.FixAllocator})
	if got.Env["PYTORCH_CUDA_ALLOC_CONF"] != "expandable_segments:True" {
		t.Errorf("env %v", got.Env)
	}
}

func TestResumeOverride(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML,
		"saves/llama3-8b/lora/sft/checkpoint-10/trainer_state.json": `{"global_step": 10, "train_batch_size": 1}`}
	got := plugintab.MustApply(t, New(), cmd("llamafactory-cli train cfg.yaml", files),
		sdk.Fix{ID: sdk.FixResume, Checkpoint: "saves/llama3-8b/lora/sft/checkpoint-10"})
	if plugintab.ArgvText(got.Argv) != "llamafactory-cli train cfg.yaml resume_from_checkpoint=saves/llama3-8b/lora/sft/checkpoint-10" ||
		len(got.Notes) != 2 {
		t.Errorf("argv %q notes %q", plugintab.ArgvText(got.Argv), got.Notes)
	}
}

func TestUnreadableConfig(t *testing.T) {
	_, err := plugintab.Apply(t, New(), cmd("llamafactory-cli train missing.yaml", nil), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 1})
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "missing.yaml") {
		t.Errorf("err %v, want the fix turned down with a reason naming the file", err)
	}
}

// TestModelFixes: Liger's kernels, LLaMA-Factory's offloaded
// checkpointing and evaluation accumulation are overrides too, each
// turned down where the command has it already.
func TestModelFixes(t *testing.T) {
	files := map[string]string{"cfg.yaml": sftYAML}
	c := cmd("llamafactory-cli train cfg.yaml", files)
	// The job's PATH has no python3: the probe cannot tell, so the fix goes on.
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss},
		"llamafactory-cli train cfg.yaml enable_liger_kernel=true", nil, "enable_liger_kernel=true")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixActivationOffload},
		"llamafactory-cli train cfg.yaml use_unsloth_gc=true", nil, "use_unsloth_gc=true")
	plugintab.WantApplied(t, New(), cmd("llamafactory-cli train cfg.yaml eval_accumulation_steps=10", files), sdk.Fix{ID: sdk.FixEvalAccumulation},
		"llamafactory-cli train cfg.yaml eval_accumulation_steps=1", nil, "eval_accumulation_steps=1")

	on := cmd("llamafactory-cli train cfg.yaml enable_liger_kernel=true use_unsloth_gc=true eval_accumulation_steps=1", files)
	for id, want := range map[sdk.FixID]string{sdk.FixFusedLoss: "already on (enable_liger_kernel)",
		sdk.FixActivationOffload: "already on (use_unsloth_gc)", sdk.FixEvalAccumulation: "already on (eval_accumulation_steps=1)"} {
		plugintab.WantRefused(t, New(), on, sdk.Fix{ID: id}, want)
	}
	plugintab.WantRefused(t, New(), cmd("llamafactory-cli train cfg.yaml disable_gradient_checkpointing=true", files),
		sdk.Fix{ID: sdk.FixActivationOffload}, "use_unsloth_gc offloads what gradient checkpointing keeps, and disable_gradient_checkpointing turns it off")
}

// TestAutoFindNotedAndOffInTrials: the Trainer's own batch search hides
// OOMs and would have a trial measure a micro-batch vramrun did not set.
func TestAutoFindNotedAndOffInTrials(t *testing.T) {
	on := cmd("llamafactory-cli train sft.yaml", map[string]string{"sft.yaml": sftYAML + "auto_find_batch_size: true\n"})
	off := cmd("llamafactory-cli train sft.yaml", map[string]string{"sft.yaml": sftYAML})
	plugintab.WantSetting(t, New(), on, off, "auto_find_batch_size", "auto_find_batch_size is on: ", " auto_find_batch_size=false")
}
