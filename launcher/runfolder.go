package launcher

import (
	"fmt"
	"os"

	"github.com/vramrun/vramrun/launcher/present"
)

// runFolder makes the run's folder in the store and says whether the run
// keeps a record there. When the folder cannot be made (a full disk, a
// runs folder that is a file or a symlink) the job still runs, without a
// record: one line says so, and what the attempts need a folder for (their
// logs and GPU samples, plugins.log, the config copies the fixes write) goes
// to a new temporary folder, kept afterwards because the final command may
// name a copy in it. Only when even that cannot be made does vramrun refuse
// to run.
func runFolder(o Options, id string, say *present.Lines) (string, bool, error) {
	dir, err := o.Store.MakeRunDir(id)
	if err == nil {
		return dir, true, nil
	}
	tmp, terr := os.MkdirTemp("", "vramrun-"+id+"-")
	if terr != nil {
		return "", false, &ExitError{StatusFailure, fmt.Errorf("cannot write the run folder (%v), nor a temporary folder for the job's logs and copies (%v)", err, terr)}
	}
	say.Warn("cannot write the run folder (%v): the job runs without a run record; its logs and config copies go to %s", err, tmp)
	return tmp, false, nil
}

// forbidsFixes says the settings' ladder is empty (ladder: [] or
// --ladder ""): vramrun then runs the command once, reports an
// out-of-memory error as it always does and changes nothing, not even from
// learned state. It says so once, at the start.
func forbidsFixes(o *Options, say *present.Lines) {
	if o.Settings.Ladder == nil || len(o.Settings.Ladder) > 0 {
		return
	}
	o.Settings.Learn = false
	say.Info("the ladder is empty: vramrun will report out-of-memory errors and fix nothing")
}
