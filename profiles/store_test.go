package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenStoreUsesProjectFolder(t *testing.T) {
	root := t.TempDir()
	s, warning, err := OpenStore(root, map[string]string{"HOME": t.TempDir()})
	if err != nil || warning != "" {
		t.Fatalf("OpenStore: %v, warning %q", err, warning)
	}
	if s.Dir != filepath.Join(root, ".vramrun") || s.Fallback {
		t.Errorf("store = %+v", s)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".vramrun", ".gitignore"))
	if err != nil || string(ignore) != "*\n" {
		t.Errorf(".gitignore = %q, %v", ignore, err)
	}
	if s.RunsDir() != filepath.Join(s.Dir, "runs") || s.PlanDir() != filepath.Join(s.Dir, "plan") {
		t.Errorf("runs %q plan %q", s.RunsDir(), s.PlanDir())
	}
	// Opening again keeps a .gitignore the user changed.
	writeFile(t, filepath.Join(root, ".vramrun", ".gitignore"), "*\n!keep\n")
	if _, _, err := OpenStore(root, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, ".vramrun", ".gitignore")); string(got) != "*\n!keep\n" {
		t.Errorf(".gitignore rewritten to %q", got)
	}
}

func expectedFallback(t *testing.T, base, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(base, "vramrun", hex.EncodeToString(sum[:])[:16])
}

// makeUnwritable makes root/.vramrun impossible to create: a read-only
// folder for an ordinary user; for root, whom permissions do not stop, a
// regular file in the folder's place.
func makeUnwritable(t *testing.T, root string) {
	t.Helper()
	if os.Geteuid() == 0 {
		writeFile(t, filepath.Join(root, StoreDirName), "not a folder\n")
		return
	}
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(root, 0o755) })
}

func TestOpenStoreFallsBackWhenProjectIsReadOnly(t *testing.T) {
	root := t.TempDir()
	state := t.TempDir()
	makeUnwritable(t, root)
	s, warning, err := OpenStore(root, map[string]string{"XDG_STATE_HOME": state, "HOME": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := expectedFallback(t, state, root)
	if s.Dir != want || !s.Fallback {
		t.Errorf("store = %+v, want fallback %s", s, want)
	}
	if !strings.Contains(warning, filepath.Join(root, ".vramrun")) || !strings.Contains(warning, want) || strings.Contains(warning, "\n") {
		t.Errorf("warning = %q, want one line naming both folders", warning)
	}
	// The fallback store works.
	if err := s.Record(helperFingerprint(1), helperGPU, Learned{Summary: "bf16"}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Lookup(helperFingerprint(1), helperGPU); err != nil || !ok || got.Summary != "bf16" {
		t.Errorf("lookup in fallback: %+v %v %v", got, ok, err)
	}
}

func TestOpenStoreFallsBackWhenStorePathIsAFile(t *testing.T) {
	root := t.TempDir()
	home := t.TempDir()
	writeFile(t, filepath.Join(root, StoreDirName), "a file\n")
	s, warning, err := OpenStore(root, map[string]string{"HOME": home, "XDG_STATE_HOME": "relative/ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedFallback(t, filepath.Join(home, ".local", "state"), root); s.Dir != want || !s.Fallback || warning == "" {
		t.Errorf("store = %+v warning %q, want fallback %s under HOME", s, warning, want)
	}
	if _, err := os.Stat(s.Dir); err != nil {
		t.Errorf("fallback folder not created: %v", err)
	}
}

func TestOpenStoreFailsWithoutAnyFallback(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, StoreDirName), "a file\n")
	_, _, err := OpenStore(root, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "XDG_STATE_HOME") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	path := filepath.Join(dir, "run.json")
	writeFile(t, path, "old content that is longer than the new\n")
	if err := s.WriteFileAtomic(path, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new\n" {
		t.Errorf("content = %q, %v", got, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := s.WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Errorf("writing into a missing folder succeeded")
	}
}
