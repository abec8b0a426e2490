// Package launcher is vramrun's relaunch loop: it runs a training command,
// and when an attempt dies of an out-of-memory error it has the planner
// propose the next fix, the plugin that claimed the command apply it, and
// relaunches, until the job fits, no fix is left, or the attempts run out.
//
// The loop is generic: what a framework prints and which flags it has come
// from the plugins. Its parts hang off it behind narrow interfaces, each in
// a package of its own: supervise runs one attempt, outcome judges it, plan
// decides the next fix, rewrite holds the rewritten command, learn remembers
// what fit, gpuview is NVML, record keeps the run and the --events stream,
// present prints vramrun's lines. `vramrun plan` runs the same loop with a
// supervisor whose every attempt runs out of memory.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/gpuview"
	"github.com/vramrun/vramrun/launcher/learn"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/present"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rejection"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
)

// Options are everything one run needs. Tests build them directly.
type Options struct {
	Argv     []string
	Settings profiles.Settings
	// Dir is the job's working directory.
	Dir string
	// Env is vramrun's own environment; the job gets it plus the profile's
	// env and what the fixes set.
	Env     map[string]string
	Streams supervise.Streams
	// Verbosity: -1 with -q, 0 normally, 1 with -v.
	Verbosity int
	Plugins   *host.Set
	// GPU is NVML; nil when it is unavailable.
	GPU *gpu.GPUs
	// Store is the project's .vramrun folder.
	Store *profiles.Store
	// Signals routes the signals vramrun receives: to the job while one
	// runs, else a terminating one cancels the run (nil: no signals).
	Signals *supervise.Signals
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PluginLog, when set, is where the plugins log: it is pointed at the
	// run's folder (plugins.log) once that exists.
	PluginLog *record.PluginLog
}

