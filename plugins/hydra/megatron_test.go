package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const gpt = "python megatron_gpt_pretraining.py model.data.data_prefix=[1.0,/d/x] "

// TestNeMo1WorldIsLightningsDevices: under plain python, Lightning starts
// trainer.devices x trainer.num_nodes processes, and NeMo's microbatch
// calculator divides the global batch by the data-parallel part of them.
// The simulated NeMo 1 job (examples/simtrain, cli_nemo1.txtar) failed its
// divisibility assertion when vramrun counted one process: micro 5 of 10
// over 2 GPUs was cut to 2, a divisor of 10 but not of 5.
func TestNeMo1WorldIsLightningsDevices(t *testing.T) {
	for argv, want := range map[string]string{
		gpt + "model.micro_batch_size=5 model.global_batch_size=10 trainer.devices=2":                                      `"batch_size":5,"grad_accumulation":1`,
		gpt + "model.micro_batch_size=2 model.global_batch_size=64 trainer.devices=4 trainer.num_nodes=2":                  `"batch_size":2,"grad_accumulation":4`,
		gpt + "model.micro_batch_size=2 model.global_batch_size=64 trainer.devices=8 model.tensor_model_parallel_size=2":   `"batch_size":2,"grad_accumulation":8`,
		gpt + "model.micro_batch_size=2 model.global_batch_size=64 trainer.devices=8 model.pipeline_model_parallel_size=4": `"batch_size":2,"grad_accumulation":16`,
		// Under torchrun, Lightning takes torchrun's processes.
		"torchrun --nproc_per_node=4 megatron_gpt_pretraining.py model.micro_batch_size=2 model.global_batch_size=64 trainer.devices=4": `"batch_size":2,"grad_accumulation":8`,
	} {
		c := plugintab.Command(argv, nil)
		if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, want) {
			t.Errorf("%s: knobs %s, want %s", argv, got, want)
		}
	}
	a := plugintab.Analyze(t, New(), plugintab.Command(gpt+"model.micro_batch_size=2 model.global_batch_size=64 trainer.devices=8 model.tensor_model_parallel_size=2", nil))
	if a.WorldSize != 4 {
		t.Errorf("world size %d, want the data-parallel 4 of 8 GPUs at tensor parallel 2", a.WorldSize)
	}
	plugintab.WantApplied(t, New(), plugintab.Command(gpt+"model.micro_batch_size=5 model.global_batch_size=10 trainer.devices=2", nil),
		sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 1, GradAccumulation: 5}, gpt+"model.micro_batch_size=1 model.global_batch_size=10 trainer.devices=2", nil,
		"model.micro_batch_size=1 (model.global_batch_size stays: NeMo derives the accumulation)")
}

// TestNeMo1DevicesEveryGPU: trainer.devices=-1 (or auto) is every GPU the
// job sees; one when vramrun cannot tell how many.
func TestNeMo1DevicesEveryGPU(t *testing.T) {
	for _, devices := range []string{"-1", "auto"} {
		for gpus, want := range map[int]int{0: 1, 4: 4} {
			c := plugintab.Command(gpt+"model.micro_batch_size=2 model.global_batch_size=64 trainer.devices="+devices, nil)
			c.GPUs = gpus
			if a := plugintab.Analyze(t, New(), c); a.WorldSize != want {
				t.Errorf("trainer.devices=%s with %d GPUs seen: world %d, want %d", devices, gpus, a.WorldSize, want)
			}
		}
	}
}

