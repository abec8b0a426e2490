package oom_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

// junk is n bytes of one line's worth of output with no line break and none
// of the OOM texts' literals (a progress bar that never redraws, a huge
// JSON blob).
func junk(n int) []byte {
	const unit = "[##########-------] 0.123 it/s {\"k\": [1, 2, 3]} "
	return bytes.Repeat([]byte(unit), n/len(unit)+1)[:n]
}

// longLineSizes are the junk lengths before an OOM text on its line: under
// MaxLine (always found), past it, around the window boundaries, and far
// past it.
var longLineSizes = []int{
	60 << 10, 100 << 10, 10 << 20,
	oom.MaxLine - len(oomLine), oom.MaxLine - len(oomLine)/2, oom.MaxLine,
	oom.MaxLine + oom.MaxLine/2 - len(oomLine)/2, 3*oom.MaxLine/2 + 1,
}

// TestScannerFindsOOMAfterLongJunk: an OOM text is found however much the job
// printed before it on the same line, whether the line ends right after it,
// goes on for megabytes, or the stream just stops; and whatever the writes'
// sizes. It is reported once, on line 2.
func TestScannerFindsOOMAfterLongJunk(t *testing.T) {
	tails := map[string]string{"newline": "\n", "cr": "\r", "more junk": string(junk(5<<20)) + "\n", "eof": ""}
	for _, n := range longLineSizes {
		for tailName, tail := range tails {
			for _, chunk := range []int{0, 4096, 7919} {
				name := fmt.Sprintf("%d/%s/chunk%d", n, tailName, chunk)
				out := "epoch 1\n" + string(junk(n)) + oomLine + tail + "next line\n"
				got := strings.Join(scan(t, chunks(out, chunk)...), ",")
				if want := "pytorch.caching_allocator@2"; got != want {
					t.Errorf("%s: matches %q, want %q", name, got, want)
				}
			}
		}
	}
}

// chunks cuts s into writes of size n (0: one write).
func chunks(s string, n int) []string {
	if n <= 0 {
		return []string{s}
	}
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// TestDiagnoseFindsOOMAfterLongJunk: Diagnose finds the text and its figures
// in the same lines, and keeps the latest of several on one long line.
func TestDiagnoseFindsOOMAfterLongJunk(t *testing.T) {
	m := builtinMatcher(t)
	for _, n := range longLineSizes {
		for _, tail := range []string{"\n", "", string(junk(3<<20)) + "\n"} {
			log := "epoch 1\n" + string(junk(n)) + oomLine + tail + "after\n"
			d, err := oom.Diagnose(m, strings.NewReader(log), oom.Ending{Exited: true, ExitCode: 1}, "")
			if err != nil {
				t.Fatal(err)
			}
			tried := "null"
			if d.TriedBytes != nil {
				tried = fmt.Sprint(*d.TriedBytes)
			}
			// 2.30 GiB, as ParseSize reads it.
			want, _ := oom.ParseSize("2.30 GiB")
			if !d.OOM || d.Signature != "pytorch.caching_allocator" || tried != fmt.Sprint(want) {
				t.Errorf("%d bytes before, tail %d bytes: OOM %v %s tried %s; want pytorch.caching_allocator, %d",
					n, len(tail), d.OOM, d.Signature, tried, want)
			}
			if !strings.Contains(d.Message, oomLine) {
				t.Errorf("%d bytes before: message lacks the OOM text", n)
			}
		}
	}
	// Two texts on one 10 MiB line: the later one is the diagnosis.
	log := string(junk(1<<20)) + oomLine + string(junk(5<<20)) + jaxLine + string(junk(4<<20)) + "\n"
	d, err := oom.Diagnose(m, strings.NewReader(log), oom.Ending{}, "")
	if err != nil || d.Signature != "jax.out_of_memory" {
		t.Errorf("two texts on one line: %s, %v; want the later, jax.out_of_memory", d.Signature, err)
	}
}

// TestLongLineMemoryBounded: what the Scanner and Diagnose allocate for a
// line does not grow with its length: 10 MiB of junk before the text costs
// no more allocations than 100 KiB, and more junk written to a line already
// past MaxLine allocates nothing.
func TestLongLineMemoryBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not the code's under the race detector (see race_test.go)")
	}
	m := builtinMatcher(t)
	diagAllocs := func(n int) float64 {
		log := append(junk(n), oomLine+"\n"...)
		return testing.AllocsPerRun(5, func() {
			if _, err := oom.Diagnose(m, bytes.NewReader(log), oom.Ending{}, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	if small, big := diagAllocs(100<<10), diagAllocs(10<<20); big > small {
		t.Errorf("Diagnose: %.0f allocations with 10 MiB before the text, %.0f with 100 KiB", big, small)
	}

	s := oom.NewScanner(m, func(oom.Match) {})
	more := junk(1 << 20)
	if _, err := s.Write(more); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(10, func() { _, _ = s.Write(more) }); allocs != 0 {
		t.Errorf("Scanner: %.1f allocations per MiB of an over-long line, want 0", allocs)
	}
	if n, c := oom.ScannerLineBuffer(s); n > oom.MaxLine || c > oom.MaxLine {
		t.Errorf("line buffer %d bytes (capacity %d), want at most %d", n, c, oom.MaxLine)
	}
}
