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
}
