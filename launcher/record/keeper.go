package record

// Keeper keeps a run's record in its folder, built from the run's events:
// written when the run starts, when the command is claimed, after every
// attempt and when the run ends, so that a reader (vramrun runs, report)
// always finds the latest whole record.
type Keeper struct {
	dir string
	run Run
	// warn says that the record could not be written; the run goes on.
	// It is said once a run: warned is set then.
	warn   func(format string, args ...any)
	warned bool
}

// NewKeeper keeps the record in dir (the run's folder).
func NewKeeper(dir string, warn func(format string, args ...any)) *Keeper {
	return &Keeper{dir: dir, warn: warn}
}

// Run is the record as it stands.
func (k *Keeper) Run() *Run { return &k.run }

// On takes one of the run's events.
func (k *Keeper) On(ev Event) {
	r := &k.run
	switch ev := ev.(type) {
	case RunStarted:
		*r = Run{ID: ev.ID, Started: ev.Started, Argv: ev.Argv, Dir: ev.Dir, Job: Job{Framework: "unknown", GPU: ev.GPU},
			Attempts: []Attempt{}, End: End{Outcome: OutcomeRunning, FinalArgv: ev.Argv, Fixes: []string{}}}
	case Claimed:
		if ev.Plugin == "" {
			return
		}
		r.Framework, r.Launcher, r.Script = ev.Framework, ev.Launcher, ev.Script
	case LearnedStart:
		r.Learned = ev.Summary
		return
	case FixCommitted:
		r.Fixes = append(r.Fixes, string(ev.Fix.Fix.ID))
		r.FinalArgv, r.FinalEnv = ev.Launch.Argv, ev.Launch.Env
		return
	case FixRejected:
		if len(r.Fixes) > 0 {
			r.Fixes = r.Fixes[:len(r.Fixes)-1]
		}
		r.FinalArgv, r.FinalEnv = ev.Launch.Argv, ev.Launch.Env
		return
	case AttemptEnded:
		r.Attempts = append(r.Attempts, ev.Attempt)
	case RunEnded:
		r.Ended = ev.Ended
		r.Outcome, r.ExitStatus = ev.End.Outcome, ev.End.ExitStatus
		r.Room, r.RoomWithheld = ev.End.Room, ev.End.RoomWithheld
	default:
		return
	}
	k.write()
}

func (k *Keeper) write() {
	if err := k.run.Write(k.dir); err != nil && k.warn != nil && !k.warned {
		k.warned = true
		k.warn("could not write the run record: %v (said once; the run goes on)", err)
	}
}
