package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestToolsAndTheirMicroKeys(t *testing.T) {
	for argv, want := range map[string]string{
		"torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.train_batch_size=64 data.micro_batch_size_per_gpu=8":                                             `"batch_size":8,"grad_accumulation":4`,
		"python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_mini_batch_size=256 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 trainer.n_gpus_per_node=8": `"batch_size":4,"grad_accumulation":8`,
		"nemo llm finetune --factory llama3_8b data.micro_batch_size=4 data.global_batch_size=16":                                                                           `"batch_size":4,"grad_accumulation":4`,
		"python pretrain_llama3_8b.py train.micro_batch_size=2 train.global_batch_size=128":                                                                                 `"batch_size":2,"grad_accumulation":64`,
		"python megatron_gpt_pretraining.py model.micro_batch_size=1 model.global_batch_size=8 trainer.precision=32":                                                        `"batch_size":1,"grad_accumulation":8`,
		// verl PPO steps over ppo_mini_batch_size x rollout.n (its shipped mini-batch 256 when the command leaves it).
		"python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_mini_batch_size=128 actor_rollout_ref.rollout.n=2 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=128 trainer.n_gpus_per_node=1": `"batch_size":128,"grad_accumulation":2`,
		"python3 -m verl.trainer.main_ppo actor_rollout_ref.rollout.n=4 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16 trainer.n_gpus_per_node=8":                                                  `"batch_size":16,"grad_accumulation":8`,
		// A count given by an interpolation reads as one (it once dereferenced nil).
		"python3 -m verl.trainer.main_ppo actor_rollout_ref.rollout.n=${oc.env:N} actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16 trainer.n_gpus_per_node=8 trainer.nnodes=${oc.env:NODES}": `"batch_size":16,"grad_accumulation":2`,
		// verl SFT's shipped data.train_batch_size (256) when the command leaves it.
		"torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=8": `"batch_size":8,"grad_accumulation":16`,
	} {
		c := plugintab.Command(argv, nil)
		if got := plugintab.Recognize(t, New(), c); got.Confidence != 90 {
			t.Errorf("%s: confidence %d", argv, got.Confidence)
			continue
		}
		if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, want) {
			t.Errorf("%s: knobs %s, want %s", argv, got, want)
		}
	}
	if got := plugintab.Recognize(t, New(), plugintab.Command("python train.py lr=0.1", nil)); got.Confidence != 0 {
		t.Errorf("a plain script with an override claimed")
	}
}

func TestMicroKeyOnly(t *testing.T) {
	c := plugintab.Command("torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.train_batch_size=64 data.micro_batch_size_per_gpu=8", nil)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 8},
		"torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.train_batch_size=64 data.micro_batch_size_per_gpu=4", nil,
		"data.micro_batch_size_per_gpu=4 (data.train_batch_size stays: verl SFT derives the accumulation)")
	n2 := plugintab.Command("nemo llm finetune --factory llama3_8b data.micro_batch_size=4", nil)
	plugintab.WantApplied(t, New(), n2, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"nemo llm finetune --factory llama3_8b data.micro_batch_size=4 model.config.recompute_granularity=full model.config.recompute_method=uniform model.config.recompute_num_layers=1", nil,
		"model.config.recompute_granularity=full model.config.recompute_method=uniform model.config.recompute_num_layers=1")
	_, err := plugintab.Apply(t, New(), n2, sdk.Fix{ID: sdk.FixOptimizer8bit})
	plugintab.WantUnsupported(t, err, sdk.FixOptimizer8bit, "no optimizer_8bit override vramrun knows for NeMo 2")
}

func TestActivationOffload(t *testing.T) {
	ppo := "python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4"
	plugintab.WantApplied(t, New(), plugintab.Command(ppo, nil), sdk.Fix{ID: sdk.FixActivationOffload},
		ppo+" actor_rollout_ref.model.enable_activation_offload=true", nil, "actor_rollout_ref.model.enable_activation_offload=true")
	plugintab.WantRefused(t, New(), plugintab.Command(ppo+" actor_rollout_ref.model.enable_activation_offload=True", nil),
		sdk.Fix{ID: sdk.FixActivationOffload}, "already on (actor_rollout_ref.model.enable_activation_offload)")
	plugintab.WantRefused(t, New(), plugintab.Command("python3 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=4", nil),
		sdk.Fix{ID: sdk.FixActivationOffload}, "no activation_offload override vramrun knows for verl SFT")
}
