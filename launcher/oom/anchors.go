package oom

import (
	"bytes"
	"strings"
)

// Anchor lengths: a short anchor is found often in ordinary output (every
// such line then goes through the full prefilter), a long one covers few
// literals.
const (
	minAnchor = 4
	maxAnchor = 8
)

// anchorSet is the Scanner's first, stream-wide filter: a few short strings
// such that every trigger pattern's required literal contains one of them.
// The Scanner searches whole writes for them (a vectorised bytes.IndexByte
// pass per anchor, on its rarest byte) and hands only the lines that
// contain one to the per-line prefilter and the regexps, so a chatty job's
// lines cost a line split and nothing else.
type anchorSet struct {
	anchors []anchor
	longest int
}

// anchor is one string and the byte of it the search stops on: the one
// least often seen in training logs, so that the search stops rarely.
type anchor struct {
	text  []byte
	pivot int
}

// newAnchorSet picks anchors for literals by greedy weighted set cover: each
// round takes the substring (minAnchor to maxAnchor bytes, or a whole
// shorter literal) that covers the most literals not yet covered for what
// it costs to search for, the cost being how often its rarest byte turns
// up in a log; the longer wins a tie. It returns nil when a literal has no
// usable substring (one that holds a line break can never be on a line
// whole): every line is then a candidate, as without anchors.
func newAnchorSet(literals [][]byte) *anchorSet {
	if len(literals) == 0 {
		return nil
	}
	cands := anchorCandidates(literals)
	covered := make([]bool, len(literals))
	left := len(literals)
	set := &anchorSet{}
	for left > 0 {
		var best *anchorCandidate
		bestScore := 0.0
		for i := range cands {
			c := &cands[i]
			n := 0
			for _, l := range c.in {
				if !covered[l] {
					n++
				}
			}
			score := float64(n) / (0.001 + c.freq)
			if score > bestScore || score == bestScore && n > 0 && c.beats(best) {
				best, bestScore = c, score
			}
		}
		if best == nil {
			return nil
		}
		for _, l := range best.in {
			if !covered[l] {
				covered[l] = true
				left--
			}
		}
		set.anchors = append(set.anchors, anchor{text: []byte(best.text), pivot: best.pivot})
		set.longest = max(set.longest, len(best.text))
	}
	return set
}

// anchorCandidate is a substring that may serve as an anchor: the literals that
// hold it, and its rarest byte.
type anchorCandidate struct {
	text  string
	in    []int // indexes of the literals that contain text
	pivot int
	freq  float64
}

// pivotOf is the index of text's rarest byte and how often it is seen.
func pivotOf(text []byte) (int, float64) {
	at, least := 0, 2.0
	for i, b := range text {
		if f := byteFrequencies[b]; f < least {
			at, least = i, f
		}
	}
	return at, least
}

// byteFrequencies is byteFrequency of every byte, computed once (it is read,
// never written).
var byteFrequencies = func() (t [256]float64) {
	for b := range t {
		t[b] = byteFrequency(byte(b))
	}
	return t
}()

// byteFrequency is roughly how often b turns up in what training jobs
// print (English words and identifiers, numbers, progress bars); only the
// order matters much.
func byteFrequency(b byte) float64 {
	const lower = "etaoinsrhldcumfpgwybvkxjqz"
	switch {
	case b == ' ':
		return 0.15
	case b >= 'a' && b <= 'z':
		// English letter order, from about 7 % (e) down to 0.05 % (z).
		left := 1 - float64(strings.IndexByte(lower, b))/float64(len(lower))
		return 0.0005 + 0.07*left*left
	case b >= '0' && b <= '9':
		return 0.02
	case b >= 'A' && b <= 'Z':
		return 0.003
	case strings.IndexByte(".,:/=-_'", b) >= 0:
		return 0.01
	case strings.IndexByte("()[]|\"\t", b) >= 0:
		return 0.005
	case b >= 0x80:
		// UTF-8: progress bars draw with block characters.
		return 0.01
	}
	return 0.002
}

// beats breaks a tie of scores: the longer wins, then the first in byte
// order, so that the same literals give the same anchors whatever order the
// candidates come in.
func (c *anchorCandidate) beats(other *anchorCandidate) bool {
	if len(c.text) != len(other.text) {
		return len(c.text) > len(other.text)
	}
	return c.text < other.text
}

// anchorCandidates are the substrings of the literals that may serve as
// anchors, each with the literals that hold it, in no order. Each literal is searched once per candidate, here,
// not once per round of the cover.
func anchorCandidates(literals [][]byte) []anchorCandidate {
	in := map[string][]int{}
	for i, l := range literals {
		for n := min(len(l), minAnchor); n <= min(len(l), maxAnchor); n++ {
			for at := 0; at+n <= len(l); at++ {
				sub := l[at : at+n]
				if bytes.ContainsAny(sub, "\r\n") {
					continue
				}
				held := in[string(sub)]
				if len(held) == 0 || held[len(held)-1] != i {
					in[string(sub)] = append(held, i)
				}
			}
		}
	}
	out := make([]anchorCandidate, 0, len(in))
	for text, held := range in {
		pivot, freq := pivotOf([]byte(text))
		out = append(out, anchorCandidate{text: text, in: held, pivot: pivot, freq: freq})
	}
	return out
}

// each calls found with the offset of every occurrence of every anchor
// that lies whole in p (overlapping ones included), anchor by anchor; it
// stops when found returns false. pivots, when not nil, are the bytes to
// stop on, one index per anchor (see pivotPicker); else each anchor's own.
func (a *anchorSet) each(p []byte, pivots []int, found func(at, n int) bool) {
	for k, an := range a.anchors {
		at := an.pivot
		if pivots != nil {
			at = pivots[k]
		}
		pivot, n := an.text[at], len(an.text)
		for from := at; from < len(p); {
			i := bytes.IndexByte(p[from:], pivot)
			if i < 0 {
				break
			}
			start := from + i - at
			if start+n <= len(p) && bytes.Equal(p[start:start+n], an.text) && !found(start, n) {
				return
			}
			from += i + 1
		}
	}
}

// pivotPicker re-picks, for one stream, the byte each anchor's search stops
// on, from the bytes the stream really holds: a job printing base64 or hex
// makes letters common that English text rarely has, and a search that
// stops on a common byte is many times slower. It samples a little of the
// stream now and then (sampleBytes of every sampleEvery).
type pivotPicker struct {
	counts [256]uint32
	pivots []int
	// due counts down the bytes to the next sample.
	due int
}

const (
	sampleBytes = 4 << 10
	sampleEvery = 1 << 20
)

// observe samples p when a sample is due, and re-picks the pivots.
func (pp *pivotPicker) observe(a *anchorSet, p []byte) {
	if pp.due -= len(p); pp.due > 0 && pp.pivots != nil {
		return
	}
	pp.due = sampleEvery
	if pp.pivots == nil {
		pp.pivots = make([]int, len(a.anchors))
	}
	total := uint32(0)
	for _, b := range p[:min(len(p), sampleBytes)] {
		pp.counts[b]++
	}
	for _, c := range pp.counts {
		total += c
	}
	if total > 1<<20 {
		// Let old samples fade, for a job whose output changes.
		for i := range pp.counts {
			pp.counts[i] /= 2
		}
	}
	for k, an := range a.anchors {
		best := an.pivot
		for i, b := range an.text {
			if pp.counts[b] < pp.counts[an.text[best]] {
				best = i
			}
		}
		pp.pivots[k] = best
	}
}
