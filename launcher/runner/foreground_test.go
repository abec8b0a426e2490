package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPipesJobReadsTheTerminal: in Pipes mode, a job that reads vramrun's
// terminal gets it (it is in the terminal's foreground, not stopped by
// SIGTTIN), ^Z stops the job and vramrun with it as a shell expects, and fg
// continues both. A "jobshell" helper plays an interactive shell on a test
// terminal; a "piperunner" helper plays vramrun, started by it as a
// foreground job, and runs the job in Pipes mode with the terminal as stdin.
func TestPipesJobReadsTheTerminal(t *testing.T) {
	user, terminal := openTestTerminal(t, 24, 80)
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	argv, env := helperArgv(t, "jobshell")
	proc, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{terminal, outW, outW},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	})
	_ = outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A hang (the job stopped for good) fails the test instead of the run.
	watchdog := time.AfterFunc(2*time.Minute, func() { _ = proc.Kill(); _ = out.Close() })
	defer watchdog.Stop()

	lines := bufio.NewScanner(out)
	next := func(want string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
			t.Logf("output: %s", lines.Text())
		}
		t.Fatalf("output ended before %q", want)
	}
	next("ready")
	if _, err := user.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	next("shell: runner stopped")
	if _, err := user.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	next("got hello")
	next("runner: status 0")
	next("shell: runner exit 0")
	if st, err := proc.Wait(); err != nil || !st.Success() {
		t.Errorf("shell: %v, %v", st, err)
	}
}

// jobShellHelper is a minimal interactive shell: the session leader of its
// terminal, it starts the helper named by RUNNER_SHELL_JOB (piperunnerHelper
// by default) as a foreground job and, each time that job stops, takes the
// terminal and gives it back (fg). With a gate as fd 3 (RUNNER_SHELL_GATE=1)
// it waits, after each stop, for the test's word there: 'b' continues the
// job in the background (bg), 'f' in the foreground (fg).
func jobShellHelper() int {
	signal.Ignore(unix.SIGTTOU) // as shells do, to take the terminal back
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	job := os.Getenv("RUNNER_SHELL_JOB")
	if job == "" {
		job = "piperunner"
	}
	proc, err := os.StartProcess(exe, []string{exe}, &os.ProcAttr{
		Env:   withEnv(os.Environ(), helperEnv, job),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0},
	})
	if err != nil {
		fmt.Println("shell:", err)
		return 1
	}
	var gate *os.File
	if os.Getenv("RUNNER_SHELL_GATE") == "1" {
		gate = os.NewFile(3, "gate")
	}
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(proc.Pid, &ws, syscall.WUNTRACED, nil); err != nil {
			fmt.Println("shell:", err)
			return 1
		}
		if !ws.Stopped() {
			fmt.Println("shell: runner exit", ws.ExitStatus())
			return ws.ExitStatus()
		}
		fmt.Println("shell: runner stopped")
		_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, unix.Getpgrp())
		for word := []byte{'f'}; gate != nil; {
			if _, err := gate.Read(word); err != nil || word[0] == 'f' {
				break
			}
			_ = unix.Kill(-proc.Pid, unix.SIGCONT) // bg
			fmt.Println("shell: bg")
		}
		// fg
		_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, proc.Pid)
		_ = unix.Kill(-proc.Pid, unix.SIGCONT)
	}
}

// pipeRunnerHelper runs a job that reads a line from the terminal, in Pipes
// mode, with the terminal as Stdin.
func pipeRunnerHelper() int {
	job, err := Start(context.Background(), Spec{
		Argv: []string{"sh", "-c", "echo ready; read x; echo got $x"}, Mode: Pipes,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	if err != nil {
		fmt.Println("runner:", err)
		return 1
	}
	res := job.Wait()
	fmt.Println("runner: status", res.Status())
	return 0
}

// TestPTYCtrlZStopsJobAndRunner: in PTY mode, ^Z stops the job and vramrun as
// in Pipes mode, with the user's terminal modes restored while stopped; bg
// continues the job, not vramrun's reading of keys nor raw mode; fg makes
// the terminal raw again and keys reach the job. A "jobshell" helper plays
// the shell, waiting on a gate for the test's bg and fg; a "ptyrunner"
// helper plays vramrun.
func TestPTYCtrlZStopsJobAndRunner(t *testing.T) {
	user, terminal := openTestTerminal(t, 24, 80)
	before := termios(t, terminal)
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	gateR, gate, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	argv, env := helperArgv(t, "jobshell")
	proc, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Env:   append(env, "RUNNER_SHELL_JOB=ptyrunner", "RUNNER_SHELL_GATE=1"),
		Files: []*os.File{terminal, outW, outW, gateR},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	})
	_ = outW.Close()
	_ = gateR.Close()
	if err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(2*time.Minute, func() { _ = proc.Kill(); _ = out.Close() })
	defer watchdog.Stop()

	lines := bufio.NewScanner(out)
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), prefix) {
				return lines.Text()
			}
			t.Logf("output: %s", lines.Text())
		}
		t.Fatalf("output ended before %q", prefix)
		return ""
	}
	var jobPid int
	if _, err := fmt.Sscanf(next("ready "), "ready %d", &jobPid); err != nil {
		t.Fatal(err)
	}
	if raw := termios(t, terminal); raw.Lflag&unix.ICANON != 0 {
		t.Fatal("terminal not raw while the job runs")
	}
	if _, err := user.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	next("shell: runner stopped")
	if !jobStateWithin(jobPid, true, 10*time.Second) {
		t.Errorf("job %d not stopped with vramrun", jobPid)
	}
	if got := termios(t, terminal); got != before {
		t.Errorf("terminal while stopped %+v, want the user's modes %+v", got, before)
	}
	if _, err := gate.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	next("shell: bg")
	if !jobStateWithin(jobPid, false, 10*time.Second) {
		t.Errorf("job %d still stopped after bg", jobPid)
	}
	if _, err := gate.Write([]byte("f")); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	next("got hello")
	next("runner: status 0")
	next("shell: runner exit 0")
	if st, err := proc.Wait(); err != nil || !st.Success() {
		t.Errorf("shell: %v, %v", st, err)
	}
	if after := termios(t, terminal); after != before {
		t.Errorf("terminal after the run %+v, want it restored to %+v", after, before)
	}
}

// jobStateWithin polls until pid is stopped (stopped true) or not, and
// reports whether that happened before the deadline.
func jobStateWithin(pid int, stopped bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if st, err := readProcStat(pid); err == nil && (st.state == 'T') == stopped {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// ptyRunnerHelper runs, in PTY mode with the terminal as Stdin, a job that
// says its pid and reads a line from it; the job's output goes to stdout.
func ptyRunnerHelper() int {
	job, err := Start(context.Background(), Spec{
		Argv: []string{"sh", "-c", `echo "ready $$"; read x; echo "got $x"`}, Mode: PTY,
		Stdin: os.Stdin, Stdout: os.Stdout,
	})
	if err != nil {
		fmt.Println("runner:", err)
		return 1
	}
	res := job.Wait()
	fmt.Println("runner: status", res.Status(), res.OutputErr)
	return 0
}
