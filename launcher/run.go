// Package launcher runs a training command, watches it for out-of-memory
// errors, and relaunches it with the planner's next fix until it fits. It is
// generic: what a framework prints and which flags it has come from the
// plugins.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Options are everything one run needs. Tests build them directly.
type Options struct {
	Argv     []string
	Settings profiles.Settings
	// Dir is the job's working directory.
	Dir string
	// Env is vramrun's own environment; the job gets it plus the profile's
	// env and what the fixes set.
	Env                   map[string]string
	Stdin, Stdout, Stderr *os.File
	// Verbosity: -1 with -q, 0 normally, 1 with -v.
	Verbosity int
	Plugins   *host.Set
	// GPU is NVML; nil when it is unavailable.
	GPU *gpu.GPUs
	// Store is the project's .vramrun folder.
	Store *profiles.Store
	// Signals delivers the signals vramrun received (contract section 3).
	Signals <-chan os.Signal
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PluginLog, when set, is where the plugins log: it is pointed at the
	// run's folder (plugins.log) once that exists.
	PluginLog *PluginLog
}

// ExitError carries an exit status that is not the job's: 125 when vramrun
// itself fails, 126/127 when the command cannot be run.
type ExitError struct {
	Status int
	Err    error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit statuses of vramrun's own failures (contract section 3).
const (
	StatusFailure       = 125
	StatusNotExecutable = 126
	StatusNotFound      = 127
)

// run is the state of one vramrun run across its attempts.
type run struct {
	o       Options
	ctx     context.Context
	msg     *messages
	rec     *record.Run
	runDir  string
	events  *record.Events
	matcher *oom.Matcher
	claim   host.Claim
	plugin  *host.Plugin
	// base is the job's environment before any fix; setEnv what fixes set.
	base     map[string]string
	setEnv   map[string]string
	argv     []string
	files    map[string]string
	planner  *plan.Planner
	applied  []sdk.Fix
	gpu      *gpuView
	learned  learnedStart
	analysis sdk.Analysis
	// jobPIDs are the main pids of the attempts so far, so that preflight
	// can tell a leftover of an earlier attempt from a stranger.
	jobPIDs []int

	interrupted syscall.Signal
}

// Run runs the command until it fits, gives up, or is interrupted, and
// returns the exit status vramrun should end with. An error means vramrun
// itself failed (see ExitError for the status).
func Run(ctx context.Context, o Options) (int, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Argv) == 0 {
		return 0, &ExitError{StatusFailure, errors.New("no command given: usage is vramrun [flags] -- COMMAND [ARGS...]")}
	}
	r := &run{o: o, ctx: ctx, msg: newMessages(o.Stderr, o.Verbosity), learned: learnedStart{recorded: -1}}
	if err := r.prepare(); err != nil {
		return 0, err
	}
	defer r.events.Close()
	status, err := r.loop()
	if err != nil {
		r.rec.Outcome = record.OutcomeFailed
		var exit *ExitError
		if errors.As(err, &exit) {
			status = exit.Status
		}
	}
	r.finish(status)
	return status, err
}

func (r *run) prepare() error {
	o := r.o
	matcher, err := oom.Compile(o.Plugins.Patterns(), o.Plugins.Frames())
	if err != nil {
		return &ExitError{StatusFailure, fmt.Errorf("plugin OOM patterns: %w", err)}
	}
	r.matcher = matcher
	r.base = mergeEnv(o.Env, o.Settings.Env)
	r.setEnv = map[string]string{}
	r.files = map[string]string{}
	r.argv = append([]string(nil), o.Argv...)

	id := record.NewRunID(o.Now())
	r.runDir = filepath.Join(o.Store.RunsDir(), id)
	if err := os.MkdirAll(r.runDir, 0o755); err != nil {
		return &ExitError{StatusFailure, fmt.Errorf("run folder: %w", err)}
	}
	if o.PluginLog != nil {
		if err := o.PluginLog.Open(filepath.Join(r.runDir, "plugins.log")); err != nil {
			r.msg.warn("plugin log: %v", err)
		}
	}
	r.rec = &record.Run{ID: id, Started: o.Now(), Argv: o.Argv, Dir: o.Dir, Framework: "unknown", Outcome: record.OutcomeRunning, Fixes: []string{}}
	if o.Settings.Events != "" {
		ev, err := record.OpenEvents(o.Settings.Events, o.Now)
		if err != nil {
			return &ExitError{StatusFailure, fmt.Errorf("--events: %w", err)}
		}
		r.events = ev
	}
	r.gpu = newGPUView(o.GPU, r.base, o.Settings.GPUPoll, r.msg)
	r.rec.GPU = r.gpu.model()

	claim, ok := o.Plugins.Claim(r.ctx, r.command())
	// Plugins dropped at load or while claiming, each said once.
	for _, n := range o.Plugins.Notes {
		r.msg.warn("%s", n)
	}
	o.Plugins.Notes = nil
	if ok {
		r.claim, r.plugin = claim, claim.Plugin
		r.rec.Framework = claim.Recognition.Framework
		r.msg.verbose("plugin %s claimed the command (%s); answers: %s", claim.Plugin.Name(), claim.Recognition.Reason, strings.Join(claim.Others, ", "))
	} else {
		r.msg.info("no plugin recognised this command: vramrun will report out-of-memory errors but cannot fix them")
	}

	if r.plugin != nil {
		a, err := r.plugin.Framework.Analyze(r.ctx, r.command())
		if err != nil {
			return r.pluginFailed(err)
		}
		r.analysis = a
		r.rec.Launcher, r.rec.Script = a.Launcher, a.Script
	}
	r.planner = plan.New(planConfig(o.Settings, r.gpu.bf16()))
	r.events.Emit(record.EventRunStarted, 0, map[string]any{"run_id": id, "argv": o.Argv})
	if err := r.startFromLearned(); err != nil {
		return err
	}
	return r.rec.Write(r.runDir)
}

