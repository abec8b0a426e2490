package runner

import (
	"bytes"
	"strings"
	"testing"
)

// scanAll feeds chunks to a scanner armed after the first armAfter chunks
// and returns the output and whether the marker was found.
func scanAll(m *endMarker, chunks [][]byte, armAfter int) (string, bool) {
	s := endScanner{marker: m}
	var out []byte
	for i, c := range chunks {
		if i == armAfter {
			m.armed.Store(true)
		}
		got, found := s.scan(c)
		out = append(out, got...)
		if found {
			return string(out), true
		}
	}
	return string(append(out, s.flush()...)), false
}

func TestEndScanner(t *testing.T) {
	m := &endMarker{text: []byte("\x1b_END\x1b\\")}
	marker := string(m.text)
	cases := []struct {
		name     string
		chunks   []string
		armAfter int
		want     string
		found    bool
	}{
		{"unarmed passes the marker", []string{"a" + marker + "b"}, 9, "a" + marker + "b", false},
		{"armed, in one chunk", []string{"ab" + marker}, 0, "ab", true},
		{"output after the marker is kept", []string{"ab" + marker + "late"}, 0, "ablate", true},
		{"split across chunks", []string{"ab\x1b_E", "ND\x1b", "\\"}, 0, "ab", true},
		{"a false start is released", []string{"ab\x1b_E", "Nx", "y"}, 0, "ab\x1b_ENxy", false},
		{"a false start then the marker", []string{"\x1b_", "\x1b_END", "\x1b\\"}, 0, "\x1b_", true},
		{"held bytes come out at the end", []string{"ab\x1b_EN"}, 0, "ab\x1b_EN", false},
		{"armed between chunks", []string{"x\x1b_", "END\x1b\\"}, 1, "x\x1b_END\x1b\\", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.armed.Store(false)
			var chunks [][]byte
			for _, s := range c.chunks {
				chunks = append(chunks, []byte(s))
			}
			got, found := scanAll(m, chunks, c.armAfter)
			if got != c.want || found != c.found {
				t.Errorf("got %q, found %v; want %q, %v", got, found, c.want, c.found)
			}
		})
	}
}

// FuzzEndScanner: whatever the output and however it is cut into reads,
// the scanner passes it unchanged and stops exactly at the marker.
func FuzzEndScanner(f *testing.F) {
	f.Add([]byte("hello\x1b_VRAMRUN"), []byte{3, 1, 7})
	f.Add([]byte("\x1b\x1b_\x1b_VRAMRUN-END-\x1b"), []byte{1, 1, 1, 2})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		m := newEndMarker()
		if bytes.Contains(data, m.text) {
			t.Skip("the output holds the random marker")
		}
		stream := append(append([]byte(nil), data...), m.text...)
		stream = append(stream, "after"...)
		var chunks [][]byte
		for _, c := range cuts {
			n := min(int(c), len(stream))
			chunks = append(chunks, stream[:n])
			stream = stream[n:]
		}
		chunks = append(chunks, stream)
		// What follows the marker in the same read is kept; later reads
		// are not made.
		got, found := scanAll(m, chunks, 0)
		rest, ok := strings.CutPrefix(got, string(data))
		if !found || !ok || !strings.HasPrefix("after", rest) {
			t.Fatalf("found %v, output %q; want %q then part of \"after\"", found, got, data)
		}
	})
}

// TestEndMarkerSurvivesOutputProcessing: the marker has no byte that a
// pty's output processing changes.
func TestEndMarkerSurvivesOutputProcessing(t *testing.T) {
	for _, b := range newEndMarker().text {
		if b != 0x1b && (b < 0x20 || b > 0x7e || b >= 'a' && b <= 'z') {
			t.Errorf("marker byte %q may be changed by OPOST", b)
		}
	}
}
