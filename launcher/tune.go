package launcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/learn"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// TuneOptions are `vramrun tune`'s: the run's Options and the trials'.
type TuneOptions struct {
	Options
	// Trials is the most trials to run.
	Trials int
	// Readings and TrialTime end a trial: that many progress readings
	// after the warm-up, or that long, whichever comes first.
	Readings  int
	TrialTime time.Duration
	// TrustTrials runs trials of a command whose plugin cannot make them
	// harmless (it does not know where the command writes).
	TrustTrials bool
}

// Tuning is what `vramrun tune` found: each trial, and the winner.
type Tuning struct {
	RunID  string        `json:"run_id"`
	Trials []TrialRecord `json:"trials"`
	// Winner is the chosen trial's number; 0 when none fit.
	Winner int `json:"winner"`
	// Argv and Env are the winning command, as `vramrun --` starts it
	// next time (Env: what the fixes set).
	Argv []string          `json:"argv,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// Learned says the winner was recorded as learned state.
	Learned bool `json:"learned"`
	// Status is the exit status: 0 with a winner, else the last trial's.
	Status int `json:"exit_status"`
	// Interrupted is the signal that interrupted a trial (0 none): vramrun
	// dies of it too, as the main form does.
	Interrupted syscall.Signal `json:"-"`
}

// TrialRecord is one trial: its configuration, why it was tried, and what
// it came to.
type TrialRecord struct {
	N            int `json:"n"`
	Micro        int `json:"micro_batch"`
	Accumulation int `json:"grad_accumulation,omitempty"`
	// Family says whether checkpointing and the 8-bit optimizer are on.
	plan.Family
	// With are the other fixes the trial has on (the allocator aside).
	With []sdk.FixID `json:"with"`
	Why  string      `json:"why"`
	Argv []string    `json:"argv"`
	// Result is the attempt's outcome word (ok for a trial vramrun ended
	// once its speed was known, oom, ...).
	Result string `json:"result"`
	Fits   bool   `json:"fits"`
	TrialMemory
	// Speed is the trial's measured speed, as the run record has it; nil
	// when its output never said.
	Speed  *record.Speed `json:"speed"`
	Chosen bool          `json:"chosen"`
}

// TrialMemory is what NVML saw of a trial: its peak, and the level the job
// held once loaded and before its first step (the fixed part's lower
// bound the planner splits a single point with); nil when unknown.
type TrialMemory struct {
	PeakBytes    *int64 `json:"peak_bytes"`
	PreStepBytes *int64 `json:"pre_step_bytes"`
}

// Tune runs short trials of the command's configurations and keeps the
// fastest that fits (see plan.Tuner). Each trial writes to a scratch folder
// of the run: the plugin's trial fix points the command's outputs there and
// turns off checkpoints, evaluation and uploads.
func Tune(ctx context.Context, o TuneOptions) (Tuning, error) {
	w, err := prepare(o.Options, false)
	if err != nil {
		return Tuning{}, err
	}
	defer w.finish()
	l := w.loop
	l.cfg.max = o.Trials
	l.cfg.trial = &supervise.Trial{Readings: o.Readings, Time: o.TrialTime}
	start := record.RunStarted{ID: l.cfg.runID, Started: l.cfg.now(), Argv: l.cfg.argv, Dir: l.cfg.dir, GPU: l.cfg.model, Max: o.Trials}
	l.bus.Emit(start)
	w.learner.On(start)
	l.claimCommand(ctx, true)
	t := tuner{l: l, say: w.say, learner: w.learner, o: o, runDir: w.runDir, base: l.cmd}
	out, err := t.run(ctx)
	out.RunID = l.cfg.runID
	if err != nil {
		_, _ = l.fail(len(out.Trials), err)
		return out, err
	}
	return out, nil
}

// tuner drives the trials of one tune run.
type tuner struct {
	l       *loop
	say     tuneSay
	learner *learn.Learner
	o       TuneOptions
	runDir  string
	// base is the command as typed.
	base *rewrite.Command
	// first are the ladder's fixes ahead of the batch cut that the command
	// takes (the allocator aside: every trial has it); on are those the
	// trials apply, once the command as typed ran out of memory.
	first, on []sdk.FixID
}

// tuneSay is where tune's lines go (present.Lines).
type tuneSay interface {
	Always(format string, args ...any)
	Info(format string, args ...any)
	Warn(format string, args ...any)
}

// configured is a trial's command without the trial fix, and its fixes.
type configured struct {
	cmd   *rewrite.Command
	fixes []sdk.Fix
}

func (t *tuner) run(ctx context.Context) (Tuning, error) {
	l := t.l
	if l.claim.plugin == nil {
		return Tuning{}, &ExitError{StatusFailure, fmt.Errorf("tune: no plugin knows the command, so its batch size cannot be changed")}
	}
	a := l.claim.analysis
	k := a.Knobs
	if k.BatchSize == nil {
		return Tuning{}, &ExitError{StatusFailure, fmt.Errorf("tune: the %s plugin found no batch size in the command", l.claim.framework)}
	}
	newSearch := t.searcher(ctx, k)
	search := newSearch()
	var out Tuning
	configs := map[int]configured{}
	last := 0
	for n := 1; n <= t.o.Trials; n++ {
		c, why, ok := search.Next()
		if !ok {
			break
		}
		conf, trialCmd, err := t.prepareTrial(ctx, n, c)
		if err != nil {
			return out, err
		}
		configs[n] = conf
		t.say.Always("trial %d/%d: %s (%s): %s", n, t.o.Trials, configWords(c, t.on), why, human.Join(trialCmd.Launch().Argv))
		l.cmd = trialCmd
		e, err := l.attempt(ctx, n, pending{})
		if err != nil {
			return out, err
		}
		last = e.status
		rec := TrialRecord{N: n, Micro: c.Micro, Accumulation: c.Accum, Family: c.Family, With: t.on, Why: why,
			Argv: trialCmd.Launch().Argv, Result: e.verdict.Attempt, Fits: e.verdict.Attempt == record.AttemptOK}
		if e.peak > 0 {
			rec.PeakBytes = &e.peak
		}
		if e.preStep > 0 {
			rec.PreStepBytes = &e.preStep
		}
		rec.Speed = e.pace
		out.Trials = append(out.Trials, rec)
		t.say.Info("trial %d/%d: %s", n, t.o.Trials, trialWords(rec, e))
		if e.verdict.Run == record.OutcomeInterrupted {
			l.cmd = t.base
			_, _ = l.end(n, e.status, record.OutcomeInterrupted, record.Stop{Kind: record.StopInterrupted, Signal: int(e.signal)})
			out.Status, out.Interrupted = e.status, l.interrupted
			return out, nil
		}
		tr := plan.Trial{N: n, Candidate: c, Fits: rec.Fits, OOM: e.verdict.Relaunch && e.diagnosis.OOM}
		obs := plan.ObservationFrom(e.diagnosis, e.peak, l.cfg.memory)
		tr.Point = plan.Point{Demand: obs.Demand, Usable: obs.Usable, PreStep: e.preStep}
		tr.SamplesPerS = rankSpeed(rec.Speed)
		search.Record(tr)
		if n == 1 && tr.OOM && len(t.first) > 0 {
			// As a run would, the fixes ahead of the batch cut go on before
			// any size is cut; the memory line starts over with them.
			t.on = t.first
			search = newSearch()
			t.say.Info("the command as typed ran out of memory: the next trials have %s on, as a run applies before it cuts the batch", joinIDs(t.on))
		}
		if !tr.Fits && !tr.OOM {
			// Neither fit nor out of memory: the job fails for its own
			// reasons, and more trials would only fail the same way.
			t.say.Warn("trial %d failed (%s, exit %d): see its log; no more trials", n, e.verdict.Attempt, e.status)
			break
		}
	}
	return t.finish(out, search, configs, last)
}

// searcher is how each search of the trials starts: a tuner over the
// typed micro-batch and accumulation, with the families of fixes the
// ladder has and the command takes. It also keeps the ladder's fixes ahead
// of the batch cut that the command takes (t.first).
func (t *tuner) searcher(ctx context.Context, k sdk.Knobs) func() *plan.Tuner {
	l := t.l
	accum := plan.AccumOf(k)
	ckpt := l.planner.Allows(sdk.FixGradCheckpointing) && (k.GradCheckpointing == nil || !*k.GradCheckpointing) &&
		t.takes(ctx, sdk.FixGradCheckpointing)
	for _, id := range l.planner.Before(sdk.FixBatchSize) {
		if id != sdk.FixAllocator && t.takes(ctx, id) {
			t.first = append(t.first, id)
		}
	}
	// The 8-bit optimizer changes the optimizer's numerics, as it does in a
	// run: only where the ladder has it, and not when the ladder applies
	// it before any cut (it is then on in every trial already).
	q8 := l.planner.Allows(sdk.FixOptimizer8bit) && !slices.Contains(t.first, sdk.FixOptimizer8bit) &&
		t.takes(ctx, sdk.FixOptimizer8bit)
	return func() *plan.Tuner {
		s := plan.NewTuner(*k.BatchSize, accum, ckpt, t.o.Settings.MinBatchSize)
		if q8 {
			s.AllowOptimizer8bit()
		}
		return s
	}
}

// takes asks the plugin whether the typed command takes fix id, without
// applying it.
func (t *tuner) takes(ctx context.Context, id sdk.FixID) bool {
	_, err := t.l.claim.plugin.Framework.Apply(ctx, sdk.ApplyRequest{Command: t.base.SDK(), Fix: sdk.Fix{ID: id},
		CopyDir: filepath.Join(t.runDir, "files", "probe")})
	return err == nil
}

// prepareTrial builds candidate c's command from the typed one: the
// allocator where the ladder has it, the micro-batch, checkpointing, then
// the plugin's trial fix on a copy. It returns the configuration without
// the trial fix (what the winner's command is) and the trial's command.
func (t *tuner) prepareTrial(ctx context.Context, n int, c plan.Candidate) (configured, *rewrite.Command, error) {
	l := t.l
	l.cmd = t.base.Clone()
	var fixes []sdk.Fix
	a := l.claim.analysis
	want := []sdk.Fix{}
	if l.planner.Allows(sdk.FixAllocator) {
		want = append(want, sdk.Fix{ID: sdk.FixAllocator})
	}
	for _, id := range t.on {
		want = append(want, l.planner.FixFor(id))
	}
	if c.Micro != *a.Knobs.BatchSize {
		want = append(want, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: c.Micro, GradAccumulation: c.Accum})
	}
	if c.Checkpointing {
		want = append(want, sdk.Fix{ID: sdk.FixGradCheckpointing})
	}
	if c.Optimizer8bit {
		want = append(want, l.planner.FixFor(sdk.FixOptimizer8bit))
	}
	for _, f := range want {
		fix, refused, err := l.apply(ctx, n, plan.Step{Fix: f, Why: plan.WhyLadder}, false)
		switch {
		case err != nil:
			return configured{}, nil, err
		case l.claim.plugin == nil:
			return configured{}, nil, &ExitError{StatusFailure, fmt.Errorf("tune: the plugin failed %s", f.ID)}
		case refused != "" && f.ID == sdk.FixAllocator:
			// Already in force, or set by the user: nothing to add.
		case refused != "":
			return configured{}, nil, &ExitError{StatusFailure, fmt.Errorf("tune: %s: %s", f.ID, refused)}
		default:
			fixes = append(fixes, fix.Fix)
		}
	}
	conf := configured{cmd: l.cmd.Clone(), fixes: fixes}
	scratch := filepath.Join(t.runDir, "trials", fmt.Sprintf("trial-%d", n))
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return configured{}, nil, &ExitError{StatusFailure, fmt.Errorf("tune: scratch folder: %w", err)}
	}
	_, refused, err := l.apply(ctx, n, plan.Step{Fix: sdk.Fix{ID: sdk.FixTrial, Scratch: scratch}, Why: plan.WhyLadder}, false)
	switch {
	case err != nil:
		return configured{}, nil, err
	case l.claim.plugin == nil:
		return configured{}, nil, &ExitError{StatusFailure, fmt.Errorf("tune: the plugin failed the trial fix")}
	case refused != "" && !t.o.TrustTrials:
		if !strings.Contains(refused, "--trust-trials") {
			refused += " (pass --trust-trials if short runs may write where the job writes)"
		}
		return configured{}, nil, &ExitError{StatusFailure, fmt.Errorf("tune: trials could write where the job writes: %s", refused)}
	}
	return conf, l.cmd, nil
}

// finish picks the winner, prints the table, records the winner as
// learned state and ends the run.
func (t *tuner) finish(out Tuning, search *plan.Tuner, configs map[int]configured, last int) (Tuning, error) {
	l := t.l
	if best, ok := search.Best(); ok {
		out.Winner = best.N
		out.Trials[best.N-1].Chosen = true
	}
	t.table(out)
	if out.Winner == 0 {
		t.say.Always("no trial fit: `vramrun -- COMMAND` finds a fix that does")
		l.cmd = t.base
		out.Status = max(last, 1)
		_, _ = l.end(len(out.Trials), out.Status, record.OutcomeGaveUp, record.Stop{Kind: record.StopGaveUp, Reason: "no trial fit"})
		return out, nil
	}
	win := configs[out.Winner]
	l.cmd = win.cmd
	launch := win.cmd.Launch()
	out.Argv, out.Env = launch.Argv, launch.Env
	t.say.Always("fastest: trial %d: %s", out.Winner, human.Join(launch.Argv))
	if len(launch.Env) > 0 {
		t.say.Always("with environment: %s", human.Env(launch.Env))
	}
	if len(win.fixes) > 0 && t.o.Settings.Learn {
		t.learner.Keep(out.Winner, win.fixes, launch, trialFacts(out.Trials, configs, l.cfg.memory))
		out.Learned = true
		t.say.Always("recorded: `vramrun -- COMMAND` starts there on this GPU model")
	}
	_, _ = l.end(len(out.Trials), 0, record.OutcomeOK, record.Stop{Kind: record.StopFinished})
	return out, nil
}

// table prints the trials.
func (t *tuner) table(out Tuning) {
	width := len("configuration")
	for _, tr := range out.Trials {
		width = max(width, len(configWords(tr.candidate(), tr.With)))
	}
	t.say.Always("%-6s %-*s  %-10s %-14s %s", "trial", width, "configuration", "peak", "speed", "result")
	for _, tr := range out.Trials {
		c := configWords(tr.candidate(), tr.With)
		peak := "-"
		if tr.PeakBytes != nil {
			peak = human.Bytes(*tr.PeakBytes)
		}
		result := "fits"
		if !tr.Fits {
			result = record.OutcomeWords(tr.Result)
		}
		if tr.Chosen {
			result += ", chosen"
		}
		t.say.Always("%-6d %-*s  %-10s %-14s %s", tr.N, width, c, peak, tr.Speed.Words(), result)
	}
}

// trialWords says how a trial went, in a few words.
func trialWords(r TrialRecord, e ended) string {
	switch {
	case r.Fits && r.Speed != nil:
		return "fits, " + r.Speed.Words()
	case r.Fits:
		return "fits, speed unknown (no progress line read)"
	case e.diagnosis.OOM:
		return "out of memory"
	}
	return fmt.Sprintf("%s (exit %d)", record.OutcomeWords(r.Result), e.status)
}

func (r TrialRecord) candidate() plan.Candidate {
	return plan.Candidate{Micro: r.Micro, Accum: r.Accumulation, Family: r.Family}
}

// configWords is a trial's configuration: "micro-batch 32 x 4,
// checkpointing, mixed_precision".
func configWords(c plan.Candidate, with []sdk.FixID) string {
	if len(with) == 0 {
		return c.String()
	}
	return c.String() + ", " + joinIDs(with)
}

func joinIDs(ids []sdk.FixID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

// rankSpeed is what trials are ranked by: samples a second, else tokens a
// second (the trials of one command have the same tokens a sample), else
// the bare rate; 0 unknown.
func rankSpeed(s *record.Speed) float64 {
	switch {
	case s == nil:
		return 0
	case s.SamplesPerS != nil:
		return *s.SamplesPerS
	case s.TokensPerS != nil:
		return *s.TokensPerS
	}
	return s.Rate
}

// trialFacts are what the trials measured, for learned state: each with
// its configuration's fixes (not the trial fix).
func trialFacts(trials []TrialRecord, configs map[int]configured, usable int64) []profiles.Fact {
	var out []profiles.Fact
	for _, tr := range trials {
		f := learn.NewFact(configs[tr.N].fixes, tr.Result, tr.Micro, tr.Accumulation,
			record.Memory{PeakBytes: tr.PeakBytes, PreStepBytes: tr.PreStepBytes}, tr.Speed)
		f.UsableBytes = usable
		out = append(out, f)
	}
	return out
}
