package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// PlanOptions are what `vramrun plan` and `--dry-run` need.
type PlanOptions struct {
	Argv     []string
	Settings profiles.Settings
	Dir      string
	Env      map[string]string
	Plugins  *host.Set
	// PlanDir is where config copies go (.vramrun/plan).
	PlanDir string
	// OOMLog is a log whose OOM the first step answers; "" for none.
	OOMLog string
	// BF16 is whether the GPU supports bf16; nil when unknown.
	BF16 *bool
}

// Plan is the contract's plan --json shape.
type Plan struct {
	Framework string      `json:"framework"`
	Launcher  string      `json:"launcher"`
	Script    string      `json:"script"`
	Argv      []string    `json:"argv"`
	Knobs     sdk.Knobs   `json:"knobs"`
	Steps     []PlanStep  `json:"steps"`
	Skipped   []plan.Skip `json:"skipped"`
	// End says why the path stops.
	End string `json:"end,omitempty"`
}

// PlanStep is one attempt of the plan, cumulative.
type PlanStep struct {
	Fix     sdk.FixID         `json:"fix"`
	Reason  string            `json:"reason"`
	Summary string            `json:"summary"`
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
	Files   map[string]string `json:"files"`
}

// maxPlanSteps bounds the path in case a plugin's fix does not change the
// knob it should: the planner would then propose it forever.
const maxPlanSteps = 64

// MakePlan works out every attempt the ladder allows, without running
// anything: each step is what that attempt would run if every earlier one
// ran out of memory (in training, or in the phase the --oom-log shows).
func MakePlan(ctx context.Context, o PlanOptions) (*Plan, error) {
	if len(o.Argv) == 0 {
		return nil, &ExitError{StatusFailure, errors.New("no command given: usage is vramrun plan [flags] -- COMMAND [ARGS...]")}
	}
	base := mergeEnv(o.Env, o.Settings.Env)
	cmd := sdk.Command{Argv: append([]string(nil), o.Argv...), Env: base, Dir: o.Dir, Flags: o.Settings.Flags}
	out := &Plan{Framework: "unknown", Argv: o.Argv, Steps: []PlanStep{}, Skipped: []plan.Skip{}}
	claim, ok := o.Plugins.Claim(ctx, cmd)
	if !ok {
		out.End = "no plugin recognised this command"
		return out, nil
	}
	p := claim.Plugin
	a, err := p.Framework.Analyze(ctx, cmd.Clone())
	if err != nil {
		return nil, &ExitError{StatusFailure, fmt.Errorf("plugin %s: %w", p.Name(), err)}
	}
	out.Framework, out.Launcher, out.Script, out.Knobs = claim.Recognition.Framework, a.Launcher, a.Script, a.Knobs

	diag, first, err := planDiagnosis(o, p)
	if err != nil {
		return nil, err
	}
	planner := plan.New(planConfig(o.Settings, o.BF16))
	setEnv := map[string]string{}
	files := map[string]string{}
	for i := 0; i < maxPlanSteps; i++ {
		d, obs := diag, plan.Observation{}
		if i == 0 {
			d, obs = first, plan.ObservationFrom(first, 0, 0)
		}
		dec := planner.Next(d, a, obs)
		out.Skipped = append(out.Skipped, dec.Skipped...)
		if dec.Step == nil {
			out.End = dec.GiveUp
			return out, nil
		}
		copyDir := filepath.Join(o.PlanDir, fmt.Sprintf("step-%d", len(out.Steps)+1))
		applied, err := p.Framework.Apply(ctx, cmd.Clone(), dec.Step.Fix, copyDir)
		var unsup *sdk.UnsupportedError
		if errors.As(err, &unsup) {
			out.Skipped = append(out.Skipped, plan.Skip{Fix: dec.Step.Fix.ID, Reason: unsup.Reason})
			continue
		}
		if err != nil {
			return nil, &ExitError{StatusFailure, fmt.Errorf("plugin %s: %w", p.Name(), err)}
		}
		if err := writeCopies(copyDir, applied.Copies); err != nil {
			return nil, &ExitError{StatusFailure, err}
		}
		noteCopies(files, applied.Copies)
		for k, v := range applied.Env {
			setEnv[k] = v
		}
		cmd.Argv = applied.Argv
		cmd.Env = mergeEnv(base, setEnv)
		out.Steps = append(out.Steps, PlanStep{Fix: dec.Step.Fix.ID, Reason: dec.Step.Reason, Summary: applied.Summary,
			Argv: append([]string(nil), applied.Argv...), Env: copyMapAlways(setEnv), Files: copyMapAlways(files)})
		if a, err = p.Framework.Analyze(ctx, cmd.Clone()); err != nil {
			return nil, &ExitError{StatusFailure, fmt.Errorf("plugin %s: %w", p.Name(), err)}
		}
	}
	out.End = fmt.Sprintf("stopped after %d steps", maxPlanSteps)
	return out, nil
}

