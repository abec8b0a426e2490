package oom_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

const (
	oomLine = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.30 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.05 GiB is free. Of the allocated memory 16.81 GiB is allocated by PyTorch, and 1.02 GiB is reserved by PyTorch but unallocated."
	jaxLine = "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 33762398024 bytes."
)

// seen records what a scanner reports, as "id@line".
type seen []string

func (s *seen) record(m oom.Match) { *s = append(*s, fmt.Sprintf("%s@%d", m.Pattern.ID, m.LineNo)) }

func scan(t *testing.T, writes ...string) seen {
	t.Helper()
	var got seen
	s := oom.NewScanner(builtinMatcher(t), got.record)
	for _, w := range writes {
		if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestScannerFindsOOMInsideProgressBar(t *testing.T) {
	// tqdm redraws with \r; the OOM text sits in a \r-separated segment
	// between two redraws, with no \n before the next redraw.
	out := "step 1\n" + "  1%|  | 10/1000\r  2%|  | 20/1000\r" + jaxLine + "\r  3%|  | 30/1000\n"
	got := scan(t, out)
	if want := "jax.out_of_memory@4"; strings.Join(got, ",") != want {
		t.Errorf("matches %v, want %s", got, want)
	}
}

func TestScannerCountsCRLFAsOneBreak(t *testing.T) {
	// A pseudo-terminal turns \n into \r\n; line numbers must not double.
	plain := scan(t, "a\nb\n"+oomLine+"\n")
	pty := scan(t, "a\r\nb\r\n"+oomLine+"\r\n")
	// The \r and the \n of one break arriving in separate writes.
	split := scan(t, "a\r", "\nb\r", "\n"+oomLine+"\r", "\n")
	want := "pytorch.caching_allocator@3"
	for name, got := range map[string]seen{"\\n": plain, "\\r\\n": pty, "split \\r\\n": split} {
		if strings.Join(got, ",") != want {
			t.Errorf("%s: matches %v, want %s", name, got, want)
		}
	}
}

func TestScannerByteAtATime(t *testing.T) {
	out := "epoch 1\n" + oomLine + "\nmore output\n" + jaxLine + "\n"
	writes := make([]string, len(out))
	for i := range out {
		writes[i] = out[i : i+1]
	}
	got := scan(t, writes...)
	want := "pytorch.caching_allocator@2,jax.out_of_memory@4"
	if strings.Join(got, ",") != want {
		t.Errorf("matches %v, want %s", got, want)
	}
}

func TestScannerFindsUnterminatedLastLineOnClose(t *testing.T) {
	var got seen
	s := oom.NewScanner(builtinMatcher(t), got.record)
	if _, err := s.Write([]byte("epoch 1\n" + jaxLine)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("matched %v before the line ended", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "jax.out_of_memory@2"; strings.Join(got, ",") != want {
		t.Errorf("matches %v, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if len(got) != 1 {
		t.Errorf("matches after Close: %v", got)
	}
}

func TestScannerReportsGroupsAndLine(t *testing.T) {
	var got []oom.Match
	s := oom.NewScanner(builtinMatcher(t), func(m oom.Match) { got = append(got, m) })
	s.Write([]byte(oomLine + "\n"))
	s.Close()
	if len(got) != 1 {
		t.Fatalf("%d matches, want 1", len(got))
	}
	m := got[0]
	if m.Line != oomLine || m.LineNo != 1 || m.Pattern.Kind != "gpu" || m.Pattern.Framework != "pytorch" {
		t.Errorf("match %+v", m)
	}
	if m.Groups["tried"] != "2.30 GiB" || m.Groups["device"] != "0" || m.Groups["capacity"] != "23.64 GiB" {
		t.Errorf("groups %v", m.Groups)
	}
}

func TestScannerIgnoresDetailAndOrdinaryLines(t *testing.T) {
	got := scan(t, "Process 12345 has 3.20 GiB memory in use.\n",
		"INFO: checking for out of memory conditions\n",
		"tests/test_out_of_memory.py PASSED\n")
	if len(got) != 0 {
		t.Errorf("matches %v, want none", got)
	}
}

func TestScannerWithoutPatternsOrCallback(t *testing.T) {
	m, err := oom.Compile(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := oom.NewScanner(m, nil)
	if _, err := s.Write([]byte(oomLine + "\n")); err != nil {
		t.Error(err)
	}
	s = oom.NewScanner(builtinMatcher(t), nil)
	if _, err := s.Write([]byte(oomLine + "\n")); err != nil {
		t.Error(err)
	}
}