// command is the command as the next attempt would run it.
func (r *run) command() sdk.Command {
	return sdk.Command{
		Argv:  append([]string(nil), r.argv...),
		Env:   mergeEnv(r.base, r.setEnv),
		Dir:   r.o.Dir,
		Flags: r.o.Settings.Flags,
	}
}

// loop runs attempts until one ends the run.
func (r *run) loop() (int, error) {
	max := r.o.Settings.MaxAttempts
	var pendingFix *record.FixRecord
	var pendingSkips []record.SkipRecord
	status := 0
	for n := 1; ; n++ {
		if sig := r.pendingInterrupt(); sig != 0 {
			r.rec.Outcome = record.OutcomeInterrupted
			r.msg.info("interrupted (%s) before attempt %d: not relaunching", signalName(sig), n)
			return 128 + int(sig), nil
		}
		res, err := r.attempt(n, pendingFix, pendingSkips)
		if err != nil {
			return 0, err
		}
		status = res.status
		a := &r.rec.Attempts[len(r.rec.Attempts)-1]
		switch {
		case r.interrupted != 0 || a.Outcome == outcomeInterrupted:
			sig := r.interrupted
			if sig == 0 {
				sig = syscall.Signal(a.Signal)
			}
			r.rec.Outcome = record.OutcomeInterrupted
			r.msg.info("interrupted (%s): not relaunching", signalName(sig))
			return status, nil
		case a.Outcome == outcomeOK:
			r.rec.Outcome = record.OutcomeOK
			return status, nil
		case a.Outcome != outcomeOOM && a.Outcome != outcomeHung && !(a.Outcome == outcomeProbable && r.o.Settings.ProbableOOM == "fix"):
			r.rec.Outcome = record.OutcomeFailed
			return status, nil
		}
		if n >= max {
			r.msg.info("out of attempts (%d of --max-attempts %d used): giving up", n, max)
			r.rec.Outcome = record.OutcomeGaveUp
			return status, nil
		}
		if r.plugin == nil && !r.claimByOOM(res.diagnosis) {
			r.rec.Outcome = record.OutcomeGaveUp
			return status, nil
		}
		fix, skips, giveUp, err := r.nextFix(n, res)
		if err != nil {
			return 0, err
		}
		if giveUp != "" {
			r.msg.info("giving up: %s", giveUp)
			r.rec.Outcome = record.OutcomeGaveUp
			return status, nil
		}
		pendingFix, pendingSkips = fix, skips
	}
}

// claimByOOM is recognition's last resort: no plugin knew the command, but
// the OOM text names a runtime; the plugin that declared that runtime takes
// the command from here on.
func (r *run) claimByOOM(d sdk.Diagnosis) bool {
	for _, p := range r.o.Plugins.Plugins() {
		for _, fw := range p.Desc.Frameworks {
			if fw != d.Framework {
				continue
			}
			a, err := p.Framework.Analyze(r.ctx, r.command())
			if err != nil {
				r.msg.verbose("plugin %s cannot analyse the command: %v", p.Name(), err)
				return false
			}
			r.plugin, r.analysis = p, a
			r.claim = host.Claim{Plugin: p, Recognition: sdk.Recognition{Confidence: 1, Framework: fw, Reason: "its out-of-memory text"}}
			r.rec.Framework, r.rec.Launcher, r.rec.Script = fw, a.Launcher, a.Script
			r.learned.fp, r.learned.gpu = r.fingerprint(), r.gpu.key()
			r.msg.info("the out-of-memory text is %s's: the %s plugin takes the command from here", fw, p.Name())
			return true
		}
	}
	return false
}

// pendingInterrupt takes a terminating signal that arrived while no job was
// running (between attempts); other signals then have no one to go to.
func (r *run) pendingInterrupt() syscall.Signal {
	for {
		select {
		case sig := <-r.o.Signals:
			if s, ok := sig.(syscall.Signal); ok && terminatingSignals[s] {
				return s
			}
		default:
			return 0
		}
	}
}

