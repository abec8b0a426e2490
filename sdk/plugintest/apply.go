package plugintest

import (
	"context"
	"errors"

	"github.com/vramrun/vramrun/sdk"
)

// applyAnswer is one side's answer to a fix.
type applyAnswer struct {
	applied sdk.ApplyResponse
	// unsupported is the reason of an *sdk.UnsupportedError; err any other
	// error.
	unsupported *string
	err         error
}

func checkApply(t tester, sides []side, cmd sdk.Command, fix sdk.Fix) {
	copyDir := t.TempDir()
	var answers []applyAnswer
	for _, s := range sides {
		before := cmd.Clone()
		applied, err := s.f.Apply(context.Background(), sdk.ApplyRequest{Command: cmd, Fix: fix, CopyDir: copyDir})
		noMutation(t, s, "Apply "+string(fix.ID), before, cmd)
		ans := applyAnswer{applied: normApplied(applied), err: err}
		var unsupported *sdk.UnsupportedError
		switch {
		case errors.As(err, &unsupported):
			ans.unsupported, ans.err = &unsupported.Reason, nil
			if unsupported.Reason == "" {
				t.Errorf("%s: Apply %s: unsupported without a reason", s.name, fix.ID)
			}
			if unsupported.Fix != fix.ID {
				t.Errorf("%s: Apply %s: the UnsupportedError names fix %q", s.name, fix.ID, unsupported.Fix)
			}
		case err != nil:
			t.Errorf("%s: Apply %s: %v (a fix the command cannot take returns an *sdk.UnsupportedError)", s.name, fix.ID, err)
		default:
			checkApplied(t, s, cmd, fix, applied, copyDir)
		}
		answers = append(answers, ans)
	}
	checkEmpty(t, copyDir, "the copy folder")
	d, w := answers[0], answers[1]
	if !equal(d.applied, w.applied) || (d.unsupported == nil) != (w.unsupported == nil) ||
		(d.unsupported != nil && *d.unsupported != *w.unsupported) || (d.err == nil) != (w.err == nil) {
		t.Errorf("Apply %s differs:\n%s: %s\n%s: %s", fix.ID, sides[0].name, d, sides[1].name, w)
	}
}

func checkApplied(t tester, s side, cmd sdk.Command, fix sdk.Fix, applied sdk.ApplyResponse, copyDir string) {
	if err := applied.Validate(copyDir); err != nil {
		t.Errorf("%s: Apply %s: %v", s.name, fix.ID, err)
		return
	}
	if len(cmd.Argv) > 0 && applied.Argv[0] != cmd.Argv[0] {
		t.Errorf("%s: Apply %s changed the program from %q to %q", s.name, fix.ID, cmd.Argv[0], applied.Argv[0])
	}
}

func (a applyAnswer) String() string {
	switch {
	case a.unsupported != nil:
		return "unsupported: " + *a.unsupported
	case a.err != nil:
		return "error: " + a.err.Error()
	}
	return "applied " + sprint(a.applied)
}

// SampleFix is the fix the conformance checks ask a plugin to apply, as the
// planner could ask for it from the command's knobs: half the batch with
// twice the accumulation (when the command has an accumulation knob), half
// the evaluation batch, bf16. A plugin author's own table tests can use it.
func SampleFix(id sdk.FixID, k sdk.Knobs) sdk.Fix {
	fix := sdk.Fix{ID: id}
	switch id {
	case sdk.FixBatchSize:
		fix.BatchSize = half(k.BatchSize)
		if k.GradAccumulation != nil {
			fix.GradAccumulation = 2 * *k.GradAccumulation
		}
	case sdk.FixEvalBatchSize:
		fix.BatchSize = half(k.EvalBatchSize)
	case sdk.FixMixedPrecision:
		fix.Precision = "bf16"
	}
	return fix
}

func half(v *int) int {
	if v == nil || *v < 2 {
		return 1
	}
	return *v / 2
}
