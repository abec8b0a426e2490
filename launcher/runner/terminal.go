package runner

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// defaultSize is the job's window size when vramrun has no terminal: a new
// pty is 0x0, which makes progress bars and pagers misbehave.
var defaultSize = unix.Winsize{Row: 24, Col: 80}

// withFd runs fn with f's descriptor. Unlike f.Fd(), it does not switch the
// file to blocking mode, which would make reads on it impossible to cancel.
func withFd(f *os.File, fn func(fd int) error) error {
	if f == nil {
		return os.ErrInvalid
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}

// isTerminal reports whether f is a terminal; false for nil.
func isTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	yes := false
	_ = withFd(f, func(fd int) error { yes = term.IsTerminal(fd); return nil })
	return yes
}

// foregroundGroup is the foreground process group of f, when f is this
// process's controlling terminal (TIOCGPGRP fails on any other terminal,
// which has no job control to fear).
func foregroundGroup(f *os.File) (int, bool) {
	pgrp := -1
	err := withFd(f, func(fd int) error {
		var err error
		pgrp, err = unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		return err
	})
	return pgrp, err == nil
}

// inBackgroundOf reports whether f is this process's controlling terminal
// and another process group is in its foreground.
func inBackgroundOf(f *os.File) bool {
	pgrp, ok := foregroundGroup(f)
	return ok && pgrp != unix.Getpgrp()
}

// foregroundOf reports whether f is this process's controlling terminal
// with this process's group in its foreground.
func foregroundOf(f *os.File) bool {
	pgrp, ok := foregroundGroup(f)
	return ok && pgrp == unix.Getpgrp()
}

// windowSize returns terminal's size, or defaultSize when it has none.
func windowSize(terminal *os.File) unix.Winsize {
	size := defaultSize
	if !isTerminal(terminal) {
		return size
	}
	_ = withFd(terminal, func(fd int) error {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err == nil && ws.Row > 0 && ws.Col > 0 {
			size = *ws
		}
		return err
	})
	return size
}

// ptyModes are how a job's pty departs from a new pty's modes.
type ptyModes struct {
	// keepONLCR keeps the \n -> \r\n translation (output to a terminal).
	keepONLCR bool
	// noEcho turns echo off: what vramrun types comes from a file or pipe.
	noEcho bool
}

// openPTY opens a pty pair for a job: the master comes back non-blocking
// and outside Go's poller (see nonBlocking), the slave sized and with its
// modes set (see ptyModes). Both are set up before the child starts, so
// its first byte already sees them.
func openPTY(size unix.Winsize, modes ptyModes) (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	master, err = nonBlocking(m, "pty master")
	if err != nil {
		_ = tty.Close()
		return nil, nil, err
	}
	setup := func(fd int) error {
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &size); err != nil {
			return fmt.Errorf("set pty size: %w", err)
		}
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return fmt.Errorf("read pty modes: %w", err)
		}
		if !modes.keepONLCR {
			t.Oflag &^= unix.ONLCR
		}
		if modes.noEcho {
			t.Lflag &^= unix.ECHO | unix.ECHONL
		}
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			return fmt.Errorf("set pty modes: %w", err)
		}
		return nil
	}
	if err := withFd(tty, setup); err != nil {
		_ = master.Close()
		_ = tty.Close()
		return nil, nil, err
	}
	return master, tty, nil
}

