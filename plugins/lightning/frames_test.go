package lightning

import (
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestFrames(t *testing.T) {
	want := map[string]sdk.Phase{
		"validation_step": sdk.PhaseEval, "test_step": sdk.PhaseEval, "predict_step": sdk.PhaseEval,
		"training_step": sdk.PhaseTrain, "optimizer_step": sdk.PhaseTrain, "backward": sdk.PhaseTrain,
	}
	got := map[string]sdk.Phase{}
	for _, f := range Frames() {
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
}
