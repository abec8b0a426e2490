package sdk

import (
	"fmt"
	"path/filepath"
	"regexp/syntax"
	"strings"
)

// MaxPatternFollow is the most Follow expressions one OOMPattern may have.
const MaxPatternFollow = 32

// ReservedPatternPrefix starts the signatures of vramrun's own diagnoses
// (a job killed by the kernel's OOM killer); no plugin pattern may use it.
const ReservedPatternPrefix = "host."

// Validate checks a plugin's description as vramrun does before it uses
// the plugin: a name, and patterns and frames that vramrun's scanner can
// run — each pattern valid (OOMPattern.Validate) with a framework, at most
// MaxPatternFollow follow expressions, an id of its own outside
// ReservedPatternPrefix, and positive dtype sizes; each frame named, with
// the phase train or eval.
func (d DescribeResponse) Validate() error {
	if strings.TrimSpace(d.Name) == "" || strings.ContainsAny(d.Name, " \t\r\n/") {
		return fmt.Errorf("plugin name %q is empty or has a space or slash", d.Name)
	}
	seen := map[string]bool{}
	for _, p := range d.Patterns {
		if err := p.Validate(); err != nil {
			return err
		}
		switch {
		case p.Framework == "":
			return fmt.Errorf("pattern %s: no framework", p.ID)
		case len(p.Follow) > MaxPatternFollow:
			return fmt.Errorf("pattern %s: %d follow expressions, at most %d", p.ID, len(p.Follow), MaxPatternFollow)
		case strings.HasPrefix(p.ID, ReservedPatternPrefix):
			return fmt.Errorf("pattern %s: ids starting %q are vramrun's own", p.ID, ReservedPatternPrefix)
		case seen[p.ID]:
			return fmt.Errorf("pattern %s: declared twice", p.ID)
		}
		seen[p.ID] = true
		for name, size := range p.DTypeSizes {
			if size <= 0 {
				return fmt.Errorf("pattern %s: dtype %s has size %d, want a positive number of bytes", p.ID, name, size)
			}
		}
	}
	for _, r := range d.Rejections {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	seenProgress := map[string]bool{}
	for _, p := range d.Progress {
		if err := p.Validate(); err != nil {
			return err
		}
		if seenProgress[p.ID] {
			return fmt.Errorf("progress pattern %s: declared twice", p.ID)
		}
		seenProgress[p.ID] = true
	}
	for _, f := range d.Frames {
		if err := f.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that the confidence is within 0..100.
func (r RecognizeResponse) Validate() error {
	if r.Confidence < 0 || r.Confidence > 100 {
		return fmt.Errorf("confidence %d is outside 0..100", r.Confidence)
	}
	return nil
}

// Validate checks an analysis: a world size of at least 1 and knob values in
// range (sizes positive, precision fp32, fp16 or bf16).
func (a AnalyzeResponse) Validate() error {
	if a.WorldSize < 1 {
		return fmt.Errorf("world size %d, want at least 1", a.WorldSize)
	}
	for name, v := range map[string]*int{"batch_size": a.Knobs.BatchSize, "grad_accumulation": a.Knobs.GradAccumulation,
		"eval_batch_size": a.Knobs.EvalBatchSize} {
		if v != nil && *v < 1 {
			return fmt.Errorf("knob %s is %d, want a positive number", name, *v)
		}
	}
	if p := a.Knobs.Precision; p != nil && *p != "fp32" && *p != "fp16" && *p != "bf16" {
		return fmt.Errorf("knob precision is %q, want fp32, fp16 or bf16", *p)
	}
	if a.Checkpoints != nil {
		return a.Checkpoints.Validate()
	}
	return nil
}

// Validate checks checkpoint locations: at least one glob, each a valid
// pattern, a marker that is a plain file name, and a step expression that
// parses and has a group named step.
func (c Checkpoints) Validate() error {
	if len(c.Globs) == 0 {
		return fmt.Errorf("checkpoints without a glob")
	}
	for _, g := range c.Globs {
		if _, err := filepath.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			return fmt.Errorf("checkpoint glob %q is not a valid pattern", g)
		}
	}
	if c.Marker != "" && (strings.ContainsAny(c.Marker, "/\\*?[") || c.Marker == "." || c.Marker == "..") {
		return fmt.Errorf("checkpoint marker %q is not a file name", c.Marker)
	}
	if c.Step != "" {
		re, err := syntax.Parse(c.Step, syntax.Perl)
		if err != nil {
			return fmt.Errorf("checkpoint step expression %q: %v", c.Step, err)
		}
		if !hasGroup(re, "step") {
			return fmt.Errorf("checkpoint step expression %q has no group named step", c.Step)
		}
	}
	return nil
}

func hasGroup(re *syntax.Regexp, name string) bool {
	if re.Op == syntax.OpCapture && re.Name == name {
		return true
	}
	for _, sub := range re.Sub {
		if hasGroup(sub, name) {
			return true
		}
	}
	return false
}

// Validate checks an answer to a fix: a command line with a program, and
// environment names that can be set; each copy names its original and lies
// inside copyDir, each at a path of its own.
func (a ApplyResponse) Validate(copyDir string) error {
	if len(a.Argv) == 0 || a.Argv[0] == "" {
		return fmt.Errorf("applied fix without a command line")
	}
	for name := range a.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return fmt.Errorf("environment variable name %q cannot be set", name)
		}
	}
	inside := filepath.Clean(copyDir)
	if !strings.HasSuffix(inside, string(filepath.Separator)) {
		inside += string(filepath.Separator)
	}
	seen := map[string]bool{}
	for _, c := range a.Copies {
		path := filepath.Clean(c.Path)
		switch {
		case c.Original == "":
			return fmt.Errorf("copy %s does not name its original", c.Path)
		case copyDir == "" || c.Path == "" || !strings.HasPrefix(path, inside):
			return fmt.Errorf("copy of %s goes to %q, outside the copy folder %q", c.Original, c.Path, copyDir)
		case seen[path]:
			return fmt.Errorf("two copies go to %s", c.Path)
		}
		seen[path] = true
	}
	return nil
}
