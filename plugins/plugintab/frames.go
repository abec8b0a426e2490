package plugintab

import (
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// WantFrames checks a plugin's traceback frames: each declared once, with
// the train or eval phase, those of want with their phase; it returns the
// frames by name for further checks.
func WantFrames(t testing.TB, frames []sdk.Frame, want map[string]sdk.Phase) map[string]sdk.Phase {
	t.Helper()
	got := map[string]sdk.Phase{}
	for _, f := range frames {
		if _, dup := got[f.Name]; dup {
			t.Errorf("frame %q declared twice", f.Name)
		}
		if f.Phase != sdk.PhaseEval && f.Phase != sdk.PhaseTrain {
			t.Errorf("frame %q: phase %q is not train or eval", f.Name, f.Phase)
		}
		got[f.Name] = f.Phase
	}
	for name, phase := range want {
		if got[name] != phase {
			t.Errorf("frame %q: phase %q, want %q", name, got[name], phase)
		}
	}
	return got
}
