package lightning

import "github.com/vramrun/vramrun/sdk"

// Frames are Lightning's traceback functions that tell the phase: the user's
// LightningModule hooks and the loops that call them.
func Frames() []sdk.Frame {
	return []sdk.Frame{
		{Name: "validation_step", Phase: sdk.PhaseEval},
		{Name: "test_step", Phase: sdk.PhaseEval},
		{Name: "predict_step", Phase: sdk.PhaseEval},
		{Name: "_evaluation_step", Phase: sdk.PhaseEval}, // the evaluation loop's own step (2.x)
		{Name: "_predict_step", Phase: sdk.PhaseEval},    // the prediction loop's own step (2.x)
		{Name: "training_step", Phase: sdk.PhaseTrain},
		{Name: "optimizer_step", Phase: sdk.PhaseTrain},
		{Name: "backward", Phase: sdk.PhaseTrain},
	}
}
