package lightning

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// Lightning's ModelCheckpoint writes epoch=E-step=S.ckpt (and last.ckpt with
// save_last) under <default_root_dir>/lightning_logs/version_N/checkpoints,
// or <default_root_dir>/checkpoints without a logger, or its dirpath; the
// fit subcommand resumes from one with --ckpt_path.

// stepInName reads the step from Lightning's default checkpoint name.
const stepInName = `step=(?P<step>[0-9]+)`

// cliCheckpoints is where a LightningCLI fit command's checkpoints go; nil
// for another subcommand, or with checkpointing off.
func cliCheckpoints(c *cliCommand) *sdk.Checkpoints {
	if c.sub != "fit" {
		return nil
	}
	if on := c.lookup(dotted("trainer.enable_checkpointing")); on.kind != fromNone && isFalse(on.value) {
		return nil
	}
	root := c.lookup(dotted("trainer.default_root_dir")).value
	if root == "null" || root == "None" || root == "~" {
		root = ""
	}
	globs := []string{
		filepath.Join(root, "lightning_logs", "version_*", "checkpoints", "*.ckpt"),
		filepath.Join(root, "checkpoints", "*.ckpt"),
	}
	if f, ok := cmdline.FindFlag(c.s.Inv.Args, "--trainer.callbacks.dirpath"); ok && f.Value != "" {
		globs = append([]string{filepath.Join(f.Value, "*.ckpt")}, globs...)
	}
	return &sdk.Checkpoints{Globs: globs, Step: stepInName}
}

func isFalse(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "no", "off", "0":
		return true
	}
	return false
}

// resumeCLI points a fit command at the checkpoint with --ckpt_path.
func resumeCLI(c *cliCommand, fix sdk.Fix) (sdk.ApplyResponse, error) {
	if c.sub != "fit" {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "only LightningCLI's fit resumes (--ckpt_path)")
	}
	args := cmdline.SetFlag(c.s.Inv.Args, []string{"--ckpt_path"}, fix.Checkpoint, flagStyle(c.s.Inv.Args))
	return sdk.ApplyResponse{Argv: c.s.Inv.WithArgs(args), Summary: "--ckpt_path " + fix.Checkpoint,
		Notes: []string{"Lightning restores the model, optimizer and loop state from the checkpoint; what the steps after it trained is trained again"}}, nil
}
