package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

var trialFix = sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}

// wantTrial applies the trial fix (scratch folder /s) to argv and checks
// the command it makes.
func wantTrial(t *testing.T, argv, want string) sdk.ApplyResponse {
	t.Helper()
	got := plugintab.MustApply(t, New(), plugintab.Command(argv, nil), trialFix)
	if plugintab.ArgvText(got.Argv) != want {
		t.Errorf("%s\n got %s\nwant %s", argv, plugintab.ArgvText(got.Argv), want)
	}
	return got
}

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
		wantTrial(t, argv, want)
	}
}

// nemo1NoValidation is what a NeMo 1 trial adds to move Lightning's
// validation past it, where the command names none of the keys.
const nemo1NoValidation = " ++trainer.val_check_interval=1000000000 ++trainer.check_val_every_n_epoch=null ++trainer.num_sanity_val_steps=0"

func TestNeMoTrialsLogToTheScratchFolder(t *testing.T) {
	const argv = "python megatron_gpt_pretraining.py model.micro_batch_size=1 exp_manager.create_mlflow_logger=true exp_manager.create_wandb_logger=True exp_manager.resume_from_checkpoint=ck/last.ckpt"
	want := "python megatron_gpt_pretraining.py model.micro_batch_size=1 exp_manager.create_mlflow_logger=false exp_manager.create_wandb_logger=false exp_manager.resume_from_checkpoint=null" +
		" ++exp_manager.explicit_log_dir=/s ++exp_manager.create_checkpoint_callback=false ++exp_manager.resume_if_exists=false ++exp_manager.create_tensorboard_logger=false" +
		nemo1NoValidation
	wantTrial(t, argv, want)
	// A checkpoint named on the model reaches exp_manager by the shipped
	// config's interpolation: the simulated NeMo 1 trial restored the
	// user's checkpoint and its step. Lightning's own checkpoint callback
	// and logger go off where the command turns them on.
	const own = "python megatron_gpt_pretraining.py model.micro_batch_size=1 model.resume_from_checkpoint=ck/last trainer.enable_checkpointing=True trainer.logger=True"
	wantTrial(t, own, "python megatron_gpt_pretraining.py model.micro_batch_size=1 model.resume_from_checkpoint=ck/last trainer.enable_checkpointing=false trainer.logger=false"+
		" ++exp_manager.explicit_log_dir=/s ++exp_manager.create_checkpoint_callback=false ++exp_manager.resume_if_exists=false ++exp_manager.create_tensorboard_logger=false"+
		" ++exp_manager.create_wandb_logger=false"+nemo1NoValidation+" ++exp_manager.resume_from_checkpoint=null")
}

func TestNeMoTrialsValidateNothing(t *testing.T) {
	// The command's own interval and sanity steps are edited where typed
	// (a "+" kept); limit_val_batches stays: MegatronGPTModel sizes the
	// validation split by it, and 0 or 0.0 breaks a weighted blend.
	const argv = "python megatron_gpt_pretraining.py model.micro_batch_size=1 trainer.val_check_interval=2 trainer.limit_val_batches=10 +trainer.num_sanity_val_steps=2"
	got := wantTrial(t, argv, "python megatron_gpt_pretraining.py model.micro_batch_size=1 trainer.val_check_interval=1000000000 trainer.limit_val_batches=10 +trainer.num_sanity_val_steps=0"+
		" ++exp_manager.explicit_log_dir=/s ++exp_manager.create_checkpoint_callback=false ++exp_manager.resume_if_exists=false ++exp_manager.create_tensorboard_logger=false"+
		" ++exp_manager.create_wandb_logger=false ++trainer.check_val_every_n_epoch=null")
	if !strings.Contains(got.Summary, "trainer.val_check_interval=1000000000 trainer.check_val_every_n_epoch=null trainer.num_sanity_val_steps=0") {
		t.Errorf("summary %q", got.Summary)
	}
	// NeMo 2: Lightning's switch, the command's own limit dropped and the
	// trial's appended (NeMo-Run applies the words in order).
	wantTrial(t, "nemo llm pretrain -f llama3_8b trainer.limit_val_batches=32 trainer.val_check_interval=2",
		"nemo llm pretrain -f llama3_8b trainer.val_check_interval=2 log.explicit_log_dir=/s log.ckpt=None log.tensorboard=None log.wandb=None"+
			" trainer.enable_checkpointing=False trainer.logger=False trainer.limit_val_batches=0 resume.resume_if_exists=False")
}

func TestNeMo2TrialsAppendTheirKeysLast(t *testing.T) {
	const off = " log.explicit_log_dir=/s log.ckpt=None log.tensorboard=None log.wandb=None trainer.enable_checkpointing=False trainer.logger=False trainer.limit_val_batches=0"
	for argv, want := range map[string]string{
		// Nothing named: the keys and resume's switch at the end.
		"nemo llm finetune --factory llama3_8b -y data.micro_batch_size=4": "nemo llm finetune --factory llama3_8b -y data.micro_batch_size=4" +
			off + " resume.resume_if_exists=False",
		// The command's own words for those keys, keys under them and a
		// whole `log=` go; the others stay; a checkpoint to start from is
		// dropped where named, in either release's spelling.
		"nemo llm pretrain --factory llama3_8b log=default_log(dir=runs) log.ckpt.every_n_train_steps=5 log.name=mine trainer.logger.save_dir=tb trainer.max_steps=9 log.extra_loggers=[mlflow] resume.resume_from_path=ck/last": "nemo llm pretrain --factory llama3_8b log.name=mine trainer.max_steps=9" +
			off + " log.extra_loggers=[] resume.resume_if_exists=False resume.resume_from_path=None",
		// resume=None reads nothing back: no resume keys to set on it.
		"nemo llm finetune -f llama3_8b resume=None resume.path=x data.micro_batch_size=2": "nemo llm finetune -f llama3_8b resume=None resume.path=x data.micro_batch_size=2" + off,
	} {
		wantTrial(t, argv, want)
	}
}

func TestMegatronBridgeTrialsSaveOnlyToScratch(t *testing.T) {
	const argv = "torchrun --nproc_per_node=2 examples/recipes/llama/pretrain_llama3_8b.py --config-file c.yaml train.micro_batch_size=2 checkpoint.save_interval=100 +logger.wandb_project=p logger.mlflow_experiment=e checkpoint.ckpt_step=10"
	want := "torchrun --nproc_per_node=2 examples/recipes/llama/pretrain_llama3_8b.py --config-file c.yaml train.micro_batch_size=2 checkpoint.save_interval=null +logger.wandb_project=null logger.mlflow_experiment=null checkpoint.ckpt_step=null" +
		" checkpoint.save=/s/checkpoints checkpoint.load=null logger.tensorboard_dir=null train.eval_iters=0"
	if got := wantTrial(t, argv, want); !strings.HasPrefix(got.Summary, "checkpoint.save=/s/checkpoints checkpoint.save_interval=null ") {
		t.Errorf("summary %q", got.Summary)
	}
}
