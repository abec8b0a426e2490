// Package learn remembers what fit, per command and GPU model, in the
// project's learned state (.vramrun/state.json), and finds it again for the
// next run of the same command on the same GPU model.
//
// A command is identified by its fingerprint: the launcher and world size,
// the script, the knob values as typed, and a hash of each config file it
// names. What fit is recorded when an attempt exits 0, or has run for
// learn_after without an OOM; an attempt that later needed more fixes
// updates the record.
package learn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Say is where the learner's lines go.
type Say interface {
	Warn(format string, args ...any)
	Verbose(format string, args ...any)
}

// Learner is the learned state of one run. It listens to the run's events
// for what was applied and what fit.
type Learner struct {
	store *profiles.Store
	// enabled is the learn setting; the learner also stays idle until a
	// plugin's analysis identifies the command.
	enabled bool
	say     Say
	now     func() time.Time
	runID   string
	fp      profiles.Fingerprint
	gpu     profiles.GPUKey
	known   bool
	// fixes and launch are what the command runs with now.
	fixes  []sdk.Fix
	launch record.Launch
	// facts are what this run's attempts measured.
	facts []profiles.Fact
	// recorded is how many fixes and facts the recorded entry holds
	// (fixes -1 before anything was recorded).
	recorded struct{ fixes, facts int }
}

// New makes the learner of one run.
func New(store *profiles.Store, enabled bool, say Say, now func() time.Time) *Learner {
	l := &Learner{store: store, enabled: enabled, say: say, now: now}
	l.recorded.fixes = -1
	return l
}

// Identify takes the claiming plugin's analysis of the command as typed
// (cmd: its argv and folder, and in Files the contents of config files it
// names that are no files on disk) on the GPU model gpu.
func (l *Learner) Identify(a sdk.AnalyzeResponse, cmd sdk.Command, gpu profiles.GPUKey) {
	l.fp, l.gpu, l.known = Fingerprint(a, cmd), gpu, true
}

// Fingerprint identifies a command as typed.
func Fingerprint(a sdk.AnalyzeResponse, cmd sdk.Command) profiles.Fingerprint {
	argv := cmd.Argv
	fp := profiles.Fingerprint{Launcher: a.Launcher, WorldSize: a.WorldSize, Script: a.Script,
		Knobs: profiles.KnobStrings(a.Knobs), ConfigHashes: map[string]string{}}
	if fp.Script == "" {
		fp.Script = strings.Join(argv, " ")
	}
	for _, f := range a.ConfigFiles {
		data, err := cmd.ReadFile(f)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(data)
		fp.ConfigHashes[f] = hex.EncodeToString(sum[:])
	}
	return fp
}

// Lookup is what fit last time for this command on this GPU model, when
// learning is on and something was recorded.
func (l *Learner) Lookup() (profiles.Learned, bool) {
	if !l.enabled || !l.known {
		return profiles.Learned{}, false
	}
	found, ok, err := l.store.Lookup(l.fp, l.gpu)
	if err != nil {
		l.say.Warn("%v", err)
	}
	return found, ok && len(found.Fixes) > 0
}

// GPU is the GPU model the learner records under.
func (l *Learner) GPU() profiles.GPUKey { return l.gpu }

// On follows the run: the fixes applied, and the moments an attempt fits.
func (l *Learner) On(ev record.Event) {
	switch ev := ev.(type) {
	case record.RunStarted:
		l.runID = ev.ID
	case record.FixCommitted:
		l.fixes = append(l.fixes, ev.Fix.Fix)
		l.launch = ev.Launch
	case record.FixRejected:
		l.fixes = l.fixes[:max(len(l.fixes)-1-ev.With, 0)]
		l.launch = ev.Launch
	case record.AttemptFits:
		l.record(ev.N)
	case record.AttemptEnded:
		l.facts = append(l.facts, l.factOf(ev.Attempt, l.fixes))
		if ev.Attempt.Outcome == record.AttemptOK {
			l.record(ev.Attempt.N)
		}
	}
}

