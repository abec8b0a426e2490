package launcher

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// The relaunch loop's own tests: no subprocess, no plugin process. The
// supervisor, the plugin and learned state are fakes; the planner, the
// classification and the command rewriting are the real ones.

// toy is a plugin for "python toy.py --bs N --accum M": it applies
// batch_size, sets an variable for allocator, and turns down what refuse
// names.
type toy struct {
	refuse map[sdk.FixID]string
	// fail makes Apply fail outright for this fix; failAnalyze makes
	// Analyze fail.
	fail        sdk.FixID
	failAnalyze bool
	// name and confidence default to "toy" and 50.
	name       string
	confidence int
}

func (p toy) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: cmp.Or(p.name, "toy"), Version: "1", Frameworks: []string{"toyfw"}}, nil
}

func (p toy) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	if slices.Contains(req.Command.Argv, "toy.py") {
		return sdk.RecognizeResponse{Confidence: cmp.Or(p.confidence, 50), Framework: "toyfw", Reason: "runs toy.py"}, nil
	}
	return sdk.RecognizeResponse{}, nil
}

func (p toy) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	if p.failAnalyze {
		return sdk.AnalyzeResponse{}, fmt.Errorf("knob batch_size is -5, want a positive number")
	}
	argv := req.Command.Argv
	return sdk.AnalyzeResponse{Framework: "toyfw", Launcher: "python", Script: "toy.py", WorldSize: 1,
		Knobs: sdk.Knobs{BatchSize: flag(argv, "--bs"), GradAccumulation: flag(argv, "--accum")}}, nil
}

func (p toy) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	id := req.Fix.ID
	if reason := p.refuse[id]; reason != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(id, "%s", reason)
	}
	if id == p.fail {
		return sdk.ApplyResponse{}, fmt.Errorf("cannot read toy.yaml")
	}
	argv := append([]string(nil), req.Command.Argv...)
	switch id {
	case sdk.FixAllocator:
		return sdk.ApplyResponse{Argv: argv, Env: map[string]string{"TOY_ALLOC": "on"}, Summary: "TOY_ALLOC=on"}, nil
	case sdk.FixBatchSize:
		set(argv, "--bs", req.Fix.BatchSize)
		set(argv, "--accum", req.Fix.GradAccumulation)
		return sdk.ApplyResponse{Argv: argv, Summary: fmt.Sprintf("--bs %d", req.Fix.BatchSize)}, nil
	}
	return sdk.ApplyResponse{Argv: append(argv, "--"+string(id)), Summary: "--" + string(id)}, nil
}

func flag(argv []string, name string) *int {
	i := slices.Index(argv, name)
	if i < 0 || i+1 >= len(argv) {
		return nil
	}
	n, err := strconv.Atoi(argv[i+1])
	if err != nil {
		return nil
	}
	return &n
}

func set(argv []string, name string, v int) {
	if i := slices.Index(argv, name); i >= 0 && i+1 < len(argv) {
		argv[i+1] = strconv.Itoa(v)
	}
}

// job is a fake supervisor: each attempt's end comes from ends, given the
// attempt's argv; it keeps what it was asked to run.
type job struct {
	ends func(n int, a supervise.Attempt) outcome.Facts
	ran  []supervise.Attempt
	// startErr fails the start of every attempt.
	startErr error
}

func (j *job) Run(_ context.Context, a supervise.Attempt) (supervise.Result, error) {
	if j.startErr != nil {
		return supervise.Result{}, j.startErr
	}
	j.ran = append(j.ran, a)
	f := j.ends(len(j.ran), a)
	return supervise.Result{Facts: f, Started: f.Ended, Exit: record.Exit{ExitStatus: f.Status}}, nil
}

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// oomUnless fails with a training OOM (no figures) while --bs is above fits.
func oomUnless(fits int) func(int, supervise.Attempt) outcome.Facts {
	return func(_ int, a supervise.Attempt) outcome.Facts {
		if bs := flag(a.Argv, "--bs"); bs != nil && *bs <= fits {
			return outcome.Facts{Status: 0, Ended: t0}
		}
		return oomFacts()
	}
}

func oomFacts() outcome.Facts {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Framework, d.Phase = true, sdk.KindGPU, "toyfw", sdk.PhaseTrain
	var texts outcome.Texts
	texts.Add(t0)
	return outcome.Facts{Status: 1, Ended: t0, Texts: texts, Diagnosis: d}
}

// events keeps what the loop said, as event names with a detail.
type events struct{ got []string }

