package oom

import (
	"regexp"
	"sync"
)

// lazyRegexp is a declared expression that Compile has checked (parsed,
// its groups known) but that becomes a program only when a line first
// needs it: a run compiles dozens of patterns before its job may start, and
// the literal prefilter keeps most of them from ever seeing a line.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func newLazyRegexp(expr string) *lazyRegexp { return &lazyRegexp{expr: expr} }

// get compiles the expression the first time. It cannot fail for an
// expression that parsed (regexp.Compile is parse, simplify and a
// compile that has no errors of its own); were it to, the expression
// matches nothing rather than stopping the job's output.
func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() {
		re, err := regexp.Compile(l.expr)
		if err != nil {
			re = regexp.MustCompile(`[^\x00-\x{10FFFF}]`)
		}
		l.re = re
	})
	return l.re
}
