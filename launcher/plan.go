package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/present"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/supervise"
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
	// GPUs is how many GPUs the job would see, 0 when unknown.
	GPUs int
	// Stderr takes vramrun's warnings (a plugin dropped) and, at Verbosity
	// 1, which plugin claimed the command; nil discards them. Verbosity -1
	// says nothing but failures.
	Stderr    io.Writer
	Verbosity int
}

// MaxPlanSteps bounds the plan in case a plugin's fix does not change the
// knob it should: the planner would then propose it forever.
const MaxPlanSteps = 64

// MakePlan works out every attempt the ladder allows, without running
// anything: each step is what that attempt would run if every earlier one
// ran out of memory (in training, or in the phase the --oom-log shows). It
// is the relaunch loop of a real run, with a supervisor whose every attempt
// runs out of memory; the plan is read from the run's events.
func MakePlan(ctx context.Context, o PlanOptions) (*present.Plan, error) {
	if len(o.Argv) == 0 {
		return nil, &ExitError{StatusFailure, errors.New("no command given: usage is vramrun plan [flags] -- COMMAND [ARGS...]")}
	}
	first, later, err := planDiagnoses(o)
	if err != nil {
		return nil, err
	}
	collected := present.NewPlan(o.Argv, MaxPlanSteps)
	say := present.NewLines(o.Stderr, o.Verbosity)
	l := &loop{
		cfg:     loopConfig{argv: o.Argv, dir: o.Dir, max: MaxPlanSteps + 1, policy: policyOf(o.Settings), now: time.Now},
		plugins: o.Plugins,
		cmd:     rewrite.New(o.Argv, o.Dir, rewrite.Merge(o.Env, o.Settings.Env), o.Settings.Flags).WithGPUs(host.JobGPUs(o.Argv, o.GPUs)),
		planner: plan.New(plan.FromSettings(o.Settings, o.BF16)),
		sup:     &alwaysOOM{first: first, later: later},
		learner: noLearning{},
		bus:     record.Bus{collected, claimLines{say}},
		say:     say,
		copyDir: func(before int) string {
			return filepath.Join(o.PlanDir, fmt.Sprintf("step-%d", before-1))
		},
	}
	_, err = l.run(ctx)
	if err != nil {
		return nil, err
	}
	return collected, nil
}

// alwaysOOM is the supervisor of a plan: every attempt ends at once with
// an OOM, the first with the --oom-log's diagnosis.
type alwaysOOM struct {
	first, later oom.Diagnosis
	attempts     int
}

func (s *alwaysOOM) Run(_ context.Context, a supervise.Attempt) (supervise.Result, error) {
	s.attempts++
	d := s.later
	if s.attempts == 1 {
		d = s.first
	}
	now := time.Now()
	var texts outcome.Texts
	texts.Add(now)
	return supervise.Result{
		Facts:   outcome.Facts{Status: 1, Ended: now, Texts: texts, Diagnosis: d},
		Exit:    record.Exit{ExitCode: 1, ExitStatus: 1},
		Started: now,
	}, nil
}

// claimLines passes the claim (with -v, which plugin and why; a note) to
// vramrun's lines on stderr; the rest of a plan is its output.
type claimLines struct{ lines *present.Lines }

func (c claimLines) On(ev record.Event) {
	if claimed, ok := ev.(record.Claimed); ok {
		c.lines.On(claimed)
	}
}

// noLearning is a plan's learned state: a plan starts from the command as
// typed.
type noLearning struct{}

func (noLearning) Identify(sdk.AnalyzeResponse, sdk.Command, profiles.GPUKey) {}
func (noLearning) Lookup() (profiles.Learned, bool)                           { return profiles.Learned{}, false }

// planDiagnoses are the OOMs the steps answer: the --oom-log's for the
// first (figures and all), and the same phase without figures after it.
func planDiagnoses(o PlanOptions) (first, later oom.Diagnosis, err error) {
	later = oom.NoOOM()
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
	return d, later, nil
}
