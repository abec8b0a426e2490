// Package jax is the built-in plugin for JAX (and Flax) scripts: the
// memory-fraction settings, the batch flag, and the profile's flags for the
// rest.
package jax

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the JAX plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

var batchFlags = pyscript.BatchFlags{
	Batch: [][]string{{"--batch_size", "--batch-size", "-b"}, {"--per_device_batch_size", "--per-device-batch-size"}},
	Accum: [][]string{{"--gradient_accumulation_steps", "--gradient-accumulation-steps"}, {"--grad_accum_steps", "--grad-accum-steps"}},
	Eval:  [][]string{{"--eval_batch_size", "--eval-batch-size"}},
}

// JAX preallocates 75% of the GPU; the allocator fix raises the share to
// 95%. The variable was renamed, so both names are set.
const fraction = ".95"

var fractionVars = []string{"XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION"}

// Describe declares the plugin and XLA's OOM texts.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "jax", Version: Version, Frameworks: []string{"jax"}, Patterns: Patterns(),
		Rejections: pyscript.Rejections("jax")}, nil
}

// Recognize claims scripts that import jax or flax.
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok || !s.ImportsAny("jax", "flax", "optax", "jaxlib") {
		return sdk.RecognizeResponse{}, nil
	}
	return sdk.RecognizeResponse{Confidence: 60, Framework: "jax", Reason: "the script imports jax"}, nil
}

// simple is what vramrun can change in a JAX command: the memory fraction
// and the batch flags.
var simple = pyscript.Simple{
	Framework: "jax",
	Batch:     batchFlags,
	Allocator: func(env map[string]string) (map[string]string, string, string) {
		if current := currentFraction(env); current >= 0.95 {
			return nil, "", fmt.Sprintf("JAX may already use %.0f%% of the GPU", current*100)
		}
		vars := map[string]string{}
		for _, k := range fractionVars {
			vars[k] = fraction
		}
		return vars, "XLA_PYTHON_CLIENT_MEM_FRACTION=" + fraction + " XLA_CLIENT_MEM_FRACTION=" + fraction, ""
	},
	InCode: "JAX sets this in code, not with a flag",
}

// Analyze finds the batch flags; the other fixes need the profile's flags.
func (*Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	a, err := simple.Analyze(req.Command)
	return a.AnalyzeResponse, err
}

func currentFraction(env map[string]string) float64 {
	for _, k := range fractionVars {
		if v, err := strconv.ParseFloat(env[k], 64); err == nil {
			return v
		}
	}
	return 0
}

// Apply rewrites the command for one fix.
func (*Plugin) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return simple.Apply(req.Command, req.Fix)
}
