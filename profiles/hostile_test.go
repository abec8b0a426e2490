package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vramrun/vramrun/profiles/safefs"
	"github.com/vramrun/vramrun/sdk"
)

// Files a cloned repository can carry in place of vramrun's own: each is
// refused with one line naming it, or not followed, and nothing blocks.

func mkfifo(t *testing.T, path string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func oneLineNaming(t *testing.T, err error, name string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line naming %s", err, name)
	}
}

func TestProjectFileThatIsNotARegularFileIsRefused(t *testing.T) {
	tr := newTestTree(t)
	mkfifo(t, tr.projectFile())
	_, err := Load(LoadOptions{Dir: tr.project, Env: tr.env})
	var ce *ConfigError
	if !errors.As(err, &ce) || err.Error() != "vramrun.yaml is a named pipe, not a regular file (remove it)" {
		t.Errorf("err = %v", err)
	}
}

func TestOversizedProjectFileIsRefusedUnread(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "# "+strings.Repeat("x", MaxProfileBytes)+"\n")
	_, err := Load(LoadOptions{Dir: tr.project, Env: tr.env})
	var ce *ConfigError
	if !errors.As(err, &ce) || err.Error() != "vramrun.yaml is 1048579 bytes, more than the 1 MiB vramrun reads" {
		t.Errorf("err = %v", err)
	}
	// A symlink to a profile kept elsewhere is the user's own: followed.
	tr = newTestTree(t)
	writeFile(t, filepath.Join(tr.root, "shared.yaml"), "max_attempts: 3\n")
	symlink(t, filepath.Join(tr.root, "shared.yaml"), tr.projectFile())
	if l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env}); l.Settings.MaxAttempts != 3 {
		t.Errorf("max_attempts = %d through a symlinked vramrun.yaml", l.Settings.MaxAttempts)
	}
}

// An explicit empty ladder is kept empty (no fixes); only an absent one
// means the default.
func TestEmptyLadderIsKeptEmpty(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "ladder: []\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	if l.Settings.Ladder == nil || len(l.Settings.Ladder) != 0 || l.Sources["ladder"] != SourceProject {
		t.Errorf("ladder: [] loaded as %#v from %s", l.Settings.Ladder, l.Sources["ladder"])
	}
	l = mustLoad(t, LoadOptions{Dir: t.TempDir(), Env: map[string]string{}, Flags: parsedFlags(t, "--ladder", "")})
	if l.Settings.Ladder == nil || len(l.Settings.Ladder) != 0 {
		t.Errorf(`--ladder "" loaded as %#v`, l.Settings.Ladder)
	}
	// An empty variable counts as unset, as for every key.
	l = mustLoad(t, LoadOptions{Dir: t.TempDir(), Env: map[string]string{"VRAMRUN_LADDER": ""}})
	if len(l.Settings.Ladder) != len(sdk.DefaultLadder()) {
		t.Errorf("VRAMRUN_LADDER= loaded as %#v", l.Settings.Ladder)
	}
}

func TestStoreSymlinkOutsideTheProjectIsNotFollowed(t *testing.T) {
	root, outside, home := t.TempDir(), t.TempDir(), t.TempDir()
	symlink(t, outside, filepath.Join(root, StoreDirName))
	s, warning, err := OpenStore(root, map[string]string{"HOME": home})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Fallback || !strings.HasPrefix(s.Dir, home) {
		t.Errorf("store %+v, want the fallback under %s", s, home)
	}
	want := filepath.Join(root, StoreDirName) + " is a symlink to " + outside + ", outside the project"
	if !strings.HasPrefix(warning, want) || strings.Contains(warning, "\n") {
		t.Errorf("warning %q, want it to start %q", warning, want)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote into the symlink's target: %v", entries)
	}

	// Dangling: the same.
	root = t.TempDir()
	symlink(t, filepath.Join(outside, "nowhere"), filepath.Join(root, StoreDirName))
	if s, warning, err := OpenStore(root, map[string]string{"HOME": home}); err != nil || !s.Fallback || !strings.Contains(warning, "which does not exist") {
		t.Errorf("dangling: %+v %q %v", s, warning, err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "nowhere")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dangling link's target was created: %v", err)
	}

	// A symlink to a folder inside the project is used.
	root = t.TempDir()
	mustMkdir(t, filepath.Join(root, "build", "state"))
	symlink(t, filepath.Join("build", "state"), filepath.Join(root, StoreDirName))
	if s, warning, err := OpenStore(root, map[string]string{"HOME": home}); err != nil || s.Fallback || warning != "" {
		t.Errorf("inside: %+v %q %v", s, warning, err)
	}
}

