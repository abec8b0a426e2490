package hydra

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

var trialFix = sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}

func TestVerlTrialsWriteToTheScratchFolder(t *testing.T) {
	const verlOff = " trainer.default_local_dir=/s hydra.run.dir=/s/hydra trainer.default_hdfs_dir=null trainer.save_freq=-1 trainer.test_freq=-1 trainer.logger=[console]"
	for argv, want := range map[string]string{
		// Nothing named: every key is added, resume_mode forced (the
		// older sft_trainer.yaml lacks it).
		"torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=8": "torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=8" +
			verlOff + " ++trainer.resume_mode=disable",
		// The user's keys are edited where they are typed, a "+" kept.
		"python3 -m verl.trainer.fsdp_sft_trainer trainer.default_local_dir=ckpt trainer.save_freq=10 +trainer.logger=[console,wandb] trainer.resume_mode=auto hydra.run.dir=runs": "python3 -m verl.trainer.fsdp_sft_trainer trainer.default_local_dir=/s trainer.save_freq=-1 +trainer.logger=[console] trainer.resume_mode=disable hydra.run.dir=/s/hydra trainer.default_hdfs_dir=null trainer.test_freq=-1",
		// PPO also skips the validation before training and the rollout dump.
		"python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 trainer.rollout_data_dir=dump": "python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 trainer.rollout_data_dir=null" +
			verlOff + " ++trainer.resume_mode=disable trainer.val_before_train=false",
	} {
		got := plugintab.MustApply(t, New(), plugintab.Command(argv, nil), trialFix)
		if plugintab.ArgvText(got.Argv) != want {
			t.Errorf("%s\n got %s\nwant %s", argv, plugintab.ArgvText(got.Argv), want)
		}
	}
}

func TestNeMoTrialsLogToTheScratchFolder(t *testing.T) {
	const argv = "python megatron_gpt_pretraining.py model.micro_batch_size=1 exp_manager.create_mlflow_logger=true exp_manager.create_wandb_logger=True exp_manager.resume_from_checkpoint=ck/last.ckpt"
	got := plugintab.MustApply(t, New(), plugintab.Command(argv, nil), trialFix)
	want := "python megatron_gpt_pretraining.py model.micro_batch_size=1 exp_manager.create_mlflow_logger=false exp_manager.create_wandb_logger=false exp_manager.resume_from_checkpoint=null" +
		" ++exp_manager.explicit_log_dir=/s ++exp_manager.create_checkpoint_callback=false ++exp_manager.resume_if_exists=false ++exp_manager.create_tensorboard_logger=false"
	if plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv\n got %s\nwant %s", plugintab.ArgvText(got.Argv), want)
	}
}

func TestTrialsRefusedWhereTheOutputsAreTheRecipes(t *testing.T) {
	for argv, name := range map[string]string{
		"nemo llm finetune --factory llama3_8b data.micro_batch_size=4":                     "NeMo 2",
		"python pretrain_llama3_8b.py train.micro_batch_size=2 train.global_batch_size=128": "Megatron-Bridge",
	} {
		plugintab.WantRefused(t, New(), plugintab.Command(argv, nil), trialFix,
			name+"'s recipes choose where they write their checkpoints and logs, and vramrun does not know the overrides that move them: point them at a scratch folder and pass --trust-trials")
	}
}
