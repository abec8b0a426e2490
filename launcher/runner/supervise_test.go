package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// superviseReport is what the supervise helper prints, as JSON.
type superviseReport struct {
	Error       string         `json:"error,omitempty"`
	Status      int            `json:"status"`
	Reaped      []int          `json:"reaped"`
	Survivors   []int          `json:"survivors"`
	Pids        map[string]int `json:"pids"`         // name -> pid, as the job printed them
	States      map[int]string `json:"states"`       // pid -> "gone" or its /proc state after Wait
	Preexisting string         `json:"preexisting"`  // state of the child started before Start
	PreexistPid int            `json:"preexist_pid"` // its pid
	Output      string         `json:"output"`
}

// procState is "gone" when pid no longer exists (not even as a zombie),
// else its /proc state letter.
func procState(pid int) string {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return "gone"
	}
	st, err := readProcStat(pid)
	if err != nil {
		return "gone"
	}
	return string(st.state)
}

// superviseHelper runs in its own process because the subreaper setting is
// process-wide: it becomes a subreaper like vramrun, starts a child of its
// own (which the job's cleanup must spare), runs the job named by
// RUNNER_SCENARIO in RUNNER_MODE, and reports what survived.
func superviseHelper() int {
	report := superviseReport{Pids: map[string]int{}, States: map[int]string{}}
	defer func() {
		_ = json.NewEncoder(os.Stdout).Encode(report)
	}()
	fail := func(err error) int {
		report.Error = err.Error()
		return 1
	}
	if err := EnableSubreaper(); err != nil {
		return fail(err)
	}
	preexisting := exec.Command("sleep", "1000")
	if err := preexisting.Start(); err != nil {
		return fail(err)
	}
	defer func() {
		_ = preexisting.Process.Kill()
		_ = preexisting.Wait()
	}()
	report.PreexistPid = preexisting.Process.Pid

	out := newLineWatcher()
	job, err := Start(context.Background(), Spec{
		Argv:         []string{"sh", "-c", leftoverScript(os.Getenv("RUNNER_SCENARIO"))},
		Mode:         Mode(os.Getenv("RUNNER_MODE")),
		Stdout:       out,
		Stderr:       out,
		StopGrace:    200 * time.Millisecond, // short, to keep the test fast; the outcome does not depend on it
		DrainTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		return fail(err)
	}
	res := job.Wait()
	report.Status, report.Reaped, report.Survivors = res.Status(), res.Reaped, res.Survivors
	report.Output = out.String()
	sc := bufio.NewScanner(strings.NewReader(report.Output))
	for sc.Scan() {
		var name string
		var pid int
		if _, err := fmt.Sscanf(sc.Text(), "pid %s %d", &name, &pid); err == nil {
			report.Pids[name] = pid
			report.States[pid] = procState(pid)
		}
	}
	report.Preexisting = procState(preexisting.Process.Pid)
	return 0
}

// TestWaitEndsLeftoverProcesses runs, for each mode, jobs whose main
// process exits 0 and leaves a process behind, and checks by pid that
// after Wait nothing is left (not even a zombie), that Result.Reaped names
// it, and that a child of the supervisor started before the job survives.
func TestWaitEndsLeftoverProcesses(t *testing.T) {
	scenarios := []struct{ name, leftover string }{
		{"worker", "worker"},          // sleeping group member holding the output
		{"stubborn-worker", "worker"}, // ignores SIGTERM and SIGHUP: needs SIGKILL
		{"doublefork", "stray"},       // setsid daemon, found by its marker
		{"doublefork-noenv", "stray"}, // no marker, stubborn, holds the output: found as our orphan
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{Pipes, PTY} {
		for _, sc := range scenarios {
			t.Run(string(mode)+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				cmd := exec.Command(exe)
				cmd.Env = append(withEnv(os.Environ(), helperEnv, "supervise"),
					"RUNNER_SCENARIO="+sc.name, "RUNNER_MODE="+string(mode))
				cmd.Stderr = os.Stderr
				raw, err := cmd.Output()
				var rep superviseReport
				if jerr := json.Unmarshal(raw, &rep); jerr != nil {
					t.Fatalf("supervisor: %v; output %q (%v)", err, raw, jerr)
				}
				if err != nil || rep.Error != "" {
					t.Fatalf("supervisor failed: %v %s", err, rep.Error)
				}
				if rep.Status != 0 {
					t.Errorf("job status %d, want 0; output %q", rep.Status, rep.Output)
				}
				pid, ok := rep.Pids[sc.leftover]
				if !ok {
					t.Fatalf("job did not report its %s; output %q", sc.leftover, rep.Output)
				}
				if st := rep.States[pid]; st != "gone" {
					t.Errorf("%s %d after Wait: state %s, want gone", sc.leftover, pid, st)
				}
				if !slices.Contains(rep.Reaped, pid) {
					t.Errorf("Reaped %v does not list %s %d", rep.Reaped, sc.leftover, pid)
				}
				if len(rep.Survivors) != 0 {
					t.Errorf("Survivors %v, want none", rep.Survivors)
				}
				if rep.Preexisting == "gone" || rep.Preexisting == "Z" {
					t.Errorf("child started before the job: state %s, want alive", rep.Preexisting)
				}
				if slices.Contains(rep.Reaped, rep.PreexistPid) {
					t.Errorf("Reaped %v lists the child started before the job (%d)", rep.Reaped, rep.PreexistPid)
				}
			})
		}
	}
}

// TestStopEndsHungJob: Stop ends a job that sleeps (SIGTERM) and one that
// ignores SIGTERM (SIGKILL after the grace), in both modes.
func TestStopEndsHungJob(t *testing.T) {
	cases := []struct {
		ignore string
		signal syscall.Signal
		status int
	}{
		{"0", syscall.SIGTERM, 143},
		{"1", syscall.SIGKILL, 137},
	}
	for _, mode := range []Mode{Pipes, PTY} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%v", mode, c.signal), func(t *testing.T) {
				t.Parallel()
				out := newLineWatcher()
				job, err := Start(context.Background(), Spec{
					Argv: []string{"sh", "-c", shHang}, Env: append(os.Environ(), "IGNORE="+c.ignore),
					Mode: mode, Stdout: out, Stderr: out,
					StopGrace: 100 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				out.waitFor("ready")
				job.Stop()
				if st := procState(job.PID()); st != "gone" && st != "Z" {
					t.Errorf("after Stop the job is in state %s", st)
				}
				job.Stop() // idempotent
				res := job.Wait()
				if res.Signal != c.signal || res.ExitCode != -1 || res.Status() != c.status {
					t.Errorf("got signal %v exit %d status %d, want %v -1 %d",
						res.Signal, res.ExitCode, res.Status(), c.signal, c.status)
				}
				if len(res.Reaped) != 0 {
					t.Errorf("Reaped %v, want none (only the main process ran)", res.Reaped)
				}
			})
		}
	}
}

