package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestProbesBuildAndTime builds the empty program and one probe through the
// overlay, times them once, and checks the table names both, with the
// probe's cost over the empty program; it asserts nothing about time.
func TestProbesBuildAndTime(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cobra := probes()[1]
	if cobra.name != "cobra" {
		t.Fatalf("probes()[1] = %q, want cobra", cobra.name)
	}
	for name, p := range map[string]probe{"empty": {}, "cobra": cobra} {
		if err := build(root, tmp, name, p); err != nil {
			t.Fatal(err)
		}
	}
	progs := []program{
		{label: "empty Go program", argv: []string{filepath.Join(tmp, "empty")}},
		{label: "cobra", argv: []string{filepath.Join(tmp, "cobra")}},
	}
	times, err := timeRounds(progs, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printTable(&out, progs, times, 1)
	table := out.String()
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| links ") {
			rows = append(rows, line)
		}
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "| empty Go program | ") || !strings.HasPrefix(rows[1], "| cobra | ") {
		t.Fatalf("rows = %q, want the empty program and cobra:\n%s", rows, table)
	}
	if !strings.Contains(rows[1], " ms, ") || !strings.HasSuffix(rows[0], "|  |") {
		t.Errorf("the cobra row should say its cost over the empty program, the empty row nothing:\n%s", table)
	}
}

// TestSourceBlankImports: a probe links its packages and does nothing else.
func TestSourceBlankImports(t *testing.T) {
	src := source(probe{imports: []string{"net/http"}})
	if !strings.Contains(src, "\t_ \"net/http\"\n") || !strings.Contains(src, "func main()") {
		t.Errorf("source = %q", src)
	}
}
