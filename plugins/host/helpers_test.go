package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := buildDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// buildDir holds the plugin executables the tests build, once per test
// binary.
var buildDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "vramrun-host-test-") })

// goBuild builds the main package pkg (relative to this package) into the
// build folder.
func goBuild(pkg, name string) (string, error) {
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New(string(msg))
	}
	return out, nil
}

var (
	faultyBinary    = sync.OnceValues(func() (string, error) { return goBuild("./testdata/faulty", "faulty") })
	myTrainerBinary = sync.OnceValues(func() (string, error) {
		return goBuild("../../examples/plugin-mytrainer", "vramrun-plugin-mytrainer")
	})
)

func binary(t *testing.T, build func() (string, error)) string {
	t.Helper()
	path, err := build()
	if err != nil {
		t.Fatalf("build a test plugin: %v", err)
	}
	return path
}

// install links bin into dir as vramrun-plugin-<name> and returns the link.
func install(t *testing.T, bin, dir, name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, ExecutablePrefix+name)
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// testEnv is an environment with no user plugins of the machine's: HOME
// and XDG_DATA_HOME inside the test's folder.
func testEnv(t *testing.T) map[string]string {
	home := t.TempDir()
	return map[string]string{"PATH": os.Getenv("PATH"), "HOME": home, "XDG_DATA_HOME": filepath.Join(home, "data")}
}

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readPid reads a pid the faulty plugin wrote.
func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
	if err != nil {
		t.Fatalf("the plugin wrote no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// checkEnded fails unless process pid has ended. It waits on a pidfd for
// the exit, which a SIGKILL already sent makes immediate; the bound only
// keeps a leaked process from hanging the test.
func checkEnded(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 30_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd: %v", err)
		}
		if n == 0 {
			t.Errorf("process %d is still running after the plugins were closed", pid)
		}
		return
	}
}

// syncBuffer is a log that the test reads after the plugins have ended.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
