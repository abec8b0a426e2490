package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

var start = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// put writes path (under dir) with content, modified at start+at.
func put(t *testing.T, dir, path, content string, at time.Duration) {
	t.Helper()
	p := filepath.Join(dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, start.Add(at), start.Add(at)); err != nil {
		t.Fatal(err)
	}
}

func hf(dir string) Search {
	return Search{Dir: dir, Since: start, Spec: sdk.Checkpoints{Globs: []string{"out/checkpoint-*"},
		Marker: "trainer_state.json", Step: `^checkpoint-(?P<step>[0-9]+)$`}}
}

func TestNewestCompleteFolder(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "out/checkpoint-5/trainer_state.json", "{}", time.Minute)
	put(t, dir, "out/checkpoint-10/model.safetensors", "w", 2*time.Minute)
	put(t, dir, "out/checkpoint-10/trainer_state.json", "{}", 2*time.Minute+time.Second)
	// Being written when the job died: no marker yet.
	put(t, dir, "out/checkpoint-15/model.safetensors", "w", 3*time.Minute)
	c, ok := Newest(hf(dir))
	if !ok || c.Path != filepath.Join("out", "checkpoint-10") || c.Step == nil || *c.Step != 10 {
		t.Fatalf("Newest = %+v, %v; want out/checkpoint-10 at step 10", c, ok)
	}
	if !c.Written.Equal(start.Add(2*time.Minute + time.Second)) {
		t.Errorf("written %v, want the marker's time", c.Written)
	}
}

func TestNothingFromBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "out/checkpoint-500/trainer_state.json", "{}", -time.Hour)
	if c, ok := Newest(hf(dir)); ok {
		t.Fatalf("Newest = %+v: a checkpoint from before the run", c)
	}
	put(t, dir, "out/checkpoint-2/trainer_state.json", "{}", time.Second)
	if c, ok := Newest(hf(dir)); !ok || c.Path != filepath.Join("out", "checkpoint-2") {
		t.Fatalf("Newest = %+v, %v; want the run's own checkpoint-2 over the older checkpoint-500", c, ok)
	}
}

func TestLastFileTakesItsSiblingsStep(t *testing.T) {
	dir := t.TempDir()
	s := Search{Dir: dir, Since: start, Spec: sdk.Checkpoints{
		Globs: []string{"lightning_logs/version_*/checkpoints/*.ckpt"}, Step: `step=(?P<step>[0-9]+)`}}
	put(t, dir, "lightning_logs/version_0/checkpoints/epoch=0-step=4.ckpt", "{}", time.Minute)
	put(t, dir, "lightning_logs/version_0/checkpoints/last.ckpt", "{}", time.Minute+time.Millisecond)
	put(t, dir, "lightning_logs/version_1/checkpoints/epoch=0-step=8.ckpt", "{}", 2*time.Minute)
	put(t, dir, "lightning_logs/version_1/checkpoints/last.ckpt", "{}", 2*time.Minute+time.Millisecond)
	put(t, dir, "lightning_logs/version_1/checkpoints/empty.ckpt", "", 3*time.Minute)
	c, ok := Newest(s)
	want := filepath.Join("lightning_logs", "version_1", "checkpoints", "last.ckpt")
	if !ok || c.Path != want || c.Step == nil || *c.Step != 8 {
		t.Fatalf("Newest = %+v, %v; want %s at step 8 (an empty file is no checkpoint)", c, ok, want)
	}
}

func TestFileWithoutStepAndAbsoluteGlob(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "out/ckpt.pt", "{}", time.Minute)
	s := Search{Dir: "/elsewhere", Since: start, Settle: time.Millisecond,
		Spec: sdk.Checkpoints{Globs: []string{filepath.Join(dir, "out", "ckpt.pt")}}}
	c, ok := Newest(s)
	if !ok || c.Path != filepath.Join(dir, "out", "ckpt.pt") || c.Step != nil {
		t.Fatalf("Newest = %+v, %v; want the absolute path, step unknown", c, ok)
	}
}

func TestNoGlobMatches(t *testing.T) {
	if c, ok := Newest(hf(t.TempDir())); ok {
		t.Fatalf("Newest = %+v in an empty folder", c)
	}
}
