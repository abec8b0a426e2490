package supervise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/gpuview"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

// said keeps the supervisor's lines.
type said struct {
	mu    sync.Mutex
	lines []string
}

func (s *said) add(level, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, level+": "+fmt.Sprintf(format, args...))
}
func (s *said) Info(format string, args ...any)    { s.add("info", format, args...) }
func (s *said) Warn(format string, args ...any)    { s.add("warn", format, args...) }
func (s *said) Verbose(format string, args ...any) { s.add("verbose", format, args...) }
func (s *said) SetRaw(func() bool)                 {}
func (s *said) SetMidLine(func() bool)             {}

func (s *said) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

var submitted = regexp.MustCompile(`Job '([^']+)' submitted successfully`)

// stopper is a fake stop command: it writes the id it is given to file
// and says so, or fails with fail's text.
func stopper(file, fail string) func(id string) []string {
	return func(id string) []string {
		if fail != "" {
			return []string{"sh", "-c", "echo \"$0\" >&2; exit 1", fail}
		}
		return []string{"sh", "-c", `printf '%s\n' "$1" >> "$0"; echo "Job '$1' was stopped"`, file, id}
	}
}

// superviseHandOff runs script (sh -c) as one attempt whose command hands
// its job on to h, and returns the result and what the supervisor said.
func superviseHandOff(t *testing.T, script string, h *HandOff) (Result, *said) {
	t.Helper()
	m, err := oom.Compile([]sdk.OOMPattern{{ID: "toy.oom", Framework: "toy", Kind: sdk.KindGPU, Regexp: `TOY OUT OF MEMORY`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	say := &said{}
	s := New(Config{
		Streams: Streams{Stdout: out, Stderr: out}, PTY: "never",
		// The job hangs after its OOM text for good: the grace only says
		// how soon the supervisor ends it.
		Timing: Timing{Grace: 20 * time.Millisecond},
		RunDir: dir, Matcher: m, GPU: gpuview.New(nil, nil, time.Second, say), Say: say,
	})
	res, err := s.Run(context.Background(), Attempt{N: 1, Argv: []string{"sh", "-c", script}, Env: map[string]string{"PATH": os.Getenv("PATH")},
		Dir: dir, Marker: "test/1", HandOff: h})
	if err != nil {
		t.Fatal(err)
	}
	return res, say
}

const hangs = `echo "2026-12-03 10:00:00,000	SUCC cli.py:277 -- Job 'raysubmit_T1' submitted successfully"; echo 'TOY OUT OF MEMORY'; exec sleep 1000`

// TestHandOffStoppedAfterAHang: the supervisor ends a command that hung
// after an OOM text, and then runs the hand-off's stop command with the
// id the command's output named, saying so in one line and in a note.
func TestHandOffStoppedAfterAHang(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stopped")
	res, say := superviseHandOff(t, hangs, &HandOff{Find: submitted, Stop: stopper(file, "")})
	if !res.Facts.Hung {
		t.Fatalf("the attempt did not hang: %+v", res.Facts)
	}
	if got, _ := os.ReadFile(file); string(got) != "raysubmit_T1\n" {
		t.Errorf("the stop command got %q, want raysubmit_T1", got)
	}
	if !strings.Contains(say.String(), "info: stopped the job the command handed on: sh -c ") ||
		!strings.Contains(say.String(), ": Job 'raysubmit_T1' was stopped") {
		t.Errorf("said:\n%s", say)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "vramrun stopped the job the command handed on") {
		t.Errorf("notes %q", res.Notes)
	}
}

// TestHandOffNamedID: a command that names its job's id has that id
// stopped, its output naming none.
func TestHandOffNamedID(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stopped")
	superviseHandOff(t, "echo 'TOY OUT OF MEMORY'; exec sleep 1000", &HandOff{ID: "run1", Find: submitted, Stop: stopper(file, "")})
	if got, _ := os.ReadFile(file); string(got) != "run1\n" {
		t.Errorf("the stop command got %q, want run1", got)
	}
}

// TestHandOffNotStopped: a command that exits of itself took its job's
// end with it (nothing to stop); one that named no job before it was
// ended submitted none.
func TestHandOffNotStopped(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stopped")
	res, say := superviseHandOff(t, `echo "Job 'raysubmit_T2' submitted successfully"; echo 'TOY OUT OF MEMORY'; exit 1`,
		&HandOff{Find: submitted, Stop: stopper(file, "")})
	if res.Facts.Status != 1 || res.Facts.Hung {
		t.Fatalf("facts %+v", res.Facts)
	}
	if _, err := os.Stat(file); err == nil || strings.Contains(say.String(), "stopped the job") {
		t.Errorf("a command that exited of itself had its job stopped:\n%s", say)
	}
	_, say = superviseHandOff(t, "echo 'TOY OUT OF MEMORY'; exec sleep 1000", &HandOff{Find: submitted, Stop: stopper(file, "")})
	if _, err := os.Stat(file); err == nil || !strings.Contains(say.String(), "verbose: the command hands its job on, but its output named no job") {
		t.Errorf("no id, yet a stop:\n%s", say)
	}
}

// TestHandOffStopFails: a stop command that fails is reported, in one
// warning with its last line, and the attempt ends as it would.
func TestHandOffStopFails(t *testing.T) {
	res, say := superviseHandOff(t, hangs, &HandOff{Find: submitted, Stop: stopper("", "Job raysubmit_T1 does not exist")})
	if !res.Facts.Hung {
		t.Fatalf("facts %+v", res.Facts)
	}
	want := "warn: could not stop the job the command handed on (sh -c "
	if !strings.Contains(say.String(), want) || !strings.Contains(say.String(), "exit status 1: Job raysubmit_T1 does not exist): it may still hold its GPUs") {
		t.Errorf("said:\n%s\nwant a warning %q...", say, want)
	}
}

// TestIDFinder: the id is found in a line however the writes split it, in
// a terminal's \r\n line or its colours, and the first one found stays.
func TestIDFinder(t *testing.T) {
	f := &idFinder{re: submitted}
	for _, chunk := range []string{"noise\nJob 'rays", "ubmit_A' submitted succ", "essfully\r\n", "Job 'raysubmit_B' submitted successfully\n"} {
		_, _ = f.Write([]byte(chunk))
	}
	if got := f.found(); got != "raysubmit_A" {
		t.Errorf("found %q, want raysubmit_A", got)
	}
	g := &idFinder{re: submitted}
	_, _ = g.Write([]byte("\x1b[32mJob 'raysubmit_C' submitted successfully\x1b[39m"))
	if got := g.found(); got != "raysubmit_C" {
		t.Errorf("found %q in an unfinished coloured line", got)
	}
	long := &idFinder{re: submitted}
	_, _ = long.Write([]byte(strings.Repeat("x", 2*maxIDLine) + "Job 'raysubmit_D' submitted successfully\n"))
	if got := long.found(); got != "" {
		t.Errorf("found %q past the line's first %d bytes", got, maxIDLine)
	}
}

// TestHandOffStoppedAfterASignal: a command killed by a signal (an
// interrupt from its terminal, say) did not end of itself: its job is
// stopped.
func TestHandOffStoppedAfterASignal(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stopped")
	res, _ := superviseHandOff(t, `echo "Job 'raysubmit_T3' submitted successfully"; kill -TERM $$`, &HandOff{Find: submitted, Stop: stopper(file, "")})
	if res.Facts.Signal == 0 {
		t.Fatalf("facts %+v", res.Facts)
	}
	if got, _ := os.ReadFile(file); string(got) != "raysubmit_T3\n" {
		t.Errorf("the stop command got %q, want raysubmit_T3", got)
	}
}
