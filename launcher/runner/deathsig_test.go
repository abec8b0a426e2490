package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// shOrphaned is a job with a worker in its process group. Its main process
// then ignores SIGHUP, so that the hangup of a pty whose master closed does
// not end it: only the parent-death signal can. The worker, started before,
// keeps SIGHUP's default.
const shOrphaned = `sleep 1000 & echo "pid worker $!"; trap '' HUP; echo "pid main $$"; wait`

// TestJobDiesWithSupervisor: when vramrun is killed with SIGKILL (the OOM
// killer, a preemption) while a job runs, the job's main process does not
// outlive it, in either mode; in PTY mode neither does a worker of its
// process group, which the kernel sends SIGHUP when the main process, the
// pty's session leader, dies. A "dying" helper plays vramrun: it starts the
// job and waits; the test kills it and polls /proc, up to a deadline.
func TestJobDiesWithSupervisor(t *testing.T) {
	for _, mode := range []Mode{Pipes, PTY} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			argv, env := helperArgv(t, "dying")
			cmd := exec.Command(argv[0])
			cmd.Env = append(env, "RUNNER_MODE="+string(mode))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pids := map[string]int{}
			lines := bufio.NewScanner(out)
			for len(pids) < 2 && lines.Scan() {
				var name string
				var pid int
				if _, err := fmt.Sscanf(strings.TrimSpace(lines.Text()), "pid %s %d", &name, &pid); err == nil {
					pids[name] = pid
				}
			}
			starts := map[string]uint64{}
			for name, pid := range pids {
				st, err := readProcStat(pid)
				if err != nil {
					t.Fatalf("%s %d: %v", name, pid, err)
				}
				starts[name] = st.start
				t.Cleanup(func() { killIfSame(pid, st.start) })
			}
			if len(pids) < 2 {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("the job did not say its pids: %v", pids)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if !goneWithin(pids["main"], starts["main"], 10*time.Second) {
				t.Errorf("the job's main process %d outlived its supervisor", pids["main"])
			}
			if mode == PTY && !goneWithin(pids["worker"], starts["worker"], 10*time.Second) {
				t.Errorf("the job's worker %d outlived its supervisor", pids["worker"])
			}
		})
	}
}

// goneWithin polls until the process pid that started at start has ended
// (gone, or a zombie nobody reaps yet), and reports whether it did before
// the deadline.
func goneWithin(pid int, start uint64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		st, err := readProcStat(pid)
		if err != nil || st.start != start || st.dead() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// killIfSame kills pid if it is still the process that started at start.
func killIfSame(pid int, start uint64) {
	if st, err := readProcStat(pid); err == nil && st.start == start {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// dyingSupervisorHelper starts shOrphaned in RUNNER_MODE with its output on
// stdout, and waits for it; the test kills this process before it ends.
func dyingSupervisorHelper() int {
	// Under nohup (a CI script in the background) SIGHUP comes in ignored,
	// and an ignored signal stays ignored across exec: the worker would
	// shrug off the hang-up this test is about. Handling it here, as
	// vramrun's main does, gives the job the default again.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	job, err := Start(context.Background(), Spec{
		Argv: []string{"sh", "-c", shOrphaned}, Mode: Mode(os.Getenv("RUNNER_MODE")),
		Stdout: os.Stdout, Stderr: os.Stderr,
	})
	if err != nil {
		fmt.Println("runner:", err)
		return 1
	}
	job.Wait()
	return 0
}

// TestJobOutlivesTheStartingThread: the parent-death signal follows the
// thread that forked, yet a job lives on when the thread that called Start
// ends (a goroutine that locked its thread and returned, which Go ends with
// it): the fork ran on a thread of the job's own. Stopped afterwards, the
// job dies of Stop's SIGTERM, not of an earlier SIGKILL.
func TestJobOutlivesTheStartingThread(t *testing.T) {
	type started struct {
		job *Job
		tid int
		err error
	}
	ch := make(chan started, 1)
	var startOnThread func()
	startOnThread = func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if unix.Gettid() == unix.Getpid() {
			// The main thread, which Go never ends: hold it, so that
			// another goroutine gets another thread, and give it back.
			defer runtime.UnlockOSThread()
			done := make(chan struct{})
			go func() { defer close(done); startOnThread() }()
			<-done
			return
		}
		job, err := Start(context.Background(), Spec{Argv: []string{"sh", "-c", shHang}, Mode: Pipes})
		ch <- started{job, unix.Gettid(), err}
	}
	go startOnThread()
	s := <-ch
	if s.err != nil {
		t.Fatal(s.err)
	}
	task := fmt.Sprintf("/proc/self/task/%d", s.tid)
	deadline := time.Now().Add(10 * time.Second)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thread that called Start (%d) did not end", s.tid)
		}
		time.Sleep(pause)
	}
	s.job.Stop()
	if res := s.job.Wait(); res.Signal != syscall.SIGTERM {
		t.Errorf("job died of %v, want SIGTERM from Stop", res.Signal)
	}
}

// TestStartEndsNoThread: starting and reaping a job ends none of vramrun's
// threads, whose other children (plugins) carry a parent-death signal of
// their own. Children with Pdeathsig are forked from many threads at once,
// so that the thread a job's start then takes is likely one of theirs; each
// must end of the test's SIGTERM, not of an earlier SIGKILL.
func TestStartEndsNoThread(t *testing.T) {
	const threads = 32
	children := make([]*exec.Cmd, threads)
	var forked sync.WaitGroup
	release := make(chan struct{})
	for i := range children {
		forked.Add(1)
		go func() {
			runtime.LockOSThread() // each on a thread of its own while it forks
			defer runtime.UnlockOSThread()
			cmd := exec.Command("sleep", "1000")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err == nil {
				children[i] = cmd
			}
			forked.Done()
			<-release
		}()
	}
	forked.Wait()
	close(release)
	for _, mode := range []Mode{Pipes, PTY, Pipes, PTY} {
		if res := startAndWait(t, Spec{Argv: []string{"true"}, Mode: mode}); res.Status() != 0 {
			t.Fatalf("%s: status %d", mode, res.Status())
		}
	}
	for _, cmd := range children {
		if cmd == nil {
			t.Fatal("a child did not start")
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGTERM {
			t.Errorf("child %d ended with %v before the test ended it: its thread ended", cmd.Process.Pid, cmd.ProcessState)
		}
	}
}
