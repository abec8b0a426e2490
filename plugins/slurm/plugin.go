// Package slurm is a built-in plugin that claims no command: it only
// teaches vramrun the host-memory OOM texts that Slurm and the kernel print
// (srun commands themselves are parsed for whichever framework plugin runs
// inside them).
package slurm

import (
	"context"

	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the Slurm plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Describe declares the host-OOM texts.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "slurm", Version: Version, Frameworks: []string{"slurm"}, Patterns: Patterns()}, nil
}

// Recognize never claims a command.
func (*Plugin) Recognize(context.Context, sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	return sdk.RecognizeResponse{}, nil
}

// Analyze finds no knob: every fix is out of its reach, and Apply turns
// each one down.
func (*Plugin) Analyze(context.Context, sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	return sdk.AnalyzeResponse{Framework: "slurm", WorldSize: 1}, nil
}

// Apply applies nothing.
func (*Plugin) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "the slurm plugin only reads Slurm's messages")
}
