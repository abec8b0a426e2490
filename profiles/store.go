package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vramrun/vramrun/profiles/safefs"
)

// Store is the folder where vramrun keeps a project's learned state, run
// records and plan copies (the README lists what goes where).
type Store struct {
	// Dir is the folder actually used: projectRoot/.vramrun, or the
	// per-project folder under $XDG_STATE_HOME when that cannot be written.
	Dir string
	// Fallback is true when Dir is the XDG_STATE_HOME folder.
	Fallback bool
}

// StoreDirName is the folder vramrun keeps in the project root.
const StoreDirName = ".vramrun"

// OpenStore prepares projectRoot/.vramrun (with a .gitignore of "*" so that
// nothing in it is committed). When that folder cannot be created or
// written, it uses $XDG_STATE_HOME/vramrun/<first 16 hex digits of the
// sha256 of the absolute project path>/ (XDG_STATE_HOME defaulting to
// $HOME/.local/state) and returns a one-line warning saying so; so it does
// when .vramrun is a symlink that leads out of the project folder (a cloned
// repository can carry one). A state.json or state.lock that is not a
// regular file (a symlink, a named pipe) is an error naming it. env is the
// process environment.
func OpenStore(projectRoot string, env map[string]string) (*Store, string, error) {
	root, err := filepath.Abs(projectRoot)
	if err != nil {
		return nil, "", fmt.Errorf("project folder %s: %w", projectRoot, err)
	}
	dir := filepath.Join(root, StoreDirName)
	link := storeLink(root, dir)
	reason := link
	if reason == nil {
		reason = prepareProjectStore(dir)
	}
	if reason == nil {
		return checkedStore(&Store{Dir: dir}, "")
	}
	fallback := FallbackStoreDir(root, env)
	if fallback == "" {
		return nil, "", fmt.Errorf("cannot write %s (%v), and neither XDG_STATE_HOME nor HOME is set for a fallback", dir, reason)
	}
	if err := os.MkdirAll(fallback, 0o700); err != nil {
		return nil, "", fmt.Errorf("cannot write %s (%v), nor the fallback: %w", dir, reason, err)
	}
	if err := probeWritable(fallback); err != nil {
		return nil, "", fmt.Errorf("cannot write %s (%v), nor the fallback %s: %w", dir, reason, fallback, err)
	}
	warning := fmt.Sprintf("cannot write %s (%v); keeping this project's state in %s instead", dir, reason, fallback)
	if link != nil {
		warning = fmt.Sprintf("%s %v, and vramrun does not follow it; keeping this project's state in %s instead", dir, link, fallback)
	}
	return checkedStore(&Store{Dir: fallback, Fallback: true}, warning)
}

// checkedStore refuses a store whose state files are not regular files: a
// symlink there would have vramrun write (or create, for the lock) a file
// wherever it points, a named pipe would stall it.
func checkedStore(s *Store, warning string) (*Store, string, error) {
	for _, name := range []string{stateFileName, stateLockName} {
		if err := safefs.Check(filepath.Join(s.Dir, name), false); err != nil {
			return nil, "", err
		}
	}
	return s, warning, nil
}

// storeLink says why dir (root/.vramrun) is not used when it is a symlink
// that leads out of the project folder, or nowhere; nil when it is no
// symlink, or one to a folder inside the project.
func storeLink(root, dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	target, err := filepath.EvalSymlinks(dir)
	if err != nil {
		dest, _ := os.Readlink(dir)
		return fmt.Errorf("is a symlink to %s, which does not exist", dest)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("is a symlink, and the project folder cannot be resolved: %v", unwrapPathError(err))
	}
	if rel, err := filepath.Rel(realRoot, target); err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("is a symlink to %s, outside the project", target)
	}
	return nil
}

// FallbackStoreDir is the state folder used for projectRoot (absolute) when
// its own .vramrun cannot be written; "" when neither XDG_STATE_HOME nor
// HOME is set. A relative XDG_STATE_HOME is ignored, as the XDG
// specification asks.
func FallbackStoreDir(projectRoot string, env map[string]string) string {
	base := env["XDG_STATE_HOME"]
	if !filepath.IsAbs(base) {
		if env["HOME"] == "" {
			return ""
		}
		base = filepath.Join(env["HOME"], ".local", "state")
	}
	sum := sha256.Sum256([]byte(filepath.Clean(projectRoot)))
	return filepath.Join(base, "vramrun", hex.EncodeToString(sum[:])[:16])
}

func prepareProjectStore(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return unwrapPathError(err)
	}
	ignore := filepath.Join(dir, ".gitignore")
	f, err := os.OpenFile(ignore, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	switch {
	case errors.Is(err, fs.ErrExist):
		// Left as it is: the user may have changed it on purpose.
	case err != nil:
		return unwrapPathError(err)
	default:
		_, werr := f.WriteString("*\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	return probeWritable(dir)
}

// probeWritable creates and removes a file in dir: a folder can exist and
// still refuse new files (read-only mount, another user's folder).
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return unwrapPathError(err)
	}
	name := f.Name()
	cerr := f.Close()
	if rerr := os.Remove(name); cerr == nil {
		cerr = rerr
	}
	return cerr
}

// RunsDir is the folder of run records: RunsDir()/<RUN-ID>/. It is not
// created here (MakeRunDir does).
func (s *Store) RunsDir() string { return filepath.Join(s.Dir, "runs") }

// PlanDir is the folder for the config copies `vramrun plan` writes. It is
// not created here (MakePlanDir does).
func (s *Store) PlanDir() string { return filepath.Join(s.Dir, "plan") }

// MakeRunDir creates the folder of run id, RunsDir()/id, and returns it.
// RunsDir itself must be a real folder, not a symlink (a *safefs.Error).
func (s *Store) MakeRunDir(id string) (string, error) {
	if err := safefs.Mkdir(s.RunsDir(), 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(s.RunsDir(), id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// MakePlanDir creates PlanDir when it is missing. It, and everything in it
// from earlier plans, must be real folders and regular files: a symlink
// there would have the copies written wherever it points (a
// *safefs.Error).
func (s *Store) MakePlanDir() error {
	if err := safefs.Mkdir(s.PlanDir(), 0o755); err != nil {
		return err
	}
	return safefs.CheckTree(s.PlanDir())
}

// WriteFileAtomic replaces path with data so that a reader sees the old
// content or the new, never a part: a temporary file in the same folder is
// written, synced and renamed over path, then the folder is synced so the
// rename survives a crash.
func (s *Store) WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmpName := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmpName, 0o644)
	}
	if err == nil {
		err = os.Rename(tmpName, path)
	}
	if err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	// Some filesystems cannot sync a folder; the rename itself is done.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
