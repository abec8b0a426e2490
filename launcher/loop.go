package launcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/launcher/speed"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Supervisor runs one attempt and says what ended it (supervise.Supervisor;
// for `vramrun plan`, one whose every attempt runs out of memory).
type Supervisor interface {
	Run(ctx context.Context, a supervise.Attempt) (supervise.Result, error)
}

// Learner identifies the command for learned state and finds what fit last
// time (learn.Learner; it records what fits by listening to the events).
type Learner interface {
	Identify(a sdk.AnalyzeResponse, cmd sdk.Command, gpu profiles.GPUKey)
	Lookup() (profiles.Learned, bool)
}

// Say is where the loop's own warnings go.
type Say interface {
	Warn(format string, args ...any)
	Verbose(format string, args ...any)
}

// loopConfig is what the loop knows of the run before it starts.
type loopConfig struct {
	runID  string
	argv   []string
	dir    string
	max    int
	policy outcome.Policy
	gpuFacts
	signals *supervise.Signals
	now     func() time.Time
	resume  resumeConfig
	// progress are the profile's progress patterns.
	progress []sdk.ProgressPattern
	// trial, set by tune, makes each attempt a short trial.
	trial *supervise.Trial
}

// gpuFacts are what the run knows of its GPU.
type gpuFacts struct {
	gpu    profiles.GPUKey
	model  string
	memory int64 // the GPU's capacity, 0 unknown
}

// loop is the relaunch loop of one run.
type loop struct {
	cfg     loopConfig
	plugins *host.Set
	// claim is the plugin that took the command and its analysis of the
	// command as typed; nil plugin until one does.
	claim   claim
	cmd     *rewrite.Command
	planner *plan.Planner
	sup     Supervisor
	learner Learner
	bus     record.Bus
	say     Say
	// copyDir is the folder of the config copies for the attempt before.
	copyDir func(before int) string
	// interrupted is the signal that ended the run, 0 if none did.
	interrupted syscall.Signal
	between
}

// between is what the loop keeps from one attempt to the next.
type between struct {
	// undo is how to take back the last fix, should the job reject it.
	undo *undo
	// since is when the checkpoints a relaunch may resume from begin (the
	// run's start); stale are the ones it never resumes from, unless
	// written again: those there before the run, or before the last change
	// of the optimizer.
	since time.Time
	stale map[string]time.Time
	// fit is the last attempt that fit, for the room at the end; oomBelow
	// is the smallest micro-batch that ran out of memory, per set of the
	// other fixes (see otherFixes): the room stays under it.
	fit      fitted
	oomBelow map[string]int
}

// fitted is an attempt that fit: its micro-batch and accumulation (0 no
// knob), NVML peak and level before its first step, measured speed (0
// unknown), and why its peak is not known to be a step's ("" it is; see
// notStepPeak).
type fitted struct {
	micro, accum  int
	peak, preStep int64
	samplesPerS   float64
	notStep       string
}

type claim struct {
	plugin    *host.Plugin
	framework string
	analysis  sdk.AnalyzeResponse
	// progress reads the attempts' speed once compiled (see progressSet):
	// a new claim compiles its own.
	progress *speed.Set
	compiled bool
}

// pending is what comes before the next attempt: its fix and the fixes
// passed over on the way.
type pending struct {
	fix *record.FixRecord
	// also are the fixes that go with fix.
	also  []record.FixRecord
	skips []record.SkipRecord
	// resume is the checkpoint the attempt resumes from; nil: from scratch.
	resume *resumeStep
}

// ended is what the loop needs of an attempt that ended.
type ended struct {
	verdict   outcome.Verdict
	diagnosis oom.Diagnosis
	status    int
	signal    syscall.Signal
	// peak and preStep are NVML's peak and level before the first step, 0
	// unknown.
	peak, preStep int64
	// rejection is the line with which the job rejected the fix before it.
	rejection string
	// oomAt is when the OOM text came (else when the attempt ended); late
	// says the attempt ran past learn_after first.
	oomAt time.Time
	late  bool
	// analysis is the claiming plugin's analysis of the command that ran;
	// nil when unknown.
	analysis *sdk.AnalyzeResponse
	// pace is its measured speed; nil unknown.
	pace *record.Speed
}