// factOf is what attempt a, run with fixes, measured.
func (l *Learner) factOf(a record.Attempt, fixes []sdk.Fix) profiles.Fact {
	var micro, accum int
	if s := a.Shape; s != nil {
		micro, accum = deref(s.BatchSize), deref(s.GradAccumulation)
	}
	f := NewFact(fixes, a.Outcome, micro, accum, a.Memory, a.Speed)
	f.RunID, f.Recorded = l.runID, l.now()
	return f
}

// NewFact is what an attempt run with fixes measured: its outcome, its
// micro-batch and accumulation (0 unknown), what NVML saw (its peak and
// the level before its first step) and its speed (nil unknown). The
// learner sets the run and the time.
func NewFact(fixes []sdk.Fix, outcome string, micro, accum int, mem record.Memory, speed *record.Speed) profiles.Fact {
	f := profiles.Fact{Fixes: append([]sdk.Fix{}, fixes...), Outcome: outcome, Micro: micro, Accum: accum}
	if mem.PeakBytes != nil {
		f.PeakBytes = *mem.PeakBytes
	}
	if mem.PreStepBytes != nil {
		f.PreStepBytes = *mem.PreStepBytes
	}
	if speed != nil && speed.SamplesPerS != nil {
		f.SamplesPerS = *speed.SamplesPerS
	}
	return f
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// record stores what fit, once per set of fixes, and again when attempts
// measured more since.
func (l *Learner) record(attempt int) {
	if !l.enabled || !l.known || len(l.fixes) == 0 || len(l.fixes) == l.recorded.fixes && len(l.facts) == l.recorded.facts {
		return
	}
	l.recorded.fixes, l.recorded.facts = len(l.fixes), len(l.facts)
	entry := profiles.Learned{
		Fixes:    append([]sdk.Fix(nil), l.fixes...),
		Argv:     append([]string(nil), l.launch.Argv...),
		Env:      maps.Clone(l.launch.Env),
		Summary:  Summary(l.fixes),
		Recorded: l.now(),
		RunID:    l.runID,
		Facts:    append([]profiles.Fact(nil), l.facts...),
	}
	if err := l.store.Record(l.fp, l.gpu, entry); err != nil {
		l.say.Warn("could not record what fit: %v", err)
		return
	}
	l.say.Verbose("recorded what fit at attempt %d for %s: %s", attempt, l.gpu.Model, entry.Summary)
}

// Summary says in a few words what the fixes add up to:
// "batch 24 x accumulation 4, bf16, allocator".
func Summary(fixes []sdk.Fix) string {
	var batch, eval string
	var others []string
	seen := map[sdk.FixID]bool{}
	for _, f := range fixes {
		switch f.ID {
		case sdk.FixBatchSize:
			batch = fmt.Sprintf("batch %d", f.BatchSize)
			if f.GradAccumulation > 0 {
				batch += fmt.Sprintf(" x accumulation %d", f.GradAccumulation)
			}
		case sdk.FixEvalBatchSize:
			eval = fmt.Sprintf("eval batch %d", f.BatchSize)
		case sdk.FixMixedPrecision:
			if !seen[f.ID] {
				others = append(others, f.Precision)
			}
		default:
			if !seen[f.ID] {
				others = append(others, string(f.ID))
			}
		}
		seen[f.ID] = true
	}
	var parts []string
	for _, p := range []string{batch, eval} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(append(parts, others...), ", ")
}

// Keep records fixes, with the command they make, as what fit: the winner
// of `vramrun tune`, whose trial n the learner did not follow (its trials
// are not runs of the job; their scratch outputs must not be learned).
// trials are what tune's trials measured (their configurations' fixes,
// the trial fix left out), kept as facts.
func (l *Learner) Keep(n int, fixes []sdk.Fix, launch record.Launch, trials []profiles.Fact) {
	l.fixes, l.launch = append([]sdk.Fix(nil), fixes...), launch
	l.recorded.fixes = 0
	for _, t := range trials {
		t.RunID, t.Recorded = l.runID, l.now()
		l.facts = append(l.facts, t)
	}
	l.record(n)
}
