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
func (*Plugin) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "slurm", Version: Version, Frameworks: []string{"slurm"}, Patterns: Patterns()}, nil
}

// Recognize never claims a command.
func (*Plugin) Recognize(context.Context, sdk.Command) (sdk.Recognition, error) {
	return sdk.Recognition{}, nil
}

// Analyze says every fix is out of its reach.
func (*Plugin) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	a := sdk.Analysis{Framework: "slurm", WorldSize: 1, Unsupported: map[sdk.FixID]string{}}
	for _, f := range sdk.AllFixes() {
		a.Unsupported[f] = "the slurm plugin only reads Slurm's messages"
	}
	return a, nil
}

// Apply applies nothing.
func (*Plugin) Apply(_ context.Context, _ sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	return sdk.Applied{}, sdk.Unsupported(fix.ID, "the slurm plugin only reads Slurm's messages")
}
