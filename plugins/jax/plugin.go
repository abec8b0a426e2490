// Package jax is the built-in plugin for JAX (and Flax) scripts: the
// memory-fraction settings, the batch flag, and the profile's flags for the
// rest.
package jax

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
func (*Plugin) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "jax", Version: Version, Frameworks: []string{"jax"}, Patterns: Patterns()}, nil
}

// Recognize claims scripts that import jax or flax.
func (*Plugin) Recognize(_ context.Context, cmd sdk.Command) (sdk.Recognition, error) {
	s, ok := pyscript.Load(cmd)
	if !ok || !s.ImportsAny("jax", "flax", "optax", "jaxlib") {
		return sdk.Recognition{}, nil
	}
	return sdk.Recognition{Confidence: 60, Framework: "jax", Reason: "the script imports jax"}, nil
}

// Analyze finds the batch flags; the other fixes need the profile's flags.
func (*Plugin) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Analysis{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	a := sdk.Analysis{Framework: "jax", Launcher: s.Inv.Launcher, Script: s.Inv.Script, WorldSize: max(s.Inv.WorldSize, 1),
		Unsupported: map[sdk.FixID]string{}}
	s.AnalyzeBatch(&a, batchFlags)
	if current := currentFraction(cmd.Env); current >= 0.95 {
		a.Unsupported[sdk.FixAllocator] = fmt.Sprintf("JAX may already use %.0f%% of the GPU", current*100)
	}
	for _, f := range []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload} {
		a.Unsupported[f] = "JAX sets this in code, not with a flag (name the script's flag under flags." + string(f) + " in vramrun.yaml)"
	}
	s.ProfileTemplates(&a)
	return a, nil
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
func (p *Plugin) Apply(ctx context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Applied{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	if fix.ID == sdk.FixAllocator {
		env := map[string]string{}
		for _, k := range fractionVars {
			env[k] = fraction
		}
		return sdk.Applied{Argv: append([]string(nil), cmd.Argv...), Env: env,
			Summary: "XLA_PYTHON_CLIENT_MEM_FRACTION=" + fraction + " XLA_CLIENT_MEM_FRACTION=" + fraction}, nil
	}
	if args, summary, ok := s.ApplyTemplate(fix); ok {
		return sdk.Applied{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	args, summary, handled, err := s.ApplyBatchFix(fix, batchFlags)
	if err != nil {
		return sdk.Applied{}, err
	}
	if handled {
		return sdk.Applied{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	a, _ := p.Analyze(ctx, cmd)
	return sdk.Applied{}, sdk.Unsupported(fix.ID, "%s", a.Unsupported[fix.ID])
}
