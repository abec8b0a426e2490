package litgpt

import (
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// trial makes a litgpt command one of `vramrun tune`'s short trials:
// everything it writes goes under --out_dir, the scratch folder (the step
// checkpoints, final/, the logs); it saves no step checkpoint
// (train.save_interval null), logs to CSV files there (no W&B, MLflow or
// Lightning logger), skips the final validation and the initial one where
// the command asks for it, and does not resume. litgpt has no hub upload;
// its settings check before training (two validation batches) and the
// save to out_dir/final at the end have no switch.
func (c *command) trial(fix sdk.Fix) ([]string, []string, error) {
	if c.err != nil {
		return nil, nil, sdk.Unsupported(fix.ID, "%s", c.err.Error())
	}
	set := [][2]string{{"--out_dir", fix.Scratch}, {"--logger_name", "csv"}, {"--train.save_interval", "null"},
		{"--eval.final_validation", "false"}}
	if c.vals.On("eval.initial_validation") {
		set = append(set, [2]string{"--eval.initial_validation", "false"})
	}
	// --resume true or auto would look for a checkpoint in out_dir, now
	// the empty scratch folder; a trial starts afresh.
	if r, named := c.vals["resume"]; named && r != "" && strings.ToLower(r) != "false" {
		set = append(set, [2]string{"--resume", "false"})
	}
	args := c.args()
	parts := make([]string, 0, len(set))
	for _, kv := range set {
		args = setWinning(args, kv[0], kv[1])
		parts = append(parts, kv[0]+" "+kv[1])
	}
	return args, parts, nil
}

// setWinning sets a flag so that jsonargparse keeps it: it applies the
// arguments in order, so a --config after the flag would set the key
// again. The user's flag is edited in place when no --config follows it,
// else it is dropped and the flag added at the end.
func setWinning(args []string, name, value string) []string {
	if f, ok := cmdline.FindFlag(args, name); ok && configAfter(args, f.Index) {
		args = cmdline.RemoveFlag(args, name)
	}
	return cmdline.SetFlag(args, []string{name}, value, cmdline.Space)
}

// configAfter says a --config comes after index i.
func configAfter(args []string, i int) bool {
	for _, a := range args[i+1:] {
		if a == "--config" || strings.HasPrefix(a, "--config=") {
			return true
		}
	}
	return false
}
