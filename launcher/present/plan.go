package present

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Plan is what `vramrun plan` shows: every attempt a run would make if each
// one before it ran out of memory. `plan --json` prints it as is.
type Plan struct {
	Framework string   `json:"framework"`
	Launcher  string   `json:"launcher"`
	Script    string   `json:"script"`
	Argv      []string `json:"argv"`
	// WorldSize is the processes the command starts, as the plugin reads
	// it (1 when it cannot tell); the effective batch counts each.
	WorldSize int       `json:"world_size"`
	Knobs     sdk.Knobs `json:"knobs"`
	// Notes are the claiming plugin's notes on the command.
	Notes []string `json:"notes,omitempty"`
	// Steps are the attempts after the first, each with the fix before it
	// and the whole command it then runs.
	Steps   []PlanStep          `json:"steps"`
	Skipped []record.SkipRecord `json:"skipped"`
	// End says why the path stops.
	End string `json:"end,omitempty"`
	// steps bounds the path, for End's words.
	steps int
}

// PlanStep is one attempt of the plan, cumulative.
type PlanStep struct {
	Fix     sdk.FixID         `json:"fix"`
	Reason  string            `json:"reason"`
	Summary string            `json:"summary"`
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
	Files   map[string]string `json:"files"`
	// With are the fixes that go with Fix in the same attempt, each in
	// the words of the Summary.
	With []PlanWith `json:"with,omitempty"`
	// show says the reason tells more than "next on the ladder".
	show bool
}

// PlanWith is a fix that goes with a step's fix in the same attempt.
type PlanWith struct {
	Fix     sdk.FixID `json:"fix"`
	Reason  string    `json:"reason"`
	Summary string    `json:"summary"`
}

// NewPlan collects the plan of argv from a run's events; the run stops
// after at most steps fixes.
func NewPlan(argv []string, steps int) *Plan {
	return &Plan{Framework: "unknown", Argv: argv, Steps: []PlanStep{}, Skipped: []record.SkipRecord{}, steps: steps}
}

// On takes one of the planned run's events.
func (p *Plan) On(ev record.Event) {
	switch ev := ev.(type) {
	case record.Claimed:
		if ev.Plugin != "" {
			p.Framework, p.Launcher, p.Script, p.Knobs, p.WorldSize = ev.Framework, ev.Launcher, ev.Script, ev.Knobs, ev.WorldSize
			p.Notes = ev.Notes
		}
	case record.FixSkipped:
		p.Skipped = append(p.Skipped, ev.Skip)
	case record.FixCommitted:
		if n := len(p.Steps); ev.With && n > 0 {
			s := &p.Steps[n-1]
			s.With = append(s.With, PlanWith{Fix: ev.Fix.Fix.ID, Reason: ev.Fix.Reason, Summary: ev.Fix.Summary})
			s.Argv, s.Env, s.Files = ev.Launch.Argv, orEmpty(ev.Launch.Env), orEmpty(ev.Launch.Files)
			return
		}
		p.Steps = append(p.Steps, PlanStep{Fix: ev.Fix.Fix.ID, Reason: ev.Fix.Reason, Summary: ev.Fix.Summary,
			Argv: ev.Launch.Argv, Env: orEmpty(ev.Launch.Env), Files: orEmpty(ev.Launch.Files), show: ev.ShowReason})
	case record.RunEnded:
		switch ev.Why.Kind {
		case record.StopGaveUp:
			p.End = ev.Why.Reason
		case record.StopUnclaimed:
			p.End = "no plugin recognised this command"
		case record.StopOutOfAttempts:
			p.End = fmt.Sprintf("stopped after %d steps", p.steps)
		}
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// WriteJSON writes the plan as JSON.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes the plan as a readable list of attempts.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "framework: %s", p.Framework)
	switch {
	case p.Launcher != "" && p.WorldSize > 1:
		fmt.Fprintf(&b, " (launcher %s, %d processes)", p.Launcher, p.WorldSize)
	case p.Launcher != "":
		fmt.Fprintf(&b, " (launcher %s)", p.Launcher)
	}
	if p.Script != "" {
		fmt.Fprintf(&b, ", script %s", p.Script)
	}
	fmt.Fprintf(&b, "\nknobs: %s\n", knobText(p.Knobs))
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", human.Printable(n))
	}
	fmt.Fprintf(&b, "attempt 1: %s\n", human.Join(p.Argv))
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "attempt %d: %s", i+2, s.Fix)
		if s.Summary != "" {
			fmt.Fprintf(&b, ": %s", human.Printable(s.Summary))
		}
		if s.show && s.Reason != "" {
			fmt.Fprintf(&b, " (%s)", human.Printable(s.Reason))
		}
		for _, w := range s.With {
			fmt.Fprintf(&b, "; with it, %s: %s (%s)", w.Fix, human.Printable(w.Summary), human.Printable(w.Reason))
		}
		fmt.Fprintf(&b, "\n    %s\n", human.CommandLine(s.Env, s.Argv))
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", s.Fix, human.Printable(s.Reason))
	}
	if p.End != "" {
		fmt.Fprintf(&b, "then: %s\n", human.Printable(p.End))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func knobText(k sdk.Knobs) string {
	m := profiles.KnobStrings(k)
	if len(m) == 0 {
		return "none found"
	}
	var parts []string
	for _, name := range profiles.KnobNames() {
		if v, ok := m[name]; ok {
			parts = append(parts, name+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}