// nextFix asks the planner for the next fix and has the plugin apply it,
// skipping fixes the plugin turns down.
func (r *run) nextFix(n int, res attemptResult) (*record.FixRecord, []record.SkipRecord, string, error) {
	var skips []record.SkipRecord
	for tries := 0; tries < 32; tries++ {
		cmd := r.command()
		analysis, err := r.plugin.Framework.Analyze(r.ctx, cmd.Clone())
		if err != nil {
			return nil, nil, "", r.pluginFailed(err)
		}
		obs := plan.ObservationFrom(res.diagnosis, res.peak, r.gpu.capacity())
		dec := r.planner.Next(res.diagnosis, analysis, obs)
		for _, s := range dec.Skipped {
			skips = append(skips, record.SkipRecord{Fix: s.Fix, Reason: s.Reason})
			r.msg.info("skipping %s: %s", s.Fix, s.Reason)
		}
		if dec.Step == nil {
			return nil, skips, dec.GiveUp, nil
		}
		fr, unsupported, err := r.apply(n+1, dec.Step.Fix, dec.Step.Reason, false)
		if err != nil {
			return nil, nil, "", err
		}
		if unsupported != "" {
			skips = append(skips, record.SkipRecord{Fix: dec.Step.Fix.ID, Reason: unsupported})
			r.msg.info("skipping %s: %s", dec.Step.Fix.ID, unsupported)
			continue
		}
		if dec.Step.EffectiveBatchChanged {
			fr.Reason = dec.Step.Reason
		}
		r.msg.attemptLine(n+1, r.o.Settings.MaxAttempts, res.diagnosis, res.outcome, fr)
		return fr, skips, "", nil
	}
	return nil, skips, "the plugin turned down every fix", nil
}

// apply has the plugin rewrite the command for fix and takes the result:
// new argv, environment, and config copies written under the run folder.
func (r *run) apply(attempt int, fix sdk.Fix, reason string, learned bool) (*record.FixRecord, string, error) {
	copyDir := filepath.Join(r.runDir, "files", fmt.Sprintf("attempt-%d", attempt))
	applied, err := r.plugin.Framework.Apply(r.ctx, r.command(), fix, copyDir)
	var unsup *sdk.UnsupportedError
	if errors.As(err, &unsup) {
		return nil, unsup.Reason, nil
	}
	if err != nil {
		return nil, "", r.pluginFailed(err)
	}
	if err := writeCopies(copyDir, applied.Copies); err != nil {
		return nil, "", &ExitError{StatusFailure, err}
	}
	noteCopies(r.files, applied.Copies)
	r.argv = applied.Argv
	for k, v := range applied.Env {
		r.setEnv[k] = v
	}
	r.applied = append(r.applied, fix)
	r.rec.Fixes = append(r.rec.Fixes, string(fix.ID))
	fr := &record.FixRecord{Fix: fix, Reason: reason, Summary: applied.Summary, Learned: learned}
	r.events.Emit(record.EventFix, attempt, map[string]any{
		"fix": fix.ID, "reason": reason, "argv": r.argv, "env": r.setEnv, "files": r.files,
	})
	return fr, "", nil
}

func (r *run) pluginFailed(err error) error {
	return &ExitError{StatusFailure, fmt.Errorf("plugin %s: %w", r.plugin.Name(), err)}
}

// noteCopies records which of the user's files each copy stands for. A fix
// that rewrites an earlier copy (the command names the copy by then) still
// stands for the user's file, so the map keeps one entry per user file.
func noteCopies(files map[string]string, copies []sdk.FileCopy) {
	for _, c := range copies {
		orig := c.Original
		for user, copyPath := range files {
			if filepath.Clean(copyPath) == filepath.Clean(orig) {
				orig = user
				break
			}
		}
		files[orig] = c.Path
	}
}

// writeCopies writes a plugin's config copies, refusing any path outside the
// folder the plugin was given: the user's own files are never written.
func writeCopies(dir string, copies []sdk.FileCopy) error {
	for _, c := range copies {
		p := filepath.Clean(c.Path)
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("plugin wanted to write %s, outside its copy folder %s", c.Path, dir)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, c.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) finish(status int) {
	r.rec.Ended = r.o.Now()
	r.rec.ExitStatus = status
	r.rec.FinalArgv = r.argv
	r.rec.FinalEnv = r.setEnv
	if err := r.rec.Write(r.runDir); err != nil {
		r.msg.warn("could not write the run record: %v", err)
	}
	r.events.Emit(record.EventRunEnded, len(r.rec.Attempts), map[string]any{
		"outcome": r.rec.Outcome, "exit_status": status, "final_argv": r.argv,
	})
	r.msg.table(r.rec)
	if r.o.Settings.KeepRuns > 0 {
		if _, err := record.Prune(r.o.Store.RunsDir(), r.o.Settings.KeepRuns); err != nil {
			r.msg.warn("could not prune old runs: %v", err)
		}
	}
}

func mergeEnv(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// execError maps a start failure to vramrun's exit status.
func execError(err error) error {
	switch {
	case errors.Is(err, runner.ErrNotFound):
		return &ExitError{StatusNotFound, err}
	case errors.Is(err, runner.ErrNotExecutable):
		return &ExitError{StatusNotExecutable, err}
	}
	return &ExitError{StatusFailure, err}
}
