package cfgcli

import (
	"context"
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Command is one training command as a config-driven CLI's plugin reads
// it.
type Command interface {
	// Why says what gave the command away ("axolotl train").
	Why() string
	// Analyze finds the knobs and the fixes the command cannot take.
	Analyze() pyscript.Analysis
	// Apply rewrites the command for fix, which a does not turn down.
	Apply(ctx context.Context, fix sdk.Fix, a pyscript.Analysis) (sdk.ApplyResponse, error)
}

// Plugin is the sdk.Framework of one such CLI: the calls that every one of
// them answers the same way, around the tool's own Load.
type Plugin struct {
	desc       sdk.DescribeResponse
	confidence int
	// what names the tool's commands in errors ("a llamafactory-cli train command").
	what string
	load func(sdk.Command) (Command, bool)
}

// NewPlugin makes the plugin of a tool: its description, the confidence
// it claims its commands with, what its commands are called, and how to
// read one with the plugin's probes of the job's Python (false: not the
// tool's).
func NewPlugin[C Command](desc sdk.DescribeResponse, confidence int, what string, load func(sdk.Command, *pyscript.Probes) (C, bool)) *Plugin {
	probes := pyscript.NewProbes()
	return &Plugin{desc: desc, confidence: confidence, what: what, load: func(cmd sdk.Command) (Command, bool) {
		// A C that is a nil pointer must not become a non-nil Command.
		c, ok := load(cmd, probes)
		if !ok {
			return nil, false
		}
		return c, true
	}}
}

// Describe gives the tool's description.
func (p *Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return p.desc, nil
}

// Recognize claims the tool's commands.
func (p *Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	c, ok := p.load(req.Command)
	if !ok {
		return sdk.RecognizeResponse{}, nil
	}
	return sdk.RecognizeResponse{Confidence: p.confidence, Framework: p.desc.Name, Reason: c.Why()}, nil
}

// Analyze reads the command's knobs.
func (p *Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	c, err := p.command(req.Command)
	if err != nil {
		return sdk.AnalyzeResponse{}, err
	}
	return c.Analyze().AnalyzeResponse, nil
}

// Apply turns a fix down with the analysis' reason, or has the tool
// rewrite the command for it.
func (p *Plugin) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	c, err := p.command(req.Command)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	a := c.Analyze()
	if reason, no := a.Unsupported[req.Fix.ID]; no {
		return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "%s", reason)
	}
	return c.Apply(ctx, req.Fix, a)
}

func (p *Plugin) command(cmd sdk.Command) (Command, error) {
	c, ok := p.load(cmd)
	if !ok {
		return nil, fmt.Errorf("not %s: %s", p.what, strings.Join(cmd.Argv, " "))
	}
	return c, nil
}
