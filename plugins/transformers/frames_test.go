package transformers

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestFrames(t *testing.T) {
	want := map[string]sdk.Phase{
		"evaluate": sdk.PhaseEval, "evaluation_loop": sdk.PhaseEval, "prediction_step": sdk.PhaseEval,
		"predict": sdk.PhaseEval, "training_step": sdk.PhaseTrain, "_inner_training_loop": sdk.PhaseTrain,
	}
	plugintab.WantFrames(t, Frames(), want)
	// Names scripts give their own functions count in transformers only.
	for _, f := range Frames() {
		want := ""
		if f.Name == "evaluate" || f.Name == "predict" {
			want = "transformers"
		}
		if f.Package != want {
			t.Errorf("frame %q: package %q, want %q", f.Name, f.Package, want)
		}
	}
}