// run is the state machine: claim, start from what fit last time, then
// attempt, judge, decide, until the verdict or the planner ends the run.
func (l *loop) run(ctx context.Context) (int, error) {
	// Checkpoints are files: their times are the system clock's, whose
	// file times lag it by a clock tick; the second's slack is safe
	// because what was there before the run is passed over by name too
	// (noteStale).
	l.since = time.Now().Add(-time.Second)
	l.bus.Emit(record.RunStarted{ID: l.cfg.runID, Started: l.cfg.now(), Argv: l.cfg.argv, Dir: l.cfg.dir, GPU: l.cfg.model, Max: l.cfg.max})
	l.claimCommand(ctx, true)
	if err := l.startFromLearned(ctx); err != nil {
		return l.fail(0, err)
	}
	l.noteStale()
	var next pending
	for n := 1; ; n++ {
		if sig := l.pendingInterrupt(); sig != 0 {
			return l.end(n-1, 128+int(sig), record.OutcomeInterrupted, record.Stop{Kind: record.StopInterruptedBefore, Signal: int(sig), Before: n})
		}
		e, err := l.attempt(ctx, n, next)
		if sig := l.pendingInterrupt(); err != nil && sig != 0 {
			return l.end(n-1, 128+int(sig), record.OutcomeInterrupted, record.Stop{Kind: record.StopInterruptedBefore, Signal: int(sig), Before: n})
		}
		if err != nil {
			return l.fail(n, err)
		}
		switch {
		case e.verdict.Run == record.OutcomeInterrupted:
			return l.end(n, e.status, e.verdict.Run, record.Stop{Kind: record.StopInterrupted, Signal: int(e.signal)})
		case !e.verdict.Relaunch:
			return l.end(n, e.status, e.verdict.Run, record.Stop{Kind: record.StopFinished})
		case n >= l.cfg.max:
			return l.end(n, e.status, record.OutcomeGaveUp, record.Stop{Kind: record.StopOutOfAttempts, Used: n, Max: l.cfg.max})
		case l.claim.plugin == nil && !l.claimByOOM(ctx, e.diagnosis):
			return l.end(n, e.status, record.OutcomeGaveUp, record.Stop{Kind: record.StopUnclaimed})
		}
		var giveUp string
		if e.verdict.Attempt == record.AttemptRejected {
			next, giveUp, err = l.takeBack(ctx, n, e)
		} else {
			next, giveUp, err = l.decide(ctx, n+1, e)
		}
		if sig := l.pendingInterrupt(); sig != 0 {
			return l.end(n, 128+int(sig), record.OutcomeInterrupted, record.Stop{Kind: record.StopInterruptedBefore, Signal: int(sig), Before: n + 1})
		}
		if err != nil {
			return l.fail(n, err)
		}
		if giveUp != "" {
			return l.end(n, e.status, record.OutcomeGaveUp, record.Stop{Kind: record.StopGaveUp, Reason: giveUp})
		}
		next.resume = l.resumeFor(ctx, n+1, e, next)
	}
}

// attempt runs attempt n with the fix before it, judges it and reports it.
func (l *loop) attempt(ctx context.Context, n int, before pending) (ended, error) {
	cmd := l.cmd
	var resumed *record.Resume
	if before.resume != nil {
		cmd, resumed = before.resume.cmd, &before.resume.rec
	}
	launch, handOff := l.launchOf(n, cmd)
	l.bus.Emit(record.AttemptStarted{N: n, Max: l.cfg.max, Launch: launch, Framework: l.framework()})
	var late atomic.Bool
	res, err := l.sup.Run(ctx, supervise.Attempt{
		N: n, Argv: launch.Argv, Env: cmd.Env(), Dir: l.cfg.dir, HandOff: handOff,
		Marker: fmt.Sprintf("%s/%d", l.cfg.runID, n), Script: l.claim.analysis.Script,
		Progress: l.progressSet(),
		Trial:    l.cfg.trial,
		Fits: func() {
			late.Store(true)
			l.bus.Emit(record.AttemptFits{N: n})
		},
	})
	if err != nil {
		return ended{}, startError(err)
	}
	res.Facts.Rejection = l.rejectionOf(n, res)
	if res.Facts.Rejection != "" {
		res.Notes = append(res.Notes, "the job rejected the fix before it: "+res.Facts.Rejection)
	}
	v := outcome.Classify(res.Facts, l.cfg.policy)
	d := res.Facts.Diagnosis
	if v.Attempt == record.AttemptProbableOOM {
		d = outcome.Probable(res.Memory.CapacityBytes)
	}
	analysis := l.shapeOf(ctx)
	shape, pace := measured(analysis, res.Readings)
	preStep := int64(0)
	if res.Memory.PreStepBytes != nil {
		preStep = *res.Memory.PreStepBytes
	}
	l.noteFit(v, shape, res, pace)
	a := record.Attempt{N: n, Launch: launch, Started: res.Started, Ended: res.Facts.Ended,
		Changes: record.Changes{Fix: before.fix, Also: before.also, Skipped: before.skips, Resumed: resumed}, Outcome: v.Attempt, Exit: res.Exit,
		OOMs:   record.OOMs{OOMAt: v.OOMAt, SurvivedOOMs: v.Survived},
		Memory: res.Memory, Measured: record.Measured{Speed: pace, Shape: shape}, Output: res.Output, Notes: res.Notes}
	if d.OOM {
		a.Diagnosis = &d
		l.bus.Emit(record.OOMDiagnosed{N: n, Diagnosis: d})
	}
	l.bus.Emit(record.AttemptEnded{Attempt: a, Hardware: res.Facts.Xid})
	sig := res.Facts.Interrupt
	if sig == 0 {
		sig = res.Facts.Signal
	}
	oomAt := res.Facts.Ended
	if v.OOMAt != nil {
		oomAt = *v.OOMAt
	}
	return ended{verdict: v, diagnosis: d, status: res.Exit.ExitStatus, signal: sig, peak: res.Peak, preStep: preStep,
		rejection: res.Facts.Rejection, oomAt: oomAt, late: late.Load(), analysis: analysis, pace: pace}, nil
}

