package runner

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helperEnv names the helper the test binary runs as when it is
// re-executed (see TestMain): "stdouterr", a job writing exact binary data
// to both streams, and "supervise", a subreaper process that runs a job
// leaving processes behind. Other jobs are sh scripts (see below).
const helperEnv = "RUNNER_TEST_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(runHelper(name))
	}
	os.Exit(m.Run())
}

// helperArgv returns the argv and environment that run helper name.
func helperArgv(t testing.TB, name string) ([]string, []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe}, withEnv(os.Environ(), helperEnv, name)
}

func runHelper(name string) int {
	switch name {
	case "stdouterr":
		for _, c := range interleavedChunks() {
			w := os.Stdout
			if c.stderr {
				w = os.Stderr
			}
			if _, err := w.Write(c.data); err != nil {
				return 1
			}
		}
	case "supervise":
		return superviseHelper()
	case "session":
		return sessionHelper()
	case "background":
		return backgroundHelper()
	case "jobshell":
		return jobShellHelper()
	case "piperunner":
		return pipeRunnerHelper()
	case "ptyrunner":
		return ptyRunnerHelper()
	case "dying":
		return dyingSupervisorHelper()
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	return 0
}

// Shell helpers. A race-enabled test binary takes about a second to start
// on some machines, so jobs that run often are small sh scripts instead.
const (
	// shHang says ready and sleeps; with IGNORE=1 it ignores SIGTERM (the
	// sleep it becomes inherits that).
	shHang = `[ "$IGNORE" = 1 ] && trap '' TERM; echo ready; exec sleep 1000`
	// shUsr1Group runs a worker in its own process group; both say when
	// SIGUSR1 reaches them.
	shUsr1Group = `trap 'echo main got USR1' USR1
sh -c 'trap "echo worker got USR1; exit 0" USR1; echo worker ready; sleep 1000 & wait' &
w=$!
wait $w
wait $w
exit 0`
	// shIsatty says which of its stdin, stdout and stderr are a terminal,
	// then prints two lines.
	shIsatty = `printf tty; for fd in 0 1 2; do [ -t $fd ] && printf " $fd"; done; printf '\na\nb\n'`
	// shReadline says ready and echoes the line it reads.
	shReadline = `echo ready; read line; echo "got $line"`
	// shWinsize prints the tty size, then again after one SIGWINCH.
	shWinsize = `trap 'stty size; exit 0' WINCH; stty size; sleep 1000 & wait`
)

// leftoverScript returns a job whose main process exits 0 and leaves a
// process behind, printing "pid <name> <pid>" once that process is set up.
func leftoverScript(scenario string) string {
	return map[string]string{
		// A sleeping member of the job's group that keeps the output open.
		"worker": `sleep 1000 & echo "pid worker $!"`,
		// The same, ignoring SIGTERM and SIGHUP: it takes SIGKILL, and in PTY
		// mode it survives the hang-up and keeps the tty open.
		"stubborn-worker": `trap '' TERM HUP; sleep 1000 & echo "pid worker $!"`,
		// A daemon: new session, no stdio, found by its marker.
		"doublefork": `pid=$(setsid sh -c 'echo $$; exec sleep 1000 </dev/null >/dev/null 2>&1' &)
echo "pid stray $pid"`,
		// A stubborn daemon without the marker that keeps the output open:
		// found only because it is orphaned to the subreaper.
		"doublefork-noenv": `exec 3>&1
pid=$(env -u ` + MarkerEnv + ` setsid sh -c 'trap "" TERM HUP; echo $$; exec sleep 1000 </dev/null >&3 3>&-' &)
echo "pid stray $pid"`,
	}[scenario]
}

// chunk is one write of the stdouterr helper.
type chunk struct {
	stderr bool
	data   []byte
}

// interleavedChunks is what the stdouterr helper writes: alternating,
// distinct binary chunks with \r, \r\n, NUL and invalid UTF-8 in them.
func interleavedChunks() []chunk {
	rng := rand.New(rand.NewPCG(1, 2))
	var chunks []chunk
	for i := range 400 {
		n := 1 + rng.IntN(3000)
		data := make([]byte, n)
		for k := range data {
			data[k] = byte(rng.UintN(256))
		}
		data = append(data, "\r\n\x00\xff\xfe\rline\n"...)
		data = append(data, fmt.Sprintf("[%d]", i)...)
		chunks = append(chunks, chunk{stderr: i%3 == 1, data: data})
	}
	return chunks
}

func expectedStreams() (stdout, stderr []byte) {
	for _, c := range interleavedChunks() {
		if c.stderr {
			stderr = append(stderr, c.data...)
		} else {
			stdout = append(stdout, c.data...)
		}
	}
	return stdout, stderr
}

// bigFile writes bigData(n) to a file and returns its path.
func bigFile(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, bigData(n), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bigData is n deterministic bytes covering all 256 values.
func bigData(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// lineWatcher is a job's Stdout that a test can wait on for a text to
// appear, as a handshake with the job.
type lineWatcher struct {
	mu      sync.Mutex
	changed *sync.Cond
	buf     bytes.Buffer
}

func newLineWatcher() *lineWatcher {
	w := &lineWatcher{}
	w.changed = sync.NewCond(&w.mu)
	return w
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed.Broadcast()
	return w.buf.Write(p)
}

// waitFor blocks until the output holds s.
func (w *lineWatcher) waitFor(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !strings.Contains(w.buf.String(), s) {
		w.changed.Wait()
	}
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
