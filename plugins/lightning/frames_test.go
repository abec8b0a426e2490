package lightning

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestFrames(t *testing.T) {
	want := map[string]sdk.Phase{
		"validation_step": sdk.PhaseEval, "test_step": sdk.PhaseEval, "predict_step": sdk.PhaseEval,
		"training_step": sdk.PhaseTrain, "optimizer_step": sdk.PhaseTrain, "backward": sdk.PhaseTrain,
	}
	plugintab.WantFrames(t, Frames(), want)
}
