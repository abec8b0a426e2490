package unsloth

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// compileCache is the variable naming the folder Unsloth writes its
// compiled modules to (unsloth_zoo/compiler.py), "unsloth_compiled_cache"
// in the working folder by default.
const compileCache = "UNSLOTH_COMPILE_LOCATION"

// trial makes the command one of `vramrun tune`'s short trials, from the
// CLI's own fields (unsloth_cli/config.py, whose every field is a flag,
// booleans as --x/--no-x, unsloth_cli/options.py) and what Studio's
// trainer does with them (studio/backend/core/training/trainer.py):
// output_dir, where the Trainer's checkpoints and the model saved at the
// end (or on a stop) go, in the scratch folder (an absolute path is used
// as it is; a relative one lands under Studio's outputs folder); no W&B,
// no TensorBoard (report_to then "none"); save_steps 0, so no checkpoint
// on the command's interval (the Trainer's own default, every 500 steps,
// stays, into scratch); no resume (newer releases' --resume and
// --resume-from-checkpoint, which read the outputs folder); the compiled
// modules in scratch. The train command has no hub push and passes no
// evaluation interval, so the trainer evaluates nothing.
func (c *command) trial(fix sdk.Fix) (sdk.ApplyResponse, error) {
	args := cmdline.RemoveFlag(c.args(), "--resume", "--resume-from-checkpoint",
		"--enable-wandb", "--no-enable-wandb", "--enable-tensorboard", "--no-enable-tensorboard")
	args = cmdline.SetFlag(args, []string{"--output-dir"}, fix.Scratch, cmdline.Space)
	args = cmdline.SetFlag(args, []string{"--save-steps"}, "0", cmdline.Space)
	args = cmdline.AddSwitch(args, "--no-enable-wandb")
	args = cmdline.AddSwitch(args, "--no-enable-tensorboard")
	parts := []string{"--output-dir " + fix.Scratch, "--save-steps 0", "--no-enable-wandb", "--no-enable-tensorboard"}
	resp := sdk.ApplyResponse{Argv: c.inv.WithArgs(append([]string{"train"}, args...))}
	if loc := c.cmd.Env[compileCache]; !filepath.IsAbs(loc) {
		// Unset or relative: under the working folder.
		resp.Env = map[string]string{compileCache: filepath.Join(fix.Scratch, "unsloth_compiled_cache")}
		parts = append(parts, compileCache+"="+resp.Env[compileCache])
	}
	resp.Summary = strings.Join(parts, " ")
	return resp, nil
}
