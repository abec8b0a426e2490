package transformers

import "github.com/vramrun/vramrun/sdk"

// Frames are the Hugging Face Trainer's traceback functions that tell the
// phase. An evaluation run from inside training has both kinds on the stack;
// vramrun lets evaluation win. evaluate and predict are names any script
// may give a function of its own (one that trains, even), so they count in
// transformers' files only; a Trainer subclass overriding them calls
// Trainer's, whose frame is on the stack too.
func Frames() []sdk.Frame {
	return []sdk.Frame{
		{Name: "evaluate", Phase: sdk.PhaseEval, Package: "transformers"},
		{Name: "evaluation_loop", Phase: sdk.PhaseEval},
		{Name: "prediction_loop", Phase: sdk.PhaseEval}, // the loop before evaluation_loop
		{Name: "prediction_step", Phase: sdk.PhaseEval},
		{Name: "predict", Phase: sdk.PhaseEval, Package: "transformers"},
		{Name: "training_step", Phase: sdk.PhaseTrain},
		{Name: "_inner_training_loop", Phase: sdk.PhaseTrain},
	}
}