// ExitError carries an exit status that is not the job's: 125 when vramrun
// itself fails, 126/127 when the command cannot be run.
type ExitError struct {
	Status int
	Err    error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit statuses of vramrun's own failures.
const (
	StatusFailure       = 125
	StatusNotExecutable = 126
	StatusNotFound      = 127
)

// Result is how a run ends for vramrun's own process.
type Result struct {
	// Status is the exit status vramrun should end with: the last
	// attempt's.
	Status int
	// Interrupted is the signal that interrupted the run (the user's Ctrl-C
	// reaching vramrun or the job); 0 when none did. vramrun then dies of
	// it too, so that a shell loop around vramrun stops as it would without
	// vramrun.
	Interrupted syscall.Signal
}

// Run runs the command until it fits, gives up, or is interrupted. An
// error means vramrun itself failed (see ExitError for the status).
func Run(ctx context.Context, o Options) (Result, error) {
	w, err := prepare(o, true)
	if err != nil {
		return Result{}, err
	}
	status, err := w.loop.run(ctx)
	w.finish()
	return Result{Status: status, Interrupted: w.loop.interrupted}, err
}

// prepared is a loop ready to run, and what it leaves to finish.
type prepared struct {
	loop    *loop
	learner *learn.Learner
	say     *present.Lines
	runDir  string
	pruned  chan error
	close   func()
}

// finish waits for the pruning of old runs and closes the events file.
func (w *prepared) finish() {
	if err := <-w.pruned; err != nil {
		w.say.Warn("could not prune old runs: %v", err)
	}
	w.close()
}

// prepare builds the loop of one run: compiled texts, the run's folder, the
// records, NVML, the planner and the supervisor. listen says the learner
// and vramrun's lines follow the loop's events (tune prints its own and
// records only its winner).
func prepare(o Options, listen bool) (*prepared, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Argv) == 0 {
		return nil, &ExitError{StatusFailure, errors.New("no command given: usage is vramrun [flags] -- COMMAND [ARGS...]")}
	}
	if err := host.Unwatchable(o.Argv); err != nil {
		return nil, &ExitError{StatusFailure, err}
	}
	say := present.NewLines(o.Streams.Stderr, o.Verbosity)
	matcher, err := oom.Compile(o.Plugins.Patterns(), o.Plugins.Frames())
	if err != nil {
		return nil, &ExitError{StatusFailure, fmt.Errorf("plugin OOM patterns: %w", err)}
	}
	rejections, err := rejection.Compile(o.Plugins.Rejections())
	if err != nil {
		return nil, &ExitError{StatusFailure, fmt.Errorf("plugin rejection texts: %w", err)}
	}
	forbidsFixes(&o, say)
	id := record.NewRunID(o.Now())
	runDir, keep, err := runFolder(o, id, say)
	if err != nil {
		return nil, err
	}
	if o.PluginLog != nil {
		if err := o.PluginLog.Open(filepath.Join(runDir, "plugins.log")); err != nil {
			say.Warn("plugin log: %v", err)
		}
	}
	// Old runs are pruned while this one runs, not after it: the job
	// needs none of it, and vramrun's exit should not wait on deletions.
	pruned := make(chan error, 1)
	if keep && o.Settings.KeepRuns > 0 {
		go func() {
			_, err := record.Prune(o.Store.RunsDir(), o.Settings.KeepRuns)
			pruned <- err
		}()
	} else {
		pruned <- nil
	}
	var bus record.Bus
	if keep {
		bus = append(bus, record.NewKeeper(runDir, say.Warn))
	}
	closeEvents := func() {}
	if o.Settings.Events != "" {
		events, err := record.OpenEvents(o.Settings.Events, o.Now)
		if err != nil {
			<-pruned
			return nil, &ExitError{StatusFailure, fmt.Errorf("--events: %w", err)}
		}
		closeEvents = func() { _ = events.Close() }
		bus = append(bus, events)
	}
	base := rewrite.Merge(o.Env, o.Settings.Env)
	view := gpuview.New(o.GPU, base, o.Settings.GPUPoll, say)
	learner := learn.New(o.Store, o.Settings.Learn, say, o.Now)
	if listen {
		bus = append(bus, learner, say)
	}
	l := &loop{
		cfg:     runConfig(o, id, view),
		plugins: o.Plugins,
		cmd:     rewrite.New(o.Argv, o.Dir, base, o.Settings.Flags).WithGPUs(host.JobGPUs(o.Argv, view.Count())),
		planner: plan.New(plan.FromSettings(o.Settings, view.BF16())),
		sup:     supervise.New(superviseConfig(o, runDir, parts{matcher, rejections}, view, say)),
		learner: learner,
		bus:     bus,
		say:     say,
		copyDir: func(before int) string {
			return filepath.Join(runDir, "files", fmt.Sprintf("attempt-%d", before))
		},
	}
	return &prepared{loop: l, learner: learner, say: say, runDir: runDir, pruned: pruned, close: closeEvents}, nil
}

func runConfig(o Options, id string, view *gpuview.View) loopConfig {
	return loopConfig{
		runID: id, argv: o.Argv, dir: o.Dir, max: o.Settings.MaxAttempts,
		policy:   policyOf(o.Settings),
		gpuFacts: gpuFacts{gpu: view.Key(), model: view.Model(), memory: view.Capacity()},
		signals:  o.Signals,
		now:      o.Now,
		resume:   resumeOf(o.Settings),
		// Validated when the settings were read.
		progress: o.Settings.Progress,
	}
}

// parts are the compiled texts the plugins declare.
type parts struct {
	oom        *oom.Matcher
	rejections *rejection.Matcher
}

func superviseConfig(o Options, runDir string, texts parts, view *gpuview.View, say *present.Lines) supervise.Config {
	s := o.Settings
	return supervise.Config{
		Streams: o.Streams, PTY: s.PTY,
		Timing: supervise.Timing{Grace: s.Grace, LearnAfter: s.LearnAfter, WaitFree: s.WaitFree},
		RunDir: runDir, Matcher: texts.oom, GPU: view, PickGPU: s.PickGPU,
		Signals: o.Signals, Say: say, Now: o.Now,
		// The simulated jobs write their OOM kills there; a system that
		// keeps the kernel log elsewhere can point vramrun at it.
		KernelLog:  oom.KernelLog{Path: o.Env["VRAMRUN_KERNEL_LOG"]},
		Rejections: texts.rejections,
	}
}
