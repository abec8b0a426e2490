// Package oom runs the out-of-memory texts that plugins declare over a job's
// output: a streaming Scanner that notices them while the job runs, and
// Diagnose, which turns an attempt's output and exit status into the explain
// --json diagnosis (its shape is in the README). The package is generic: every text,
// figure and traceback frame it knows comes from the plugins' declarations.
package oom

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/sdk"
)

// Signatures of host OOMs that no declared text reports: the job was killed
// by SIGKILL, with (SignatureOOMKill) or without (SignatureSIGKILL) a kernel
// or cgroup record of an out-of-memory kill. Plugins may not declare them.
const (
	SignatureSIGKILL = "host.sigkill"
	SignatureOOMKill = "host.oom_kill"
)

// maxFollow bounds a pattern's Follow list (the sdk's own bound), and with it the lines a
// diagnosis keeps after a match.
const maxFollow = sdk.MaxPatternFollow

// Matcher holds the compiled OOM patterns and traceback frames of all
// plugins. It is read-only after Compile and safe for concurrent use.
type Matcher struct {
	patterns []compiledPattern
	// filters keep most lines away from the regexps. They are built when a
	// line first needs them (a scanner's first write, a diagnosis), not by
	// Compile: finding the patterns' literals and choosing anchors is most
	// of the work of compiling, a run compiles before its job may start,
	// and a job that prints no OOM text and little output needs neither.
	filters func() *filters
	// frames are the declared frames by function name; a name may have
	// both phases when plugins disagree, and evaluation wins.
	frames map[string][]frameRule
}

// frameRule is one declared frame of a name: its phase, and the folder
// (verl/workers/ for package verl.workers) its file must lie in, "" for
// any.
type frameRule struct {
	phase  sdk.Phase
	folder string
}

// phaseOf is the phase a frame tells: eval when any rule for its name and
// path says so, else train when one does, else unknown. path uses / or \.
func (m *Matcher) phaseOf(path, fn string) sdk.Phase {
	rules := m.frames[fn]
	if len(rules) == 0 {
		return sdk.PhaseUnknown
	}
	path = "/" + strings.ReplaceAll(path, "\\", "/")
	phase := sdk.PhaseUnknown
	for _, r := range rules {
		if r.folder != "" && !strings.Contains(path, r.folder) {
			continue
		}
		if r.phase == sdk.PhaseEval {
			return sdk.PhaseEval
		}
		phase = r.phase
	}
	return phase
}

// filters are a Matcher's prefilters.
type filters struct {
	// triggers prefilters the patterns that are OOMs by themselves, details
	// the Detail ones.
	triggers prefilter
	details  prefilter
	// anchors finds, stream-wide, where a trigger's literal may be (nil:
	// some trigger has no literal, and every line is a candidate).
	anchors *anchorSet
}

// buildFilters files every pattern under its required literal and picks the
// anchors of the trigger literals.
func buildFilters(patterns []compiledPattern) *filters {
	f := &filters{}
	for idx, cp := range patterns {
		literal, ok := requiredLiteral(cp.decl.Regexp)
		if cp.decl.Detail {
			f.details.add(idx, literal, ok)
		} else {
			f.triggers.add(idx, literal, ok)
		}
	}
	if len(f.triggers.always) == 0 {
		f.anchors = newAnchorSet(f.triggers.literals)
	}
	return f
}

type compiledPattern struct {
	decl   sdk.OOMPattern
	re     *lazyRegexp
	follow []*lazyRegexp
}

// Compile checks and compiles the plugins' declarations. The error names the
// offending pattern or frame. A pattern whose ID was already declared is
// skipped, so that a plugin listed earlier overrides a later one's text.
// Patterns keep their order: a line takes the first one that matches.
func Compile(patterns []sdk.OOMPattern, frames []sdk.Frame) (*Matcher, error) {
	m := &Matcher{frames: map[string][]frameRule{}}
	seen := map[string]bool{}
	for _, p := range patterns {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("oom pattern: %w", err)
		}
		if p.ID == SignatureSIGKILL || p.ID == SignatureOOMKill {
			return nil, fmt.Errorf("oom pattern %s: the id is reserved for vramrun's own host diagnosis", p.ID)
		}
		if p.Framework == "" {
			return nil, fmt.Errorf("oom pattern %s: no framework", p.ID)
		}
		if len(p.Follow) > maxFollow {
			return nil, fmt.Errorf("oom pattern %s: %d follow expressions, at most %d", p.ID, len(p.Follow), maxFollow)
		}
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		// Validate has parsed each expression: none can fail to compile.
		cp := compiledPattern{decl: p, re: newLazyRegexp(p.Regexp)}
		for _, f := range p.Follow {
			cp.follow = append(cp.follow, newLazyRegexp(f))
		}
		m.patterns = append(m.patterns, cp)
	}
	m.filters = sync.OnceValue(func() *filters { return buildFilters(m.patterns) })
	for _, f := range frames {
		if err := f.Validate(); err != nil {
			return nil, err
		}
		rule := frameRule{phase: f.Phase}
		if f.Package != "" {
			rule.folder = "/" + strings.ReplaceAll(f.Package, ".", "/") + "/"
		}
		m.frames[f.Name] = append(m.frames[f.Name], rule)
	}
	return m, nil
}

