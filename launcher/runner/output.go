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
	wait    *waiter
	started bool
	done    chan struct{} // closed when every copier has reached its end

	mu    sync.Mutex
	first error
}

// newOutputCopiers takes the streams: on error, the caller still closes
// them.
func newOutputCopiers(cs ...copier) (*outputCopiers, error) {
	for _, c := range cs {
		// streamReader waits in poll, and only there: a blocking read
		// would hold bytes back until more come, and ignore stop.
		if err := withFd(c.src, func(fd int) error { return unix.SetNonblock(fd, true) }); err != nil {
			return nil, fmt.Errorf("output stream %s: %w", c.src.Name(), err)
		}
	}
	w, err := newWaiter()
	if err != nil {
		return nil, err
	}
	return &outputCopiers{copiers: cs, wait: w, done: make(chan struct{})}, nil
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
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	if sameWriter(stdout, stderr) {
		o, err := newOutputCopiers(copier{src: outR, dst: stdout})
		if err != nil {
			closeAll(outR, outW)
			return nil, [2]*os.File{}, err
		}
		return o, [2]*os.File{outW, outW}, nil
	}
	errR, errW, err := bigPipe()
	if err != nil {
		closeAll(outR, outW)
		return nil, [2]*os.File{}, fmt.Errorf("stderr pipe: %w", err)
	}
	o, err := newOutputCopiers(copier{src: outR, dst: stdout}, copier{src: errR, dst: stderr})
	if err != nil {
		closeAll(outR, outW, errR, errW)
		return nil, [2]*os.File{}, err
	}
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

// bigPipe is a pipe with room for pipeSize bytes where the system allows
// it: the job then blocks less often on a full pipe, and each read moves
// more. A refusal leaves the default size. The read end is non-blocking
// and outside Go's poller, as streamReader wants (see unpolled); the write
// end, the job's, blocks.
func bigPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	_, _ = unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, pipeSize)
	w = os.NewFile(uintptr(p[1]), "|1")
	if r, err = unpolled(p[0], "|0"); err != nil {
		_ = w.Close()
		return nil, nil, err
	}
	return r, w, nil
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
	src := &streamReader{w: o.wait, src: c.src}
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
		n, err := src.Read(buf)
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
	o.wait.stop()
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
	o.wait.close()
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
