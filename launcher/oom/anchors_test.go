package oom

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/jax"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/slurm"
	"github.com/vramrun/vramrun/plugins/tensorflow"
	"github.com/vramrun/vramrun/sdk"
)

func builtinForAnchors(tb testing.TB) *Matcher {
	tb.Helper()
	var ps []sdk.OOMPattern
	for _, p := range [][]sdk.OOMPattern{pytorch.Patterns(), tensorflow.Patterns(), jax.Patterns(), slurm.Patterns()} {
		ps = append(ps, p...)
	}
	m, err := Compile(ps, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestAnchorsCoverEveryTriggerLiteral(t *testing.T) {
	m := builtinForAnchors(t).filters()
	if m.anchors == nil {
		t.Fatal("no anchors for the built-in patterns: every line would go through the regexps")
	}
	for _, l := range m.triggers.literals {
		found := false
		for _, a := range m.anchors.anchors {
			found = found || bytes.Contains(l, a.text)
		}
		if !found {
			t.Errorf("literal %q contains no anchor", l)
		}
	}
	if len(m.anchors.anchors) >= len(m.triggers.literals) {
		t.Errorf("%d anchors for %d literals: no fewer searches than before", len(m.anchors.anchors), len(m.triggers.literals))
	}
}

func TestNoAnchorsWhenAPatternHasNoLiteral(t *testing.T) {
	m, err := Compile([]sdk.OOMPattern{
		{ID: "a.lit", Framework: "a", Kind: sdk.KindGPU, Regexp: `CUDA out of memory`},
		{ID: "a.fold", Framework: "a", Kind: sdk.KindGPU, Regexp: `(?i)out of memory`},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.filters().anchors != nil {
		t.Error("anchors chosen although a case-insensitive pattern has no required literal")
	}
	if newAnchorSet([][]byte{[]byte("a\nb")}) != nil {
		t.Error("an anchor chosen for a literal no line can hold")
	}
}

// scanAll runs a Scanner of m over data in writes of size n and lists its
// matches.
func scanAll(m *Matcher, data []byte, n int) []string {
	var got []string
	s := NewScanner(m, func(x Match) { got = append(got, fmt.Sprintf("%s@%d:%q", x.Pattern.ID, x.LineNo, x.Line)) })
	for len(data) > 0 {
		k := min(n, len(data))
		s.Write(data[:k])
		data = data[k:]
	}
	s.Close()
	return got
}

// FuzzAnchorsChangeNothing: the Scanner reports the same matches, and
// Diagnose the same diagnosis, with the anchors as without them (and a log
// in which the Scanner finds nothing diagnoses as no log at all), however the output is cut into writes: an
// anchor split between writes, or a literal at the edge of a long line's
// window, is found all the same.
func FuzzAnchorsChangeNothing(f *testing.F) {
	m := builtinForAnchors(f)
	plain := *m
	noAnchors := *m.filters()
	noAnchors.anchors = nil
	plain.filters = func() *filters { return &noAnchors }
	logs, _ := filepath.Glob("testdata/corpus/*.log")
	for i, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(1+i*7))
	}
	oom := "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.15 GiB of which 1.00 MiB is free."
	f.Add([]byte("step 1\r"+oom+"\r\nnext\n"), uint16(3))
	f.Add([]byte(strings.Repeat("x", MaxLine+100)+oom+"\n"), uint16(4096))
	f.Add([]byte(strings.Repeat("y", 2*MaxLine-20)+oom), uint16(65535))
	f.Add([]byte("slurmstepd: error: Detected 1 oom_kill event in StepId=1.0. Some of the step tasks have been OOM Killed.\n"), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		size := int(n)%(2*MaxLine) + 1
		want := scanAll(&plain, data, size)
		got := scanAll(m, data, size)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("writes of %d: with anchors\n%s\nwithout\n%s", size, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		end := Ending{Exited: true, ExitCode: 1}
		dWant, _ := Diagnose(&plain, bytes.NewReader(data), end, "train.py")
		dGot, _ := Diagnose(m, bytes.NewReader(data), end, "train.py")
		if !reflect.DeepEqual(dGot, dWant) {
			t.Errorf("Diagnose with anchors\n%+v\nwithout\n%+v", dGot, dWant)
		}
		// What vramrun relies on to skip reading the log: when the
		// streaming scanner saw no OOM text, the log tells the diagnosis
		// nothing the ending does not.
		if len(got) == 0 {
			for _, end := range []Ending{end, {Exited: true, Signal: 9, KernelOOM: true, KernelLogRead: true}} {
				dLog, _ := Diagnose(m, bytes.NewReader(data), end, "train.py")
				dNone, _ := Diagnose(m, bytes.NewReader(nil), end, "train.py")
				if !reflect.DeepEqual(dLog, dNone) {
					t.Errorf("no OOM text streamed, yet the log changes the diagnosis:\n%+v\nwithout the log\n%+v", dLog, dNone)
				}
			}
		}
	})
}
