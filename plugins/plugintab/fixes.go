package plugintab

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/plugintest"
)

// FixFor makes the fix CheckFixes asks for, given the fix id and the knobs
// Analyze found.
type FixFor func(id sdk.FixID, k sdk.Knobs) sdk.Fix

// PlanFix is the fix the planner could ask for, from the command's knobs:
// the conformance kit's plugintest.SampleFix.
func PlanFix(id sdk.FixID, k sdk.Knobs) sdk.Fix { return plugintest.SampleFix(id, k) }

// SameSizes asks for every fix id with the sizes and precision of sizes,
// whatever the knobs.
func SameSizes(sizes sdk.Fix) FixFor {
	return func(id sdk.FixID, _ sdk.Knobs) sdk.Fix {
		fix := sizes
		fix.ID = id
		return fix
	}
}

// CheckFixes analyzes cmd (as Analyze does), then applies every fix id,
// made by fixFor from the analysis' knobs, and checks each answer: either
// the fix applies — the answer passes sdk.ApplyResponse.Validate and keeps
// the argv up to the script byte for byte — or it is turned down with an
// *sdk.UnsupportedError that names that fix and gives a reason. Any other
// error fails the test. When want is not nil, Apply must turn down exactly
// the fixes want names, each with want's reason word for word. It returns
// the reasons of the fixes turned down.
func CheckFixes(t testing.TB, f sdk.Framework, cmd sdk.Command, fixFor FixFor, want map[sdk.FixID]string) map[sdk.FixID]string {
	t.Helper()
	refused := refusals(t, f, cmd, fixFor)
	if want != nil {
		for _, id := range sdk.AllFixes() {
			reason, no := refused[id]
			if text, wantNo := want[id]; no != wantNo || reason != text {
				t.Errorf("%s: refused %v (%q), want %v (%q)", id, no, reason, wantNo, text)
			}
		}
	}
	return refused
}

func refusals(t testing.TB, f sdk.Framework, cmd sdk.Command, fixFor FixFor) map[sdk.FixID]string {
	t.Helper()
	a := Analyze(t, f, cmd)
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		t.Fatalf("cmdline.Parse(%q): %v", cmd.Argv, err)
	}
	head := cmd.Argv[:inv.ScriptIndex+1]
	refused := map[sdk.FixID]string{}
	for _, id := range sdk.AllFixes() {
		got, err := Apply(t, f, cmd, fixFor(id, a.Knobs))
		var unsupported *sdk.UnsupportedError
		switch {
		case errors.As(err, &unsupported):
			if unsupported.Fix != id {
				t.Errorf("%s: Apply turned it down naming fix %q (%s)", id, unsupported.Fix, unsupported.Reason)
			}
			if unsupported.Reason == "" {
				t.Errorf("%s: Apply turned it down without a reason", id)
			}
			refused[id] = unsupported.Reason
		case err != nil:
			t.Errorf("%s: Apply failed: %v (a fix the command cannot take is an *sdk.UnsupportedError)", id, err)
		default:
			if err := got.Validate(CopyDir); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if len(got.Argv) < len(head) || !reflect.DeepEqual(got.Argv[:len(head)], head) {
				t.Errorf("%s: the argv up to the script changed:\n got %q\nwant %q...", id, got.Argv, head)
			}
		}
	}
	return refused
}

// WantRefusals is CheckFixes, and checks that Apply turns down exactly the
// fixes want names, each with a reason containing want's text for it;
// every other fix applies.
func WantRefusals(t testing.TB, f sdk.Framework, cmd sdk.Command, fixFor FixFor, want map[sdk.FixID]string) {
	t.Helper()
	refused := refusals(t, f, cmd, fixFor)
	for _, id := range sdk.AllFixes() {
		reason, no := refused[id]
		text, wantNo := want[id]
		if no != wantNo || !strings.Contains(reason, text) {
			t.Errorf("%s: refused %v (%q), want %v (%q)", id, no, reason, wantNo, text)
		}
	}
}
