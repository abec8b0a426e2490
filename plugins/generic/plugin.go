// Package generic is the built-in plugin of last resort: for a command no
// framework plugin recognises, it applies the fixes the project's profile
// spells out in its flags: mapping, and nothing else.
package generic

import (
	"context"
	"fmt"
	"strings"

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

var noFlags = pyscript.BatchFlags{}

// Analyze reads the knobs the profile names.
func (*Plugin) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Analysis{}, fmt.Errorf("cannot find the program in %q", strings.Join(cmd.Argv, " "))
	}
	a := sdk.Analysis{Framework: "generic", Launcher: s.Inv.Launcher, Script: s.Inv.Script, WorldSize: max(s.Inv.WorldSize, 1),
		Unsupported: map[sdk.FixID]string{}}
	s.AnalyzeBatch(&a, noFlags)
	a.Unsupported[sdk.FixAllocator] = "no framework recognised, so no allocator settings are known"
	for _, f := range []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload} {
		a.Unsupported[f] = "not in the profile's flags: mapping (flags." + string(f) + ")"
	}
	s.ProfileTemplates(&a)
	return a, nil
}

// Apply applies a fix the profile spells out.
func (p *Plugin) Apply(ctx context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Applied{}, fmt.Errorf("cannot find the program in %q", strings.Join(cmd.Argv, " "))
	}
	if args, summary, ok := s.ApplyTemplate(fix); ok {
		return sdk.Applied{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	args, summary, handled, err := s.ApplyBatchFix(fix, noFlags)
	if err != nil {
		return sdk.Applied{}, err
	}
	if handled {
		return sdk.Applied{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	a, _ := p.Analyze(ctx, cmd)
	return sdk.Applied{}, sdk.Unsupported(fix.ID, "%s", a.Unsupported[fix.ID])
}
