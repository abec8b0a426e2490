package oom

import (
	"bytes"
	"slices"
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
	covered := make([]bool, len(literals))
	left := len(literals)
	set := &anchorSet{}
	for left > 0 {
		best, bestScore := "", 0.0
		for _, cand := range anchorCandidates(literals, covered) {
			n := 0
			for i, l := range literals {
				if !covered[i] && bytes.Contains(l, []byte(cand)) {
					n++
				}
			}
			_, freq := pivotOf([]byte(cand))
			score := float64(n) / (0.001 + freq)
			if score > bestScore || score == bestScore && n > 0 && len(cand) > len(best) {
				best, bestScore = cand, score
			}
		}
		if bestScore == 0 {
			return nil
		}
		for i, l := range literals {
			if !covered[i] && bytes.Contains(l, []byte(best)) {
				covered[i] = true
				left--
			}
		}
		pivot, _ := pivotOf([]byte(best))
		set.anchors = append(set.anchors, anchor{text: []byte(best), pivot: pivot})
		set.longest = max(set.longest, len(best))
	}
	return set
}

// pivotOf is the index of text's rarest byte and how often it is seen.
func pivotOf(text []byte) (int, float64) {
	at, least := 0, 2.0
	for i, b := range text {
		if f := byteFrequency(b); f < least {
			at, least = i, f
		}
	}
	return at, least
}

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

// anchorCandidates are the substrings of the literals not yet covered that
// may serve as anchors, sorted: the same literals give the same anchors.
func anchorCandidates(literals [][]byte, covered []bool) []string {
	seen := map[string]bool{}
	var out []string
	for i, l := range literals {
		if covered[i] {
			continue
		}
		for n := min(len(l), minAnchor); n <= min(len(l), maxAnchor); n++ {
			for at := 0; at+n <= len(l); at++ {
				sub := l[at : at+n]
				if bytes.ContainsAny(sub, "\r\n") || seen[string(sub)] {
					continue
				}
				seen[string(sub)] = true
				out = append(out, string(sub))
			}
		}
	}
	slices.Sort(out)
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