// firstTrigger returns the index of the first non-Detail pattern that
// matches line and its submatch positions, or -1. scratch is the caller's
// reusable buffer; the result reuses it.
func (m *Matcher) firstTrigger(line []byte, scratch *[]int) (int, []int) {
	*scratch = m.filters().triggers.candidates(line, (*scratch)[:0])
	for _, idx := range *scratch {
		if loc := m.patterns[idx].re.get().FindSubmatchIndex(line); loc != nil {
			return idx, loc
		}
	}
	return -1, nil
}

// detailMatches calls found with every match of every Detail pattern on line.
func (m *Matcher) detailMatches(line []byte, scratch *[]int, found func(p *compiledPattern, groups map[string]string)) {
	*scratch = m.filters().details.candidates(line, (*scratch)[:0])
	for _, idx := range *scratch {
		p := &m.patterns[idx]
		re := p.re.get()
		for _, loc := range re.FindAllSubmatchIndex(line, -1) {
			found(p, groupsOf(re, line, loc))
		}
	}
}

// groupsOf copies the named groups that took part in a match, so that the
// strings do not keep the line's buffer alive.
func groupsOf(re *regexp.Regexp, line []byte, loc []int) map[string]string {
	groups := map[string]string{}
	for i, name := range re.SubexpNames() {
		if name == "" || 2*i+1 >= len(loc) || loc[2*i] < 0 {
			continue
		}
		if _, dup := groups[name]; !dup {
			groups[name] = string(line[loc[2*i]:loc[2*i+1]])
		}
	}
	return groups
}

// prefilter keeps most lines away from the regexps: each pattern is filed
// under a literal that every match of it must contain, and a line is handed
// to a pattern's regexp only when it contains that literal. Patterns sharing
// a literal share the search.
type prefilter struct {
	literals [][]byte
	users    [][]int // pattern indexes, ascending, for each literal
	always   []int   // patterns without a usable literal
}

func (f *prefilter) add(idx int, literal string, ok bool) {
	if !ok {
		f.always = append(f.always, idx)
		return
	}
	for i, l := range f.literals {
		if string(l) == literal {
			f.users[i] = append(f.users[i], idx)
			return
		}
	}
	f.literals = append(f.literals, []byte(literal))
	f.users = append(f.users, []int{idx})
}

// candidates appends to dst, in ascending order, the patterns whose literal
// line contains.
func (f *prefilter) candidates(line []byte, dst []int) []int {
	dst = append(dst, f.always...)
	hits := 0
	for i, l := range f.literals {
		if bytes.Contains(line, l) {
			dst = append(dst, f.users[i]...)
			hits++
		}
	}
	if hits > 1 || (hits == 1 && len(f.always) > 0) {
		sort.Ints(dst)
	}
	return dst
}

// requiredLiteral finds the longest case-sensitive literal that every match
// of expr contains; ok is false when there is none.
func requiredLiteral(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	best := ""
	for _, l := range mustContain(re.Simplify()) {
		if len(l) > len(best) {
			best = l
		}
	}
	return best, best != ""
}

// mustContain lists literals that every match of re contains. It is
// conservative: alternations and optional parts contribute nothing.
func mustContain(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return mustContain(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return mustContain(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []string
		for _, sub := range re.Sub {
			out = append(out, mustContain(sub)...)
		}
		return out
	}
	return nil
}

// RequiredLiteral is the longest case-sensitive literal every match of the
// RE2 expression expr contains, for other scanners' prefilters; ok is false
// when there is none.
func RequiredLiteral(expr string) (literal string, ok bool) { return requiredLiteral(expr) }
