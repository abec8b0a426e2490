// Package host holds the plugins of one vramrun run — the built-ins and the
// external ones it loads — behind the one sdk.Framework interface, and picks
// the plugin that claims a command.
package host

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// Source values for Plugin.Source.
const (
	SourceBuiltin = "builtin"
	SourcePath    = "path"
)

// Plugin is one loaded plugin.
type Plugin struct {
	Framework sdk.Framework
	Desc      sdk.DescribeResponse
	// Source is SourceBuiltin or SourcePath.
	Source string
	// Path and SHA256 describe an external plugin's executable.
	Path     string
	SHA256   string
	Protocol int
	// order is the position used to break ties: the profile's plugins first,
	// in the profile's order, then the others, then the built-ins.
	order int
	close func()
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return p.Desc.Name }

// Set is the plugins of one run.
type Set struct {
	plugins []*Plugin
	// Notes are one-line messages about plugins that were dropped.
	Notes []string
}

// Every plugin of a set sees each command with the environment its job
// starts with (JobEnv: behind ray job submit, the runtime env's env_vars
// too).

// NewSet describes each framework and returns the set. A built-in that fails
// to describe itself is a bug, so it is an error.
func NewSet(ctx context.Context, builtins []sdk.Framework) (*Set, error) {
	s := &Set{}
	for _, f := range builtins {
		desc, err := f.Describe(ctx, sdk.DescribeRequest{})
		if err != nil {
			return nil, fmt.Errorf("built-in plugin: %w", err)
		}
		s.plugins = append(s.plugins, &Plugin{Framework: jobView{f}, Desc: desc, Source: SourceBuiltin, Protocol: serve.ProtocolVersion, order: 1 << 20})
	}
	return s, nil
}

// Add puts an external plugin in the set, before the built-ins for ties.
func (s *Set) Add(p *Plugin) {
	if _, ok := p.Framework.(jobView); !ok {
		p.Framework = jobView{p.Framework}
	}
	p.order = len(s.plugins)
	for _, q := range s.plugins {
		if q.Source != SourceBuiltin && q.order >= p.order {
			p.order = q.order + 1
		}
	}
	s.plugins = append(s.plugins, p)
}

// Plugins lists the plugins in tie-break order.
func (s *Set) Plugins() []*Plugin {
	out := append([]*Plugin(nil), s.plugins...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

// Patterns are the OOM texts every plugin declares.
func (s *Set) Patterns() []sdk.OOMPattern {
	var out []sdk.OOMPattern
	for _, p := range s.Plugins() {
		out = append(out, p.Desc.Patterns...)
	}
	return out
}

// Rejections are the rejection texts every plugin declares.
func (s *Set) Rejections() []sdk.RejectionPattern {
	var out []sdk.RejectionPattern
	for _, p := range s.Plugins() {
		out = append(out, p.Desc.Rejections...)
	}
	return out
}

// Frames are the traceback frames every plugin declares.
func (s *Set) Frames() []sdk.Frame {
	var out []sdk.Frame
	for _, p := range s.Plugins() {
		out = append(out, p.Desc.Frames...)
	}
	return out
}

// Claim is the plugin that won a command, and how sure it was.
type Claim struct {
	Plugin      *Plugin
	Recognition sdk.RecognizeResponse
	// Others are the other plugins' answers, for -v.
	Others []string
}

// Claim asks every plugin whether cmd is theirs. The highest confidence wins;
// ties go to the earlier plugin (the profile's order, then built-ins). A
// plugin that fails to answer is dropped from the set with a note. ok is
// false when no plugin claims the command.
func (s *Set) Claim(ctx context.Context, cmd sdk.Command) (Claim, bool) {
	var best Claim
	for _, p := range s.Plugins() {
		rec, err := p.Framework.Recognize(ctx, sdk.RecognizeRequest{Command: cmd.Clone()})
		if err != nil {
			s.drop(p, err)
			continue
		}
		line := fmt.Sprintf("%s: %d", p.Name(), rec.Confidence)
		if rec.Reason != "" {
			line += " (" + rec.Reason + ")"
		}
		best.Others = append(best.Others, line)
		if rec.Confidence > 0 && (best.Plugin == nil || rec.Confidence > best.Recognition.Confidence) {
			best.Plugin, best.Recognition = p, rec
		}
	}
	if best.Plugin != nil && best.Recognition.Framework == "" {
		best.Recognition.Framework = best.Plugin.Name()
	}
	return best, best.Plugin != nil
}

// Drop removes a plugin that misbehaved, with a one-line note.
func (s *Set) Drop(p *Plugin, err error) { s.drop(p, err) }

func (s *Set) drop(p *Plugin, err error) {
	for i, q := range s.plugins {
		if q == p {
			s.plugins = append(s.plugins[:i], s.plugins[i+1:]...)
			s.Notes = append(s.Notes, fmt.Sprintf("plugin %s dropped: %v", p.Name(), err))
			if p.close != nil {
				p.close()
			}
			return
		}
	}
}

// Close ends every external plugin process, side by side, and returns when
// all of them have ended. Calling it again does nothing more.
func (s *Set) Close() {
	var wg sync.WaitGroup
	for _, p := range s.plugins {
		if p.close != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.close()
			}()
		}
	}
	wg.Wait()
}
