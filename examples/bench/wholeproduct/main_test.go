package main

import (
	"strings"
	"testing"
)

// TestBenchSmall runs the whole benchmark small (1 MB, one timed run per
// side) against a real build of vramrun, so that the program a newcomer
// runs keeps working. It checks the table's shape and that every copy was
// byte-exact; it asserts nothing about time, which depends on the machine.
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vramrun")
	}
	cfg := config{size: 1e6, runs: 1, tmp: t.TempDir()}
	var progress strings.Builder
	res, err := bench(cfg, &progress)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, progress.String())
	}
	if len(res.mismatches) > 0 {
		t.Errorf("copies not byte-exact:\n%s", strings.Join(res.mismatches, "\n"))
	}
	var out strings.Builder
	printResult(&out, cfg, res)
	table := out.String()
	t.Log("\n" + table)
	starts := []string{"| pipes: ", "| pty: ", "| start: ", "| `vramrun version`"}
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| what ") {
			rows = append(rows, line)
		}
	}
	if len(rows) != len(starts) {
		t.Fatalf("table has %d rows, want %d:\n%s", len(rows), len(starts), table)
	}
	for i, want := range starts {
		if !strings.HasPrefix(rows[i], want) {
			t.Errorf("row %d = %q, want it to start with %q", i+1, rows[i], want)
		}
		if strings.Count(rows[i], " | ") != 4 {
			t.Errorf("row %d has not 5 cells: %q", i+1, rows[i])
		}
	}
	if !strings.Contains(table, "all copies byte-exact") {
		t.Errorf("no byte-exact line:\n%s", table)
	}
}