func (e *events) On(ev record.Event) {
	switch ev := ev.(type) {
	case record.RunStarted:
		e.got = append(e.got, "run")
	case record.Claimed:
		e.got = append(e.got, "claimed "+ev.Plugin)
	case record.LearnedStart:
		e.got = append(e.got, "learned "+ev.Summary)
	case record.AttemptStarted:
		e.got = append(e.got, fmt.Sprintf("start %d", ev.N))
	case record.OOMDiagnosed:
		e.got = append(e.got, fmt.Sprintf("oom %d", ev.N))
	case record.AttemptEnded:
		e.got = append(e.got, fmt.Sprintf("end %d %s", ev.Attempt.N, ev.Attempt.Outcome))
	case record.FixSkipped:
		e.got = append(e.got, fmt.Sprintf("skip %s", ev.Skip.Fix))
	case record.FixCommitted:
		e.got = append(e.got, fmt.Sprintf("fix %d %s", ev.Before, ev.Fix.Fix.ID))
	case record.RunEnded:
		e.got = append(e.got, fmt.Sprintf("ran %s %d", ev.End.Outcome, ev.Why.Kind))
	}
}

// fakeLearner answers Lookup with found.
type fakeLearner struct {
	found      profiles.Learned
	identified int
}

func (f *fakeLearner) Identify(sdk.AnalyzeResponse, sdk.Command, profiles.GPUKey) {
	f.identified++
}
func (f *fakeLearner) Lookup() (profiles.Learned, bool) { return f.found, len(f.found.Fixes) > 0 }

type quiet struct{}

func (quiet) Warn(string, ...any)    {}
func (quiet) Verbose(string, ...any) {}

type setup struct {
	plugin sdk.Framework
	// others are more plugins, after plugin in the tie-break order.
	others  []sdk.Framework
	ladder  []sdk.FixID
	max     int
	signals *supervise.Signals
	learner *fakeLearner
}

func newLoop(t *testing.T, s setup, sup Supervisor, argv string) (*loop, *events) {
	t.Helper()
	var frameworks []sdk.Framework
	if s.plugin != nil {
		frameworks = append(frameworks, s.plugin)
	}
	frameworks = append(frameworks, s.others...)
	set, err := host.NewSet(context.Background(), frameworks)
	if err != nil {
		t.Fatal(err)
	}
	if s.max == 0 {
		s.max = 10
	}
	if s.learner == nil {
		s.learner = &fakeLearner{}
	}
	ev := &events{}
	l := &loop{
		cfg: loopConfig{runID: "test", argv: strings.Fields(argv), max: s.max, signals: s.signals,
			policy: outcome.Policy{Grace: 10 * time.Second}, now: func() time.Time { return t0 }},
		plugins: set,
		cmd:     rewrite.New(strings.Fields(argv), t.TempDir(), nil, nil),
		planner: plan.New(plan.Config{Ladder: s.ladder, KeepEffectiveBatch: true, MinBatchSize: 1}),
		sup:     sup,
		learner: s.learner,
		bus:     record.Bus{ev},
		say:     quiet{},
	}
	return l, ev
}

func run(t *testing.T, l *loop) (int, error) {
	t.Helper()
	dir := t.TempDir()
	l.copyDir = func(before int) string { return fmt.Sprintf("%s/attempt-%d", dir, before) }
	return l.run(context.Background())
}

func TestLoopRelaunchesUntilTheJobFits(t *testing.T) {
	p := toy{refuse: map[sdk.FixID]string{sdk.FixMixedPrecision: "no precision flag in toy.py",
		sdk.FixFusedLoss: "no fused loss in toy.py", sdk.FixActivationOffload: "no activation offload in toy.py"}}
	j := &job{ends: oomUnless(16)}
	l, ev := newLoop(t, setup{plugin: p}, j, "python toy.py --bs 64 --accum 1")
	status, err := run(t, l)
	if err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	want := []string{"run", "claimed toy",
		"start 1", "oom 1", "end 1 oom", "fix 2 allocator",
		"start 2", "oom 2", "end 2 oom", "skip mixed_precision", "skip fused_loss", "fix 3 batch_size",
		"start 3", "oom 3", "end 3 oom", "fix 4 grad_checkpointing",
		"start 4", "oom 4", "end 4 oom", "skip activation_offload", "fix 5 optimizer_8bit",
		// CPU offload is the last resort: the batch is cut again first.
		"start 5", "oom 5", "end 5 oom", "fix 6 batch_size",
		"start 6", "end 6 ok", fmt.Sprintf("ran ok %d", record.StopFinished)}
	if !reflect.DeepEqual(ev.got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(ev.got, "\n"), strings.Join(want, "\n"))
	}
	last := j.ran[len(j.ran)-1]
	if got := strings.Join(last.Argv, " "); got != "python toy.py --bs 16 --accum 4 --grad_checkpointing --optimizer_8bit" {
		t.Fatalf("last attempt ran %q", got)
	}
	if last.Env["TOY_ALLOC"] != "on" || last.Marker != "test/6" || last.Script != "toy.py" {
		t.Fatalf("last attempt: env %v, marker %q, script %q", last.Env, last.Marker, last.Script)
	}
}

