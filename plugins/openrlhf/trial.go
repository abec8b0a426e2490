package openrlhf

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// trialFlags are one generation's flags for a trial, from
// openrlhf/cli/train_sft.py and train_ppo_ray.py (the other train_* CLIs
// share them): output is where the final model is saved (and the folder
// made at start), ckpt where the step checkpoints go and are loaded from,
// saveSteps and evalSteps their intervals, off the flags a trial drops:
// resuming, and the W&B and TensorBoard loggers.
type trialFlags struct {
	output, ckpt, saveSteps, evalSteps string
	off                                []string
}

var (
	dottedTrial = trialFlags{output: "--ckpt.output_dir", ckpt: "--ckpt.path", saveSteps: "--ckpt.save_steps", evalSteps: "--eval.steps",
		off: []string{"--ckpt.load_enable", "--logger.wandb.key", "--logger.tensorboard_dir"}}
	legacyTrial = trialFlags{output: "--save_path", ckpt: "--ckpt_path", saveSteps: "--save_steps", evalSteps: "--eval_steps",
		off: []string{"--load_checkpoint", "--use_wandb", "--use_tensorboard"}}
)

// trial makes the command one of `vramrun tune`'s short trials: the model
// saved at the end and every checkpoint go under the scratch folder (both
// default to ./ckpt in the working folder), no step checkpoint (-1), no
// evaluation on a schedule (-1: the Ray PPO trainer never evaluates, the
// others at most once an epoch when there is an evaluation set), no W&B or
// TensorBoard logging, no resume. OpenRLHF uploads nothing to a hub.
func (c *command) trial(fix sdk.Fix) ([]string, string) {
	// Both dotted generations (DeepSpeed and FSDP) share these flags.
	f := dottedTrial
	if c.names == legacy {
		f = legacyTrial
	}
	args := cmdline.RemoveFlag(c.s.Inv.Args, f.off...)
	parts := make([]string, 0, 4)
	for _, kv := range [][2]string{{f.output, fix.Scratch}, {f.ckpt, filepath.Join(fix.Scratch, "checkpoints")},
		{f.saveSteps, "-1"}, {f.evalSteps, "-1"}} {
		args = cmdline.SetFlag(args, []string{kv[0]}, kv[1], cmdline.Space)
		parts = append(parts, kv[0]+" "+kv[1])
	}
	return args, strings.Join(parts, " ")
}
