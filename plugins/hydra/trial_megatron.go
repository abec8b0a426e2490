package hydra

import (
	"path/filepath"
	"strings"
)

// nemo2Trial is NeMo 2's logger and resume, as `nemo llm` takes them
// (NeMo-Run's nemo_run/cli/cli_parser.py: `key=value` sets the attribute,
// None/null is None for an Optional): NeMoLogger's explicit_log_dir (logs,
// the task config and any checkpoint there; nemo/lightning/nemo_logger.py),
// its ckpt (the ModelCheckpoint nemo/collections/llm/recipes/log/default.py
// puts in every recipe's log, every 200 steps and at the end), tensorboard
// and wandb (the recipes' loggers); Lightning's enable_checkpointing and
// logger, off so that no default ModelCheckpoint or TensorBoardLogger
// writes under the working folder (the Trainer's default_root_dir), as
// NeMo's own scripts/llm/performance recipes set them; and AutoResume's
// resume_if_exists (nemo/lightning/resume.py), off so that nothing is read
// back; and no validation (nemo2ValidationOff). A finetune recipe's
// restore_config (the base model) stays.
func (c *command) nemo2Trial(scratch string) trialPlan {
	set := []override{
		{key: "log.explicit_log_dir", value: scratch},
		{key: "log.ckpt", value: "None"},
		{key: "log.tensorboard", value: "None"},
		{key: "log.wandb", value: "None"},
		{key: "trainer.enable_checkpointing", value: "False"},
		{key: "trainer.logger", value: "False"},
		nemo2ValidationOff,
	}
	// Newer NeMoLoggers' other loggers (MLflow and the like).
	set = c.whereNamed(set, "[]", "log.extra_loggers")
	if !isNone(c.vals["resume"]) {
		set = append(set, override{key: "resume.resume_if_exists", value: "False"})
		// A checkpoint the command names to start from: resume_from_path in
		// newer releases, path in older ones.
		set = c.whereNamed(set, "None", "resume.resume_from_path", "resume.path")
	}
	// `log=...` would put back a logger of the command's own; the recipe's
	// gets the keys above instead (and `log=None` would leave NeMo's
	// default NeMoLogger, writing to ./nemo_experiments).
	return trialPlan{set: set, drop: []string{"log"}, last: true}
}

// isNone says a NeMo-Run value is None.
func isNone(v string) bool {
	v = strings.ToLower(v)
	return v == "none" || v == "null"
}

// bridgeTrial is Megatron-Bridge's ConfigContainer as its recipe scripts
// take Hydra overrides (src/megatron/bridge/training/utils/omegaconf_utils.py;
// config.py's CheckpointConfig and LoggerConfig): checkpoint.save in the
// scratch folder (where a checkpoint on SIGTERM or at the end still goes,
// and the async saver, which asserts save is set, finds one),
// save_interval null (training/train.py saves on an interval only when it
// is set), load null (the recipes load from their own checkpoint folder,
// so a trial would resume the user's run), no TensorBoard (state.py opens
// a SummaryWriter only for a tensorboard_dir) and no W&B (only for a
// wandb_project); newer releases' MLflow, config file and non-persistent
// checkpoints off where the command names them; and no evaluation, in the
// spelling of the command's release (bridgeEvalOff).
func (c *command) bridgeTrial(scratch string) []override {
	set := []override{
		{key: "checkpoint.save", value: filepath.Join(scratch, "checkpoints")},
		{key: "checkpoint.save_interval", value: "null"},
		{key: "checkpoint.load", value: "null"},
		{key: "logger.tensorboard_dir", value: "null"},
		{key: "logger.wandb_project", value: "null"},
	}
	set = c.whereNamed(set, "null", "checkpoint.non_persistent_save_interval", "checkpoint.ckpt_step",
		"logger.mlflow_experiment", "logger.save_config_filepath")
	return append(set, c.bridgeEvalOff()...)
}
