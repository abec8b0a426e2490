package launcher

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// messages prints vramrun's own lines: on stderr, prefixed "vramrun: ", one
// line each. While the terminal is raw (a pty job is running) a line needs
// "\r\n", because raw mode stops the terminal from adding the "\r".
type messages struct {
	mu        sync.Mutex
	w         io.Writer
	verbosity int
	raw       func() bool
}

func newMessages(w io.Writer, verbosity int) *messages {
	if w == nil {
		w = io.Discard
	}
	return &messages{w: w, verbosity: verbosity}
}

func (m *messages) setRaw(raw func() bool) {
	m.mu.Lock()
	m.raw = raw
	m.mu.Unlock()
}

func (m *messages) line(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := "\n"
	if m.raw != nil && m.raw() {
		end = "\r\n"
	}
	text := fmt.Sprintf(format, args...)
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprint(m.w, "vramrun: "+l+end)
	}
}

// info is a line shown unless -q.
func (m *messages) info(format string, args ...any) {
	if m.verbosity >= 0 {
		m.line(format, args...)
	}
}

// always is a line shown even with -q: what changed in the command.
func (m *messages) always(format string, args ...any) { m.line(format, args...) }

// warn is shown always.
func (m *messages) warn(format string, args ...any) { m.line("warning: "+format, args...) }

// verbose is shown with -v.
func (m *messages) verbose(format string, args ...any) {
	if m.verbosity > 0 {
		m.line(format, args...)
	}
}

func (m *messages) first(max int, argv []string, framework string) {
	m.info("attempt 1/%d: %s (%s)", max, shellJoin(argv), framework)
}

// attemptLine is the contract's line for a relaunch: what went wrong, what
// changed and why.
func (m *messages) attemptLine(n, max int, d sdk.Diagnosis, outcome string, fix *record.FixRecord) {
	change := string(fix.Fix.ID)
	if fix.Summary != "" {
		change += ": " + fix.Summary
	}
	if fix.Reason != "" && fix.Reason != "next on the ladder" {
		change += " (" + fix.Reason + ")"
	}
	m.always("attempt %d/%d: %s -> %s", n, max, Cause(d, outcome), change)
}

// Cause says in a few words what ended an attempt, with the figures that
// matter: "GPU OOM in training (asked 2.3 GiB of a 24 GiB GPU, 7.0 GiB held
// unused by the allocator)".
func Cause(d sdk.Diagnosis, outcome string) string {
	var what string
	switch {
	case outcome == outcomeProbable:
		return "probable GPU OOM (no message; memory at capacity)"
	case d.Kind == sdk.KindHost:
		what = "host memory OOM"
	default:
		what = "GPU OOM"
	}
	switch d.Phase {
	case sdk.PhaseTrain:
		what += " in training"
	case sdk.PhaseEval:
		what += " in evaluation"
	}
	if outcome == outcomeHung {
		what += ", then hung"
	}
	var figs []string
	if d.TriedBytes != nil {
		f := "asked " + HumanBytes(*d.TriedBytes)
		if d.CapacityBytes != nil {
			f += " of a " + HumanBytes(*d.CapacityBytes) + " GPU"
		}
		figs = append(figs, f)
	} else if d.CapacityBytes != nil {
		figs = append(figs, "a "+HumanBytes(*d.CapacityBytes)+" GPU")
	}
	if d.ReservedUnallocatedBytes != nil && *d.ReservedUnallocatedBytes > 0 {
		figs = append(figs, HumanBytes(*d.ReservedUnallocatedBytes)+" held unused by the allocator")
	}
	var others int64
	for _, p := range d.OtherProcesses {
		others += p.UsedBytes
	}
	if others > 0 {
		figs = append(figs, fmt.Sprintf("%s held by %d other process(es)", HumanBytes(others), len(d.OtherProcesses)))
	}
	if len(figs) > 0 {
		what += " (" + strings.Join(figs, ", ") + ")"
	}
	return what
}

// HumanBytes writes a size as the attempt lines do.
func HumanBytes(n int64) string { return record.HumanBytes(n) }

// table is the summary printed when the run ends.
func (m *messages) table(rec *record.Run) {
	if m.verbosity < 0 || len(rec.Attempts) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-6s %-26s %s\n", "attempt", "exit", "result", "fix before it")
	for _, a := range rec.Attempts {
		fix := "-"
		if a.Fix != nil {
			fix = string(a.Fix.Fix.ID)
			if a.Fix.Learned {
				fix += " (learned)"
			}
		}
		result := a.Outcome
		if a.Diagnosis != nil && (a.Outcome == outcomeOOM || a.Outcome == outcomeHung) {
			result = "GPU OOM"
			if a.Diagnosis.Phase != sdk.PhaseUnknown {
				result += " (" + string(a.Diagnosis.Phase) + ")"
			}
			if a.Outcome == outcomeHung {
				result += ", hung"
			}
		}
		fmt.Fprintf(&b, "%-8d %-6d %-26s %s\n", a.N, a.ExitStatus, result, fix)
	}
	fmt.Fprintf(&b, "outcome: %s", strings.ReplaceAll(rec.Outcome, "_", " "))
	if len(rec.Fixes) > 0 {
		fmt.Fprintf(&b, "\nfinal command: %s", shellJoin(rec.FinalArgv))
		if len(rec.FinalEnv) > 0 {
			fmt.Fprintf(&b, "\nwith environment: %s", strings.Join(sortedEnv(rec.FinalEnv), " "))
		}
	}
	m.line("%s", b.String())
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+shellQuote(v))
	}
	sortStrings(out)
	return out
}