// TestNeMo1ShippedConfig: megatron_gpt_pretraining.py without overrides
// trains at megatron_gpt_config.yaml's micro-batch 4 of 8, in bf16; a
// command that names another config is read from its words alone.
func TestNeMo1ShippedConfig(t *testing.T) {
	c := plugintab.Command("python examples/nlp/language_modeling/megatron_gpt_pretraining.py trainer.devices=2", nil)
	if got := plugintab.Recognize(t, New(), c); got.Confidence != 90 {
		t.Fatalf("confidence %d", got.Confidence)
	}
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"batch_size":4,"grad_accumulation":1`) ||
		!strings.Contains(got, `"precision":"bf16"`) {
		t.Errorf("knobs %s", got)
	}
	other := plugintab.Command("python megatron_gpt_pretraining.py --config-name=mine model.micro_batch_size=8", nil)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), other).Knobs); !strings.Contains(got, `"grad_accumulation":null,"eval_batch_size":8,"precision":null`) {
		t.Errorf("another config's knobs guessed: %s", got)
	}
	// Hydra's ++ spelling of the micro key gives the command away too.
	if got := plugintab.Recognize(t, New(), plugintab.Command("python megatron_gpt_eval.py ++model.micro_batch_size=2", nil)); got.Confidence != 90 {
		t.Errorf("++model.micro_batch_size: confidence %d", got.Confidence)
	}
}

// TestNeMo1Precision: NeMo 1's MegatronTrainerBuilder takes 16 and bf16
// (Lightning refuses 'fp16'), and a run already in mixed precision keeps
// it. The simulated job failed with "Precision 'fp16' is invalid" on a
// command the shipped config already trains in bf16.
func TestNeMo1Precision(t *testing.T) {
	fp32 := gpt + "model.micro_batch_size=4 trainer.precision=32"
	plugintab.WantApplied(t, New(), plugintab.Command(fp32, nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
		gpt+"model.micro_batch_size=4 trainer.precision=16", nil, "trainer.precision=16")
	plugintab.WantApplied(t, New(), plugintab.Command(fp32, nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		gpt+"model.micro_batch_size=4 trainer.precision=bf16", nil, "trainer.precision=bf16")
	for argv, want := range map[string]string{
		gpt + "model.micro_batch_size=4 trainer.precision=16-mixed": "already on (trainer.precision=16-mixed)",
		gpt + "model.micro_batch_size=4":                            "already on (megatron_gpt_config.yaml's trainer.precision: bf16)",
	} {
		plugintab.WantRefused(t, New(), plugintab.Command(argv, nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}, want)
	}
}

// TestMegatronOffloadIsNotWithRecompute: Megatron-Core's cpu_offloading
// offloads activations, and its TransformerConfig refuses it with
// activation recomputation on; the simulated NeMo 1 job failed with
// "CPU offloading does not work when activation recomputation is enabled"
// when the offload came after checkpointing.
func TestMegatronOffloadIsNotWithRecompute(t *testing.T) {
	full := gpt + "model.micro_batch_size=4 model.activations_checkpoint_granularity=full"
	plugintab.WantRefused(t, New(), plugintab.Command(full, nil), sdk.Fix{ID: sdk.FixActivationOffload},
		"Megatron-Core refuses CPU offloading with activation recomputation (model.activations_checkpoint_granularity=full)")
	plugintab.WantRefused(t, New(), plugintab.Command(full, nil), sdk.Fix{ID: sdk.FixGradCheckpointing},
		"already on (model.activations_checkpoint_granularity=full)")
	plugintab.WantRefused(t, New(), plugintab.Command("nemo llm pretrain -f llama3_8b model.config.cpu_offloading=True", nil),
		sdk.Fix{ID: sdk.FixGradCheckpointing}, "Megatron-Core refuses CPU offloading with activation recomputation (model.config.cpu_offloading=True)")
	plugintab.WantRefused(t, New(), plugintab.Command(gpt+"model.micro_batch_size=4", nil), sdk.Fix{ID: sdk.FixCPUOffload},
		"no cpu_offload override vramrun knows for NeMo")
	plugintab.WantApplied(t, New(), plugintab.Command(gpt+"model.micro_batch_size=4 model.activations_checkpoint_granularity=null", nil),
		sdk.Fix{ID: sdk.FixActivationOffload}, gpt+"model.micro_batch_size=4 model.activations_checkpoint_granularity=null model.cpu_offloading=True", nil,
		"model.cpu_offloading=True")
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(full, nil)).Knobs); !strings.Contains(got, `"grad_checkpointing":true`) {
		t.Errorf("knobs %s", got)
	}
}

// TestNeMo1EvaluatesAtTheMicroBatch: an OOM in validation lowers
// model.micro_batch_size, which NeMo 1's validation runs at.
func TestNeMo1EvaluatesAtTheMicroBatch(t *testing.T) {
	c := plugintab.Command(gpt+"model.micro_batch_size=32 model.global_batch_size=256", nil)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 16}, gpt+"model.micro_batch_size=16 model.global_batch_size=256", nil,
		"model.micro_batch_size=16 (model.global_batch_size stays: NeMo derives the accumulation)")
}
