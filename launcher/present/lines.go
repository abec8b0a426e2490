// Package present says what a run does, in vramrun's own lines on stderr:
// one line per relaunch with what went wrong, what changed and why, the
// table at the end, and the plan of `vramrun plan`. It listens to the run's
// typed events and never reads the run record's strings back.
package present

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// Lines prints vramrun's own lines: on stderr, prefixed "vramrun: ", one line
// each. While the terminal is raw (a pty job is running) a line needs
// "\r\n", because raw mode stops the terminal from adding the "\r".
type Lines struct {
	mu        sync.Mutex
	w         io.Writer
	verbosity int
	raw       func() bool
	// midLine says, and forgets, that the job's output left the line
	// unfinished (see SetMidLine).
	midLine func() bool
	// max is the run's most attempts; last the attempt that ended last,
	// which the next fix answers.
	max      int
	last     *record.AttemptEnded
	attempts []record.Attempt
	fixes    []string
}

// NewLines prints to w: -1 quiet (-q), 0 normal, 1 verbose (-v).
func NewLines(w io.Writer, verbosity int) *Lines {
	if w == nil {
		w = io.Discard
	}
	return &Lines{w: w, verbosity: verbosity}
}

// SetRaw says how to tell that the terminal is raw; nil when it is not.
func (m *Lines) SetRaw(raw func() bool) {
	m.mu.Lock()
	m.raw = raw
	m.mu.Unlock()
}

// SetMidLine says how to tell that the job's output left its line
// unfinished (a progress bar redrawn with "\r", a prompt): vramrun's next
// line then ends it first, so that it starts a line of its own and the bar
// stays whole. mid reports it and forgets it; nil never.
func (m *Lines) SetMidLine(mid func() bool) {
	m.mu.Lock()
	m.midLine = mid
	m.mu.Unlock()
}

// line prints one or more lines. What the arguments hold comes from others
// (a plugin's summary, an argv, an OOM text): their control characters are
// escaped, so that none can forge a "vramrun:" line or move the terminal;
// only format's own line breaks start new lines.
func (m *Lines) line(format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = human.Printable(v)
		case error:
			args[i] = human.Printable(v.Error())
		case []string:
			words := make([]string, len(v))
			for j, w := range v {
				words[j] = human.Printable(w)
			}
			args[i] = words
		}
	}
	m.emit(fmt.Sprintf(format, args...))
}

// emit prints text, one "vramrun: " line per line of it.
func (m *Lines) emit(text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := "\n"
	if m.raw != nil && m.raw() {
		end = "\r\n"
	}
	if m.midLine != nil && m.midLine() {
		fmt.Fprint(m.w, end)
	}
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprint(m.w, "vramrun: "+l+end)
	}
}

// Info is a line shown unless -q.
func (m *Lines) Info(format string, args ...any) {
	if m.verbosity >= 0 {
		m.line(format, args...)
	}
}

// Always is a line shown even with -q: what changed in the command.
func (m *Lines) Always(format string, args ...any) { m.line(format, args...) }

// Warn is shown always.
func (m *Lines) Warn(format string, args ...any) { m.line("warning: "+format, args...) }

// Verbose is shown with -v.
func (m *Lines) Verbose(format string, args ...any) {
	if m.verbosity > 0 {
		m.line(format, args...)
	}
}

// On prints what an event tells the user.
func (m *Lines) On(ev record.Event) {
	switch ev := ev.(type) {
	case record.RunStarted:
		m.max = ev.Max
	case record.Claimed:
		m.claimed(ev)
	case record.LearnedStart:
		m.Always("starting from what fit on %s last time: %s; --no-learn to start fresh", ev.GPU, ev.Summary)
	case record.AttemptStarted:
		if ev.N == 1 {
			m.Info("attempt 1/%d: %s (%s)", ev.Max, human.Join(ev.Launch.Argv), ev.Framework)
		}
	case record.AttemptEnded:
		m.attemptEnded(ev)
	case record.FixSkipped:
		m.Info("skipping %s: %s", ev.Skip.Fix, ev.Skip.Reason)
	case record.FixCommitted:
		m.fixCommitted(ev)
	case record.FixRejected:
		m.fixes = m.fixes[:max(len(m.fixes)-1-ev.With, 0)]
		m.Info("the job rejected %s (%s): taking it back", ev.Fix.Fix.ID, strings.TrimSpace(ev.Line))
	case record.Resumed:
		m.resumed(ev)
	case record.ResumeDeclined:
		m.Info("not resuming from %s: %s", human.Printable(ev.Checkpoint), ev.Reason)
	case record.RunEnded:
		m.runEnded(ev)
	}
}