// launchOf is what attempt n of cmd runs, and the job it hands on (nil
// when it runs its job itself): a command whose job runs elsewhere under
// an id may need an id of its own for each attempt (host.AttemptArgv).
func (l *loop) launchOf(n int, cmd *rewrite.Command) (record.Launch, *supervise.HandOff) {
	launch := cmd.Launch()
	argv, changed := host.AttemptArgv(launch.Argv, n)
	if changed {
		launch.Argv = argv
		l.say.Verbose("attempt %d runs as %s", n, human.Join(argv))
	}
	h, ok := host.HandedOff(launch.Argv)
	if !ok {
		return launch, nil
	}
	return launch, &supervise.HandOff{ID: h.ID, Find: h.Find, Stop: h.Stop}
}

// end reports the end of the run after attempt n and returns status.
func (l *loop) end(n, status int, outcome string, why record.Stop) (int, error) {
	if why.Kind == record.StopInterrupted || why.Kind == record.StopInterruptedBefore {
		l.interrupted = syscall.Signal(why.Signal)
	}
	room, withheld := l.room(outcome)
	l.bus.Emit(record.RunEnded{
		End: record.End{Outcome: outcome, ExitStatus: status, FinalArgv: l.cmd.Launch().Argv,
			FinalEnv: l.cmd.Launch().Env, Fixes: l.cmd.Fixes(), Room: room, RoomWithheld: withheld},
		Ended: l.cfg.now(), Why: why, Attempts: n,
	})
	return status, nil
}

// fail ends the run after attempt n because vramrun itself failed.
func (l *loop) fail(n int, err error) (int, error) {
	status := StatusFailure
	var exit *ExitError
	if errors.As(err, &exit) {
		status = exit.Status
	}
	_, _ = l.end(n, status, record.OutcomeFailed, record.Stop{Kind: record.StopFailed, Reason: err.Error()})
	return status, err
}

func (l *loop) framework() string {
	if l.claim.plugin == nil {
		return "unknown"
	}
	return l.claim.framework
}

// pendingInterrupt is a terminating signal that arrived while no job was
// running (it cancelled the run's context: whatever vramrun was doing has
// returned); 0 when none did.
func (l *loop) pendingInterrupt() syscall.Signal { return l.cfg.signals.Interrupted() }

// startError maps a failure to start the job to vramrun's exit status.
func startError(err error) error {
	switch {
	case errors.Is(err, runner.ErrNotFound):
		return &ExitError{StatusNotFound, err}
	case errors.Is(err, runner.ErrNotExecutable):
		return &ExitError{StatusNotExecutable, err}
	}
	return &ExitError{StatusFailure, err}
}

func resumeOf(s profiles.Settings) resumeConfig {
	return resumeConfig{on: s.Resume, from: s.ResumeFrom, settle: resumeSettle}
}

func policyOf(s profiles.Settings) outcome.Policy {
	return outcome.Policy{Grace: s.Grace, FixProbable: s.ProbableOOM == "fix"}
}

// otherFixes names the fixes of the command as it runs, the batch aside.
func (l *loop) otherFixes() string {
	var ids []string
	for _, id := range l.cmd.Fixes() {
		if id != string(sdk.FixBatchSize) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), ",")
}