func TestStateFilesThatAreNotRegularAreRefused(t *testing.T) {
	outside := t.TempDir()
	cases := map[string]func(t *testing.T, dir string){
		stateFileName: func(t *testing.T, dir string) { mkfifo(t, filepath.Join(dir, stateFileName)) },
		stateLockName: func(t *testing.T, dir string) {
			symlink(t, filepath.Join(outside, "nologin"), filepath.Join(dir, stateLockName))
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			plant(t, filepath.Join(root, StoreDirName))
			_, _, err := OpenStore(root, map[string]string{"HOME": t.TempDir()})
			var refused *safefs.Error
			if !errors.As(err, &refused) {
				t.Errorf("err = %v, want a refusal", err)
			}
			oneLineNaming(t, err, filepath.Join(root, StoreDirName, name))
		})
	}
	if _, err := os.Lstat(filepath.Join(outside, "nologin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock link's target was created: %v", err)
	}
}

// Planted after the store was opened (or raced in): reading and locking
// refuse it too, and never block.
func TestStateReadAndLockRefuseWhatWasPlantedLater(t *testing.T) {
	s, _, err := OpenStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mkfifo(t, s.statePath())
	if _, _, err := s.Lookup(Fingerprint{Script: "a.py"}, GPUKey{}); err == nil {
		t.Error("Lookup read a named pipe as learned state")
	}
	outside := t.TempDir()
	os.Remove(s.statePath())
	symlink(t, filepath.Join(outside, "created"), filepath.Join(s.Dir, stateLockName))
	err = s.Record(Fingerprint{Script: "a.py"}, GPUKey{}, Learned{Summary: "x"})
	oneLineNaming(t, err, stateLockName)
	if _, err := os.Lstat(filepath.Join(outside, "created")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("locking created the link's target: %v", err)
	}
}

func TestOversizedStateIsSetAside(t *testing.T) {
	s, _, err := OpenStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxStateBytes+1)
	if err := os.WriteFile(s.statePath(), big, 0o644); err != nil {
		t.Fatal(err)
	}
	_, found, err := s.Lookup(Fingerprint{Script: "a.py"}, GPUKey{})
	var corrupt *CorruptStateError
	if found || !errors.As(err, &corrupt) || !strings.Contains(err.Error(), "more than the 16 MiB vramrun reads") {
		t.Fatalf("Lookup: found %v, err %v", found, err)
	}
	if _, err := os.Stat(corrupt.MovedTo); err != nil {
		t.Errorf("not set aside: %v", err)
	}
}

func TestRunAndPlanFoldersRefuseSymlinks(t *testing.T) {
	outside := t.TempDir()
	s, _, err := OpenStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := s.MakeRunDir("20260102-150405.000-abcdef")
	if err != nil || filepath.Dir(dir) != s.RunsDir() {
		t.Fatalf("MakeRunDir: %q, %v", dir, err)
	}
	if err := s.MakePlanDir(); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(s.PlanDir(), "step-1"))
	oneLineNaming(t, s.MakePlanDir(), filepath.Join(s.PlanDir(), "step-1"))

	s, _, err = OpenStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, s.RunsDir())
	_, err = s.MakeRunDir("20260102-150405.000-abcdef")
	oneLineNaming(t, err, s.RunsDir())
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote into the symlink's target: %v", entries)
	}
}
