package axolotl

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// loraYAML is axolotl's examples/llama-3/lora-1b.yml, cut down.
const loraYAML = `base_model: NousResearch/Llama-3.2-1B
load_in_8bit: true
adapter: lora
sequence_len: 4096
sample_packing: true
datasets:
  - path: teknium/GPT4-LLM-Cleaned
    type: alpaca
output_dir: ./outputs/lora-out
gradient_accumulation_steps: 2
micro_batch_size: 2
optimizer: adamw_torch_fused
bf16: auto
`

func cmd(argv string, files map[string]string, env ...string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env(append([]string{"PATH", "/nonexistent-vramrun-test"}, env...)...))
}

func TestRecognize(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML}
	for argv, want := range map[string]int{
		"axolotl train cfg.yml":                                    95,
		"uv run axolotl train cfg.yml --micro-batch-size 1":        95,
		"accelerate launch -m axolotl.cli.train cfg.yml":           95,
		"python -m axolotl.cli.train cfg.yml --micro_batch_size=1": 95,
		"axolotl preprocess cfg.yml":                               0,
		"python train.py cfg.yml":                                  0,
	} {
		if got := plugintab.Recognize(t, New(), cmd(argv, files)); got.Confidence != want {
			t.Errorf("%s: confidence %d (%s), want %d", argv, got.Confidence, got.Reason, want)
		}
	}
}

func TestKnobsFromFileAndOptions(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML}
	a := plugintab.Analyze(t, New(), cmd("axolotl train --launcher torchrun cfg.yml --micro-batch-size 4 --micro-batch-size=8 -- --nproc_per_node 2", files))
	got := plugintab.KnobsText(a.Knobs)
	for _, want := range []string{`"batch_size":8`, `"grad_accumulation":2`, `"eval_batch_size":8`, `"grad_checkpointing":false`, `"precision":null`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s", got, want)
		}
	}
	if a.Checkpoints == nil || a.Checkpoints.Globs[0] != "outputs/lora-out/checkpoint-*" {
		t.Errorf("checkpoints %+v", a.Checkpoints)
	}
}

func TestFixesAreOptions(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML}
	c := cmd("axolotl train cfg.yml --micro-batch-size 4 -- --num_processes 1", files)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 4},
		"axolotl train cfg.yml --micro-batch-size 2 --gradient-accumulation-steps=4 -- --num_processes 1", nil,
		"--micro-batch-size=2, --gradient-accumulation-steps=4")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"axolotl train cfg.yml --micro-batch-size 4 --gradient-checkpointing=true -- --num_processes 1", nil, "--gradient-checkpointing=true")
	legacy := cmd("accelerate launch -m axolotl.cli.train cfg.yml", files)
	plugintab.WantApplied(t, New(), legacy, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 1},
		"accelerate launch -m axolotl.cli.train cfg.yml --eval_batch_size=1", nil, "--eval_batch_size=1")
	_, err := plugintab.Apply(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	plugintab.WantUnsupported(t, err, sdk.FixMixedPrecision, "bf16: auto already trains in bf16 where the GPU has it")
}

func TestAllocatorIsAxolotlsOwn(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML}
	_, err := plugintab.Apply(t, New(), cmd("axolotl train cfg.yml", files), sdk.Fix{ID: sdk.FixAllocator})
	plugintab.WantUnsupported(t, err, sdk.FixAllocator,
		"already in force: axolotl sets expandable_segments:True itself when PYTORCH_ALLOC_CONF and PYTORCH_CUDA_ALLOC_CONF are unset")
	// A user setting of their own replaces axolotl's: the fix merges in.
	got := plugintab.MustApply(t, New(), cmd("axolotl train cfg.yml", files, "PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128"), sdk.Fix{ID: sdk.FixAllocator})
	if !strings.Contains(got.Env["PYTORCH_CUDA_ALLOC_CONF"], "expandable_segments:True") || !strings.Contains(got.Env["PYTORCH_CUDA_ALLOC_CONF"], "max_split_size_mb:128") {
		t.Errorf("env %v", got.Env)
	}
}

func TestPlainBooleansAreSwitches(t *testing.T) {
	files := map[string]string{"cfg.yml": strings.Replace(loraYAML, "bf16: auto\n", "bf16: false\n", 1)}
	c := cmd("axolotl train cfg.yml --no-fp16 -- --num_processes 1", files)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"precision":"fp32"`) {
		t.Errorf("knobs %s, want fp32 (bf16 false, --no-fp16)", got)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
		"axolotl train cfg.yml --fp16 -- --num_processes 1", nil, "--fp16")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		"axolotl train cfg.yml --no-fp16 --bf16=true -- --num_processes 1", nil, "--bf16=true")
}

func TestModelFixes(t *testing.T) {
	files := map[string]string{"cfg.yml": loraYAML}
	c := cmd("axolotl train cfg.yml -- --num_processes 1", files)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss},
		"axolotl train cfg.yml --chunked-cross-entropy -- --num_processes 1", nil, "--chunked-cross-entropy")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixActivationOffload},
		"axolotl train cfg.yml --activation-offloading=true -- --num_processes 1", nil, "--activation-offloading=true")
	legacy := cmd("accelerate launch -m axolotl.cli.train cfg.yml", files)
	plugintab.WantApplied(t, New(), legacy, sdk.Fix{ID: sdk.FixFusedLoss},
		"accelerate launch -m axolotl.cli.train cfg.yml --chunked_cross_entropy=true", nil, "--chunked_cross_entropy=true")
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixEvalAccumulation}, "axolotl has no eval_accumulation_steps key")

	for yaml, want := range map[string]map[sdk.FixID]string{
		"cut_cross_entropy: true\n":         {sdk.FixFusedLoss: "already on (cut_cross_entropy: true)"},
		"gradient_checkpointing: offload\n": {sdk.FixActivationOffload: "already on (gradient_checkpointing: offload)"},
		"activation_offloading: legacy\n":   {sdk.FixActivationOffload: "already on (activation_offloading: legacy)"},
	} {
		on := cmd("axolotl train cfg.yml", map[string]string{"cfg.yml": loraYAML + yaml})
		for id, reason := range want {
			plugintab.WantRefused(t, New(), on, sdk.Fix{ID: id}, reason)
		}
	}
	// --no-chunked-cross-entropy turns the file's setting off again.
	off := cmd("axolotl train cfg.yml --no-chunked-cross-entropy", map[string]string{"cfg.yml": loraYAML + "chunked_cross_entropy: true\n"})
	plugintab.WantApplied(t, New(), off, sdk.Fix{ID: sdk.FixFusedLoss}, "axolotl train cfg.yml --chunked-cross-entropy", nil, "--chunked-cross-entropy")
}

// TestAutoFindNotedAndOffInTrials: the Trainer's own batch search hides
// OOMs and would have a trial measure a micro-batch vramrun did not set.
func TestAutoFindNotedAndOffInTrials(t *testing.T) {
	on := cmd("axolotl train cfg.yml", map[string]string{"cfg.yml": loraYAML + "auto_find_batch_size: true\n"})
	off := cmd("axolotl train cfg.yml", map[string]string{"cfg.yml": loraYAML})
	plugintab.WantSetting(t, New(), on, off, "auto_find_batch_size", "auto_find_batch_size is on: ", "--auto-find-batch-size=false")
}
