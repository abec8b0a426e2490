package plugintab

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/plugintest"
)

// FixFor makes the fix CheckAgreement asks for, given the fix id and the
// knobs Analyze found.
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

// CheckAgreement analyzes cmd (as Analyze does), then applies every fix
// id, made by fixFor from the analysis' knobs, and checks Apply against
// Analyze: a fix Analyze lists as unsupported returns an
// *sdk.UnsupportedError for that fix with the same reason; any other
// applies, passes sdk.Applied.Validate, and keeps the argv up to the
// script byte for byte.
func CheckAgreement(t testing.TB, f sdk.Framework, cmd sdk.Command, fixFor FixFor) {
	t.Helper()
	a := Analyze(t, f, cmd)
	inv, err := cmdline.Parse(cmd.Argv)
	if err != nil {
		t.Fatalf("cmdline.Parse(%q): %v", cmd.Argv, err)
	}
	head := cmd.Argv[:inv.ScriptIndex+1]
	for _, id := range sdk.AllFixes() {
		got, err := Apply(t, f, cmd, fixFor(id, a.Knobs))
		reason, listed := a.Unsupported[id]
		var unsupported *sdk.UnsupportedError
		switch {
		case listed && !errors.As(err, &unsupported):
			t.Errorf("%s: Analyze says unsupported (%s) but Apply gave %+v, %v", id, reason, got, err)
		case listed && (unsupported.Fix != id || unsupported.Reason != reason):
			t.Errorf("%s: Apply's reason %s: %q differs from Analyze's %q", id, unsupported.Fix, unsupported.Reason, reason)
		case !listed && err != nil:
			t.Errorf("%s: Analyze lists it as supported but Apply failed: %v", id, err)
		case !listed:
			if err := got.Validate(CopyDir); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if len(got.Argv) < len(head) || !reflect.DeepEqual(got.Argv[:len(head)], head) {
				t.Errorf("%s: the argv up to the script changed:\n got %q\nwant %q...", id, got.Argv, head)
			}
		}
	}
}
