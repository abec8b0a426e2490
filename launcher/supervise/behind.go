package supervise

import (
	"io"
	"sync"
	"time"
)

// behind hands what is written to it to slower writers on a goroutine of
// its own, so that the job's output reaches the terminal at the speed of a
// copy while the attempt log and the OOM scanners take the same bytes a
// little later. Nothing is dropped: every byte reaches its writer, and all
// writers get their bytes in the order the writes came, one at a time (so
// two streams sharing one log keep the order in which they were copied).
// Memory is bounded (limit, or one write when a write is larger; counted
// in buffers held, whatever is in them): a Write waits only when the
// writers are a whole limit behind.
type behind struct {
	limit int

	mu     sync.Mutex
	ready  *sync.Cond // the drain is due, or the end came
	room   *sync.Cond // a chunk was written, or the end came
	queue  []chunk    // waiting for their writers, oldest first
	held   int        // capacity of the buffers queued or being written
	spare  [][]byte   // emptied buffers, for reuse
	lent   [][]byte   // emptied buffers that a copy read into, for its next reads
	wake   wake
	closed bool
	done   chan struct{} // closed when the goroutine has written everything
}

// wake is when the drain goroutine runs. Waking it for every write would
// cost a thread switch per read of the job's output (a pty gives 4 KiB a
// read: thousands a second, each a futex call and a scheduler round on a
// machine whose cores the job wants), so small writes gather in the queue
// until it holds wakeAt bytes, or lag has passed since the first of them,
// and the drain then writes all that is queued. The log and the scanners
// lag by that much at most; a copy waiting for room wakes the drain first,
// so nothing stalls. Invariant (under mu): a non-empty queue is due, or
// the timer is armed.
type wake struct {
	lag     time.Duration
	timer   *time.Timer // made at the first arming: a quiet job makes none
	armed   bool        // the timer will make the drain due
	due     bool        // the drain runs until the queue is empty
	waiting int         // bytes queued since the drain was last due
}

// chunk is bytes for one writer.
type chunk struct {
	to   *behindWriter // by pointer: writers need not be comparable
	data []byte
	// taken says data is a buffer a copy read into and handed over (see
	// take): it goes back to lent, not spare.
	taken bool
}

func newBehind(limit int) *behind { return newBehindLag(limit, behindLag) }

// newBehindLag is newBehind with the lag of small writes (see wake).
func newBehindLag(limit int, lag time.Duration) *behind {
	b := &behind{limit: max(limit, behindChunk), done: make(chan struct{}), wake: wake{lag: lag}}
	b.ready = sync.NewCond(&b.mu)
	b.room = sync.NewCond(&b.mu)
	go b.drain()
	return b
}

// Wake-up policy (see wake): the drain runs once wakeAt bytes are queued,
// or behindLag after the first byte that found it idle. 10 ms is far below
// what an OOM text's timing needs (its grace is seconds), and a job
// printing lines steadily wakes the drain a hundred times a second at most.
const (
	wakeAt    = behindChunk
	behindLag = 10 * time.Millisecond
)

// queued notes n bytes queued (b.mu held) and makes the drain due when
// they are many, or arms the timer that will; now makes it due at once.
func (b *behind) queued(n int, now bool) {
	w := &b.wake
	if w.due {
		return
	}
	w.waiting += n
	switch {
	case now || w.waiting >= wakeAt:
		b.makeDue()
	case !w.armed:
		w.armed = true
		if w.timer == nil {
			w.timer = time.AfterFunc(w.lag, b.lagPassed)
		} else {
			w.timer.Reset(w.lag)
		}
	}
}

// makeDue wakes the drain for everything queued (b.mu held).
func (b *behind) makeDue() {
	b.wake.due, b.wake.waiting = true, 0
	b.ready.Signal()
}

// lagPassed is the timer's: what waited lag is written now.
func (b *behind) lagPassed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wake.armed = false
	if len(b.queue) > 0 && !b.wake.due {
		b.makeDue()
	}
}

// waitRoom waits until n more bytes of buffers fit (b.mu held), waking the
// drain first: what it holds is what must be written to make room.
func (b *behind) waitRoom(n int) {
	for b.held > 0 && b.held+n > b.limit && !b.closed {
		if !b.wake.due {
			b.makeDue()
		}
		b.room.Wait()
	}
}

// writer is an io.Writer whose bytes go to next through b.
func (b *behind) writer(next io.Writer) *behindWriter { return &behindWriter{b, next} }

type behindWriter struct {
	b    *behind
	next io.Writer
}

// Write queues a copy of p and returns; it never fails.
func (w *behindWriter) Write(p []byte) (int, error) {
	w.b.queueFor(w, p)
	return len(p), nil
}

