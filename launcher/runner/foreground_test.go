package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
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
// terminal, it starts piperunnerHelper as a foreground job and, each time
// that job stops, takes the terminal and gives it back (fg).
func jobShellHelper() int {
	signal.Ignore(unix.SIGTTOU) // as shells do, to take the terminal back
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	proc, err := os.StartProcess(exe, []string{exe}, &os.ProcAttr{
		Env:   withEnv(os.Environ(), helperEnv, "piperunner"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0},
	})
	if err != nil {
		fmt.Println("shell:", err)
		return 1
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
