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

// trialPlan is what a trial does to the command's overrides. With last,
// every word that names a key set (or a key under it) or one of drop goes,
// and set is appended at the end: NeMo-Run applies the words in order, so
// a later `log=...` would undo an edit made in place, and a later
// `log.ckpt.x=...` fails on the None a trial sets; it has no `++`.
type trialPlan struct {
	set  []override
	drop []string
	last bool
}

// verlResume turns off resuming: the user's own checkpoints, which
// trainer.resume_from_path (or a config's resume_mode: resume_path) can
// name, stay unread, and the PPO trainer's del_local_ckpt_after_load
// cannot delete them.
var verlResume = override{key: "trainer.resume_mode", value: "disable", force: true}

// refusedTrial is the line for a tool whose outputs vramrun cannot move.
const refusedTrial = "'s recipes choose where they write their checkpoints and logs, and vramrun does not know the overrides that move them: point them at a scratch folder and pass --trust-trials"

// trialOverrides are what a trial sets for the tool, from its source
// (each function names where). The second result is why a tool has none.
func (c *command) trialOverrides(scratch string) (trialPlan, string) {
	switch c.tool.name {
	case "verl SFT", "verl PPO":
		return trialPlan{set: c.verlTrial(scratch)}, ""
	case "NeMo":
		return trialPlan{set: c.nemoTrial(scratch)}, ""
	case "NeMo 2":
		return c.nemo2Trial(scratch), ""
	case "Megatron-Bridge":
		return trialPlan{set: c.bridgeTrial(scratch)}, ""
	}
	return trialPlan{}, c.tool.name + refusedTrial
}

// verlTrial is verl's trainer section (verl/trainer/config/sft_trainer.yaml
// and ppo_trainer.yaml, read by fsdp_sft_trainer.py and ppo/ray_trainer.py)
// and Hydra's own run folder (hydra/conf/__init__.py, HydraConf.run.dir).
func (c *command) verlTrial(scratch string) []override {
	set := []override{
		// Checkpoints (global_step_N/ and the tracker file) go to
		// default_local_dir; Hydra's outputs/<date>/<time> to
		// hydra.run.dir, which is also the working folder where Hydra
		// changes into it.
		{key: "trainer.default_local_dir", value: scratch},
		{key: "hydra.run.dir", value: filepath.Join(scratch, "hydra")},
		// No upload of a checkpoint to HDFS.
		{key: "trainer.default_hdfs_dir", value: "null"},
		// -1: no checkpoint every N steps; no validation every N.
		{key: "trainer.save_freq", value: "-1"},
		{key: "trainer.test_freq", value: "-1"},
		// The console backend alone: its step lines are the trial's speed;
		// W&B, MLflow, TensorBoard (tensorboard_log/ in the working
		// folder) and the rest log nothing.
		{key: "trainer.logger", value: "[console]"},
		verlResume,
	}
	if c.tool.name == "verl PPO" {
		set = append(set, override{key: "trainer.val_before_train", value: "false"},
			// A dump of every rollout, where the config names a folder.
			override{key: "trainer.rollout_data_dir", value: "null", force: true})
	}
	return set
}

// nemoTrial is NeMo 1's exp_manager (nemo/utils/exp_manager.py's
// ExpManagerConfig). NeMo's hydra_runner pins hydra.run.dir to "." and
// turns the .hydra folder off, so Hydra writes nothing; exp_manager writes
// the logs (and, with its callback, the checkpoints) under
// explicit_log_dir. Every key is forced: a script's config may leave them
// to ExpManagerConfig's defaults. Lightning's validation moves past the
// trial (nemo1ValidationOff).
func (c *command) nemoTrial(scratch string) []override {
	set := []override{{key: "exp_manager.explicit_log_dir", value: scratch, force: true},
		{key: "exp_manager.create_checkpoint_callback", value: "false", force: true},
		{key: "exp_manager.resume_if_exists", value: "false", force: true},
		{key: "exp_manager.create_tensorboard_logger", value: "false", force: true},
		{key: "exp_manager.create_wandb_logger", value: "false", force: true}}
	// Loggers only newer NeMo 1 releases have (a forced key its
	// ExpManagerConfig lacks fails the merge): off where the command turns
	// them on.
	set = c.whereNamed(set, "false", "exp_manager.create_mlflow_logger", "exp_manager.create_dllogger_logger",
		"exp_manager.create_clearml_logger", "exp_manager.create_neptune_logger")
	// Lightning's own checkpoint callback and logger, where the command turns
	// them on: its checkpoints would still be saved (under the log folder),
	// and exp_manager refuses a trainer's logger with explicit_log_dir.
	set = c.whereNamed(set, "false", "trainer.enable_checkpointing", "trainer.logger")
	set = append(set, nemo1ValidationOff...)
	if _, named := c.vals["model.resume_from_checkpoint"]; named {
		// megatron_gpt_config.yaml's exp_manager.resume_from_checkpoint is
		// ${model.resume_from_checkpoint}: the trial would restore the
		// user's checkpoint, and its step.
		return append(set, override{key: "exp_manager.resume_from_checkpoint", value: "null", force: true})
	}
	return c.whereNamed(set, "null", "exp_manager.resume_from_checkpoint")
}

// whereNamed adds value for each of keys the command names: keys some
// releases lack, so a trial sets them only where the command has them.
func (c *command) whereNamed(set []override, value string, keys ...string) []override {
	for _, key := range keys {
		if _, named := c.vals[key]; named {
			set = append(set, override{key: key, value: value})
		}
	}
	return set
}

// trial makes the command one of `vramrun tune`'s short trials: its
// outputs under the scratch folder, no checkpoint saved, no logging
// service, no upload, no resume.
func (c *command) trial(fix sdk.Fix) (sdk.ApplyResponse, error) {
	plan, why := c.trialOverrides(fix.Scratch)
	if why != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", why)
	}
	args := c.inv.Args
	if plan.last {
		args = dropWords(args, plan)
	}
	parts := make([]string, 0, len(plan.set))
	for _, o := range plan.set {
		_, named := c.vals[o.key]
		switch {
		case plan.last:
			args = append(args[:len(args):len(args)], o.key+"="+o.value)
		case o.force && !named:
			args = append(args[:len(args):len(args)], "++"+o.key+"="+o.value)
		default:
			args = cfgcli.SetOverride(args, -1, o.key, o.value)
		}
		parts = append(parts, o.key+"="+o.value)
	}
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(args), Summary: strings.Join(parts, " ")}, nil
}

// dropWords returns args without the override words plan replaces: those
// naming one of its keys or a key under one, and those naming one of drop.
func dropWords(args []string, plan trialPlan) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		k, _, ok := strings.Cut(a, "=")
		if ok && !strings.HasPrefix(a, "-") && replaced(strings.TrimLeft(k, "+~"), plan) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func replaced(key string, plan trialPlan) bool {
	for _, d := range plan.drop {
		if key == d {
			return true
		}
	}
	for _, o := range plan.set {
		if key == o.key || strings.HasPrefix(key, o.key+".") {
			return true
		}
	}
	return false
}
