package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestBridgeTrialsTurnEvaluationOffInTheReleasesSpelling: a trial runs no
// evaluation (eval_iters 0: no validation iterator, neither the interval's
// nor the final pass). Releases before ValidationConfig refuse
// validation.eval_iters (the simulated 0.2 job: "Could not override
// 'validation.eval_iters'"); newer ones still take the deprecated
// train.eval_iters, and a set one overrides validation's, so each named
// key is set in place and an unnamed one is spelled as the command's
// release does.
func TestBridgeTrialsTurnEvaluationOffInTheReleasesSpelling(t *testing.T) {
	const base = "python " + llama3 + " train.micro_batch_size=2"
	const off = "checkpoint.save=/s/checkpoints checkpoint.save_interval=null checkpoint.load=null logger.tensorboard_dir=null logger.wandb_project=null "
	for typed, want := range map[string]string{
		// Nothing tells the release: the key every release takes.
		"": "train.eval_iters=0",
		// The command's own keys, where typed.
		" train.eval_interval=3 train.eval_iters=5":           "train.eval_iters=0",
		" validation.eval_iters=4 validation.eval_interval=3": "validation.eval_iters=0",
		" train.eval_iters=2 validation.eval_iters=4":         "train.eval_iters=0 validation.eval_iters=0",
		" +validation.eval_iters=4":                           "validation.eval_iters=0",
		// The validation group without eval_iters: ValidationConfig's key.
		" validation.eval_interval=3":                            "validation.eval_iters=0",
		" validation.eval_micro_batch_size=1 train.eval_iters=1": "train.eval_iters=0",
	} {
		got := plugintab.MustApply(t, New(), plugintab.Command(base+typed, nil), trialFix)
		if got.Summary != off+want {
			t.Errorf("%s: summary %q, want ...%s", typed, got.Summary, want)
		}
	}
	got := wantTrial(t, base+" validation.eval_interval=3 validation.eval_iters=4", base+" validation.eval_interval=3 validation.eval_iters=0"+
		" checkpoint.save=/s/checkpoints checkpoint.save_interval=null checkpoint.load=null logger.tensorboard_dir=null logger.wandb_project=null")
	if strings.Contains(plugintab.ArgvText(got.Argv), "train.eval_iters") {
		t.Errorf("a release with ValidationConfig got train.eval_iters: %s", plugintab.ArgvText(got.Argv))
	}
	wantTrial(t, base, base+" checkpoint.save=/s/checkpoints checkpoint.save_interval=null checkpoint.load=null logger.tensorboard_dir=null logger.wandb_project=null train.eval_iters=0")
}