// TestContextCancelStopsJob: cancelling Start's context stops the job.
func TestContextCancelStopsJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineWatcher()
	job, err := Start(ctx, Spec{Argv: []string{"sh", "-c", shHang}, Mode: Pipes, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	out.waitFor("ready")
	cancel()
	if res := job.Wait(); res.Signal != syscall.SIGTERM {
		t.Errorf("signal %v, want SIGTERM", res.Signal)
	}
}

// TestSignalReachesGroup: Signal reaches the main process and the other
// members of its process group.
func TestSignalReachesGroup(t *testing.T) {
	for _, mode := range []Mode{Pipes, PTY} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			out := newLineWatcher()
			job, err := Start(context.Background(), Spec{Argv: []string{"sh", "-c", shUsr1Group}, Mode: mode, Stdout: out, Stderr: out})
			if err != nil {
				t.Fatal(err)
			}
			out.waitFor("worker ready") // the main sets its trap before it starts the worker
			if err := job.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			res := job.Wait()
			if res.Status() != 0 {
				t.Errorf("status %d, want 0; output %q", res.Status(), out.String())
			}
			for _, want := range []string{"main got USR1", "worker got USR1"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output %q lacks %q", out.String(), want)
				}
			}
			if err := job.Signal(syscall.SIGUSR1); !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("Signal after Wait: %v, want os.ErrProcessDone", err)
			}
		})
	}
}

// TestReadProcStat parses a command name with spaces and parentheses.
func TestReadProcStat(t *testing.T) {
	own, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st := own; st.pid != os.Getpid() || st.ppid != os.Getppid() || st.pgrp != syscall.Getpgrp() || st.state == 'Z' {
		t.Errorf("own stat %+v; want pid %d ppid %d pgrp %d", st, os.Getpid(), os.Getppid(), syscall.Getpgrp())
	}
	if _, err := readProcStat(1 << 30); err == nil {
		t.Error("stat of a pid that cannot exist: no error")
	}
	// The parser itself, on a hostile command name.
	dir := t.TempDir()
	name := dir + "/a) b (c"
	if err := os.WriteFile(name, []byte("#!/bin/sh\nread x\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	st, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != cmd.Process.Pid || st.ppid != os.Getpid() || st.start < own.start {
		t.Errorf("child stat %+v; want pid %d ppid %d start >= %d", st, cmd.Process.Pid, os.Getpid(), own.start)
	}
}
