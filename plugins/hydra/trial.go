package hydra

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/sdk"
)

// override is one dotted override a trial sets. force writes it as
// Hydra's `++key=value` (add or override) when the command does not name
// the key: for a key some versions of the tool's config lack, where a
// plain override of a missing key fails.
type override struct {
	key, value string
	force      bool
}

// verlResume turns off resuming: the user's own checkpoints, which
// trainer.resume_from_path (or a config's resume_mode: resume_path) can
// name, stay unread, and the PPO trainer's del_local_ckpt_after_load
// cannot delete them.
var verlResume = override{key: "trainer.resume_mode", value: "disable", force: true}

// trialOverrides are what a trial sets for the tool, from its source:
// verl's trainer section (verl/trainer/config/sft_trainer.yaml and
// ppo_trainer.yaml, read by fsdp_sft_trainer.py and ppo/ray_trainer.py),
// NeMo 1's exp_manager (nemo/utils/exp_manager.py's ExpManagerConfig),
// and Hydra's own run folder (hydra/conf/__init__.py, HydraConf.run.dir).
// The second result is why a tool has none.
func (c *command) trialOverrides(scratch string) ([]override, string) {
	switch c.tool.name {
	case "verl SFT", "verl PPO":
		set := []override{
			// Checkpoints (global_step_N/ and the tracker file) go to
			// default_local_dir; Hydra's outputs/<date>/<time> to
			// hydra.run.dir, which is also the working folder where
			// Hydra changes into it.
			{key: "trainer.default_local_dir", value: scratch},
			{key: "hydra.run.dir", value: filepath.Join(scratch, "hydra")},
			// No upload of a checkpoint to HDFS.
			{key: "trainer.default_hdfs_dir", value: "null"},
			// -1: no checkpoint every N steps; no validation every N.
			{key: "trainer.save_freq", value: "-1"},
			{key: "trainer.test_freq", value: "-1"},
			// The console backend alone: its step lines are the trial's
			// speed; W&B, MLflow, TensorBoard (tensorboard_log/ in the
			// working folder) and the rest log nothing.
			{key: "trainer.logger", value: "[console]"},
			verlResume,
		}
		if c.tool.name == "verl PPO" {
			set = append(set, override{key: "trainer.val_before_train", value: "false"},
				// A dump of every rollout, where the config names a folder.
				override{key: "trainer.rollout_data_dir", value: "null", force: true})
		}
		return set, ""
	case "NeMo":
		// NeMo's hydra_runner pins hydra.run.dir to "." and turns the
		// .hydra folder off, so Hydra writes nothing; exp_manager writes
		// the logs (and, with its callback, the checkpoints) under
		// explicit_log_dir. Every key is forced: a script's config may
		// leave them to ExpManagerConfig's defaults.
		set := []override{{key: "exp_manager.explicit_log_dir", value: scratch, force: true},
			{key: "exp_manager.create_checkpoint_callback", value: "false", force: true},
			{key: "exp_manager.resume_if_exists", value: "false", force: true},
			{key: "exp_manager.create_tensorboard_logger", value: "false", force: true},
			{key: "exp_manager.create_wandb_logger", value: "false", force: true}}
		// Loggers only newer NeMo 1 releases have (a forced key its
		// ExpManagerConfig lacks fails the merge): off where the command
		// turns them on.
		for _, key := range []string{"create_mlflow_logger", "create_dllogger_logger", "create_clearml_logger", "create_neptune_logger"} {
			if _, named := c.vals["exp_manager."+key]; named {
				set = append(set, override{key: "exp_manager." + key, value: "false"})
			}
		}
		if _, named := c.vals["exp_manager.resume_from_checkpoint"]; named {
			set = append(set, override{key: "exp_manager.resume_from_checkpoint", value: "null"})
		}
		return set, ""
	}
	return nil, c.tool.name + "'s recipes choose where they write their checkpoints and logs, and vramrun does not know the overrides that move them: point them at a scratch folder and pass --trust-trials"
}

// trial makes the command one of `vramrun tune`'s short trials: its
// outputs under the scratch folder, no checkpoint saved, no validation on
// a schedule, no logging service, no upload, no resume.
func (c *command) trial(fix sdk.Fix) (sdk.ApplyResponse, error) {
	set, why := c.trialOverrides(fix.Scratch)
	if why != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", why)
	}
	args := c.inv.Args
	parts := make([]string, 0, len(set))
	for _, o := range set {
		_, named := c.vals[o.key]
		if o.force && !named {
			args = append(args[:len(args):len(args)], "++"+o.key+"="+o.value)
		} else {
			args = cfgcli.SetOverride(args, -1, o.key, o.value)
		}
		parts = append(parts, o.key+"="+o.value)
	}
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(args), Summary: strings.Join(parts, " ")}, nil
}