// TestBridgeEvaluationBatchFollowsTheRelease: with ValidationConfig's eval
// batch sizes (a command naming one of them), validation runs at
// validation.eval_micro_batch_size, and an evaluation OOM lowers that key
// alone; the cut divides each data-parallel GPU's share of the
// evaluation's global batch, as Bridge asserts ("eval_global_batch_size
// (256) must be divisible by eval_micro_batch_size * eval_data_parallel_size").
// Without them it lowers train.micro_batch_size, which every release's
// validation runs at (TestMicroKeyEvaluationCutDividesTheShare).
func TestBridgeEvaluationBatchFollowsTheRelease(t *testing.T) {
	const base = "python " + llama3 + " model.context_parallel_size=1 train.micro_batch_size=8 train.global_batch_size=256"
	c := plugintab.Command(base+" validation.eval_micro_batch_size=32", nil)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"batch_size":8,"grad_accumulation":32,"eval_batch_size":32`) {
		t.Errorf("knobs %s", got)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 12}, base+" validation.eval_micro_batch_size=8", nil,
		"validation.eval_micro_batch_size=8 (train.micro_batch_size stays; 8, not 12: it must divide each GPU's share of the evaluation's global batch)")
	// The evaluation's own global batch, over torchrun's two replicas.
	two := "torchrun --nproc_per_node=2 " + llama3 + " model.context_parallel_size=1 train.micro_batch_size=8 train.global_batch_size=256 validation.eval_global_batch_size=48"
	plugintab.WantApplied(t, New(), plugintab.Command(two, nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 16}, two+" validation.eval_micro_batch_size=12", nil,
		"validation.eval_micro_batch_size=12 (train.micro_batch_size stays; 12, not 16: it must divide each GPU's share of the evaluation's global batch)")
	// ValidationConfig without its eval batch sizes (or no sign of it):
	// the training micro-batch, as before.
	plugintab.WantApplied(t, New(), plugintab.Command(base+" validation.eval_iters=2", nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4},
		"python "+llama3+" model.context_parallel_size=1 train.micro_batch_size=4 train.global_batch_size=256 validation.eval_iters=2", nil,
		"train.micro_batch_size=4 (train.global_batch_size stays: Megatron-Bridge derives the accumulation)")
}

// TestBridgeOptimizerOffload: cpu_offload is Megatron-Core's optimizer CPU
// offload, with all of the state (optimizer_offload_fraction is 0.0 unless
// set, which offloads nothing) and the precision-aware, distributed
// optimizer it needs. The simulated job was told "no cpu_offload override
// vramrun knows for Megatron-Bridge".
func TestBridgeOptimizerOffload(t *testing.T) {
	const base = "python " + llama3 + " model.context_parallel_size=1 train.micro_batch_size=4"
	const on = "optimizer.optimizer_cpu_offload=true optimizer.optimizer_offload_fraction=1.0 optimizer.use_precision_aware_optimizer=true optimizer.use_distributed_optimizer=true"
	fix := sdk.Fix{ID: sdk.FixCPUOffload}
	plugintab.WantApplied(t, New(), plugintab.Command(base, nil), fix, base+" "+on, nil, on)
	// The command's own keys are edited where typed; a fraction below 1
	// is raised.
	plugintab.WantApplied(t, New(), plugintab.Command(base+" optimizer.optimizer_cpu_offload=true optimizer.optimizer_offload_fraction=0.5", nil), fix,
		base+" optimizer.optimizer_cpu_offload=true optimizer.optimizer_offload_fraction=1.0 optimizer.use_precision_aware_optimizer=true optimizer.use_distributed_optimizer=true", nil, on)
	plugintab.WantApplied(t, New(), plugintab.Command(base+" mixed_precision=null optimizer.bf16=false", nil), fix,
		base+" mixed_precision=null optimizer.bf16=false "+on, nil, on)
	for typed, want := range map[string]string{
		" optimizer.optimizer_cpu_offload=True optimizer.optimizer_offload_fraction=1": "already on (optimizer.optimizer_cpu_offload=True)",
		" optimizer.optimizer=sgd":                                "precision-aware optimizer, which its optimizer CPU offload needs, is Adam's only (optimizer.optimizer=sgd)",
		" optimizer.use_distributed_optimizer=false":              "needs the distributed optimizer, and the command turns it off (optimizer.use_distributed_optimizer=false)",
		" optimizer.decoupled_weight_decay=False":                 "Megatron-Core offloads only AdamW's optimizer (optimizer.decoupled_weight_decay=False)",
		" mixed_precision=null":                                   "for an fp32 model while the optimizer is in bf16, as the recipes' is (mixed_precision=null): take a mixed-precision preset first",
		" mixed_precision=bf16_with_fp8_current_scaling_mixed":    "with FP8 parameter gathering only under delayed scaling (mixed_precision=bf16_with_fp8_current_scaling_mixed)",
		" ddp.use_megatron_fsdp=true ddp.megatron_fsdp_version=2": "MFSDP V2 does not support optimizer CPU offload",
	} {
		plugintab.WantRefused(t, New(), plugintab.Command(base+typed, nil), fix, want)
	}
	plugintab.MustApply(t, New(), plugintab.Command(base+" mixed_precision=bf16_with_fp8_delayed_scaling_mixed", nil), fix)
	for typed, want := range map[string]string{
		" optimizer.optimizer_cpu_offload=true optimizer.optimizer_offload_fraction=1.0": `"offload":true`,
		" optimizer.optimizer_cpu_offload=true":                                          `"offload":false`,
		"":                                                                               `"optimizer":null,"offload":null`,
	} {
		if got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(base+typed, nil)).Knobs); !strings.Contains(got, want) {
			t.Errorf("%s: knobs %s, want %s", typed, got, want)
		}
	}
}