func TestLoopStopsAtMaxAttempts(t *testing.T) {
	j := &job{ends: oomUnless(0)}
	l, ev := newLoop(t, setup{plugin: toy{}, max: 2}, j, "python toy.py --bs 64")
	status, err := run(t, l)
	if err != nil || status != 1 || len(j.ran) != 2 {
		t.Fatalf("run = %d, %v after %d attempts; want 1 after 2", status, err, len(j.ran))
	}
	if got := ev.got[len(ev.got)-1]; got != fmt.Sprintf("ran gave_up %d", record.StopOutOfAttempts) {
		t.Fatalf("end = %s", got)
	}
}

func TestLoopNeverRetriesAFailure(t *testing.T) {
	j := &job{ends: func(int, supervise.Attempt) outcome.Facts {
		return outcome.Facts{Status: 2, Ended: t0, Diagnosis: oom.NoOOM()}
	}}
	l, ev := newLoop(t, setup{plugin: toy{}}, j, "python toy.py --bs 64")
	status, err := run(t, l)
	if err != nil || status != 2 || len(j.ran) != 1 {
		t.Fatalf("run = %d, %v after %d attempts", status, err, len(j.ran))
	}
	if got := ev.got[len(ev.got)-1]; got != fmt.Sprintf("ran failed %d", record.StopFinished) {
		t.Fatalf("end = %s", got)
	}
}

func TestLoopGivesUpWhenTheLadderIsDone(t *testing.T) {
	j := &job{ends: oomUnless(0)}
	refuse := map[sdk.FixID]string{sdk.FixBatchSize: "no batch flag in toy.py"}
	l, ev := newLoop(t, setup{plugin: toy{refuse: refuse}, ladder: []sdk.FixID{sdk.FixBatchSize}}, j, "python toy.py --bs 64")
	status, err := run(t, l)
	if err != nil || status != 1 || len(j.ran) != 1 {
		t.Fatalf("run = %d, %v after %d attempts", status, err, len(j.ran))
	}
	want := []string{"skip batch_size", fmt.Sprintf("ran gave_up %d", record.StopGaveUp)}
	if got := ev.got[len(ev.got)-2:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("end of events = %v, want %v", got, want)
	}
}

func TestLoopStopsOnAnInterruptBetweenAttempts(t *testing.T) {
	in := make(chan os.Signal, 1)
	cancelled := make(chan struct{})
	signals := supervise.NewSignals(in, func() { close(cancelled) })
	j := &job{ends: func(n int, a supervise.Attempt) outcome.Facts {
		// The signal comes while nothing runs: after this attempt ended.
		in <- syscall.SIGTERM
		<-cancelled // the router has taken it as an interrupt
		return oomFacts()
	}}
	l, ev := newLoop(t, setup{plugin: toy{}, signals: signals}, j, "python toy.py --bs 64")
	status, err := run(t, l)
	if err != nil || status != 128+int(syscall.SIGTERM) || len(j.ran) != 1 {
		t.Fatalf("run = %d, %v after %d attempts", status, err, len(j.ran))
	}
	if got := ev.got[len(ev.got)-1]; got != fmt.Sprintf("ran interrupted %d", record.StopInterruptedBefore) {
		t.Fatalf("end = %s", got)
	}
}

func TestLoopClaimsByTheOOMText(t *testing.T) {
	j := &job{ends: oomUnless(32)}
	// Nobody recognises "trainer", but the OOM text is toyfw's.
	l, ev := newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, j, "python trainer --bs 64")
	status, err := run(t, l)
	if err != nil || status != 0 || len(j.ran) != 2 {
		t.Fatalf("run = %d, %v after %d attempts", status, err, len(j.ran))
	}
	if !slices.Contains(ev.got, "claimed ") || !slices.Contains(ev.got, "claimed toy") {
		t.Fatalf("events %v: want no claim at the start, then toy's", ev.got)
	}
	if j.ran[1].Script != "toy.py" {
		t.Fatalf("after the claim the diagnosis knows the script: %q", j.ran[1].Script)
	}
}

