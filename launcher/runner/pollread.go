package runner

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waiter ends the waits of a job's output streams (see streamReader): an
// eventfd that stop makes readable, which every wait in poll(2) watches
// beside its stream, and a flag each read checks first, so that a stream
// that never runs dry ends too.
type waiter struct {
	fd      int // the eventfd
	stopped atomic.Bool
}

func newWaiter() (*waiter, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("output streams: eventfd: %w", err)
	}
	return &waiter{fd: fd}, nil
}

// stop ends every read, now and later, with os.ErrDeadlineExceeded.
func (w *waiter) stop() {
	if !w.stopped.Swap(true) {
		one := [8]byte{1} // an eventfd takes a counter, host order; 1 in either
		_, _ = unix.Write(w.fd, one[:])
	}
}

func (w *waiter) close() { _ = unix.Close(w.fd) }

// streamReader reads one output stream the way script(1) does: what is
// there, and when nothing is, it waits in poll(2) for more (or for the
// waiter's stop). Go's own read parks the goroutine at every EAGAIN, and
// the thread then goes through the scheduler's idle round (an epoll wait;
// the runtime's monitor thread woken, then sleeping in 20 µs steps): a pty
// gives 4 KiB a read, so a chatty job paid that a few thousand times a
// second, on cores the job wants. A thread waiting in poll costs nothing
// until its stream has more.
type streamReader struct {
	w   *waiter
	src *os.File
	// dry says the last read found the stream empty: the next one waits
	// in poll first, rather than asking read again for what is not there.
	dry bool
	// rc is src's raw connection, made at the first read: SyscallConn
	// allocates one each call, and Read runs for every 4 KiB of a pty.
	rc syscall.RawConn
}

// Read reads src (non-blocking: see unpolled) into p as File.Read does,
// io.EOF at its end; but it reads on while more is there at once, so that
// one write passes on what a pty gives in 4 KiB reads. It waits only when
// nothing is there, so no byte is held back waiting for more. After stop,
// it returns os.ErrDeadlineExceeded.
func (r *streamReader) Read(p []byte) (n int, err error) {
	if r.rc == nil {
		if r.rc, err = r.src.SyscallConn(); err != nil {
			return 0, err
		}
	}
	// The file is held for the call: closing it waits until it returns.
	if rerr := r.rc.Read(func(fd uintptr) bool {
		n, err = r.readFd(int(fd), p)
		return true
	}); rerr != nil {
		return 0, rerr
	}
	if err != nil && err != io.EOF && err != os.ErrDeadlineExceeded {
		err = &os.PathError{Op: "read", Path: r.src.Name(), Err: err}
	}
	return n, err
}

func (r *streamReader) readFd(fd int, p []byte) (int, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(r.w.fd), Events: unix.POLLIN}}
	n, hungUp := 0, false
	for n < len(p) {
		if r.w.stopped.Load() {
			return n, os.ErrDeadlineExceeded
		}
		if r.dry {
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return n, err
			}
			if fds[0].Revents&unix.POLLNVAL != 0 {
				return n, os.ErrClosed
			}
			hungUp = fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
			r.dry = false
		}
		m, err := unix.Read(fd, p[n:])
		switch {
		case err == nil && m == 0:
			return n, io.EOF
		case err == nil:
			n += m
		case err == unix.EINTR:
		case err != unix.EAGAIN:
			return n, err
		case n > 0:
			r.dry = true
			return n, nil
		case hungUp:
			// Hung up with nothing to read: the stream has ended (a pty
			// master says EIO, a pipe EOF; this guards against a spin).
			return 0, io.EOF
		default:
			r.dry = true
		}
	}
	return n, nil
}

// errWoken ends a write that wake interrupted.
var errWoken = errors.New("write given up")

// writeAll writes all of p to f, a non-blocking file vramrun's poller
// does not watch (see nonBlocking), waiting in poll(2) for room. The wait
// ends early when wake (an fd; -1: none) becomes readable, with errWoken,
// or at deadline (zero: none), with os.ErrDeadlineExceeded.
func writeAll(f *os.File, p []byte, wake int, deadline time.Time) error {
	return withFd(f, func(fd int) error {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}, {Fd: int32(wake), Events: unix.POLLIN}}
		if wake < 0 {
			fds = fds[:1]
		}
		for hungUp := false; len(p) > 0; {
			n, err := unix.Write(fd, p)
			if n > 0 {
				p = p[n:]
			}
			switch {
			case err == nil, err == unix.EINTR:
				continue
			case err != unix.EAGAIN:
				return &os.PathError{Op: "write", Path: f.Name(), Err: err}
			}
			timeout := -1
			if !deadline.IsZero() {
				left := time.Until(deadline)
				if left <= 0 {
					return os.ErrDeadlineExceeded
				}
				timeout = int(min(left.Milliseconds()+1, math.MaxInt32))
			}
			if hungUp {
				// Hung up and no room: no room will come (this guards
				// against a spin).
				return &os.PathError{Op: "write", Path: f.Name(), Err: unix.EIO}
			}
			for i := range fds {
				fds[i].Revents = 0
			}
			if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
				return &os.PathError{Op: "poll", Path: f.Name(), Err: err}
			}
			if len(fds) > 1 && fds[1].Revents != 0 {
				return errWoken
			}
			hungUp = fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
		}
		return nil
	})
}
