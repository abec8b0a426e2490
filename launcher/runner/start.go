package runner

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// jobDeathSignal is what the job's main process gets from the kernel when
// vramrun dies without ending it (kill -9, the OOM killer, a preemption):
// the job must not outlive its supervisor holding GPU memory.
const jobDeathSignal = syscall.SIGKILL

// launch runs start, which calls j.cmd.Start, on a goroutine locked to its
// OS thread, which then reaps the main process. The kernel sends the
// parent-death signal (Pdeathsig) when the thread that forked ends, not the
// process, and the Go runtime ends a thread when a goroutine locked to it
// exits: locked, this thread runs nothing else until the main process is
// reaped. It is unlocked then, not ended, as vramrun never ends a thread:
// other children of its threads (plugins) carry a Pdeathsig too, and the
// thread locked here may be one that started them.
func (j *Job) launch(start func() error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := start(); err != nil {
			started <- err
			return
		}
		// Noted before the reaping: the end comes later, and the main
		// process's start time can only be read until it is reaped.
		j.started = time.Now()
		if st, err := readProcStat(j.cmd.Process.Pid); err == nil {
			j.sup.mainStart = st.start
		}
		started <- nil
		j.reapMain()
	}()
	return <-started
}

func (j *Job) reapMain() {
	defer close(j.exited)
	j.waitErr = j.cmd.Wait()
	j.ended = time.Now()
}

func (j *Job) startPipes() error {
	j.cmd.Stdin = j.spec.Stdin
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: jobDeathSignal}
	out, childEnds, err := newPipeCopiers(j.spec.Stdout, j.spec.Stderr)
	if err != nil {
		return err
	}
	j.cmd.Stdout, j.cmd.Stderr = childEnds[0], childEnds[1]
	// A job reading vramrun's terminal needs its foreground (see
	// terminalHandoff); exec hands it over in the child, before exec.
	handoff := j.spec.Stdin != nil && foregroundOf(j.spec.Stdin) && jobControlled()
	if handoff {
		signal.Ignore(unix.SIGTTOU)
		err = j.launch(func() error {
			return withFd(j.spec.Stdin, func(fd int) error {
				j.cmd.SysProcAttr.Foreground, j.cmd.SysProcAttr.Ctty = true, fd
				return j.cmd.Start()
			})
		})
	} else {
		err = j.launch(j.cmd.Start)
	}
	for _, f := range childEnds {
		_ = f.Close() // the child has its copies; ours would hide EOF
	}
	if err != nil {
		if handoff {
			signal.Reset(unix.SIGTTOU)
		}
		out.close()
		return &execFailure{err}
	}
	if handoff {
		j.handoff = startHandoff(j.spec.Stdin, j.cmd.Process.Pid, j.recoverPanic)
	}
	j.output = out
	return nil
}

func (j *Job) startPTY() error {
	modes := ptyModes{
		keepONLCR: isTerminal(j.spec.Terminal),
		// What vramrun types from a file or pipe must not come back in the
		// output: nobody typed it at a terminal to see it.
		noEcho: j.spec.Stdin != nil && !isTerminal(j.spec.Stdin),
	}
	if f, ok := j.spec.Stdout.(*os.File); ok && isTerminal(f) {
		modes.keepONLCR = true
	}
	master, tty, err := openPTY(windowSize(j.spec.Terminal), modes)
	if err != nil {
		return err
	}
	// The tty must be the child's stdin for Setctty (Ctty 0). Setsid makes
	// the child lead a new session and process group; Setpgid with it
	// would fail with EPERM.
	j.cmd.Stdin, j.cmd.Stdout, j.cmd.Stderr = tty, tty, tty
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: jobDeathSignal}
	// vramrun keeps the slave open, to write the end marker through it
	// (see endMarker), from before the start: were the job to exit first,
	// the master would already have reported the hangup. It is opened anew,
	// as O_NONBLOCK belongs to an open file and the job's must block; and
	// outside Go's poller (see unpolled).
	var slave *os.File
	fd, err := unix.Open(tty.Name(), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == nil {
		slave, err = unpolled(fd, tty.Name())
	}
	if err != nil {
		_ = master.Close()
		_ = tty.Close()
		return fmt.Errorf("open pty slave: %w", err)
	}
	end := newEndMarker()
	out, err := newOutputCopiers(copier{src: master, dst: j.spec.Stdout, end: end})
	if err == nil {
		err = j.launch(j.cmd.Start)
		if err != nil {
			out.close() // closes master
			err = &execFailure{err}
		}
	} else {
		_ = master.Close()
	}
	_ = tty.Close() // the job has its copies
	if err != nil {
		_ = slave.Close()
		return err
	}
	j.master, j.slave, j.end, j.output = master, slave, end, out
	return nil
}

// execFailure marks an error of exec.Cmd.Start (as opposed to one setting
// up pipes or a pty), which classifyStartError turns into ErrNotFound or
// ErrNotExecutable.
type execFailure struct{ err error }

func (e *execFailure) Error() string { return e.err.Error() }
func (e *execFailure) Unwrap() error { return e.err }

// startTerminal connects vramrun's terminal to the job's pty once the job
// runs: raw mode, typed input and window size changes. When vramrun runs
// in the background of its terminal (started with &), the terminal stays
// as it is and is not read: changing its modes or reading it would get
// vramrun stopped by SIGTTOU or SIGTTIN, and the keys belong to the
// foreground job anyway.
func (j *Job) startTerminal() {
	if in := j.spec.Stdin; in != nil && !inBackgroundOf(in) {
		inIsTerminal := isTerminal(in)
		var susp *ptySuspend
		if inIsTerminal {
			if err := j.termRaw.makeRaw(in); err != nil {
				j.output.noteErr(err)
			}
			susp = newPTYSuspend(in, j.pid, &j.termRaw, j.output.noteErr)
		}
		c, err := startInputCopier(in, j.master, inIsTerminal, susp, j.recoverPanic)
		if err != nil {
			j.output.noteErr(err)
		} else {
			j.input = c
		}
	}
	if isTerminal(j.spec.Terminal) {
		j.resize = startResizeForwarder(j.spec.Terminal, j.master, j.recoverPanic)
	}
}
