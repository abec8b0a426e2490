package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

func startAndWait(t *testing.T, spec Spec) Result {
	t.Helper()
	job, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return job.Wait()
}

// TestPipesByteExact: in Pipes mode stdout and stderr arrive apart and
// byte-exact, the same as when the helper runs under exec directly.
func TestPipesByteExact(t *testing.T) {
	argv, env := helperArgv(t, "stdouterr")
	var stdout, stderr bytes.Buffer
	res := startAndWait(t, Spec{Argv: argv, Env: env, Mode: Pipes, Stdout: &stdout, Stderr: &stderr})
	if res.Status() != 0 || res.OutputErr != nil {
		t.Fatalf("status %d, output error %v", res.Status(), res.OutputErr)
	}

	var directOut, directErr bytes.Buffer
	direct := exec.Command(argv[0])
	direct.Env, direct.Stdout, direct.Stderr = env, &directOut, &directErr
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	wantOut, wantErr := expectedStreams()
	if !bytes.Equal(directOut.Bytes(), wantOut) || !bytes.Equal(directErr.Bytes(), wantErr) {
		t.Fatal("the helper run directly does not write what the test expects")
	}
	if !bytes.Equal(stdout.Bytes(), wantOut) {
		t.Errorf("stdout: %d bytes differ from the %d written directly", stdout.Len(), len(wantOut))
	}
	if !bytes.Equal(stderr.Bytes(), wantErr) {
		t.Errorf("stderr: %d bytes differ from the %d written directly", stderr.Len(), len(wantErr))
	}
}

// TestPipesSharedWriter: one writer for both streams gets everything, in
// order, from a single pipe.
func TestPipesSharedWriter(t *testing.T) {
	argv, env := helperArgv(t, "stdouterr")
	var both bytes.Buffer
	res := startAndWait(t, Spec{Argv: argv, Env: env, Mode: Pipes, Stdout: &both, Stderr: &both})
	if res.Status() != 0 {
		t.Fatalf("status %d", res.Status())
	}
	var want []byte
	for _, c := range interleavedChunks() {
		want = append(want, c.data...)
	}
	if !bytes.Equal(both.Bytes(), want) {
		t.Errorf("merged output: %d bytes, want the %d written, in order", both.Len(), len(want))
	}
}

// TestPipesStdin: the job reads vramrun's stdin unchanged.
func TestPipesStdin(t *testing.T) {
	input := bigData(200_000)
	path := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(path, input, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	if res := startAndWait(t, Spec{Argv: []string{"cat"}, Mode: Pipes, Stdin: in, Stdout: &out}); res.Status() != 0 {
		t.Fatalf("status %d", res.Status())
	}
	if !bytes.Equal(out.Bytes(), input) {
		t.Errorf("job echoed %d bytes, want the %d of its stdin", out.Len(), len(input))
	}
}

// TestEnvironment: the marker is exported; PYTHONUNBUFFERED=1 is added in
// Pipes mode only, and a value the user set is kept.
func TestEnvironment(t *testing.T) {
	argv := []string{"sh", "-c", `echo "PYTHONUNBUFFERED=${PYTHONUNBUFFERED-<unset>}"; echo "` + MarkerEnv + `=$` + MarkerEnv + `"`}
	env := withoutEnv(os.Environ(), "PYTHONUNBUFFERED")
	cases := []struct {
		name string
		mode Mode
		env  []string
		want string
	}{
		{"pipes-added", Pipes, env, "PYTHONUNBUFFERED=1\n"},
		{"pipes-kept", Pipes, append(slices.Clip(env), "PYTHONUNBUFFERED=0"), "PYTHONUNBUFFERED=0\n"},
		{"pty-untouched", PTY, env, "PYTHONUNBUFFERED=<unset>\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			spec := Spec{Argv: argv, Env: append(slices.Clip(c.env), MarkerEnv+"=stale"), Mode: c.mode, Stdout: &out, Marker: "attempt-7"}
			startAndWait(t, spec)
			want := c.want + MarkerEnv + "=attempt-7\n"
			if out.String() != want {
				t.Errorf("job environment %q, want %q", out.String(), want)
			}
		})
	}
}

func withoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestExitStatus: exit codes pass through; a death by signal N gives
// ExitCode -1 and status 128+N.
func TestExitStatus(t *testing.T) {
	cases := []struct {
		script string
		code   int
		sig    syscall.Signal
		status int
	}{
		{"exit 0", 0, 0, 0},
		{"exit 3", 3, 0, 3},
		{"kill -TERM $$", -1, syscall.SIGTERM, 143},
		{"kill -KILL $$", -1, syscall.SIGKILL, 137},
	}
	for _, mode := range []Mode{Pipes, PTY} {
		for _, c := range cases {
			t.Run(string(mode)+"/"+c.script, func(t *testing.T) {
				res := startAndWait(t, Spec{Argv: []string{"sh", "-c", c.script}, Env: os.Environ(), Mode: mode})
				if res.ExitCode != c.code || res.Signal != c.sig || res.Status() != c.status {
					t.Errorf("exit %d signal %v status %d, want %d %v %d",
						res.ExitCode, res.Signal, res.Status(), c.code, c.sig, c.status)
				}
				if res.Started.IsZero() || res.Ended.Before(res.Started) {
					t.Errorf("Started %v, Ended %v", res.Started, res.Ended)
				}
			})
		}
	}
}

// TestStartErrors: a missing command is ErrNotFound, one that cannot run is
// ErrNotExecutable, each with a one-line message naming it as typed; the
// lookup uses the job's PATH and working directory.
func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("train.sh", "#!/bin/sh\nexit 0\n", 0o644)
	write("bad-interp.sh", "#!/nonexistent/interpreter\n", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir}
	cases := []struct {
		argv0 string
		want  error
		msg   string
	}{
		{"no-such-command-here", ErrNotFound, "no-such-command-here: command not found"},
		{"sh", ErrNotFound, "sh: command not found"}, // not in the job's PATH
		{"./missing.sh", ErrNotFound, "./missing.sh: no such file or directory"},
		{"train.sh", ErrNotExecutable, "train.sh: permission denied"},
		{"./train.sh", ErrNotExecutable, "./train.sh: permission denied"},
		{"./sub", ErrNotExecutable, "./sub: is a directory"},
		{"sub", ErrNotFound, "sub: command not found"}, // PATH search skips directories
		{"./bad-interp.sh", ErrNotExecutable, "./bad-interp.sh: cannot execute: required file not found (bad interpreter?)"},
		{"", ErrNotFound, `"": command not found`},
	}
	for _, mode := range []Mode{Pipes, PTY} {
		for _, c := range cases {
			t.Run(string(mode)+"/"+c.argv0, func(t *testing.T) {
				job, err := Start(context.Background(), Spec{Argv: []string{c.argv0}, Env: env, Dir: dir, Mode: mode})
				if err == nil {
					job.Wait()
					t.Fatal("started")
				}
				if !errors.Is(err, c.want) {
					t.Errorf("error %v does not match %v", err, c.want)
				}
				if err.Error() != c.msg {
					t.Errorf("message %q, want %q", err.Error(), c.msg)
				}
			})
		}
	}
}

// TestLookupUsesJobPath: the program is found in the job's PATH (relative
// entries against the job's directory), skipping non-executable files.
func TestLookupUsesJobPath(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"first", "second"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "first", "job"), []byte("#!/bin/sh\necho wrong\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "second", "job"), []byte("#!/bin/sh\necho right \"$PWD\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res := startAndWait(t, Spec{
		Argv: []string{"job"}, Env: []string{"PATH=/nonexistent:first:second"}, Dir: dir, Mode: Pipes, Stdout: &out,
	})
	if res.Status() != 0 || out.String() != "right "+dir+"\n" {
		t.Errorf("status %d, output %q; want 0, %q", res.Status(), out.String(), "right "+dir+"\n")
	}
}

