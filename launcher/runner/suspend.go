package runner

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// ptySuspend makes the suspend key (Ctrl-Z) work in PTY mode as it does in
// Pipes mode and without vramrun: the job and vramrun stop, the user's shell
// shows the run stopped, and fg continues both.
//
// The key cannot simply reach the job's pty: vramrun's terminal is raw, and
// the signal the job's pty generates goes to a process group that leads its
// own session, an orphaned group, for which the kernel discards SIGTSTP.
// So the input copier hands the key here instead: the job's group is stopped
// with SIGSTOP, the user's terminal modes are restored, and vramrun stops its
// own process group with SIGTSTP, as the shell expects of its job. Once
// continued in the foreground (fg), vramrun makes the terminal raw again and
// continues the job; continued in the background (bg), it continues the job
// and waits, reading no keys, until it is in the foreground again.
type ptySuspend struct {
	term    *os.File // vramrun's terminal
	pgid    int      // the job's process group
	raw     *rawTerminal
	noteErr func(error)
}

func newPTYSuspend(term *os.File, pgid int, raw *rawTerminal, noteErr func(error)) *ptySuspend {
	return &ptySuspend{term: term, pgid: pgid, raw: raw, noteErr: noteErr}
}

// suspend stops the job and vramrun and returns once vramrun is continued
// in the foreground, or done is closed. It reports false, doing nothing,
// when vramrun would not be continued in the foreground: its terminal is not
// its controlling one with its group in the foreground, no shell's job
// control is above it (jobControlled), or SIGTSTP is ignored.
func (p *ptySuspend) suspend(done <-chan struct{}) bool {
	if signal.Ignored(unix.SIGTSTP) || !foregroundOf(p.term) || !jobControlled() {
		return false
	}
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	defer signal.Stop(cont)
	_ = unix.Kill(-p.pgid, unix.SIGSTOP)
	if err := p.raw.restore(); err != nil {
		p.noteErr(err)
	}
	_ = unix.Kill(0, unix.SIGTSTP)
	for {
		select {
		case <-done:
			return true
		case <-cont:
		}
		_ = unix.Kill(-p.pgid, unix.SIGCONT)
		if foregroundOf(p.term) {
			if err := p.raw.makeRaw(p.term); err != nil {
				p.noteErr(err)
			}
			return true
		}
	}
}

// keyScan finds the job's suspend key in typed input as the job's pty would
// take it: the pty generates signals (ISIG) and the byte is its VSUSP, not
// quoted by a VLNEXT before it (IEXTEN, in canonical mode). The job may change those modes at
// any time, so they are read for every chunk.
type keyScan struct {
	quoted bool // the last byte was an unquoted VLNEXT
}

// next returns the index of the first suspend key in data, -1 if none.
func (k *keyScan) next(data []byte, master *os.File) int {
	var susp, lnext byte
	_ = withFd(master, func(fd int) error {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		if t.Lflag&unix.ISIG != 0 {
			susp = t.Cc[unix.VSUSP]
		}
		if t.Lflag&(unix.IEXTEN|unix.ICANON) == unix.IEXTEN|unix.ICANON {
			lnext = t.Cc[unix.VLNEXT]
		}
		return nil
	})
	for i, b := range data {
		switch {
		case k.quoted:
			k.quoted = false
		case susp != 0 && b == susp:
			return i
		case lnext != 0 && b == lnext:
			k.quoted = true
		}
	}
	return -1
}
