// Package tensorflow is the built-in plugin for TensorFlow and Keras
// scripts: the allocator settings, the batch flag, and the profile's flags
// for the rest (Keras sets precision and memory growth in code, not flags).
package tensorflow

import (
	"context"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the TensorFlow plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

var batchFlags = pyscript.BatchFlags{
	Batch: [][]string{{"--batch_size", "--batch-size", "-b"}},
	Eval:  [][]string{{"--eval_batch_size", "--eval-batch-size"}, {"--val_batch_size", "--val-batch-size"}},
}

// Describe declares the plugin and TensorFlow's OOM texts.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "tensorflow", Version: Version, Frameworks: []string{"tensorflow"},
		Patterns: Patterns(), Frames: Frames(), Rejections: pyscript.Rejections("tensorflow"),
		// Keras's bar: "20/20 ━━━━━━━━━━━━━━━━━━━━ 1s 52ms/step - loss: 2.31",
		// a step being one batch; "2s/step" once a batch takes seconds.
		Progress: []sdk.ProgressPattern{
			{ID: "tensorflow.keras_ms_per_step", Regexp: `[0-9]+/[0-9]+\S* .* (?P<ms_per>[0-9]+)ms/step`, Unit: sdk.UnitMicroBatch},
			{ID: "tensorflow.keras_s_per_step", Regexp: `[0-9]+/[0-9]+\S* .* (?P<s_per>[0-9]+)s/step`, Unit: sdk.UnitMicroBatch},
		}}, nil
}

// Recognize claims scripts that import tensorflow or keras.
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok || !s.ImportsAny("tensorflow", "keras", "tf_keras") {
		return sdk.RecognizeResponse{}, nil
	}
	return sdk.RecognizeResponse{Confidence: 60, Framework: "tensorflow", Reason: "the script imports tensorflow or keras"}, nil
}

// simple is what vramrun can change in a TensorFlow command. The allocator
// fix: the asynchronous CUDA allocator fragments less than the BFC
// allocator, and memory growth stops TensorFlow from reserving the whole GPU
// at start.
var simple = pyscript.Simple{
	Framework: "tensorflow",
	Batch:     batchFlags,
	Allocator: func(env map[string]string) (map[string]string, string, string) {
		if env["TF_GPU_ALLOCATOR"] == "cuda_malloc_async" && env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" {
			return nil, "", "TF_GPU_ALLOCATOR=cuda_malloc_async and memory growth are already set"
		}
		return map[string]string{"TF_GPU_ALLOCATOR": "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH": "true"},
			"TF_GPU_ALLOCATOR=cuda_malloc_async TF_FORCE_GPU_ALLOW_GROWTH=true", ""
	},
	InCode: "Keras sets this in code, not with a flag",
}

// Analyze finds the batch flags; the other fixes need the profile's flags.
func (*Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	a, err := simple.Analyze(req.Command)
	return a.AnalyzeResponse, err
}

// Apply rewrites the command for one fix.
func (*Plugin) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return simple.Apply(req.Command, req.Fix)
}
