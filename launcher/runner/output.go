package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// copier moves one output stream of the job (a pipe or the pty master) to
// its writer.
type copier struct {
	src *os.File
	dst io.Writer
	end *endMarker // pty master only: where the output ends
}

// outputCopiers drain the job's output streams until their end: EOF for a
// pipe, the end marker for a pty master (EIO should the marker never be
// written).
type outputCopiers struct {
	copiers []copier
	started bool
	done    chan struct{} // closed when every copier has reached its end

	mu    sync.Mutex
	first error
}

func newOutputCopiers(cs ...copier) *outputCopiers {
	return &outputCopiers{copiers: cs, done: make(chan struct{})}
}

// newPipeCopiers makes the pipes of Pipes mode and returns the child's
// ends for its stdout and stderr. When stdout and stderr are the same
// writer, both get one pipe, so their relative order is kept and the
// writer is never called concurrently.
func newPipeCopiers(stdout, stderr io.Writer) (*outputCopiers, [2]*os.File, error) {
	outR, outW, err := bigPipe()
	if err != nil {
		return nil, [2]*os.File{}, fmt.Errorf("stdout pipe: %w", err)
	}
	if sameWriter(stdout, stderr) {
		return newOutputCopiers(copier{src: outR, dst: stdout}), [2]*os.File{outW, outW}, nil
	}
	errR, errW, err := bigPipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, [2]*os.File{}, fmt.Errorf("stderr pipe: %w", err)
	}
	o := newOutputCopiers(copier{src: outR, dst: stdout}, copier{src: errR, dst: stderr})
	return o, [2]*os.File{outW, errW}, nil
}

// sameWriter compares two writers; writers of uncomparable types (which
// make == panic) are different.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a != nil && a == b
}

func (o *outputCopiers) start(onPanic func()) {
	o.started = true
	var wg sync.WaitGroup
	for _, c := range o.copiers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer onPanic()
			o.copy(c)
		}()
	}
	go func() {
		wg.Wait()
		close(o.done)
	}()
}

// copyBuffer is what one read of the job's output may take, at most: a
// whole pipeSize pipe, so that a chatty job costs few system calls per
// megabyte. Reads start at firstCopyBuffer.
const (
	copyBuffer      = pipeSize
	firstCopyBuffer = 16 << 10
)

// pipeSize is the capacity asked for the job's output pipes (Linux's
// default is 64 KiB; 1 MiB is the most an unprivileged process may ask by
// default, /proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// bigPipe is os.Pipe with room for pipeSize bytes where the system allows
// it: the job then blocks less often on a full pipe, and each read moves
// more. A refusal leaves the default size.
func bigPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err == nil {
		_, _ = unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	}
	return r, w, err
}

// BufferWriter is an output writer (Spec.Stdout, Spec.Stderr) that can
// take the buffer the job's output was read into instead of copying it:
// the copy then hands it each large read's buffer and reads on into one
// the writer gives back.
type BufferWriter interface {
	io.Writer
	// WriteBuffer writes p as Write does, and keeps the buffer p starts:
	// the caller does not touch it again.
	WriteBuffer(p []byte) error
	// Buffer returns an empty buffer of size bytes to read into.
	Buffer(size int) []byte
}

// lendAt is the smallest read whose buffer goes to a BufferWriter: a
// smaller one is cheaper copied than a buffer of copyBuffer bytes is
// passed on for it.
const lendAt = 64 << 10

func (o *outputCopiers) copy(c copier) {
	// The buffer starts small, and the first read that fills it makes it
	// whole in one step: a quiet job (most attempts' stderr) costs no
	// megabyte of heap per stream, which would bring the collector's
	// first cycle forward, and a chatty one does not fill, and fault in,
	// every size between on the way.
	buf := make([]byte, firstCopyBuffer)
	dst := c.dst
	lender, _ := dst.(BufferWriter)
	end := endScanner{marker: c.end}
	fail := func(err error) {
		// Keep reading: a job blocked on a full pipe or pty would look
		// hung.
		o.noteErr(fmt.Errorf("write job output: %w", err))
		dst, lender = nil, nil
	}
	write := func(p []byte) {
		if len(p) == 0 || dst == nil {
			return
		}
		if _, err := dst.Write(p); err != nil {
			fail(err)
		}
	}
	for {
		n, err := c.src.Read(buf)
		out, found := end.scan(buf[:n])
		switch {
		case lender != nil && len(out) >= lendAt && &out[0] == &buf[0]:
			// out is buf's own bytes (the end scanner held none back).
			if err := lender.WriteBuffer(out); err != nil {
				fail(err)
			}
			buf = nil
		default:
			write(out)
		}
		switch {
		case buf == nil && lender != nil:
			buf = lender.Buffer(copyBuffer)
		case buf == nil || n == len(buf) && len(buf) < copyBuffer:
			buf = make([]byte, copyBuffer)
		}
		if found {
			return
		}
		if err != nil {
			write(end.flush())
			if !errors.Is(err, io.EOF) && !errors.Is(err, unix.EIO) &&
				!errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
				o.noteErr(fmt.Errorf("read job output: %w", err))
			}
			return
		}
	}
}

// waitDone waits up to d for every stream to end and reports whether they
// did.
func (o *outputCopiers) waitDone(d time.Duration) bool {
	if !o.started {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-o.done:
		return true
	case <-t.C:
		return false
	}
}

// abort makes every pending read return now and waits for the copiers.
func (o *outputCopiers) abort() {
	if !o.started {
		return
	}
	for _, c := range o.copiers {
		_ = c.src.SetReadDeadline(time.Now())
	}
	<-o.done
}

// close ends the copiers if they still run and closes the read ends.
func (o *outputCopiers) close() {
	select {
	case <-o.done:
	default:
		o.abort()
	}
	for _, c := range o.copiers {
		_ = c.src.Close()
	}
}

func (o *outputCopiers) noteErr(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil {
		o.first = err
	}
}

func (o *outputCopiers) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.first
}
