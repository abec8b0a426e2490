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
// that lies whole in p (overlapping ones included), in no particular
// order; it stops when found returns false. searches, when not nil, are
// the bytes to stop on (see pivotPicker); else each anchor's own.
func (a *anchorSet) each(p []byte, searches []pivotSearch, found func(at, n int) bool) {
	if searches == nil {
		searches = a.ownSearches()
	}
	for _, s := range searches {
		for from := 0; from < len(p); {
			i := bytes.IndexByte(p[from:], s.b)
			if i < 0 {
				break
			}
			at := from + i
			for _, m := range s.members {
				an := &a.anchors[m.anchor]
				start, n := at-m.pivot, len(an.text)
				if start >= 0 && start+n <= len(p) && bytes.Equal(p[start:start+n], an.text) && !found(start, n) {
					return
				}
			}
			from = at + 1
		}
	}
}

// pivotSearch is one pass over the output: for a byte, the anchors that
// stop on it and where it is in each. Anchors that stop on the same byte
// share the pass, which is most of a search's cost.
type pivotSearch struct {
	b       byte
	members []pivotMember
}

type pivotMember struct {
	anchor, pivot int
}

// searchesInto groups the anchors by the byte each stops on (pivots holds
// its index in the anchor's text), in the anchors' order, reusing the room
// of searches and members when it is enough (a stream's re-picks make no
// garbage).
func (a *anchorSet) searchesInto(searches []pivotSearch, members []pivotMember, pivots []int) ([]pivotSearch, []pivotMember) {
	searches, members = searches[:0], members[:0]
	for k, an := range a.anchors {
		b := an.text[pivots[k]]
		if slices.ContainsFunc(searches, func(s pivotSearch) bool { return s.b == b }) {
			continue
		}
		from := len(members)
		for j := k; j < len(a.anchors); j++ {
			if a.anchors[j].text[pivots[j]] == b {
				members = append(members, pivotMember{anchor: j, pivot: pivots[j]})
			}
		}
		searches = append(searches, pivotSearch{b: b, members: members[from:len(members):len(members)]})
	}
	return searches, members
}

// ownSearches are the searches on each anchor's own pivot.
func (a *anchorSet) ownSearches() []pivotSearch {
	pivots := make([]int, len(a.anchors))
	for k, an := range a.anchors {
		pivots[k] = an.pivot
	}
	searches, _ := a.searchesInto(nil, nil, pivots)
	return searches
}

// pivotPicker re-picks, for one stream, the byte each anchor's search stops
// on, from the bytes the stream really holds: a job printing base64 or hex
// makes letters common that English text rarely has, and a search that
// stops on a common byte is many times slower. It samples a little of the
// stream now and then (sampleBytes of every sampleEvery).
type pivotPicker struct {
	counts [256]uint32
	// searches are the passes over each write, one per byte stopped on;
	// pivots and members are their room.
	searches []pivotSearch
	members  []pivotMember
	pivots   []int
	// due counts down the bytes to the next sample.
	due int
}

const (
	sampleBytes = 4 << 10
	sampleEvery = 1 << 20
)

// observe samples p when a sample is due, and re-picks the pivots: for
// each anchor, one of its rarest bytes in the stream, and of those the one
// that most anchors have among their rarest, so that they share a pass.
func (pp *pivotPicker) observe(a *anchorSet, p []byte) {
	if pp.due -= len(p); pp.due > 0 && pp.searches != nil {
		return
	}
	pp.due = sampleEvery
	if pp.pivots == nil {
		n := len(a.anchors)
		pp.pivots, pp.members, pp.searches = make([]int, n), make([]pivotMember, 0, n), make([]pivotSearch, 0, n)
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
	// shared counts, for each byte, the anchors it is a rarest byte of.
	var shared [256]int
	for _, an := range a.anchors {
		least := pp.least(an.text)
		var seen [256]bool
		for _, b := range an.text {
			if pp.counts[b] == least && !seen[b] {
				seen[b] = true
				shared[b]++
			}
		}
	}
	for k, an := range a.anchors {
		least, best := pp.least(an.text), -1
		for i, b := range an.text {
			if pp.counts[b] == least && (best < 0 || shared[b] > shared[an.text[best]]) {
				best = i
			}
		}
		pp.pivots[k] = best
	}
	pp.searches, pp.members = a.searchesInto(pp.searches, pp.members, pp.pivots)
}

// least is how often text's rarest byte was seen.
func (pp *pivotPicker) least(text []byte) uint32 {
	least := pp.counts[text[0]]
	for _, b := range text[1:] {
		least = min(least, pp.counts[b])
	}
	return least
}
