package oom

import (
	"errors"
	"slices"

	"github.com/vramrun/vramrun/sdk"
)

// Match is one output line that an OOM pattern matched.
type Match struct {
	// Pattern is the declaration that matched; it shares its slices and
	// maps with the Matcher, so treat it as read-only.
	Pattern sdk.OOMPattern
	// Line is the line as printed, without its line break; of a line longer
	// than MaxLine, the window of MaxLine bytes (or fewer, at its end) the
	// text was found in.
	Line string
	// LineNo counts lines from 1; "\r"-separated progress-bar redraws count
	// as lines.
	LineNo int
	// Groups holds the named groups that took part in the match. Figures a
	// pattern reads from Follow lines are not here: they come after the
	// line, and only Diagnose collects them.
	Groups map[string]string
}

// Scanner is an io.Writer over one output stream that reports each line an
// OOM pattern (not a Detail one) matches, as the line completes; a line
// longer than MaxLine is reported once, as soon as a window of it matches
// (see lineSplitter), however much the job printed before the text. Use one
// Scanner per stream (a pseudo-terminal has one); a Scanner is not safe for
// concurrent writes.
type Scanner struct {
	m       *Matcher
	onMatch func(Match)
	split   lineSplitter
	lineNo  int
	scratch []int
	// matched is set once the current line was reported.
	matched bool
	closed  bool
	// near finds the lines worth a closer look, with the matcher's
	// filters (nil until the first write needs them).
	near anchorHits
	f    *filters
}

// errClosed is what Write returns after Close.
var errClosed = errors.New("oom: write to a closed scanner")

// NewScanner returns a Scanner that calls onMatch, from inside Write or
// Close, for every line a pattern of m matches. onMatch should be quick:
// the job's output waits for it.
func NewScanner(m *Matcher, onMatch func(Match)) *Scanner {
	s := &Scanner{m: m, onMatch: onMatch}
	s.split.emit = s.line
	return s
}

// Write scans p. It never fails before Close, so it can sit in a tee.
func (s *Scanner) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errClosed
	}
	if s.m != nil {
		s.near.feed(s.anchors(), &s.split, p)
	} else {
		s.split.write(p)
	}
	return len(p), nil
}

// Close scans a final line that has no line break. It is safe to call more
// than once.
func (s *Scanner) Close() error {
	if !s.closed {
		s.split.flush()
		s.closed = true
	}
	return nil
}

// anchors are the matcher's anchors, its filters built on first use.
func (s *Scanner) anchors() *anchorSet {
	if s.f == nil {
		s.f = s.m.filters()
	}
	return s.f.anchors
}

// line looks at a line, or a window of an over-long one (cont: not its
// first), and reports the line's first match.
func (s *Scanner) line(line []byte, cont bool) {
	if !cont {
		s.lineNo++
		s.matched = false
	}
	if s.m == nil || s.matched {
		return
	}
	if !s.near.mayHold(s.anchors(), &s.split, line) {
		return
	}
	idx, loc := s.m.firstTrigger(line, &s.scratch)
	if idx < 0 {
		return
	}
	s.matched = true
	if s.onMatch == nil {
		return
	}
	p := &s.m.patterns[idx]
	s.onMatch(Match{Pattern: p.decl, Line: string(line), LineNo: s.lineNo, Groups: groupsOf(p.re.get(), line, loc)})
}

// anchorHits are the stream offsets at which an anchor starts, found write
// by write (an anchor split between two writes included) and dropped as
// the lines they are on go by.
type anchorHits struct {
	at   []int64
	head int
	// tail is the end of the stream so far, the bytes an anchor split
	// between writes starts in.
	tail    []byte
	scratch []byte
	pivots  pivotPicker
}

// find records the anchors in p, which starts at stream offset off.
func (h *anchorHits) find(a *anchorSet, p []byte, off int64) {
	if h.head == len(h.at) {
		h.at, h.head = h.at[:0], 0
	}
	from := len(h.at)
	h.pivots.observe(a, p)
	if len(h.tail) > 0 {
		h.scratch = append(append(h.scratch[:0], h.tail...), p[:min(len(p), a.longest-1)]...)
		a.each(h.scratch, h.pivots.searches, func(at, n int) bool {
			if at < len(h.tail) && at+n > len(h.tail) {
				h.at = append(h.at, off-int64(len(h.tail))+int64(at))
			}
			return true
		})
	}
	a.each(p, h.pivots.searches, func(at, _ int) bool {
		h.at = append(h.at, off+int64(at))
		return true
	})
	if len(h.at) > from {
		// A split anchor may start before one found whole in the write
		// before: sort what is still ahead.
		slices.Sort(h.at[h.head:])
	}
	if keep := a.longest - 1; len(p) >= keep {
		h.tail = append(h.tail[:0], p[len(p)-keep:]...)
	} else {
		h.tail = append(h.tail, p...)
		h.tail = h.tail[max(0, len(h.tail)-keep):]
	}
}

// feed finds the anchors in p (none to find when a is nil) and splits p
// into lines.
func (h *anchorHits) feed(a *anchorSet, split *lineSplitter, p []byte) {
	if a != nil {
		h.find(a, p, split.pos)
	}
	split.write(p)
}

// mayHold says whether the line split is emitting may hold a trigger:
// always without anchors, else when an anchor starts in it.
func (h *anchorHits) mayHold(a *anchorSet, split *lineSplitter, line []byte) bool {
	return a == nil || h.within(split.start, split.start+int64(len(line)))
}

// within says whether an anchor starts in [lo, hi), and forgets those
// before lo: lines come in order, so no later line holds them.
func (h *anchorHits) within(lo, hi int64) bool {
	for h.head < len(h.at) && h.at[h.head] < lo {
		h.head++
	}
	return h.head < len(h.at) && h.at[h.head] < hi
}