func TestLoopUnclaimedCommandIsNotFixed(t *testing.T) {
	j := &job{ends: oomUnless(0)}
	l, ev := newLoop(t, setup{}, j, "python trainer --bs 64")
	status, err := run(t, l)
	if err != nil || status != 1 || len(j.ran) != 1 {
		t.Fatalf("run = %d, %v after %d attempts", status, err, len(j.ran))
	}
	if got := ev.got[len(ev.got)-1]; got != fmt.Sprintf("ran gave_up %d", record.StopUnclaimed) {
		t.Fatalf("end = %s", got)
	}
}

func TestLoopMapsStartFailures(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("toy: %w", runner.ErrNotFound):      StatusNotFound,
		fmt.Errorf("toy: %w", runner.ErrNotExecutable): StatusNotExecutable,
		fmt.Errorf("working directory: gone"):          StatusFailure,
	} {
		l, ev := newLoop(t, setup{plugin: toy{}}, &job{startErr: err}, "python toy.py --bs 64")
		status, got := run(t, l)
		if status != want || got == nil {
			t.Errorf("%v: run = %d, %v; want %d", err, status, got, want)
		}
		if end := ev.got[len(ev.got)-1]; end != fmt.Sprintf("ran failed %d", record.StopFailed) {
			t.Errorf("%v: end = %s", err, end)
		}
	}
}

// TestLoopDropsAFailingPlugin: a plugin whose Apply or Analyze fails is
// dropped with one line, and the next claimant takes the command; with no
// other claimant the run gives up, saying why.
func TestLoopDropsAFailingPlugin(t *testing.T) {
	cases := []struct {
		name string
		bad  toy
	}{
		{"apply fails", toy{name: "bad", confidence: 90, fail: sdk.FixAllocator}},
		{"analyze fails", toy{name: "bad", confidence: 90, failAnalyze: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := &job{ends: oomUnless(32)}
			l, ev := newLoop(t, setup{plugin: c.bad, others: []sdk.Framework{toy{}}, ladder: []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize}}, j,
				"python toy.py --bs 64 --accum 1")
			status, err := run(t, l)
			if err != nil || status != 0 {
				t.Fatalf("run = %d, %v; events %v", status, err, ev.got)
			}
			if !slices.Contains(ev.got, "claimed toy") {
				t.Fatalf("events %v: toy should take the command", ev.got)
			}
			if names := pluginNames(l.plugins); slices.Contains(names, "bad") {
				t.Fatalf("plugins after the run: %v, want bad dropped", names)
			}
		})
	}
	j := &job{ends: oomUnless(32)}
	l, ev := newLoop(t, setup{plugin: toy{fail: sdk.FixAllocator}}, j, "python toy.py --bs 64")
	status, err := run(t, l)
	if err != nil || status != 1 {
		t.Fatalf("alone: run = %d, %v", status, err)
	}
	if got := ev.got[len(ev.got)-1]; got != fmt.Sprintf("ran gave_up %d", record.StopGaveUp) {
		t.Fatalf("alone: end = %s", got)
	}
}

func pluginNames(s *host.Set) []string {
	var out []string
	for _, p := range s.Plugins() {
		out = append(out, p.Name())
	}
	return out
}

func TestLoopStartsFromWhatFitLastTime(t *testing.T) {
	learned := &fakeLearner{found: profiles.Learned{Summary: "batch 16 x accumulation 4, allocator",
		Fixes: []sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4}}}}
	j := &job{ends: oomUnless(8)}
	l, ev := newLoop(t, setup{plugin: toy{}, learner: learned}, j, "python toy.py --bs 64 --accum 1")
	status, err := run(t, l)
	if err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	if got := strings.Join(j.ran[0].Argv, " "); got != "python toy.py --bs 16 --accum 4" || j.ran[0].Env["TOY_ALLOC"] != "on" {
		t.Fatalf("first attempt ran %q with %v, want the learned start", got, j.ran[0].Env)
	}
	// The ladder goes on after the learned fixes: grad_checkpointing next.
	want := []string{"run", "claimed toy", "fix 1 allocator", "fix 1 batch_size", "learned batch 16 x accumulation 4, allocator",
		"start 1", "oom 1", "end 1 oom", "fix 2 grad_checkpointing"}
	if !reflect.DeepEqual(ev.got[:len(want)], want) {
		t.Fatalf("events:\n%s", strings.Join(ev.got, "\n"))
	}
	if learned.identified != 1 {
		t.Fatalf("identified %d times", learned.identified)
	}
}