// queueFor queues p whole, so that writes from two goroutines never
// interleave inside one another: it waits for room for all of it, or for
// an empty queue when p alone is larger than the limit. Room is counted in
// the buffers the queue holds, not the bytes in them: two streams taking
// turns with one-line writes make a chunk per line, and each must count.
func (b *behind) queueFor(to *behindWriter, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waitRoom(need(len(p)))
	if b.closed {
		return
	}
	for rest := p; len(rest) > 0; {
		last := len(b.queue) - 1
		if last < 0 || b.queue[last].to != to || b.queue[last].taken || len(b.queue[last].data) == cap(b.queue[last].data) {
			size := len(rest)
			if last >= 0 && b.queue[last].to == to {
				// A stream that filled its chunk gets a larger one.
				size = max(size, 2*cap(b.queue[last].data))
			}
			buf := b.buffer(size)
			b.held += cap(buf)
			b.queue = append(b.queue, chunk{to: to, data: buf})
			last++
		}
		c := b.queue[last].data
		m := min(len(rest), cap(c)-len(c))
		b.queue[last].data = append(c, rest[:m]...)
		rest = rest[m:]
	}
	b.queued(len(p), false)
}

// take queues p without copying it: p starts a buffer that the caller
// read the job's output into and hands over (it must not touch it again).
// It waits for room as queueFor does; the buffer counts whole.
func (b *behind) take(to *behindWriter, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waitRoom(cap(p))
	if b.closed {
		return
	}
	b.held += cap(p)
	b.queue = append(b.queue, chunk{to: to, data: p, taken: true})
	// A large read is written at once: its buffer is what the copy reads
	// into next (see readBuffer), and there are only maxLent of them.
	b.queued(len(p), true)
}

// readBuffer is an empty buffer of size bytes for a copy to read into: one
// that an earlier take handed over and that is written, else a new one.
func (b *behind) readBuffer(size int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := len(b.lent); k > 0 && cap(b.lent[k-1]) >= size {
		buf := b.lent[k-1]
		b.lent = b.lent[:k-1]
		return buf[:size]
	}
	return make([]byte, size)
}

// maxLent is how many handed-over buffers are kept for reuse: a chatty
// stream goes through two, one queued while it reads into the other.
const maxLent = 2

// Buffer sizes: a write gets the smallest power of two that holds it,
// within these bounds.
const (
	smallestBuffer = 4 << 10
	behindChunk    = 256 << 10
)

// bufferFor is the size of buffer a write of n bytes starts.
func bufferFor(n int) int {
	size := smallestBuffer
	for size < n && size < behindChunk {
		size *= 2
	}
	return size
}

// need is what buffers a write of n bytes may take.
func need(n int) int {
	if n <= behindChunk {
		return bufferFor(n)
	}
	return (n + behindChunk - 1) / behindChunk * behindChunk
}

// buffer is an empty buffer for a write of n bytes: a spare one when it is
// the largest size (the ones a chatty stream goes through), else new.
func (b *behind) buffer(n int) []byte {
	size := bufferFor(n)
	if k := len(b.spare); k > 0 && size == behindChunk {
		c := b.spare[k-1]
		b.spare = b.spare[:k-1]
		return c[:0]
	}
	return make([]byte, 0, size)
}

// drain writes the queue, each time it is due until it is empty, until
// Close, then what is left.
func (b *behind) drain() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for !b.closed && !(b.wake.due && len(b.queue) > 0) {
			b.ready.Wait()
		}
		if len(b.queue) == 0 {
			return
		}
		c := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		_, _ = c.to.next.Write(c.data)
		b.mu.Lock()
		b.held -= cap(c.data)
		// Large buffers are kept for reuse (never more than the limit
		// holds): one made anew costs page faults and, later, the
		// collector's time, and a chatty job would make hundreds.
		switch {
		case c.taken && len(b.lent) < maxLent:
			b.lent = append(b.lent, c.data[:0])
		case !c.taken && cap(c.data) == behindChunk && len(b.spare) < b.limit/behindChunk:
			b.spare = append(b.spare, c.data)
		}
		if len(b.queue) == 0 {
			b.wake.due, b.wake.waiting = false, 0
		}
		b.room.Broadcast()
	}
}

// streamWriter is one output stream's writer: each write marks the clock,
// goes to the terminal (or vramrun's own stream) at once, then through the
// queue to the slower writers. It is a runner.BufferWriter: the buffer a
// large read of the job's output filled is handed to the queue rather than
// copied into it, so a chatty job's bytes cross vramrun's memory once.
type streamWriter struct {
	clock *clock
	to    io.Writer
	queue *behindWriter
}

// Write writes p to the terminal and queues a copy of it.
func (w *streamWriter) Write(p []byte) (int, error) {
	w.clock.output()
	_, _ = w.to.Write(p)
	return w.queue.Write(p)
}

// WriteBuffer writes p to the terminal and queues p itself.
func (w *streamWriter) WriteBuffer(p []byte) error {
	w.clock.output()
	_, _ = w.to.Write(p)
	w.queue.b.take(w.queue, p)
	return nil
}

// Buffer is an empty buffer of size bytes for the next read.
func (w *streamWriter) Buffer(size int) []byte { return w.queue.b.readBuffer(size) }

// Close waits until every writer has had every byte written before it.
// Writes after Close are dropped.
func (b *behind) Close() {
	b.mu.Lock()
	b.closed = true
	if b.wake.timer != nil {
		b.wake.timer.Stop()
	}
	b.ready.Broadcast()
	b.room.Broadcast()
	b.mu.Unlock()
	<-b.done
}
