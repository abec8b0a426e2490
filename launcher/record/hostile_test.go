package record

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vramrun/vramrun/profiles/safefs"
)

const someRunID = "20260102-150405.123-a1b2c3"

// A runs folder that is a symlink (a cloned repository can carry one) is
// neither listed nor pruned: what it points at is not vramrun's.
func TestSymlinkedRunsFolderIsNotPruned(t *testing.T) {
	outside := t.TempDir()
	for i := 0; i < 3; i++ {
		if err := os.Mkdir(filepath.Join(outside, fmt.Sprintf("20260102-150405.%03d-a1b2c3", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runs := filepath.Join(t.TempDir(), "runs")
	if err := os.Symlink(outside, runs); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(runs, 1)
	var refused *safefs.Error
	if !errors.As(err, &refused) || len(removed) != 0 || !strings.Contains(err.Error(), runs+" is a symlink") {
		t.Errorf("Prune = %v, %v", removed, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 3 {
		t.Errorf("the symlink's target lost folders: %d left", len(entries))
	}
	if _, err := List(runs); !errors.As(err, &refused) {
		t.Errorf("List through a symlink: %v", err)
	}
}

// A run.json that is a named pipe is refused at once, not read for ever,
// by List, Read and Prune alike.
func TestRunRecordThatIsAPipeIsRefused(t *testing.T) {
	runs := t.TempDir()
	dir := filepath.Join(runs, someRunID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	var refused *safefs.Error
	if _, err := Read(dir); !errors.As(err, &refused) {
		t.Errorf("Read: %v", err)
	}
	if runs, err := List(runs); err != nil || len(runs) != 0 {
		t.Errorf("List = %v, %v", runs, err)
	}
	if _, err := Prune(runs, 0); err != nil {
		t.Errorf("Prune: %v", err)
	}
}

// An attempt log planted as a symlink is not followed.
func TestCappedLogDoesNotFollowASymlink(t *testing.T) {
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "attempt-1.log")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCappedLog(path, 16, 16); err == nil {
		t.Fatal("NewCappedLog followed a symlink")
	}
	if got, _ := os.ReadFile(target); string(got) != "keep me\n" {
		t.Errorf("the symlink's target became %q", got)
	}
}

// plugins.log keeps its head and tail, however much a plugin logs, and
// says how much was cut; lines before Open beyond the buffer are counted.
func TestPluginLogIsCapped(t *testing.T) {
	var l PluginLog
	line := []byte(strings.Repeat("x", 99) + "\n")
	early := 0
	for early < pluginLogBuffer+10*len(line) {
		l.Write(line)
		early += len(line)
	}
	path := filepath.Join(t.TempDir(), "plugins.log")
	if err := l.Open(path); err != nil {
		t.Fatal(err)
	}
	total := 50 << 20
	for n := 0; n < total; n += len(line) {
		l.Write(line)
	}
	l.Write([]byte("the last line\n"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Write(line) // after Close: dropped, no panic
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > PluginLogHead+PluginLogTail+1000 {
		t.Errorf("plugins.log is %d bytes, more than its caps", len(got))
	}
	if !bytes.Contains(got, []byte("bytes of the plugins' lines cut here, before the run's folder existed")) ||
		!bytes.Contains(got, []byte("bytes of output cut here")) || !bytes.HasSuffix(got, []byte("the last line\n")) {
		t.Errorf("plugins.log lacks its cut lines or its end:\n%s", got[len(got)-200:])
	}
}

// A record that cannot be written is said once, not after every event.
func TestKeeperWarnsOnce(t *testing.T) {
	var warnings []string
	k := NewKeeper(filepath.Join(t.TempDir(), "missing"), func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf(format, args...))
	})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k.On(RunStarted{ID: someRunID, Started: now})
	k.On(AttemptEnded{Attempt: Attempt{N: 1}})
	k.On(RunEnded{Ended: now})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "could not write the run record") {
		t.Errorf("warnings = %q", warnings)
	}
}