func TestLoopRecordsTheAttemptsFromEvents(t *testing.T) {
	j := &job{ends: oomUnless(32)}
	l, _ := newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, j, "python toy.py --bs 64 --accum 1")
	dir := t.TempDir()
	keeper := record.NewKeeper(dir, func(f string, a ...any) { t.Errorf(f, a...) })
	l.bus = append(l.bus, keeper)
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	r, err := record.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != record.OutcomeOK || r.Framework != "toyfw" || len(r.Attempts) != 2 || !reflect.DeepEqual(r.Fixes, []string{"batch_size"}) {
		t.Fatalf("record: %+v", r)
	}
	second := r.Attempts[1]
	if second.Fix == nil || second.Fix.Fix.BatchSize != 32 || strings.Join(second.Argv, " ") != "python toy.py --bs 32 --accum 2" {
		t.Fatalf("second attempt: %+v", second)
	}
	if first := r.Attempts[0]; first.Diagnosis == nil || first.OOMAt == nil || !first.OOMAt.Equal(t0) {
		t.Fatalf("first attempt: %+v", first)
	}
	if strings.Join(r.FinalArgv, " ") != "python toy.py --bs 32 --accum 2" {
		t.Fatalf("final argv %q", r.FinalArgv)
	}
}

// TestLoopRefusalKeepsTheEstimates: the plugin turns checkpointing down;
// the batch step that follows is still sized from the OOM's figures, not
// halved as if nothing were known.
func TestLoopRefusalKeepsTheEstimates(t *testing.T) {
	gib := int64(1) << 30
	j := &job{ends: func(n int, a supervise.Attempt) outcome.Facts {
		if n > 1 {
			return outcome.Facts{Status: 0, Ended: t0}
		}
		f := oomFacts()
		// 64 samples wanted 27 GiB of a 24 GiB GPU: about 51 fit in 90%
		// of it, and 48 is the largest divisor of the effective 192 below.
		tried, capacity, allocated, held := 2*gib, 24*gib, 25*gib, int64(0)
		f.Diagnosis.TriedBytes, f.Diagnosis.CapacityBytes = &tried, &capacity
		f.Diagnosis.AllocatedBytes, f.Diagnosis.ReservedUnallocatedBytes = &allocated, &held
		return f
	}}
	refuse := map[sdk.FixID]string{sdk.FixGradCheckpointing: "no checkpointing flag in toy.py"}
	l, ev := newLoop(t, setup{plugin: toy{refuse: refuse}, ladder: []sdk.FixID{sdk.FixGradCheckpointing, sdk.FixBatchSize}}, j,
		"python toy.py --bs 64 --accum 3")
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if !slices.Contains(ev.got, "skip grad_checkpointing") {
		t.Fatalf("events %v: want the refusal as a skip", ev.got)
	}
	if got := strings.Join(j.ran[1].Argv, " "); got != "python toy.py --bs 48 --accum 4" {
		t.Fatalf("second attempt ran %q, want 48 x 4 from the figures (halving would give 32 x 6)", got)
	}
}

// TestLoopStartsFromTheFastestMeasured: what fit last (16 x 4) ran at 300
// samples/s, and an earlier run measured 32 x 2 at 450: the run starts at
// 32 x 2 and says why.
func TestLoopStartsFromTheFastestMeasured(t *testing.T) {
	last := []sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4}}
	faster := []sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}}
	learned := &fakeLearner{found: profiles.Learned{Summary: "batch 16 x accumulation 4, allocator", Fixes: last,
		Facts: []profiles.Fact{{Fixes: faster, Outcome: "ok", SamplesPerS: 450}, {Fixes: last, Outcome: "ok", SamplesPerS: 300}}}}
	j := &job{ends: oomUnless(32)}
	l, ev := newLoop(t, setup{plugin: toy{}, learner: learned}, j, "python toy.py --bs 64 --accum 1")
	if status, err := run(t, l); err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	if got := strings.Join(j.ran[0].Argv, " "); got != "python toy.py --bs 32 --accum 2" {
		t.Fatalf("first attempt ran %q, want the fastest measured", got)
	}
	want := "learned batch 32 x accumulation 2, allocator (the fastest measured, 450 samples/s; what fit last, batch 16 x accumulation 4, allocator, ran at 300)"
	if !slices.Contains(ev.got, want) {
		t.Fatalf("events:\n%s", strings.Join(ev.got, "\n"))
	}
	// Unknown speed for what fit last: it stays the start.
	learned.found.Facts[1].SamplesPerS = 0
	if got := fastestLearned(learned.found); !reflect.DeepEqual(got.Fixes, last) {
		t.Fatalf("start %+v, want what fit last", got.Fixes)
	}
}
