package record

import (
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

// Event is one thing that happened in a run. The relaunch loop emits them;
// the user's lines, the run record, learned state and the --events stream
// listen to the same events.
type Event interface{ isEvent() }

// Listener takes a run's events in the order they happen, one at a time.
type Listener interface{ On(Event) }

// Bus hands every event to each of its listeners in turn.
type Bus []Listener

// Emit hands e to every listener.
func (b Bus) Emit(e Event) {
	for _, l := range b {
		l.On(e)
	}
}

// ListenerFunc makes a function a Listener.
type ListenerFunc func(Event)

// On calls f.
func (f ListenerFunc) On(e Event) { f(e) }

// RunStarted begins a run.
type RunStarted struct {
	ID      string
	Started time.Time
	Argv    []string
	Dir     string
	// GPU is the model of the job's first GPU (profiles.UnknownGPU without
	// NVML); Max the most attempts the run may make.
	GPU string
	Max int
}

// Claimed says which plugin took the command: at the start, or after an
// OOM whose text named its runtime (ByOOM). Plugin is "" when none did.
type Claimed struct {
	Plugin, Framework, Reason string
	Launcher, Script          string
	Knobs                     sdk.Knobs
	// WorldSize is the processes the command starts, as the plugin reads it.
	WorldSize int
	ByOOM     bool
	// Notes are the plugin's notes on the command (sdk.AnalyzeResponse).
	Notes []string
	// Answers are every plugin's answer, for -v.
	Answers []string
}

// LearnedStart says the run starts from what fit last time on this GPU model.
type LearnedStart struct {
	GPU, Summary string
}

// AttemptStarted begins attempt N of at most Max, running Launch (its Env
// only what vramrun set).
type AttemptStarted struct {
	N, Max    int
	Launch    Launch
	Framework string
}

// AttemptFits says attempt N has run for learn_after without an OOM: what
// it runs counts as fitting, though the job goes on.
type AttemptFits struct{ N int }

// OOMDiagnosed is the diagnosis of attempt N's out-of-memory error (or of
// a probable one), before the attempt's end is reported.
type OOMDiagnosed struct {
	N         int
	Diagnosis oom.Diagnosis
}

// AttemptEnded is attempt N's record, once it has ended and been judged.
type AttemptEnded struct {
	Attempt Attempt
	// Hardware describes an Xid the GPU reported during the attempt, ""
	// when none did.
	Hardware string
}

// FixSkipped is a fix passed over before attempt Before, with the reason.
type FixSkipped struct {
	Before int
	Skip   SkipRecord
}

// FixCommitted is a fix applied for attempt Before: the command now runs as
// Launch (Env all that vramrun has set so far). ShowReason says the reason
// tells more than "next on the ladder".
type FixCommitted struct {
	Before     int
	Fix        FixRecord
	ShowReason bool
	Launch     Launch
	// With says the fix goes with the one before it, in the same attempt
	// (a micro-batch growing back after a fix that frees memory).
	With bool
}

// FixRejected says the job rejected the fix applied before attempt N,
// with Line: vramrun took it back, and the command runs as Launch again.
type FixRejected struct {
	N      int
	Fix    FixRecord
	Line   string
	Launch Launch
	// With is how many fixes went with Fix (and are taken back with it).
	With int
}

// Resumed says attempt Before resumes from a checkpoint the run wrote.
type Resumed struct {
	Before int
	Resume Resume
}

// ResumeDeclined says attempt Before starts from scratch although the run
// wrote Checkpoint, and why.
type ResumeDeclined struct {
	Before     int
	Checkpoint string
	Reason     string
}

// RunEnded ends the run: End holds the outcome and the final command, Why
// what stopped it.
type RunEnded struct {
	End      End
	Ended    time.Time
	Why      Stop
	Attempts int
}

// Stop is what ended a run.
type Stop struct {
	Kind StopKind
	// Signal is the interrupting signal; Before the attempt it came
	// before (StopInterruptedBefore); Used and Max the attempts
	// (StopOutOfAttempts); Reason the planner's (StopGaveUp).
	Signal    int
	Before    int
	Used, Max int
	Reason    string
}

// StopKind says which of the ways a run ends it was.
type StopKind int

// The ways a run ends.
const (
	// StopFinished: the last attempt's outcome decided (ok, or a failure
	// no fix is for).
	StopFinished StopKind = iota
	// StopInterrupted: vramrun or the job was interrupted during an attempt.
	StopInterrupted
	// StopInterruptedBefore: interrupted between attempts.
	StopInterruptedBefore
	// StopOutOfAttempts: --max-attempts was used up.
	StopOutOfAttempts
	// StopGaveUp: the planner had no fix left.
	StopGaveUp
	// StopUnclaimed: no plugin took the command, so nothing could be fixed.
	StopUnclaimed
	// StopFailed: vramrun itself failed (a plugin, a copy it could not write).
	StopFailed
)

func (RunStarted) isEvent()     {}
func (Claimed) isEvent()        {}
func (LearnedStart) isEvent()   {}
func (AttemptStarted) isEvent() {}
func (AttemptFits) isEvent()    {}
func (OOMDiagnosed) isEvent()   {}
func (AttemptEnded) isEvent()   {}
func (FixSkipped) isEvent()     {}
func (FixCommitted) isEvent()   {}
func (FixRejected) isEvent()    {}
func (RunEnded) isEvent()       {}
func (Resumed) isEvent()        {}
func (ResumeDeclined) isEvent() {}
