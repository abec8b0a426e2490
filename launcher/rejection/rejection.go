// Package rejection tells when a job turned down a change vramrun made to
// its command: the attempt right after a fix failed with one of the texts
// the plugins declare (argparse's "unrecognized arguments: --ckpt",
// "No module named 'deepspeed'"), and what the text names is something the
// fix changed. vramrun then takes the fix back. A failure that names
// nothing the fix changed is not a rejection, and is never retried.
package rejection

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/vramrun/vramrun/sdk"
)

// TailBytes is how much of an attempt's output end is searched: a job
// rejects its arguments as it starts, and dies with the error last.
const TailBytes = 64 << 10

// Matcher runs the declared rejection texts. They are compiled at the
// first Find, which only a failed attempt calls: a run that never fails
// never pays for them.
type Matcher struct {
	decls    []sdk.RejectionPattern
	once     sync.Once
	patterns []compiled
}

type compiled struct {
	id   string
	re   *regexp.Regexp
	name int
}

// Compile checks and compiles the plugins' rejection texts.
func Compile(patterns []sdk.RejectionPattern) (*Matcher, error) {
	m := &Matcher{}
	for _, p := range patterns {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		m.decls = append(m.decls, p)
	}
	return m, nil
}

// compile makes programs of the declarations Compile parsed: none can
// fail (regexp.Compile adds no errors to parsing's), and one that did would
// be left out rather than stop the run.
func (m *Matcher) compile() {
	for _, p := range m.decls {
		if re, err := regexp.Compile(p.Regexp); err == nil {
			m.patterns = append(m.patterns, compiled{id: p.ID, re: re, name: re.SubexpIndex("name")})
		}
	}
}

// Finding is a line with which the job rejected something.
type Finding struct {
	// Pattern is the declaration's id; Name what the line says was
	// rejected; Line the line itself.
	Pattern, Name, Line string
}

// Find returns the rejection lines at the end of an attempt's output,
// last first.
func (m *Matcher) Find(output []byte) []Finding {
	if m == nil || len(m.decls) == 0 {
		return nil
	}
	m.once.Do(m.compile)
	if len(output) > TailBytes {
		output = output[len(output)-TailBytes:]
	}
	var out []Finding
	lines := bytes.Split(output, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimRight(lines[i], "\r")
		for _, p := range m.patterns {
			if sub := p.re.FindSubmatch(line); sub != nil {
				out = append(out, Finding{Pattern: p.id, Name: string(sub[p.name]), Line: string(line)})
				break
			}
		}
	}
	return out
}

// Change is what one fix changed in the command.
type Change struct {
	// Words are the argv words the fix added or changed, and the names of
	// the environment variables it set.
	Words []string
	// Summary is the plugin's summary of the fix ("--trainer.strategy ddp
	// -> deepspeed_stage_2_offload (needs DeepSpeed installed)").
	Summary string
}

// NewChange is what a fix changed, from the argv before and after it and
// the variables it set.
func NewChange(before, after []string, env map[string]string, summary string) Change {
	had := map[string]int{}
	for _, w := range before {
		had[w]++
	}
	var c Change
	for _, w := range after {
		if had[w] > 0 {
			had[w]--
			continue
		}
		c.Words = append(c.Words, w)
	}
	for k := range env {
		c.Words = append(c.Words, k)
	}
	c.Summary = summary
	return c
}

// Rejected returns the first finding that names what the change changed.
func Rejected(findings []Finding, c Change) (Finding, bool) {
	for _, f := range findings {
		if names(f.Name, c) {
			return f, true
		}
	}
	return Finding{}, false
}

// names says a rejected name is one of the change's words, or a word of
// its summary (a module the fix needs: "DeepSpeed", "bitsandbytes"). Short
// and numeric words ("1", "-b") prove nothing and are left out.
func names(name string, c Change) bool {
	name = strings.ToLower(name)
	if strings.TrimSpace(name) == "" {
		return false
	}
	for _, w := range c.Words {
		if w = strings.ToLower(strings.SplitN(w, "=", 2)[0]); meaningful(w) && strings.Contains(name, w) {
			return true
		}
	}
	for _, w := range strings.FieldsFunc(c.Summary, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }) {
		if w = strings.ToLower(w); meaningful(w) && len(w) >= 4 && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func meaningful(w string) bool {
	letters := 0
	for _, r := range w {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 3
}

// Reason is the words a fix's rejection is recorded with.
func Reason(f Finding) string {
	return fmt.Sprintf("the job rejected it: %s", strings.TrimSpace(f.Line))
}
