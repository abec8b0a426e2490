package torchtitan

import (
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// trialOff are the switches a trial turns off whatever the config says:
// checkpointing (which would also resume from the user's checkpoints at
// start, torchtitan's way), and Weights & Biases and TensorBoard.
var trialOff = []string{"checkpoint.enable", "metrics.enable_wandb", "metrics.enable_tensorboard"}

// trial makes a torchtitan command one of `vramrun tune`'s short trials:
// job.dump_folder, under which torchtitan writes everything it writes
// (checkpoints, TensorBoard and W&B files, profiler traces, memory
// snapshots), is the scratch folder; it saves no checkpoint, logs to no
// service and runs no validation. torchtitan uploads nothing to a hub.
func (c *command) trial(args []string, fix sdk.Fix) ([]string, []string, error) {
	if c.err != nil {
		return nil, nil, sdk.Unsupported(fix.ID, "%s", c.err.Error())
	}
	args = cmdline.SetFlag(args, []string{"--job.dump_folder", "--job.dump-folder"}, fix.Scratch, cmdline.Space)
	parts := []string{"--job.dump_folder " + fix.Scratch}
	off := trialOff
	if c.vals.On("validation.enabled") {
		off = append(off[:len(off):len(off)], "validation.enabled")
	}
	for _, key := range off {
		var flag string
		args, flag = switchOff(args, key)
		parts = append(parts, flag)
	}
	return args, parts, nil
}

// switchOff returns args with the tyro boolean key ("section.field") off,
// and the flag that does it, tyro's --section.no-field: the last of the
// user's flags for the key (--section.field, --section.no-field, in
// hyphens or underscores) becomes it and the others go, else it is added
// at the end.
func switchOff(args []string, key string) ([]string, string) {
	section, field, _ := strings.Cut(key, ".")
	flag := "--" + section + ".no-" + strings.ReplaceAll(field, "_", "-")
	last := -1
	for i, a := range args {
		if isSwitch(a, section, field) {
			last = i
		}
	}
	if last < 0 {
		return cmdline.AddSwitch(args, flag), flag
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		switch {
		case i == last:
			out = append(out, flag)
		case !isSwitch(a, section, field):
			out = append(out, a)
		}
	}
	return out, flag
}

// isSwitch says a token is tyro's flag for section.field, on or off, as
// tyro reads it: hyphens and underscores alike.
func isSwitch(tok, section, field string) bool {
	name := strings.ReplaceAll(strings.TrimPrefix(tok, "--"), "-", "_")
	return strings.HasPrefix(tok, "--") && (name == section+"."+field || name == section+".no_"+field)
}
