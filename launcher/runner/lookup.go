package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotFound is matched (errors.Is) by a Start error when the command does
// not exist; vramrun then exits 127, as env(1) and shells do.
var ErrNotFound = errors.New("command not found")

// ErrNotExecutable is matched (errors.Is) by a Start error when the command
// exists but cannot be executed (no permission, a directory, a bad
// interpreter); vramrun then exits 126.
var ErrNotExecutable = errors.New("command not executable")

// execError is the one-line error Start returns for a command it cannot run:
// "<name as typed>: <reason>". It matches its kind (ErrNotFound or
// ErrNotExecutable) and, when there is one, the system error behind it.
type execError struct {
	name   string
	reason string
	kind   error
	cause  error
}

func (e *execError) Error() string { return e.name + ": " + e.reason }

func (e *execError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func notFound(name, reason string, cause error) error {
	return &execError{name: displayName(name), reason: reason, kind: ErrNotFound, cause: cause}
}

func notExecutable(name, reason string, cause error) error {
	return &execError{name: displayName(name), reason: reason, kind: ErrNotExecutable, cause: cause}
}

func displayName(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// errIsDirectory stands for "the path is a directory" in checkExecutable.
var errIsDirectory = errors.New("is a directory")

// resolveProgram finds the file to execute for name the way a shell would,
// but against the job's own PATH (env) and working directory (dir) rather
// than vramrun's: a name with a slash is taken as a path (relative to dir),
// any other name is searched in PATH. The result is an absolute path.
// PATH search skips directories; a matching file without execute
// permission is reported as not executable only when no later PATH entry
// holds an executable one (bash does the same).
func resolveProgram(name, dir string, env []string) (string, error) {
	if name == "" {
		return "", notFound(name, "command not found", nil)
	}
	if strings.Contains(name, "/") {
		p := inDir(name, dir)
		if err := checkExecutable(p); err != nil {
			return "", classifyPathError(name, err)
		}
		return filepath.Abs(p)
	}
	var denied error
	for _, entry := range filepath.SplitList(lastEnv(env, "PATH")) {
		if entry == "" {
			entry = "." // an empty PATH entry means the working directory
		}
		candidate := inDir(filepath.Join(entry, name), dir)
		err := checkExecutable(candidate)
		if err == nil {
			return filepath.Abs(candidate)
		}
		if denied == nil && errors.Is(err, fs.ErrPermission) {
			denied = err
		}
	}
	if denied != nil {
		return "", notExecutable(name, "permission denied", denied)
	}
	return "", notFound(name, "command not found", nil)
}

// inDir resolves a relative path against the job's working directory.
func inDir(p, dir string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// checkExecutable reports why p cannot be executed: fs.ErrNotExist,
// errIsDirectory, or a permission error; nil when it can.
func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return fs.ErrNotExist
		}
		return err
	}
	if st.IsDir() {
		return errIsDirectory
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return &fs.PathError{Op: "access", Path: p, Err: err}
	}
	return nil
}

func classifyPathError(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFound(name, "no such file or directory", err)
	case errors.Is(err, errIsDirectory):
		return notExecutable(name, "is a directory", nil)
	case errors.Is(err, fs.ErrPermission):
		return notExecutable(name, "permission denied", err)
	}
	return fmt.Errorf("%s: %w", displayName(name), err)
}

// classifyStartError maps an exec failure of a file that resolveProgram
// already found executable. ENOENT then means a missing interpreter (a bad
// #! line or a binary for another system's loader): the file exists, so it
// counts as not executable (126), like bash's "bad interpreter".
func classifyStartError(name string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return notExecutable(name, "cannot execute: required file not found (bad interpreter?)", err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return notExecutable(name, "permission denied", err)
	case errors.Is(err, unix.EISDIR):
		return notExecutable(name, "is a directory", err)
	case errors.Is(err, unix.ENOEXEC):
		return notExecutable(name, "exec format error", err)
	case errors.Is(err, unix.ETXTBSY):
		return notExecutable(name, "text file busy", err)
	}
	return fmt.Errorf("start %s: %w", displayName(name), err)
}

// lastEnv returns the value of key in env; like os/exec, the last entry
// wins when the key appears more than once.
func lastEnv(env []string, key string) string {
	prefix := key + "="
	value := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			value = kv[len(prefix):]
		}
	}
	return value
}

// hasEnv reports whether env sets key at all (possibly to "").
func hasEnv(env []string, key string) bool {
	prefix := key + "="
	for _, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			return true
		}
	}
	return false
}

// withEnv returns env with every entry for key replaced by key=value.
func withEnv(env []string, key, value string) []string {
	prefix := key + "="
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return append(out, prefix+value)
}
