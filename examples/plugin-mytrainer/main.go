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
	"github.com/vramrun/vramrun/sdk/serve"
)

func main() { serve.Serve(myTrainer{}) }

// The trainer's defaults, as its argparse has them.
const (
	defaultMB    = 64
	defaultAccum = 1
)

// myTrainer implements sdk.Framework. It keeps no state: every answer
// depends on the command alone.
type myTrainer struct{}

func (myTrainer) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{
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

func (myTrainer) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	path, ok := script(req.Command)
	if !ok {
		return sdk.RecognizeResponse{}, nil
	}
	if filepath.Base(path) == "mytrainer.py" {
		return sdk.RecognizeResponse{Confidence: 90, Framework: "mytrainer", Reason: "runs mytrainer.py"}, nil
	}
	// A script that cannot be read is simply not ours.
	if src, err := req.Command.ReadFile(path); err == nil && importsMyTrainer.Match(src) {
		return sdk.RecognizeResponse{Confidence: 90, Framework: "mytrainer", Reason: "imports mytrainer"}, nil
	}
	return sdk.RecognizeResponse{}, nil
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

// settings are a MyTrainer command's script and memory flags.
type settings struct {
	script    string
	mb, accum int
	half      bool
}

func read(cmd sdk.Command) (settings, error) {
	path, ok := script(cmd)
	if !ok {
		return settings{}, fmt.Errorf("no .py script in %q", strings.Join(cmd.Argv, " "))
	}
	mb, err := intFlag(cmd.Argv, "--mb", defaultMB)
	if err != nil {
		return settings{}, err
	}
	accum, err := intFlag(cmd.Argv, "--accum-steps", defaultAccum)
	if err != nil {
		return settings{}, err
	}
	return settings{script: path, mb: mb, accum: accum, half: slices.Contains(cmd.Argv, "--half")}, nil
}

func (myTrainer) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	s, err := read(req.Command)
	if err != nil {
		return sdk.AnalyzeResponse{}, err
	}
	precision := "fp32"
	if s.half {
		precision = "fp16"
	}
	return sdk.AnalyzeResponse{Framework: "mytrainer", Launcher: "python", Script: s.script, WorldSize: 1,
		Knobs: sdk.Knobs{BatchSize: sdk.Int(s.mb), GradAccumulation: sdk.Int(s.accum), Precision: sdk.Str(precision)}}, nil
}

// Apply applies batch_size and mixed_precision, and turns every other fix
// down with sdk.Unsupported: the reason is what the user reads.
func (myTrainer) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	s, err := read(req.Command)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	fix := req.Fix
	argv := slices.Clone(req.Command.Argv)
	switch fix.ID {
	case sdk.FixMixedPrecision:
		if s.half {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "already runs with --half")
		}
		return sdk.ApplyResponse{Argv: append(argv, "--half"), Summary: "--half"}, nil
	case sdk.FixBatchSize:
		if fix.BatchSize < 1 {
			return sdk.ApplyResponse{}, fmt.Errorf("batch_size fix without a batch size")
		}
		argv = setFlag(argv, "--mb", fix.BatchSize)
		summary := fmt.Sprintf("--mb %d -> %d", s.mb, fix.BatchSize)
		if fix.GradAccumulation > 0 {
			argv = setFlag(argv, "--accum-steps", fix.GradAccumulation)
			summary += fmt.Sprintf(", --accum-steps %d -> %d", s.accum, fix.GradAccumulation)
		}
		return sdk.ApplyResponse{Argv: argv, Summary: summary}, nil
	}
	return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "MyTrainer has no flag for %s", fix.ID)
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
