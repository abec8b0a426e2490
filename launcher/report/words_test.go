package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/record"
)

func TestDurationWords(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "1.5 s", 125 * time.Second: "2m05s", 3*time.Hour + 4*time.Minute: "3h04m",
	} {
		if got := duration(start, start.Add(d)); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := duration(start, time.Time{}); got != "" {
		t.Errorf("an attempt without an end has duration %q", got)
	}
}

func TestRunOutcomeWords(t *testing.T) {
	for _, c := range []struct {
		outcome  string
		attempts int
		want     string
	}{
		{record.OutcomeOK, 1, "ran to the end on the first attempt"},
		{record.OutcomeOK, 2, "fits: ran to the end after 1 relaunch"},
		{record.OutcomeGaveUp, 6, "gave up: still out of memory after 6 attempts"},
		{record.OutcomeInterrupted, 1, "interrupted"},
		{record.OutcomeRunning, 1, "still running (or vramrun was killed)"},
	} {
		r := &record.Run{End: record.End{Outcome: c.outcome}, Attempts: make([]record.Attempt, c.attempts)}
		if got := runOutcome(r); got != c.want {
			t.Errorf("runOutcome(%s, %d attempts) = %q, want %q", c.outcome, c.attempts, got, c.want)
		}
	}
}

func TestFind(t *testing.T) {
	runs := t.TempDir()
	for _, id := range []string{"20260314-092653-a1b2c3", "20260314-101010-ffffff", "20260315-080000-000001"} {
		dir := filepath.Join(runs, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r := &record.Run{ID: id, Argv: []string{"true"}, End: record.End{Outcome: record.OutcomeOK}}
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ id, want, err string }{
		{"", "20260315-080000-000001", ""},
		{"20260314-092653-a1b2c3", "20260314-092653-a1b2c3", ""},
		{"20260314-10", "20260314-101010-ffffff", ""},
		{"20260314", "", `run id "20260314" is ambiguous: it matches 20260314-101010-ffffff, 20260314-092653-a1b2c3`},
		{"nope", "", `no run "nope" in this project (vramrun runs lists them)`},
	} {
		r, dir, err := Find(runs, c.id)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Find(%q) error = %v, want %q", c.id, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Find(%q): %v", c.id, err)
			continue
		}
		if r.ID != c.want || dir != filepath.Join(runs, c.want) {
			t.Errorf("Find(%q) = %s in %s, want %s", c.id, r.ID, dir, c.want)
		}
	}
	_, _, err := Find(filepath.Join(runs, "missing"), "")
	if err == nil || !strings.Contains(err.Error(), "no runs in this project yet") {
		t.Errorf("Find in a project without runs: %v", err)
	}
}
