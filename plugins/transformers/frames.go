package transformers

import "github.com/vramrun/vramrun/sdk"

// Frames are the Hugging Face Trainer's traceback functions that tell the
// phase. An evaluation run from inside training has both kinds on the stack;
// vramrun lets evaluation win.
func Frames() []sdk.Frame {
	return []sdk.Frame{
		{Name: "evaluate", Phase: sdk.PhaseEval},
		{Name: "evaluation_loop", Phase: sdk.PhaseEval},
		{Name: "prediction_loop", Phase: sdk.PhaseEval}, // the loop before evaluation_loop
		{Name: "prediction_step", Phase: sdk.PhaseEval},
		{Name: "predict", Phase: sdk.PhaseEval},
		{Name: "training_step", Phase: sdk.PhaseTrain},
		{Name: "_inner_training_loop", Phase: sdk.PhaseTrain},
	}
}
