package runner

import (
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// terminalHandoff gives vramrun's terminal to the job in Pipes mode, as a
// shell gives it to a foreground job. The job leads its own process group,
// so that it can be ended as a whole; without the terminal's foreground, a
// job that reads the terminal (pdb, input(), a login prompt) would be
// stopped by SIGTTIN and the run would hang.
//
// While the job holds the terminal, ^C and ^Z go to it. When it stops (^Z),
// vramrun takes the terminal back and stops its own process group, so the
// shell sees the run stopped; continued in the foreground (fg), it hands the
// terminal and a SIGCONT back to the job. vramrun ignores SIGTTOU meanwhile:
// it takes the terminal back from the background, and may print there.
type terminalHandoff struct {
	term *os.File
	pgid int // the job's process group

	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// handoffPoll is how often the job's state is read to see it stopped.
const handoffPoll = 100 * time.Millisecond

// jobControlled reports whether this process's group is under a shell's
// job control: going up from this process through its group, the first
// parent outside the group is in the same session. Otherwise (no shell, or
// an orphaned group, whose stop signals the kernel discards) vramrun could
// not stop with its job, and does not hand the terminal over.
func jobControlled() bool {
	own := unix.Getpgrp()
	sid, err := unix.Getsid(0)
	if err != nil {
		return false
	}
	pid := os.Getpid()
	for range 64 {
		st, err := readProcStat(pid)
		if err != nil || st.ppid <= 1 {
			return false
		}
		parent, err := readProcStat(st.ppid)
		if err != nil {
			return false
		}
		if parent.pgrp != own {
			psid, err := unix.Getsid(st.ppid)
			return err == nil && psid == sid
		}
		pid = st.ppid
	}
	return false
}

// startHandoff begins watching a job that started in the foreground of
// term (exec's SysProcAttr.Foreground did the hand-over) with main pid pid.
func startHandoff(term *os.File, pid int, onPanic func()) *terminalHandoff {
	h := &terminalHandoff{term: term, pgid: pid, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(h.stopped)
		defer onPanic()
		h.watch(pid)
	}()
	return h
}

// setForeground puts pgrp in the terminal's foreground.
func (h *terminalHandoff) setForeground(pgrp int) {
	_ = withFd(h.term, func(fd int) error { return unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp) })
}

// foreground is the terminal's foreground process group, -1 if unknown.
func (h *terminalHandoff) foreground() int {
	if pgrp, ok := foregroundGroup(h.term); ok {
		return pgrp
	}
	return -1
}

// takeBack returns the terminal to vramrun's group if the job has it.
func (h *terminalHandoff) takeBack() {
	if h.foreground() == h.pgid {
		h.setForeground(unix.Getpgrp())
	}
}

func (h *terminalHandoff) watch(pid int) {
	tick := time.NewTicker(handoffPoll)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
		}
		if st, err := readProcStat(pid); err == nil && st.state == 'T' {
			h.suspend()
		}
	}
}

// suspend follows a stopped job: terminal back, vramrun's group stopped
// as the job was, and once continued, the terminal and SIGCONT to the job
// (the terminal only when vramrun was continued in the foreground).
func (h *terminalHandoff) suspend() {
	h.takeBack()
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	defer signal.Stop(cont)
	_ = unix.Kill(0, unix.SIGTSTP)
	select {
	case <-cont:
	case <-h.done:
		return
	}
	if h.foreground() == unix.Getpgrp() {
		h.setForeground(h.pgid)
	}
	_ = unix.Kill(-h.pgid, unix.SIGCONT)
}

// stop ends the watch and takes the terminal back; called once the job's
// processes are gone.
func (h *terminalHandoff) stop() {
	h.once.Do(func() {
		close(h.done)
		<-h.stopped
		h.takeBack()
		signal.Reset(unix.SIGTTOU)
	})
}
