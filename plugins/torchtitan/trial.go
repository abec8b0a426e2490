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

// trialOffWhenOn are the switches a trial turns off where the config or
// the command turns them on: validation, and the profiler's traces and
// memory snapshots, whose folders torchtitan joins to job.dump_folder with
// os.path.join, so an absolute one would escape the scratch folder (and a
// profiled trial would not run at the speed it measures).
var trialOffWhenOn = []string{"validation.enabled", "profiling.enable_profiling", "profiling.enable_memory_snapshot"}

// trial makes a torchtitan command one of `vramrun tune`'s short trials:
// job.dump_folder, under which torchtitan writes everything it writes
// (checkpoints, TensorBoard and W&B files, profiler traces, memory
// snapshots), is the scratch folder; it saves no checkpoint, logs to no
// service, runs no validation and profiles nothing. torchtitan uploads nothing to a hub.
func (c *command) trial(args []string, fix sdk.Fix) ([]string, []string, error) {
	if c.err != nil {
		return nil, nil, sdk.Unsupported(fix.ID, "%s", c.err.Error())
	}
	args = cmdline.SetFlag(args, []string{"--job.dump_folder", "--job.dump-folder"}, fix.Scratch, cmdline.Space)
	parts := []string{"--job.dump_folder " + fix.Scratch}
	off := trialOff
	for _, key := range trialOffWhenOn {
		if c.vals.On(key) {
			off = append(off[:len(off):len(off)], key)
		}
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
