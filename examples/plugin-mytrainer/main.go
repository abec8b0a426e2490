// Command vramrun-plugin-mytrainer is an example external vramrun plugin for
// MyTrainer, an invented trainer whose flags vramrun cannot guess:
//
//	python mytrainer.py --mb 256 --accum-steps 1 [--half]
//
// --mb is the micro-batch (default 64), --accum-steps the gradient
// accumulation (default 1) and --half turns on mixed precision. The plugin
// also teaches vramrun MyTrainer's own out-of-memory text.
//
// Build it and put it where vramrun looks (see README.md):
//
//	go build -o ~/.local/share/vramrun/plugins/vramrun-plugin-mytrainer ./examples/plugin-mytrainer
package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

func main() { sdk.Serve(myTrainer{}) }

// The trainer's defaults, as its argparse has them.
const (
	defaultMB    = 64
	defaultAccum = 1
)

// myTrainer implements sdk.Framework. It keeps no state: every answer
// depends on the command alone.
type myTrainer struct{}

func (myTrainer) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		Name: "mytrainer", Version: "1.0.0", Frameworks: []string{"mytrainer"},
		Patterns: []sdk.OOMPattern{{
			ID: "mytrainer.oom", Framework: "mytrainer", Kind: sdk.KindGPU,
			Regexp: `MyTrainer: device out of memory \(wanted (?P<tried>[0-9.]+ [KMG]iB)\)`,
		}},
		Frames: []sdk.Frame{{Name: "run_validation", Phase: sdk.PhaseEval}},
	}, nil
}

// script finds the training script: the first argument ending in .py.
func script(cmd sdk.Command) (string, bool) {
	for _, a := range cmd.Argv[min(1, len(cmd.Argv)):] {
		if strings.HasSuffix(a, ".py") {
			return a, true
		}
	}
	return "", false
}

var importsMyTrainer = regexp.MustCompile(`(?m)^\s*(import|from)\s+mytrainer\b`)

func (myTrainer) Recognize(_ context.Context, cmd sdk.Command) (sdk.Recognition, error) {
	path, ok := script(cmd)
	if !ok {
		return sdk.Recognition{}, nil
	}
	if filepath.Base(path) == "mytrainer.py" {
		return sdk.Recognition{Confidence: 90, Framework: "mytrainer", Reason: "runs mytrainer.py"}, nil
	}
	// A script that cannot be read is simply not ours.
	if src, err := cmd.ReadFile(path); err == nil && importsMyTrainer.Match(src) {
		return sdk.Recognition{Confidence: 90, Framework: "mytrainer", Reason: "imports mytrainer"}, nil
	}
	return sdk.Recognition{}, nil
}

// findFlag finds --name N or --name=N: the value and the index of the argument
// that holds it (-1 when absent).
func findFlag(argv []string, name string) (value string, at int) {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1], i + 1
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, i
		}
	}
	return "", -1
}

// intFlag is a flag's number, or def when the command does not set it.
func intFlag(argv []string, name string, def int) (int, error) {
	v, at := findFlag(argv, name)
	if at < 0 {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q is not a positive whole number", name, v)
	}
	return n, nil
}

func (myTrainer) Analyze(_ context.Context, cmd sdk.Command) (sdk.Analysis, error) {
	path, ok := script(cmd)
	if !ok {
		return sdk.Analysis{}, fmt.Errorf("no .py script in %q", strings.Join(cmd.Argv, " "))
	}
	mb, err := intFlag(cmd.Argv, "--mb", defaultMB)
	if err != nil {
		return sdk.Analysis{}, err
	}
	accum, err := intFlag(cmd.Argv, "--accum-steps", defaultAccum)
	if err != nil {
		return sdk.Analysis{}, err
	}
	precision := "fp32"
	if slices.Contains(cmd.Argv, "--half") {
		precision = "fp16"
	}
	a := sdk.Analysis{Framework: "mytrainer", Launcher: "python", Script: path, WorldSize: 1,
		Knobs:       sdk.Knobs{BatchSize: sdk.Int(mb), GradAccumulation: sdk.Int(accum), Precision: sdk.Str(precision)},
		Unsupported: map[sdk.FixID]string{}}
	for _, f := range sdk.AllFixes() {
		if f != sdk.FixBatchSize && f != sdk.FixMixedPrecision {
			a.Unsupported[f] = "MyTrainer has no flag for " + string(f)
		}
	}
	if precision == "fp16" {
		a.Unsupported[sdk.FixMixedPrecision] = "already runs with --half"
	}
	return a, nil
}

func (t myTrainer) Apply(ctx context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	a, err := t.Analyze(ctx, cmd)
	if err != nil {
		return sdk.Applied{}, err
	}
	if reason, no := a.Unsupported[fix.ID]; no {
		return sdk.Applied{}, sdk.Unsupported(fix.ID, "%s", reason)
	}
	argv := slices.Clone(cmd.Argv)
	if fix.ID == sdk.FixMixedPrecision {
		return sdk.Applied{Argv: append(argv, "--half"), Summary: "--half"}, nil
	}
	if fix.BatchSize < 1 {
		return sdk.Applied{}, fmt.Errorf("batch_size fix without a batch size")
	}
	argv = setFlag(argv, "--mb", fix.BatchSize)
	summary := fmt.Sprintf("--mb %d -> %d", *a.Knobs.BatchSize, fix.BatchSize)
	if fix.GradAccumulation > 0 {
		argv = setFlag(argv, "--accum-steps", fix.GradAccumulation)
		summary += fmt.Sprintf(", --accum-steps %d -> %d", *a.Knobs.GradAccumulation, fix.GradAccumulation)
	}
	return sdk.Applied{Argv: argv, Summary: summary}, nil
}

// setFlag sets --name to n where the command has it, else appends it.
func setFlag(argv []string, name string, n int) []string {
	switch _, at := findFlag(argv, name); {
	case at < 0:
		return append(argv, name, strconv.Itoa(n))
	case strings.HasPrefix(argv[at], name+"="):
		argv[at] = name + "=" + strconv.Itoa(n)
	default:
		argv[at] = strconv.Itoa(n)
	}
	return argv
}
