package oom_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

// TestPrefilterAgreesWithTheRegexps checks that the literal prefilter never
// hides a match: on every corpus line, and on each line cut down around its
// middle, the prefiltered answer equals trying every pattern in order.
func TestPrefilterAgreesWithTheRegexps(t *testing.T) {
	m := builtinMatcher(t)
	type plain struct {
		id string
		re *regexp.Regexp
	}
	var all []plain
	seen := map[string]bool{}
	for _, p := range builtinPatterns() {
		if p.Detail || seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		all = append(all, plain{p.ID, regexp.MustCompile(p.Regexp)})
	}
	bruteForce := func(line string) string {
		for _, p := range all {
			if p.re.MatchString(line) {
				return p.id
			}
		}
		return ""
	}
	matched := 0
	for _, line := range corpusLines(t) {
		for _, variant := range []string{line, line[:len(line)/2], line[len(line)/2:], strings.ToUpper(line)} {
			want := bruteForce(variant)
			if got := m.FirstTriggerID(variant); got != want {
				t.Errorf("%q: prefiltered %q, every pattern %q", variant, got, want)
			}
			if want != "" {
				matched++
			}
		}
	}
	if matched < 30 {
		t.Errorf("only %d matching lines checked", matched)
	}
}

func TestScannerKeepsALongLineBounded(t *testing.T) {
	var got seen
	s := oom.NewScanner(builtinMatcher(t), got.record)
	chunk := []byte(strings.Repeat("x", 1<<20))
	for range 10 { // 10 MiB with no line break
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if n, c := oom.ScannerLineBuffer(s); n > oom.MaxLine || c > oom.MaxLine {
			t.Fatalf("line buffer %d bytes (capacity %d), want at most %d", n, c, oom.MaxLine)
		}
	}
	if _, err := s.Write([]byte("\n" + jaxLine + "\n")); err != nil {
		t.Fatal(err)
	}
	if n, c := oom.ScannerLineBuffer(s); n != 0 || c > oom.MaxLine {
		t.Errorf("line buffer %d bytes (capacity %d) after the break", n, c)
	}
	s.Close()
	if want := "jax.out_of_memory@2"; strings.Join(got, ",") != want {
		t.Errorf("matches %v, want %s", got, want)
	}
}
