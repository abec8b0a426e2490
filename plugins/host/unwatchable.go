package host

import (
	"errors"

	"github.com/vramrun/vramrun/plugins/cmdline"
)

// Unwatchable is why vramrun refuses to run argv at all, whichever plugin
// claims it: a wrapper that hands the job on and returns at once, without
// its output (ray job submit --no-wait), so that vramrun would see no OOM.
// nil when vramrun can watch the command.
func Unwatchable(argv []string) error {
	if why := cmdline.Unwatchable(argv); why != "" {
		return errors.New(why)
	}
	return nil
}