// span is a duration as a person says it: "40 s", "12 min", "3 h 5 min".
func span(d time.Duration) string {
	switch {
	case d < time.Second:
		return "less than a second"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// resumed says where attempt Before resumes and what it saves:
// "resuming from out/checkpoint-40 (step 40), written 12m0s before the OOM: --resume_from_checkpoint out/checkpoint-40".
func (m *Lines) resumed(ev record.Resumed) {
	r := ev.Resume
	what := human.Printable(r.Checkpoint)
	if r.Step != nil {
		what += fmt.Sprintf(" (step %d)", *r.Step)
	}
	if r.BeforeOOM > 0 {
		what += ", written " + span(r.BeforeOOM) + " before the OOM"
	}
	if r.Summary != "" {
		what += ": " + human.Printable(r.Summary)
	}
	m.Always("resuming from %s", what)
	for _, n := range r.Notes {
		m.Info("note: %s", n)
	}
}

func (m *Lines) claimed(ev record.Claimed) {
	defer func() {
		for _, n := range ev.Notes {
			m.Info("note: %s", n)
		}
	}()
	switch {
	case ev.ByOOM:
		m.Info("the out-of-memory text is %s's: the %s plugin takes the command from here", ev.Framework, ev.Plugin)
	case ev.Plugin == "":
		m.Info("no plugin recognised this command: vramrun will report out-of-memory errors but cannot fix them")
	default:
		m.Verbose("plugin %s claimed the command (%s); answers: %s", ev.Plugin, ev.Reason, strings.Join(ev.Answers, ", "))
	}
}

func (m *Lines) fixCommitted(ev record.FixCommitted) {
	m.fixes = append(m.fixes, string(ev.Fix.Fix.ID))
	f := ev.Fix
	if f.Learned {
		switch f.Fix.ID {
		case sdk.FixMixedPrecision, sdk.FixOptimizer8bit, sdk.FixCPUOffload:
			// A change of numerics is always announced.
			m.Always("re-applying %s from learned state: %s", f.Fix.ID, f.Summary)
		default:
			m.Verbose("re-applying %s from learned state: %s", f.Fix.ID, f.Summary)
		}
		return
	}
	change := string(f.Fix.ID)
	if f.Summary != "" {
		change += ": " + f.Summary
	}
	if ev.ShowReason && f.Reason != "" {
		change += " (" + f.Reason + ")"
	}
	if ev.With {
		m.Always("attempt %d/%d: with it, %s", ev.Before, m.max, change)
		return
	}
	cause := "out of memory"
	if m.last != nil {
		cause = Cause(m.last.Attempt)
	}
	m.Always("attempt %d/%d: %s -> %s", ev.Before, m.max, cause, change)
}

// attemptEnded says, in one line, how an attempt that did not fit ended,
// when the attempt line of the next attempt will not say it.
func (m *Lines) attemptEnded(ev record.AttemptEnded) {
	a := ev.Attempt
	m.last = &ev
	m.attempts = append(m.attempts, a)
	if ev.Hardware != "" {
		m.Info("the GPU reported a hardware or driver fault during this attempt (%s): memory fixes cannot help; see vramrun doctor", ev.Hardware)
	}
	if a.SurvivedOOMs > 0 {
		m.Info("the job survived %d out-of-memory error(s) on its own; vramrun left it alone", a.SurvivedOOMs)
	}
	switch a.Outcome {
	case record.AttemptHostOOM:
		m.Info("the job ran out of host memory (RAM), not GPU memory: %s. Try fewer data-loader workers and no CPU offload; vramrun applies no GPU fix for this", strings.TrimRight(hostEvidence(a), ". "))
	case record.AttemptProbableOOM:
		m.Info("the job failed (exit %d) without an out-of-memory message, but GPU memory sat at capacity just before: probably an OOM. Set probable_oom: fix to let vramrun treat it as one", a.ExitStatus)
	case record.AttemptFailed:
		if slices.Contains(a.Notes, record.NoteKilled) {
			m.Info("the job was %s: not relaunching", record.NoteKilled)
			return
		}
		m.Verbose("the job failed (exit %d) with no sign of running out of memory: not relaunching", a.ExitStatus)
	}
}

func hostEvidence(a record.Attempt) string {
	if a.Diagnosis != nil && a.Diagnosis.Message != "" {
		return a.Diagnosis.Message
	}
	return "killed by SIGKILL with no GPU out-of-memory message"
}

func (m *Lines) runEnded(ev record.RunEnded) {
	why := ev.Why
	switch why.Kind {
	case record.StopInterrupted:
		m.Info("interrupted (%s): not relaunching", SignalName(syscall.Signal(why.Signal)))
	case record.StopInterruptedBefore:
		m.Info("interrupted (%s) before attempt %d: not relaunching", SignalName(syscall.Signal(why.Signal)), why.Before)
	case record.StopOutOfAttempts:
		m.Info("out of attempts (%d of --max-attempts %d used): giving up", why.Used, why.Max)
	case record.StopGaveUp:
		m.Info("giving up: %s", why.Reason)
	}
	m.table(ev.End)
}

// SignalName is "SIGINT" for syscall.SIGINT.
func SignalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return s.String()
}
