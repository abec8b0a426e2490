package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openTestTerminal makes a pty pair that plays vramrun's terminal: the
// slave is what vramrun would have as stdin/stdout, the master is the
// user's side.
func openTestTerminal(t *testing.T, rows, cols uint16) (user, terminal *os.File) {
	t.Helper()
	user, terminal, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = user.Close(); _ = terminal.Close() })
	if err := pty.Setsize(terminal, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	return user, terminal
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	var tio unix.Termios
	err := withFd(f, func(fd int) error {
		got, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err == nil {
			tio = *got
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// TestPTYIsTerminal: the job's stdin, stdout and stderr are a terminal;
// with the output going to a buffer, the pty leaves \n alone.
func TestPTYIsTerminal(t *testing.T) {
	var out bytes.Buffer
	res := startAndWait(t, Spec{Argv: []string{"sh", "-c", shIsatty}, Mode: PTY, Stdout: &out})
	if res.Status() != 0 {
		t.Fatalf("status %d", res.Status())
	}
	if want := "tty 0 1 2\na\nb\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestPTYTranslatesForTerminal: when the output goes to a terminal, the
// pty keeps its \n -> \r\n translation (vramrun's terminal may be raw).
func TestPTYTranslatesForTerminal(t *testing.T) {
	_, terminal := openTestTerminal(t, 24, 80)
	var out bytes.Buffer
	res := startAndWait(t, Spec{Argv: []string{"sh", "-c", shIsatty}, Mode: PTY, Stdout: &out, Terminal: terminal})
	if res.Status() != 0 {
		t.Fatalf("status %d", res.Status())
	}
	if want := "tty 0 1 2\r\na\r\nb\r\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestPTYNoLostOutput: a job that writes 1 MB and exits at once loses no
// byte, 200 times in a row.
func TestPTYNoLostOutput(t *testing.T) {
	argv := []string{"cat", bigFile(t, 1<<20)}
	want := bigData(1 << 20)
	var got bytes.Buffer
	for i := range 200 {
		got.Reset()
		res := startAndWait(t, Spec{Argv: argv, Mode: PTY, Stdout: &got})
		if res.Status() != 0 || res.OutputErr != nil {
			t.Fatalf("run %d: status %d, output error %v", i, res.Status(), res.OutputErr)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("run %d: got %d bytes, want %d; %s", i, got.Len(), len(want), firstDifference(got.Bytes(), want))
		}
	}
}

// firstDifference says where got first differs from want, and whether the
// rest of got is want's tail (bytes lost in the middle) or not.
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i == len(got) {
		return fmt.Sprintf("the output stops at byte %d", i)
	}
	if len(got) < len(want) && bytes.HasSuffix(want, got[i:]) {
		return fmt.Sprintf("%d bytes missing from byte %d, the rest intact", len(want)-len(got), i)
	}
	return fmt.Sprintf("first difference at byte %d", i)
}

// TestPTYWindowSize: without a terminal the job gets 24x80; with one it
// gets the terminal's size, and after the terminal is resized and SIGWINCH
// arrives, the new size.
func TestPTYWindowSize(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		var out bytes.Buffer
		startAndWait(t, Spec{Argv: []string{"stty", "size"}, Mode: PTY, Stdout: &out})
		if out.String() != "24 80\n" {
			t.Errorf("output %q, want the default size", out.String())
		}
	})
	t.Run("follows-terminal", func(t *testing.T) {
		_, terminal := openTestTerminal(t, 30, 100)
		out := newLineWatcher()
		job, err := Start(context.Background(), Spec{Argv: []string{"sh", "-c", shWinsize}, Mode: PTY, Stdout: out, Terminal: terminal})
		if err != nil {
			t.Fatal(err)
		}
		out.waitFor("30 100\r\n") // printed after the job set its SIGWINCH trap
		if err := pty.Setsize(terminal, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
			t.Fatal(err)
		}
		// The terminal is not this process's controlling one, so deliver
		// the SIGWINCH a real terminal would send.
		if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
			t.Fatal(err)
		}
		res := job.Wait()
		if want := "30 100\r\n40 120\r\n"; out.String() != want || res.Status() != 0 {
			t.Errorf("status %d, output %q; want 0, %q", res.Status(), out.String(), want)
		}
	})
}

// TestPTYRawMode: a terminal stdin is raw while the job runs, what the user
// types reaches the job, and Wait restores the terminal exactly.
func TestPTYRawMode(t *testing.T) {
	user, terminal := openTestTerminal(t, 24, 80)
	before := termios(t, terminal)
	if before.Lflag&unix.ICANON == 0 {
		t.Fatal("test terminal is not in canonical mode to begin with")
	}
	out := newLineWatcher()
	job, err := Start(context.Background(), Spec{Argv: []string{"sh", "-c", shReadline}, Mode: PTY, Stdin: terminal, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	out.waitFor("ready")
	during := termios(t, terminal)
	if during.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 || during.Oflag&unix.OPOST != 0 || !job.RawMode() {
		t.Errorf("terminal not raw during the job: lflag %#x oflag %#x, RawMode %v", during.Lflag, during.Oflag, job.RawMode())
	}
	if _, err := user.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	res := job.Wait()
	if res.Status() != 0 || !strings.Contains(out.String(), "got hello") {
		t.Errorf("status %d, output %q; want the typed line echoed", res.Status(), out.String())
	}
	if after := termios(t, terminal); after != before {
		t.Errorf("terminal after Wait %+v, want it restored to %+v", after, before)
	}
	if job.RawMode() {
		t.Error("RawMode true after Wait")
	}
	if err := job.RestoreTerminal(); err != nil {
		t.Errorf("second restore: %v", err)
	}
}

// TestPTYStdinFile: a file or a pipe as stdin is typed into the pty, its end
// reaches the job as end of input, even after a partial last line, and the
// output is the job's alone, byte for byte: the pty does not echo what was
// typed (`vramrun --pty always -- cat < file > out` gives the file once).
func TestPTYStdinFile(t *testing.T) {
	const input = "hello\nsecond line\twith a tab\n\nworld"
	path := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(path, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	go func() { _, _ = pipeW.WriteString(input); _ = pipeW.Close() }()
	for name, in := range map[string]*os.File{"file": file, "pipe": pipeR} {
		var out bytes.Buffer
		res := startAndWait(t, Spec{Argv: []string{"cat"}, Mode: PTY, Stdin: in, Stdout: &out})
		if res.Status() != 0 || res.OutputErr != nil {
			t.Fatalf("%s: status %d, output error %v", name, res.Status(), res.OutputErr)
		}
		if out.String() != input {
			t.Errorf("%s: output %q, want exactly the input %q", name, out.String(), input)
		}
	}
}

// TestPTYOutputEndsBehindStray: the output ends once the job's own
// processes are gone, though a process vramrun cannot find (a new session,
// no attempt marker, orphaned to init, as this test is no subreaper) still
// holds the tty: the end marker comes out behind the job's output, so Wait
// needs neither the hangup nor the drain timeout, set here to an hour.
func TestPTYOutputEndsBehindStray(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	script := `mkfifo "$1"; (env -u ` + MarkerEnv + ` setsid sh -c 'echo stray $$; echo >"$1"; exec sleep 1000' sh "$1" &); read x <"$1"; echo done`
	var out bytes.Buffer
	res := startAndWait(t, Spec{Argv: []string{"sh", "-c", script, "sh", fifo}, Mode: PTY, Stdout: &out, DrainTimeout: time.Hour})
	var pid int
	if _, err := fmt.Sscanf(out.String(), "stray %d\n", &pid); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if res.Status() != 0 || res.OutputErr != nil {
		t.Fatalf("status %d, output error %v", res.Status(), res.OutputErr)
	}
	if want := fmt.Sprintf("stray %d\ndone\n", pid); pid == 0 || out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestPTYInBackground: started in the background of its terminal (as by
// `vramrun ... &` from a shell), the runner leaves the terminal alone
// instead of being stopped by SIGTTOU for making it raw, and the job still
// runs under its own pty. A "session" helper plays the shell: it owns the
// terminal and keeps its foreground while a "background" helper, in a
// process group of its own, runs a job.
func TestPTYInBackground(t *testing.T) {
	_, terminal := openTestTerminal(t, 24, 80)
	before := termios(t, terminal)
	report := filepath.Join(t.TempDir(), "report")
	argv, env := helperArgv(t, "session")
	cmd := exec.Command(argv[0])
	cmd.Env = withEnv(env, "RUNNER_REPORT", report)
	cmd.Stdin = terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err := cmd.Run()
	got, _ := os.ReadFile(report)
	if want := "status 0 output \"hi\\r\\ntty\\r\\n\" raw false"; err != nil || string(got) != want {
		t.Errorf("helper: %v, report %q; want success, %q", err, got, want)
	}
	if after := termios(t, terminal); after != before {
		t.Errorf("terminal modes changed: %+v, were %+v", after, before)
	}
}

// sessionHelper runs as the session leader of a test terminal (its stdin),
// in the terminal's foreground like a shell, and starts backgroundHelper
// in a process group of its own, as a shell does for `cmd &`. It reports
// when that helper is stopped.
func sessionHelper() int {
	report := os.Getenv("RUNNER_REPORT")
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	proc, err := os.StartProcess(exe, []string{exe}, &os.ProcAttr{
		Env:   withEnv(os.Environ(), helperEnv, "background"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		_ = os.WriteFile(report, []byte("error: "+err.Error()), 0o600)
		return 1
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(proc.Pid, &ws, syscall.WUNTRACED, nil); err != nil {
		return 1
	}
	if ws.Stopped() {
		_ = os.WriteFile(report, []byte("stopped by "+ws.StopSignal().String()), 0o600)
		_ = proc.Kill()
		_, _ = proc.Wait()
		return 1
	}
	return ws.ExitStatus()
}

// backgroundHelper runs a job in PTY mode with the terminal, in whose
// background it is, as Stdin and Terminal.
func backgroundHelper() int {
	report := os.Getenv("RUNNER_REPORT")
	fail := func(err error) int {
		_ = os.WriteFile(report, []byte("error: "+err.Error()), 0o600)
		return 1
	}
	if !inBackgroundOf(os.Stdin) {
		return fail(errors.New("not in the background of the terminal"))
	}
	var out bytes.Buffer
	job, err := Start(context.Background(), Spec{
		Argv: []string{"sh", "-c", "echo hi; test -t 0 && echo tty"}, Mode: PTY,
		Stdin: os.Stdin, Stdout: &out, Terminal: os.Stdin,
	})
	if err != nil {
		return fail(err)
	}
	raw := job.RawMode()
	res := job.Wait()
	msg := fmt.Sprintf("status %d output %q raw %v", res.Status(), out.String(), raw)
	if err := os.WriteFile(report, []byte(msg), 0o600); err != nil {
		return 1
	}
	return 0
}
