// Package generic is the built-in plugin of last resort: for a command no
// framework plugin recognises, it applies the fixes the project's profile
// spells out in its flags: mapping, and nothing else.
package generic

import (
	"context"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the generic plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Describe declares the plugin. It knows no OOM text of its own; a
// profile's flags a script rejects are rejected in argparse's words.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "generic", Version: Version, Frameworks: []string{"generic"},
		Rejections: pyscript.Rejections("generic")}, nil
}

// Recognize claims any command, with the lowest confidence, when the
// profile maps flags: then there is something it can do.
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	if len(cmd.Flags) == 0 {
		return sdk.RecognizeResponse{}, nil
	}
	if _, ok := pyscript.Load(cmd); !ok {
		return sdk.RecognizeResponse{}, nil
	}
	return sdk.RecognizeResponse{Confidence: 5, Framework: "generic", Reason: "the profile's flags: mapping"}, nil
}

// simple has no flags of its own: only what the profile names.
var simple = pyscript.Simple{
	Framework:   "generic",
	NoAllocator: "no framework recognised, so no allocator settings are known",
	InCode:      "not in the profile's flags: mapping",
}

// Analyze reads the knobs the profile names.
func (*Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	a, err := simple.Analyze(req.Command)
	return a.AnalyzeResponse, err
}

// Apply applies a fix the profile spells out.
func (*Plugin) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return simple.Apply(req.Command, req.Fix)
}
