package oom

import (
	"fmt"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestDiagnoserStateStaysBounded feeds many OOM and Detail lines and checks
// that what the diagnoser keeps does not grow with the output.
func TestDiagnoserStateStaysBounded(t *testing.T) {
	m, err := Compile([]sdk.OOMPattern{
		{ID: "acme.block", Framework: "acme", Kind: sdk.KindGPU, Regexp: `BLOCK`,
			Follow: []string{`free (?P<free>\d+)`, `held (?P<reserved_unallocated>\d+)`}},
		{ID: "acme.crash", Framework: "acme", Kind: sdk.KindGPU, Regexp: `CRASH`},
		{ID: "acme.peer", Framework: "acme", Kind: sdk.KindGPU, Detail: true, Regexp: `peer (?P<pid>\d+) uses (?P<used>\d+)`},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &diagnoser{m: m}
	d.split.emit = d.line
	followBudget := 2*2 + 2
	for i := range 5000 {
		var line string
		switch i % 5 {
		case 0:
			line = "BLOCK"
		case 3:
			line = "CRASH"
		default:
			line = fmt.Sprintf("peer %d uses 1 peer %d uses 2 free 1", i, i+1)
		}
		d.write([]byte(line + "\n"))
		if len(d.history) > historyCap || len(d.recent) > detailRadius {
			t.Fatalf("line %d: %d earlier matches, %d recent detail lines", i, len(d.history), len(d.recent))
		}
		if c := d.cand; c != nil {
			if len(c.lines) > 1+followBudget || len(c.nearby) > 2*detailRadius+1+followBudget || len(c.others) > maxOthers {
				t.Fatalf("line %d: candidate keeps %d lines, %d nearby, %d others", i, len(c.lines), len(c.nearby), len(c.others))
			}
		}
	}
	// The last trigger was line 4998 (i%5 == 3).
	if got := d.diagnosis(Ending{}); got.Signature != "acme.crash" {
		t.Errorf("signature %q, want the last match", got.Signature)
	}
}

func TestRequiredLiteral(t *testing.T) {
	tests := []struct {
		expr, want string
		ok         bool
	}{
		{`CUDA out of memory\. Tried to allocate (?P<tried>\d+)`, "CUDA out of memory. Tried to allocate ", true},
		{`a(?P<x>long literal)+b`, "long literal", true},
		{`a+bcd(?:e|f)`, "bcd", true},
		{`(?i)out of memory`, "", false},
		{`foo|bar`, "", false},
		{`(?:foo)?`, "", false},
		{`\d+`, "", false},
	}
	for _, tc := range tests {
		got, ok := requiredLiteral(tc.expr)
		if ok != tc.ok || got != tc.want {
			t.Errorf("requiredLiteral(%q) = %q, %v; want %q, %v", tc.expr, got, ok, tc.want, tc.ok)
		}
	}
}