// TestSpecErrors: bad specs fail with a clear error and start nothing.
func TestSpecErrors(t *testing.T) {
	cases := []struct {
		spec Spec
		msg  string
	}{
		{Spec{Mode: Pipes}, "no command given"},
		{Spec{Argv: []string{"true"}, Mode: "tty"}, `runner: mode "tty" is not pty or pipes`},
		{Spec{Argv: []string{"true"}, Mode: Pipes, Dir: "/nonexistent/dir"}, "working directory: stat /nonexistent/dir: no such file or directory"},
	}
	for _, c := range cases {
		if _, err := Start(context.Background(), c.spec); err == nil || err.Error() != c.msg {
			t.Errorf("Start(%+v): %v, want %q", c.spec, err, c.msg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Spec{Argv: []string{"true"}, Mode: Pipes}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}
}

// TestResolveMode: always and never force a mode; auto follows whether
// stdout is a terminal; anything else is an error naming the flag.
func TestResolveMode(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cases := []struct {
		flag   string
		stdout *os.File
		want   Mode
	}{
		{"always", w, PTY},
		{"never", tty, Pipes},
		{"auto", tty, PTY},
		{"auto", w, Pipes},
		{"auto", nil, Pipes},
	}
	for _, c := range cases {
		got, err := ResolveMode(c.flag, c.stdout)
		if err != nil || got != c.want {
			t.Errorf("ResolveMode(%q, terminal=%v) = %q, %v; want %q", c.flag, isTerminal(c.stdout), got, err, c.want)
		}
	}
	for _, bad := range []string{"x", "", "Auto", "yes"} {
		_, err := ResolveMode(bad, tty)
		want := `--pty: "` + bad + `" is not auto, always or never`
		if err == nil || err.Error() != want {
			t.Errorf("ResolveMode(%q): %v, want %q", bad, err, want)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestOutputWriteError: a failing Stdout is reported, and the job is not
// blocked by it (its output is drained anyway).
func TestOutputWriteError(t *testing.T) {
	for _, mode := range []Mode{Pipes, PTY} {
		t.Run(string(mode), func(t *testing.T) {
			res := startAndWait(t, Spec{Argv: []string{"cat", bigFile(t, 1<<20)}, Mode: mode, Stdout: failingWriter{}})
			if res.Status() != 0 {
				t.Errorf("status %d, want 0", res.Status())
			}
			if res.OutputErr == nil || res.OutputErr.Error() != "write job output: disk full" {
				t.Errorf("OutputErr %v, want the write error", res.OutputErr)
			}
		})
	}
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestNoDescriptorLeak: after Wait, every pipe, pty and wake-up descriptor
// a job used is closed, in every mode.
func TestNoDescriptorLeak(t *testing.T) {
	// Text: typed into a pty, binary data would hold ^C and friends.
	path := filepath.Join(t.TempDir(), "text")
	if err := os.WriteFile(path, bytes.Repeat([]byte("some input line\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, terminal := openTestTerminal(t, 24, 80)
	before := openDescriptors(t)
	for range 5 {
		for _, spec := range []Spec{
			{Argv: []string{"cat"}, Mode: Pipes},
			{Argv: []string{"cat", path}, Mode: Pipes, Stdout: io.Discard, Stderr: io.Discard},
			{Argv: []string{"cat", path}, Mode: PTY, Stdout: io.Discard, Stdin: terminal, Terminal: terminal},
			{Argv: []string{"cat"}, Mode: PTY},
		} {
			in, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Stdin == nil {
				spec.Stdin = in
			}
			if res := startAndWait(t, spec); res.Status() != 0 {
				t.Fatalf("%v in %s mode: status %d", spec.Argv, spec.Mode, res.Status())
			}
			_ = in.Close()
		}
	}
	if after := openDescriptors(t); after != before {
		t.Errorf("%d descriptors open after the jobs, %d before", after, before)
	}
}

// takingWriter is a BufferWriter that keeps every buffer handed to it, to
// check that the copy never touches one again.
type takingWriter struct {
	got    bytes.Buffer
	handed [][]byte // the buffers taken, as they were when taken
	copies [][]byte
}

func (w *takingWriter) Write(p []byte) (int, error) { return w.got.Write(p) }

func (w *takingWriter) WriteBuffer(p []byte) error {
	w.got.Write(p)
	w.handed = append(w.handed, p)
	w.copies = append(w.copies, bytes.Clone(p))
	return nil
}

func (w *takingWriter) Buffer(size int) []byte { return make([]byte, size) }

// TestPipesHandsLargeReadsOver: a writer that takes read buffers gets a
// chatty job's output byte-exact, most of it in buffers handed over, and
// none of those is written again after it was handed over.
func TestPipesHandsLargeReadsOver(t *testing.T) {
	data := make([]byte, 24<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	w := &takingWriter{}
	res := startAndWait(t, Spec{Argv: []string{"cat", path}, Mode: Pipes, Stdout: w})
	if res.Status() != 0 || res.OutputErr != nil {
		t.Fatalf("status %d, output error %v", res.Status(), res.OutputErr)
	}
	if !bytes.Equal(w.got.Bytes(), data) {
		t.Fatalf("got %d bytes, want the %d the job wrote", w.got.Len(), len(data))
	}
	handed := 0
	for i, p := range w.handed {
		handed += len(p)
		if !bytes.Equal(p, w.copies[i]) {
			t.Errorf("buffer %d changed after it was handed over", i)
		}
	}
	if handed < len(data)/2 {
		t.Errorf("%d of %d bytes came in buffers handed over, want most", handed, len(data))
	}
}
