package plugintab

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// WantSetting checks a setting a plugin notes and turns off in trials:
// Analyze of on gives a note containing note, and its trial's argv
// contains trialArg; Analyze of off notes nothing that contains name.
func WantSetting(t testing.TB, f sdk.Framework, on, off sdk.Command, name, note, trialArg string) {
	t.Helper()
	if a := Analyze(t, f, on); !strings.Contains(strings.Join(a.Notes, "\n"), note) {
		t.Errorf("%q: notes %q say nothing of %s", on.Argv, a.Notes, name)
	}
	if text := ArgvText(MustApply(t, f, on, sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}).Argv); !strings.Contains(text, trialArg) {
		t.Errorf("trial %s lacks %s", text, trialArg)
	}
	if a := Analyze(t, f, off); strings.Contains(strings.Join(a.Notes, "\n"), name) {
		t.Errorf("%q: notes %q name %s, which is off", off.Argv, a.Notes, name)
	}
}
