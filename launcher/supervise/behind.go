package supervise

import (
	"io"
	"sync"
)

// behind hands what is written to it to a slower writer on a goroutine of
// its own, so that the job's output reaches the terminal and the attempt
// log at the speed of a copy while the OOM scanner reads the same bytes a
// little later. Nothing is dropped: every byte reaches next, in order.
// Memory is bounded (limit, or one write when a write is larger): a Write
// waits only when next is a whole limit behind,
// which the scanner (gigabytes a second, on lines a prefilter has mostly
// skipped) never is for output a job can print.
type behind struct {
	next  io.Writer
	limit int

	mu     sync.Mutex
	moved  *sync.Cond // a chunk was queued or taken, or the end came
	queue  [][]byte   // chunks waiting for next, oldest first
	queued int        // bytes in queue
	spare  [][]byte   // emptied chunks, for reuse
	closed bool
	done   chan struct{} // closed when the goroutine has written everything
}

// behindChunk is the size of the buffers bytes are queued in.
const behindChunk = 256 << 10

func newBehind(next io.Writer, limit int) *behind {
	b := &behind{next: next, limit: max(limit, behindChunk), done: make(chan struct{})}
	b.moved = sync.NewCond(&b.mu)
	go b.drain()
	return b
}

// Write queues a copy of p and returns; it never fails. p is queued whole,
// so that writes from two goroutines never interleave inside one another:
// it waits for room for all of it, or for an empty queue when p alone is
// larger than the limit.
func (b *behind) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.queued > 0 && b.queued+len(p) > b.limit && !b.closed {
		b.moved.Wait()
	}
	if b.closed {
		return len(p), nil
	}
	b.queued += len(p)
	for rest := p; len(rest) > 0; {
		last := len(b.queue) - 1
		if last < 0 || len(b.queue[last]) == cap(b.queue[last]) {
			b.queue = append(b.queue, b.chunk())
			last++
		}
		c := b.queue[last]
		m := min(len(rest), cap(c)-len(c))
		b.queue[last] = append(c, rest[:m]...)
		rest = rest[m:]
	}
	b.moved.Broadcast()
	return len(p), nil
}

func (b *behind) chunk() []byte {
	if k := len(b.spare); k > 0 {
		c := b.spare[k-1]
		b.spare = b.spare[:k-1]
		return c[:0]
	}
	return make([]byte, 0, behindChunk)
}

// drain writes the queue to next until Close, then what is left.
func (b *behind) drain() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.queue) == 0 && !b.closed {
			b.moved.Wait()
		}
		if len(b.queue) == 0 {
			return
		}
		c := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		_, _ = b.next.Write(c)
		b.mu.Lock()
		b.queued -= len(c)
		// Every chunk is kept for reuse (they are never more than the
		// limit holds): a chunk made anew costs page faults and, later, the
		// collector's time, and a chatty job would make hundreds.
		b.spare = append(b.spare, c)
		b.moved.Broadcast()
	}
}

// Close waits until next has had every byte written before it. Writes
// after Close are dropped.
func (b *behind) Close() {
	b.mu.Lock()
	b.closed = true
	b.moved.Broadcast()
	b.mu.Unlock()
	<-b.done
}
