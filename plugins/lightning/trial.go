package lightning

import (
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// trial makes a LightningCLI command one of `vramrun tune`'s trials: the
// Trainer's root folder is the scratch one, and it saves no checkpoint
// and logs to no logger (TensorBoard, W&B: logger false drops them all).
// Named callbacks are refused: a ModelCheckpoint writes to its own dirpath,
// and with enable_checkpointing false Lightning refuses to start with one.
func (c *cliCommand) trial(e *cliEdit, fix sdk.Fix) error {
	if c.lookup(dotted("trainer.callbacks")).kind == fromConfig || namesCallbacks(c.s.Inv.Args) {
		return sdk.Unsupported(fix.ID, "the command names Trainer callbacks, and a ModelCheckpoint among them writes to its own folder: drop them for tune, or pass --trust-trials")
	}
	for _, kv := range [][2]string{{"trainer.default_root_dir", fix.Scratch}, {"trainer.enable_checkpointing", "false"}, {"trainer.logger", "false"}} {
		st := dotted(kv[0])
		e.setFlag(c.lookup(st), st, kv[1])
	}
	return nil
}

// namesCallbacks says the command line sets trainer.callbacks (the +=
// form appends one).
func namesCallbacks(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--trainer.callbacks") {
			return true
		}
	}
	return false
}
