package openrlhf

import (
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Progress is the training bar of OpenRLHF's DeepSpeed trainers (read in
// openrlhf/trainer/sft_trainer.py, dpo_trainer.py, rm_trainer.py and
// kto_trainer.py): tqdm(range(len(train_dataloader)), desc="Train step of
// epoch %d" % epoch), one update() per batch of the dataloader, whose
// batch is --micro_train_batch_size (--train.micro_batch_size). One tick is
// one micro-batch of one process; the optimizer steps every accumulation
// of them. The evaluation bars ("Eval stage of steps N", "Eval stage of
// global_step N") are not read. The Ray PPO trainers' bars are not
// declared: "Episode [1/1]" (openrlhf/trainer/ppo_trainer.py) ticks per
// prompt batch, and "Train epoch [1/1]" (openrlhf/trainer/ray/ppo_actor.py
// and ppo_critic.py, a new bar per training phase, actor and critic alike)
// per replay-buffer micro-batch of the training phase alone, the rollout's
// generation left out: neither rate is the job's speed.
func Progress() []sdk.ProgressPattern {
	return pyscript.Tqdm(Name, `Train step of epoch [0-9]+: `, sdk.UnitMicroBatch)
}
