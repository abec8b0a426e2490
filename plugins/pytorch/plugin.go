// Package pytorch is the built-in plugin for plain PyTorch training scripts:
// argparse scripts (timm, torchvision references and the like) and nanoGPT's
// --key=value configurator. It also declares PyTorch's OOM texts and exports
// the allocator settings the other PyTorch-based plugins share.
package pytorch

import (
	"context"
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the PyTorch plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Describe declares the plugin and PyTorch's OOM texts.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "pytorch", Version: Version, Frameworks: []string{"pytorch"},
		Patterns: Patterns(), Frames: Frames(), Rejections: pyscript.Rejections("pytorch"), Progress: Progress()}, nil
}

// Recognize claims scripts that import torch (or timm, torchvision), and
// commands started by torchrun.
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.RecognizeResponse{}, nil
	}
	rec := sdk.RecognizeResponse{Framework: "pytorch"}
	switch {
	case s.ImportsAny("torch", "timm", "torchvision"):
		rec.Confidence, rec.Reason = 60, "the script imports torch"
	case isNanoGPT(s):
		rec.Confidence, rec.Reason = 60, "nanoGPT's configurator"
	case s.Inv.Launcher == "torchrun":
		rec.Confidence, rec.Reason = 40, "started by torchrun"
	}
	if rec.Confidence > 0 && s.Inv.Launcher == "torchrun" && !strings.Contains(rec.Reason, "torchrun") {
		rec.Confidence += 10
		rec.Reason += ", started by torchrun"
	}
	return rec, nil
}

// Analyze finds the script's memory knobs.
func (*Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.AnalyzeResponse{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	return analyze(s).AnalyzeResponse, nil
}

// Apply rewrites the command for one fix.
func (*Plugin) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	cmd, fix := req.Command, req.Fix
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.ApplyResponse{}, fmt.Errorf("cannot find the script in %q", strings.Join(cmd.Argv, " "))
	}
	// A fix the command cannot take (or has already) is turned down with
	// the reason the analysis found.
	if reason, no := analyze(s).Unsupported[fix.ID]; no {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
	}
	if fix.ID == sdk.FixAllocator {
		env, summary, err := AllocatorEnv(cmd.Env)
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		return sdk.ApplyResponse{Argv: append([]string(nil), cmd.Argv...), Env: env, Summary: summary}, nil
	}
	if args, summary, ok := s.ApplyTemplate(fix); ok {
		return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
	}
	if fix.ID == sdk.FixResume && !isNanoGPT(s) {
		args, summary, notes, err := resumeArgparse(s, fix, append([]string(nil), s.Inv.Args...))
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary, Notes: notes}, nil
	}
	var args []string
	var summary string
	var err error
	if isNanoGPT(s) {
		args, summary, err = applyNanoGPT(s, fix)
	} else {
		args, summary, err = applyArgparse(s, fix)
	}
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	return sdk.ApplyResponse{Argv: s.Inv.WithArgs(args), Summary: summary}, nil
}

// analyze reads the script in its style: nanoGPT's configurator or argparse.
func analyze(s *pyscript.Script) pyscript.Analysis {
	if isNanoGPT(s) {
		return analyzeNanoGPT(s)
	}
	return analyzeArgparse(s)
}

// baseAnalysis fills what every style shares.
func baseAnalysis(s *pyscript.Script) pyscript.Analysis {
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: "pytorch", Launcher: s.Inv.Launcher,
		Script: s.Inv.Script, WorldSize: s.Inv.WorldSize, Notes: s.LauncherNotes()}, Unsupported: map[sdk.FixID]string{}}
	if a.WorldSize == 0 {
		a.WorldSize = 1
	}
	if reason := AllocatorUnsupported(s.Cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	return a
}

// noFlag is the reason for a fix whose flag the script does not have.
func noFlag(s *pyscript.Script, what, key string) string {
	return fmt.Sprintf("no %s flag in %s (name it under flags.%s in vramrun.yaml)", what, scriptName(s), key)
}

func scriptName(s *pyscript.Script) string {
	if s.Inv.Script != "" {
		return s.Inv.Script
	}
	return "the command"
}