// planDiagnosis is the OOM each step answers: the --oom-log's for the first
// step (figures and all), and the same phase without figures after it.
func planDiagnosis(o PlanOptions, p *host.Plugin) (later, first sdk.Diagnosis, err error) {
	later = sdk.NoOOM()
	later.OOM, later.Kind, later.Phase = true, sdk.KindGPU, sdk.PhaseTrain
	if o.OOMLog == "" {
		return later, later, nil
	}
	f, err := os.Open(o.OOMLog)
	if err != nil {
		return later, later, &ExitError{StatusFailure, fmt.Errorf("--oom-log: %w", err)}
	}
	defer f.Close()
	m, err := oom.Compile(o.Plugins.Patterns(), o.Plugins.Frames())
	if err != nil {
		return later, later, &ExitError{StatusFailure, err}
	}
	d, err := oom.Diagnose(m, f, oom.Ending{}, "")
	if err != nil {
		return later, later, &ExitError{StatusFailure, fmt.Errorf("--oom-log %s: %w", o.OOMLog, err)}
	}
	if !d.OOM || d.Kind != sdk.KindGPU {
		return later, later, &ExitError{StatusFailure, fmt.Errorf("--oom-log %s: no GPU out-of-memory error in it", o.OOMLog)}
	}
	if d.Phase == sdk.PhaseEval {
		later.Phase = sdk.PhaseEval
	}
	return later, d, nil
}

func copyMapAlways(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// WriteJSON writes the plan as the contract's JSON.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes the plan as a readable list of attempts.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "framework: %s", p.Framework)
	if p.Launcher != "" {
		fmt.Fprintf(&b, " (launcher %s)", p.Launcher)
	}
	if p.Script != "" {
		fmt.Fprintf(&b, ", script %s", p.Script)
	}
	fmt.Fprintf(&b, "\nknobs: %s\n", knobText(p.Knobs))
	fmt.Fprintf(&b, "attempt 1: %s\n", shellJoin(p.Argv))
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "attempt %d: %s", i+2, s.Fix)
		if s.Summary != "" {
			fmt.Fprintf(&b, ": %s", s.Summary)
		}
		if s.Reason != "" && s.Reason != "next on the ladder" {
			fmt.Fprintf(&b, " (%s)", s.Reason)
		}
		fmt.Fprintf(&b, "\n    %s%s\n", envPrefix(s.Env), shellJoin(s.Argv))
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", s.Fix, s.Reason)
	}
	if p.End != "" {
		fmt.Fprintf(&b, "then: %s\n", p.End)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func envPrefix(env map[string]string) string {
	if len(env) == 0 {
		return ""
	}
	return strings.Join(sortedEnv(env), " ") + " "
}

func knobText(k sdk.Knobs) string {
	m := knobStrings(k)
	if len(m) == 0 {
		return "none found"
	}
	var parts []string
	for _, name := range []string{"batch_size", "grad_accumulation", "eval_batch_size", "precision", "grad_checkpointing", "optimizer", "offload"} {
		if v, ok := m[name]; ok {
			parts = append(parts, name+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}
