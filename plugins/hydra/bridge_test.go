package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const llama3 = "examples/recipes/llama/pretrain_llama3_8b.py"

// TestBridgeWorldIsDataParallel: Megatron-Core divides the global batch by
// the data-parallel size, torchrun's processes over tensor x pipeline x
// context parallel, and the llama3_8b recipe's context parallel is 2. The
// simulated Megatron-Bridge job (cli_megatron_bridge.txtar) was reported as
// "effective batch kept at 12 per process x 2 = 24" on two GPUs of one
// replica, whose effective batch is the global 12.
func TestBridgeWorldIsDataParallel(t *testing.T) {
	for argv, want := range map[string]int{
		"torchrun --nproc_per_node=4 " + llama3 + " model.context_parallel_size=1 model.tensor_model_parallel_size=2 train.micro_batch_size=2":   2,
		"torchrun --nproc_per_node=8 " + llama3 + " train.micro_batch_size=2":                                                                    4,
		"torchrun --nproc_per_node=8 " + llama3 + " model.context_parallel_size=1 model.pipeline_model_parallel_size=2 train.micro_batch_size=2": 4,
		// Another script, or another config file: no recipe default is assumed.
		"torchrun --nproc_per_node=8 pretrain_mine.py train.micro_batch_size=2":                     8,
		"torchrun --nproc_per_node=8 " + llama3 + " --config-file my.yaml train.micro_batch_size=2": 8,
	} {
		if a := plugintab.Analyze(t, New(), plugintab.Command(argv, nil)); a.WorldSize != want {
			t.Errorf("%s: world %d, want %d", argv, a.WorldSize, want)
		}
	}
	c := plugintab.Command("torchrun --nproc_per_node=2 "+llama3+" train.micro_batch_size=12 train.global_batch_size=12", nil)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"batch_size":12,"grad_accumulation":1`) {
		t.Errorf("knobs %s", got)
	}
}

// TestBridgeRecognisesTheRecipeScript: a command may leave the micro-batch
// to the recipe (1); the simulated job was claimed by no plugin.
func TestBridgeRecognisesTheRecipeScript(t *testing.T) {
	for _, argv := range []string{
		"python " + llama3 + " train.global_batch_size=16",
		"python " + llama3,
		"torchrun --nproc_per_node=2 pretrain_mine.py +train.global_batch_size=16",
	} {
		if got := plugintab.Recognize(t, New(), plugintab.Command(argv, nil)); got.Confidence != 90 {
			t.Errorf("%s: confidence %d", argv, got.Confidence)
		}
	}
	a := plugintab.Analyze(t, New(), plugintab.Command("python "+llama3+" model.context_parallel_size=1", nil))
	if got := plugintab.KnobsText(a.Knobs); !strings.Contains(got, `"batch_size":1,"grad_accumulation":512,"eval_batch_size":1,"precision":"bf16"`) {
		t.Errorf("the recipe's knobs: %s", got)
	}
}

// TestBridgePrecision: the recipes train in bf16 (mixed_precision:
// bf16_mixed), and a preset is one override. The simulated job was told
// "Megatron-Bridge sets its precision in its config or recipe".
func TestBridgePrecision(t *testing.T) {
	plugintab.WantRefused(t, New(), plugintab.Command("python "+llama3+" train.micro_batch_size=4", nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
		"already on (the llama3_8b recipe's mixed_precision: bf16_mixed)")
	plugintab.WantRefused(t, New(), plugintab.Command("python mine.py train.micro_batch_size=4 mixed_precision=bf16_with_fp8_delayed_scaling_mixed", nil),
		sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already on (mixed_precision=bf16_with_fp8_delayed_scaling_mixed)")
	fp32 := "python " + llama3 + " train.micro_batch_size=4 mixed_precision=null"
	plugintab.WantApplied(t, New(), plugintab.Command(fp32, nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
		"python "+llama3+" train.micro_batch_size=4 mixed_precision=fp16_mixed", nil, "mixed_precision=fp16_mixed")
	plugintab.WantApplied(t, New(), plugintab.Command(fp32, nil), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		"python "+llama3+" train.micro_batch_size=4 mixed_precision=bf16_mixed", nil, "mixed_precision=bf16_mixed")
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(fp32, nil)).Knobs); !strings.Contains(got, `"precision":"fp32"`) {
		t.Errorf("knobs %s", got)
	}
}

// TestMicroKeyEvaluationCutDividesTheShare: where validation runs at the
// training micro-batch, the evaluation's cut must still divide each GPU's
// share of the global batch. The simulated Megatron-Bridge job failed with
// "global batch size (256) is not divisible by micro batch size (102)".
func TestMicroKeyEvaluationCutDividesTheShare(t *testing.T) {
	c := plugintab.Command("python "+llama3+" model.context_parallel_size=1 train.micro_batch_size=128 train.global_batch_size=256", nil)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 102},
		"python "+llama3+" model.context_parallel_size=1 train.micro_batch_size=64 train.global_batch_size=256", nil,
		"train.micro_batch_size=64 (train.global_batch_size stays: Megatron-Bridge derives the accumulation; 64, not 102: it must divide each GPU's share of the global batch)")
	plugintab.WantApplied(t, New(), plugintab.Command(gpt+"model.micro_batch_size=12 model.global_batch_size=48 trainer.devices=2", nil),
		sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 7}, gpt+"model.micro_batch_size=6 model.global_batch_size=48 trainer.devices=2", nil,
		"model.micro_batch_size=6 (model.global_batch_size stays: NeMo derives the accumulation; 6, not 7: it must divide each GPU's share of the global batch)")
}

// TestMegatronOffloadCountsLayers: Megatron-Core offloads
// cpu_offloading_num_layers layers, 0 unless set; cpu_offloading alone let
// the simulated Megatron-Bridge job run out of memory exactly as before.
func TestMegatronOffloadCountsLayers(t *testing.T) {
	off := sdk.Fix{ID: sdk.FixActivationOffload}
	for argv, want := range map[string]string{
		"python " + llama3 + " train.micro_batch_size=4":                                     " model.cpu_offloading=True model.cpu_offloading_num_layers=31",
		"python mine.py train.micro_batch_size=4 model.num_layers=40":                        " model.cpu_offloading=True model.cpu_offloading_num_layers=39",
		"python mine.py train.micro_batch_size=4 model.cpu_offloading_num_layers=8":          " model.cpu_offloading=True",
		"nemo llm pretrain --factory llama32_1b data.micro_batch_size=4":                     " model.config.cpu_offloading=True model.config.cpu_offloading_num_layers=15",
		"nemo llm finetune --factory=llama3_8b(num_gpus_per_node=1) data.micro_batch_size=4": " model.config.cpu_offloading=True model.config.cpu_offloading_num_layers=31",
		"nemo llm pretrain -f llama3_8b model.config.num_layers=4 data.micro_batch_size=4":   " model.config.cpu_offloading=True model.config.cpu_offloading_num_layers=3",
	} {
		c := plugintab.Command(argv, nil)
		got := plugintab.MustApply(t, New(), c, off)
		if !strings.HasSuffix(plugintab.ArgvText(got.Argv), want) {
			t.Errorf("%s\n got %s\nwant ...%s", argv, plugintab.ArgvText(got.Argv), want)
		}
	}
	plugintab.WantRefused(t, New(), plugintab.Command("python mine.py train.micro_batch_size=4", nil), off,
		"model.cpu_offloading offloads model.cpu_offloading_num_layers layers, 0 unless set, and vramrun does not know the model's layer count: give model.num_layers=N")
	plugintab.WantRefused(t, New(), plugintab.Command("python "+llama3+" train.micro_batch_size=4 model.pipeline_model_parallel_size=2", nil), off,
		"Megatron-Core refuses CPU offloading with pipeline parallelism (model.pipeline_model_parallel_size=2)")
	plugintab.WantRefused(t, New(), plugintab.Command("nemo llm pretrain -f llama3_8b trainer.strategy.pipeline_model_parallel_size=4", nil), off,
		"Megatron-Core refuses CPU offloading with pipeline parallelism (trainer.strategy.pipeline_model_parallel_size=4)")
}

// TestNeMo2WorldCountsItsDevices: `nemo llm` under plain python runs the
// Trainer with trainer.devices, whose Lightning launcher starts that many
// processes; Megatron-Core divides the global batch by them over
// MegatronStrategy's model-parallel sizes. vramrun counted one process.
func TestNeMo2WorldCountsItsDevices(t *testing.T) {
	for argv, want := range map[string]string{
		"nemo llm pretrain -f llama3_8b data.micro_batch_size=5 data.global_batch_size=10 trainer.devices=2":                                               `"batch_size":5,"grad_accumulation":1`,
		"nemo llm pretrain -f llama3_8b data.micro_batch_size=2 data.global_batch_size=64 trainer.devices=8 trainer.strategy.tensor_model_parallel_size=2": `"batch_size":2,"grad_accumulation":8`,
		"nemo llm pretrain -f llama3_8b data.micro_batch_size=2 data.global_batch_size=64 trainer.devices=4 trainer.num_nodes=2":                           `"batch_size":2,"grad_accumulation":4`,
		"torchrun --nproc-per-node 2 --no-python nemo llm pretrain -f llama3_8b data.micro_batch_size=2 data.global_batch_size=64 trainer.devices=2":       `"batch_size":2,"grad_accumulation":16`,
		"nemo llm pretrain -f llama3_8b data.micro_batch_size=2 data.global_batch_size=64":                                                                 `"batch_size":2,"grad_accumulation":32`,
	} {
		if got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(argv, nil)).Knobs); !strings.Contains(got, want) {
			t.Errorf("%s: knobs %s, want %s", argv, got, want)
		}
	}
	plugintab.WantApplied(t, New(), plugintab.Command("nemo llm pretrain -f llama3_8b data.micro_batch_size=5 data.global_batch_size=10 trainer.devices=2", nil),
		sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 1, GradAccumulation: 5},
		"nemo llm pretrain -f llama3_8b data.micro_batch_size=1 data.global_batch_size=10 trainer.devices=2", nil,
		"data.micro_batch_size=1 (data.global_batch_size stays: NeMo 2 derives the accumulation)")
}

// TestBridgeFrames: Megatron-Bridge's loop is its own; its evaluation
// says so by its functions, in its own files only. The simulated job's
// OOM in validation read as one in training.
func TestBridgeFrames(t *testing.T) {
	plugintab.WantFrames(t, bridgeFrames(), map[string]sdk.Phase{
		"evaluate": sdk.PhaseEval, "evaluate_and_print_results": sdk.PhaseEval, "train_step": sdk.PhaseTrain})
	for _, f := range bridgeFrames() {
		if f.Package != "megatron.bridge.training" {
			t.Errorf("frame %q: package %q", f.Name, f.Package)
		}
	}
	if len(Frames()) != len(verlFrames())+len(bridgeFrames()) {
		t.Errorf("Frames carries %d", len(Frames()))
	}
}
