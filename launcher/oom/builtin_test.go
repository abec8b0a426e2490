package oom_test

import (
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/plugins/hydra"
	"github.com/vramrun/vramrun/plugins/jax"
	"github.com/vramrun/vramrun/plugins/lightning"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/slurm"
	"github.com/vramrun/vramrun/plugins/tensorflow"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// builtinPatterns and builtinFrames are every built-in plugin's
// declarations, as the plugin host would gather them.
func builtinPatterns() []sdk.OOMPattern {
	var out []sdk.OOMPattern
	for _, ps := range [][]sdk.OOMPattern{pytorch.Patterns(), tensorflow.Patterns(), jax.Patterns(), slurm.Patterns()} {
		out = append(out, ps...)
	}
	return out
}

func builtinFrames() []sdk.Frame {
	var out []sdk.Frame
	for _, fs := range [][]sdk.Frame{pytorch.Frames(), tensorflow.Frames(), transformers.Frames(), lightning.Frames(), hydra.Frames()} {
		out = append(out, fs...)
	}
	return out
}

func builtinMatcher(tb testing.TB) *oom.Matcher {
	tb.Helper()
	m, err := oom.Compile(builtinPatterns(), builtinFrames())
	if err != nil {
		tb.Fatalf("compiling the built-in declarations: %v", err)
	}
	return m
}