// nonBlocking replaces f (blocking, as pty.Open returns it, since it calls
// Fd on it) with a non-blocking duplicate, and closes f. A blocking read
// or write cannot be interrupted; this one's waits are vramrun's own, in
// poll(2) with a wake-up file beside it (see streamReader, writeAll), so a
// grandchild holding the tty open cannot pin a goroutine forever.
//
// The duplicate is kept out of Go's poller (see unpolled).
func nonBlocking(f *os.File, what string) (*os.File, error) {
	defer func() { _ = f.Close() }()
	var dup int
	err := withFd(f, func(fd int) error {
		var err error
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	nf, err := unpolled(dup, f.Name())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return nf, nil
}

// unpolled makes fd a non-blocking *os.File that Go's poller does not
// watch: os.NewFile registers a descriptor that is non-blocking when it is
// given, so fd is made non-blocking only after. The poller watches a file
// edge-triggered for reading and writing whether anyone waits on it or
// not, and a pty's master and slave change state with every 4 KiB of
// output: each change woke one of the runtime's idle threads for nothing
// (~2000 thread switches for 8 MB).
func unpolled(fd int, name string) (*os.File, error) {
	// The flag belongs to the open file, which a dup shares.
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// rawTerminal holds vramrun's terminal while it is in raw mode.
type rawTerminal struct {
	mu    sync.Mutex
	file  *os.File
	saved *term.State
	raw   atomic.Bool
}

// makeRaw puts f in raw mode when it is a terminal.
func (r *rawTerminal) makeRaw(f *os.File) error {
	if !isTerminal(f) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return withFd(f, func(fd int) error {
		saved, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("terminal raw mode: %w", err)
		}
		r.file, r.saved = f, saved
		r.raw.Store(true)
		return nil
	})
}

// restore puts the terminal back as it was; safe to call any number of
// times, from any goroutine.
func (r *rawTerminal) restore() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saved == nil {
		return nil
	}
	err := withFd(r.file, func(fd int) error { return term.Restore(fd, r.saved) })
	r.file, r.saved = nil, nil
	r.raw.Store(false)
	if err != nil {
		return fmt.Errorf("restore terminal: %w", err)
	}
	return nil
}

// resizeForwarder copies the size of vramrun's terminal to the job's pty on
// every SIGWINCH; setting the pty's size makes the kernel signal the job.
// The signal channel is its own, so jobs do not share state.
type resizeForwarder struct {
	signals chan os.Signal
	done    chan struct{}
	stopped chan struct{}
}

func startResizeForwarder(terminal, master *os.File, onPanic func()) *resizeForwarder {
	f := &resizeForwarder{
		signals: make(chan os.Signal, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	signal.Notify(f.signals, unix.SIGWINCH)
	go func() {
		defer close(f.stopped)
		defer onPanic()
		for {
			select {
			case <-f.done:
				return
			case <-f.signals:
				size := windowSize(terminal)
				_ = withFd(master, func(fd int) error {
					return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &size)
				})
			}
		}
	}()
	return f
}

func (f *resizeForwarder) stop() {
	signal.Stop(f.signals)
	close(f.done)
	<-f.stopped
}

// inputCopier copies vramrun's stdin to the job's pty. It waits with poll
// on stdin and on a wake-up pipe, so it can be ended without leaving a
// goroutine blocked in read(2) that would later swallow the user's next
// keystroke.
type inputCopier struct {
	wakeR, wakeW int
	susp         *ptySuspend // the suspend key's handling; nil: none
	done         chan struct{}
	stopped      chan struct{}
}

func startInputCopier(in, master *os.File, inIsTerminal bool, susp *ptySuspend, onPanic func()) (*inputCopier, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("input wake-up pipe: %w", err)
	}
	c := &inputCopier{wakeR: p[0], wakeW: p[1], susp: susp, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(c.stopped)
		defer onPanic()
		_ = withFd(in, func(fd int) error {
			c.copy(fd, master, inIsTerminal)
			return nil
		})
	}()
	return c, nil
}

func (c *inputCopier) copy(in int, master *os.File, inIsTerminal bool) {
	fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}, {Fd: int32(c.wakeR), Events: unix.POLLIN}}
	buf := make([]byte, 32*1024)
	lastByte := byte('\n')
	var keys keyScan
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 || fds[0].Revents&unix.POLLNVAL != 0 {
			return
		}
		n, err := unix.Read(in, buf)
		switch {
		case n == 1 && buf[0] == 0 && inIsTerminal:
			// A lone NUL from a raw terminal is what util-linux's script
			// (2.38) writes into its pty when its own input ends (`script
			// -qec CMD /dev/null < /dev/null`, a common CI idiom): it is
			// the end of input, which the job should see as such, not as
			// a byte it can never finish reading.
			c.sendEOF(master, lastByte != '\n')
		case n > 0:
			if !c.forward(master, buf[:n], &keys) {
				return
			}
			lastByte = buf[n-1]
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		case err == nil && !inIsTerminal:
			// End of a file or pipe given as stdin: tell the job, as a
			// terminal user would with Ctrl-D.
			c.sendEOF(master, lastByte != '\n')
			return
		default:
			return
		}
	}
}

// forward writes what was typed into the pty; the job's suspend key (see
// ptySuspend) is not written but suspends the job and vramrun, and what
// follows it is written once they are continued. It reports whether the
// copier goes on.
func (c *inputCopier) forward(master *os.File, data []byte, keys *keyScan) bool {
	for len(data) > 0 {
		i := -1
		if c.susp != nil {
			i = keys.next(data, master)
		}
		chunk := data
		if i >= 0 {
			chunk = data[:i]
		}
		if len(chunk) > 0 {
			if err := writeAll(master, chunk, c.wakeR, time.Time{}); err != nil {
				return false
			}
		}
		if i < 0 {
			return true
		}
		if !c.susp.suspend(c.done) {
			// No job control to stop vramrun with: the key goes to the
			// job's pty, whose stop signal the kernel discards (the job's
			// group is orphaned), as before.
			if err := writeAll(master, data[i:i+1], c.wakeR, time.Time{}); err != nil {
				return false
			}
		}
		data = data[i+1:]
		select {
		case <-c.done:
			return false
		default:
		}
	}
	return true
}

// sendEOF types the pty's end-of-file character when the job reads in
// canonical mode (twice when a partial line is pending: the first one only
// submits the line). In raw mode that byte would be data, so nothing is sent.
func (c *inputCopier) sendEOF(master *os.File, partialLine bool) {
	var eof byte
	_ = withFd(master, func(fd int) error {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err == nil && t.Lflag&unix.ICANON != 0 {
			eof = t.Cc[unix.VEOF]
		}
		return err
	})
	if eof == 0 {
		return
	}
	msg := []byte{eof}
	if partialLine {
		msg = append(msg, eof)
	}
	_ = writeAll(master, msg, c.wakeR, time.Time{})
}

// stop ends the copier, and a write to the master waiting for room.
func (c *inputCopier) stop() {
	close(c.done)
	_, _ = unix.Write(c.wakeW, []byte{0})
	<-c.stopped
	_ = unix.Close(c.wakeR)
	_ = unix.Close(c.wakeW)
}
