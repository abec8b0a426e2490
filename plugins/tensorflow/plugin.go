// Package tensorflow is the built-in plugin for TensorFlow and Keras
// scripts: the allocator settings, the batch flag, and the profile's flags
// for the rest (Keras sets precision and memory growth in code, not flags).
package tensorflow

import (
	"context"
	"fmt"
	"strings"

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
func (*Plugin) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "tensorflow", Version: Version, Frameworks: []string{"tensorflow"},
		Patterns: Patterns(), Frames: Frames()}, nil
}

// Recognize claims scripts that import tensorflow or keras.
func (*Plugin) Recognize(_ context.Context, cmd sdk.Command) (sdk.Recognition, error) {
	s, ok := pyscript.Load(cmd)
	if !ok || !s.ImportsAny("tensorflow", "keras", "tf_keras") {
		return sdk.Recognition{}, nil
	}
	return sdk.Recognition{Confidence: 60, Framework: "tensorflow", Reason: "the script imports tensorflow or keras"}, nil
}

// The allocator fix: the asynchronous CUDA allocator fragments less than
// the BFC allocator, and memory growth stops TensorFlow from reserving the
// whole GPU at start.
var allocatorEnv = map[string]string{"TF_GPU_ALLOCATOR": "cuda_malloc_async", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}

// Analyze finds the batch flags; the other fixes need the profile's flags.
func (*Plugin) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Analysis{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	a := sdk.Analysis{Framework: "tensorflow", Launcher: s.Inv.Launcher, Script: s.Inv.Script, WorldSize: max(s.Inv.WorldSize, 1),
		Unsupported: map[sdk.FixID]string{}}
	s.AnalyzeBatch(&a, batchFlags)
	if cmd.Env["TF_GPU_ALLOCATOR"] == allocatorEnv["TF_GPU_ALLOCATOR"] && cmd.Env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" {
		a.Unsupported[sdk.FixAllocator] = "TF_GPU_ALLOCATOR=cuda_malloc_async and memory growth are already set"
	}
	for _, f := range []sdk.FixID{sdk.FixMixedPrecision, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload} {
		a.Unsupported[f] = "Keras sets this in code, not with a flag (name the script's flag under flags." + string(f) + " in vramrun.yaml)"
	}
	s.ProfileTemplates(&a)
	return a, nil
}

// Apply rewrites the command for one fix.
func (p *Plugin) Apply(ctx context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.Applied{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	argv := append([]string(nil), cmd.Argv...)
	if fix.ID == sdk.FixAllocator {
		env := map[string]string{}
		for k, v := range allocatorEnv {
			env[k] = v
		}
		return sdk.Applied{Argv: argv, Env: env, Summary: "TF_GPU_ALLOCATOR=cuda_malloc_async TF_FORCE_GPU_ALLOW_GROWTH=true"}, nil
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
