package oom

import (
	"bytes"
	"testing"
)

// FuzzLineSplitterWindows: whatever the stream and however it is written,
// each line comes out either whole (up to MaxLine bytes) or as windows of at
// most MaxLine bytes that overlap by exactly lineOverlap and together make
// up the line, so every text of up to lineOverlap bytes is whole in one.
func FuzzLineSplitterWindows(f *testing.F) {
	f.Add(MaxLine-1, 3*MaxLine+7, 4096)
	f.Add(MaxLine, MaxLine+1, 1)
	f.Add(2*MaxLine, 0, 0)
	f.Add(10<<20, 5, 65537)
	f.Add(5, MaxLine+lineOverlap, 7919)
	f.Fuzz(func(t *testing.T, first, second, chunk int) {
		if first < 0 || second < 0 || first > 12<<20 || second > 12<<20 {
			return
		}
		var lines [][]byte
		s := lineSplitter{emit: func(w []byte, cont bool) {
			if len(w) > MaxLine {
				t.Fatalf("window of %d bytes", len(w))
			}
			if !cont {
				lines = append(lines, append([]byte(nil), w...))
				return
			}
			last := lines[len(lines)-1]
			if !bytes.HasSuffix(last, w[:lineOverlap]) {
				t.Fatalf("window does not start with the last %d bytes of the one before", lineOverlap)
			}
			lines[len(lines)-1] = append(last, w[lineOverlap:]...)
		}}
		want := [][]byte{counting(first, 0), counting(second, 7)}
		stream := append(append(append([]byte(nil), want[0]...), '\n'), want[1]...)
		for p := stream; len(p) > 0; {
			n := len(p)
			if chunk > 0 {
				n = min(n, chunk)
			}
			s.write(p[:n])
			p = p[n:]
		}
		s.flush()
		if second == 0 {
			want = want[:1]
		}
		if len(lines) != len(want) {
			t.Fatalf("%d lines, want %d", len(lines), len(want))
		}
		for i := range want {
			if !bytes.Equal(lines[i], want[i]) {
				t.Errorf("line %d: %d bytes put back together, want %d", i+1, len(lines[i]), len(want[i]))
			}
		}
	})
}

// counting is n bytes with no line break that differ along the line.
func counting(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i/7+seed)%26)
	}
	return b
}

// FuzzLineSplitterBreaks: however a stream of short lines is cut into
// writes, the lines come out as a plain reading of it gives them: broken at
// "\n", "\r" and "\r\n" (one break), each with its stream offset.
func FuzzLineSplitterBreaks(f *testing.F) {
	f.Add([]byte("a\nbb\r\ncc\rdd\n\n\r\r\nend"), uint8(3))
	f.Add([]byte("\r\n\r\n\n\r"), uint8(1))
	f.Add([]byte("progress 1\rprogress 2\rdone\r\nnext line\n"), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		type line struct {
			text  string
			start int64
		}
		var want []line
		from := 0
		for i := 0; i < len(stream); i++ {
			if stream[i] != '\n' && stream[i] != '\r' {
				continue
			}
			want = append(want, line{string(stream[from:i]), int64(from)})
			if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
				i++
			}
			from = i + 1
		}
		if from < len(stream) {
			want = append(want, line{string(stream[from:]), int64(from)})
		}
		var got []line
		var s lineSplitter
		s.emit = func(w []byte, cont bool) {
			if cont {
				t.Fatalf("a window of a short line")
			}
			got = append(got, line{string(w), s.start})
		}
		for p := stream; len(p) > 0; {
			n := min(len(p), max(int(chunk), 1))
			s.write(p[:n])
			p = p[n:]
		}
		s.flush()
		if len(got) != len(want) {
			t.Fatalf("%d lines %v, want %d %v", len(got), got, len(want), want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("line %d: %q at %d, want %q at %d", i+1, got[i].text, got[i].start, want[i].text, want[i].start)
			}
		}
	})
}
