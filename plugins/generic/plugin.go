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

// Describe declares the plugin. It knows no OOM text of its own.
func (*Plugin) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "generic", Version: Version, Frameworks: []string{"generic"}}, nil
}

// Recognize claims any command, with the lowest confidence, when the
// profile maps flags: then there is something it can do.
func (*Plugin) Recognize(_ context.Context, cmd sdk.Command) (sdk.Recognition, error) {
	if len(cmd.Flags) == 0 {
		return sdk.Recognition{}, nil
	}
	if _, ok := pyscript.Load(cmd); !ok {
		return sdk.Recognition{}, nil
	}
	return sdk.Recognition{Confidence: 5, Framework: "generic", Reason: "the profile's flags: mapping"}, nil
}

// simple has no flags of its own: only what the profile names.
var simple = pyscript.Simple{
	Framework:   "generic",
	NoAllocator: "no framework recognised, so no allocator settings are known",
	InCode:      "not in the profile's flags: mapping",
}

// Analyze reads the knobs the profile names.
func (*Plugin) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	return simple.Analyze(cmd)
}

// Apply applies a fix the profile spells out.
func (*Plugin) Apply(_ context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	return simple.Apply(cmd, fix)
}
