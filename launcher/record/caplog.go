package record

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vramrun/vramrun/profiles/safefs"
)

// CappedLog keeps an attempt's output in a file without letting a chatty
// job fill the disk: the first Head bytes go to the file as they come, the
// last Tail bytes are kept in memory, and Close appends a line saying how
// much was cut, then the tail. Writes from both output streams may come from
// different goroutines.
type CappedLog struct {
	mu      sync.Mutex
	f       *os.File
	head    int64
	written int64
	ring    []byte // tail bytes of room, made at the first write; filled as output comes
	tail    int
	start   int // index of the oldest byte in ring once it is full
	full    bool
	total   int64
	err     error
}

// Default caps: enough for any traceback and the allocator dumps before it.
const (
	DefaultHead = 8 << 20
	DefaultTail = 8 << 20
)

// NewCappedLog creates path. tail must be > 0. A symlink or a special file
// in path's place is refused, not followed (a *safefs.Error).
func NewCappedLog(path string, head, tail int) (*CappedLog, error) {
	f, err := safefs.Open(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	// The ring is not made here: an attempt that prints nothing needs none.
	return &CappedLog{f: f, head: int64(head), tail: tail}, nil
}

// Write never fails towards the job: a disk error is kept for Close.
func (c *CappedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	if c.written < c.head {
		n := min(int64(len(p)), c.head-c.written)
		if _, err := c.f.Write(p[:n]); err != nil && c.err == nil {
			c.err = err
		}
		c.written += n
	}
	c.keepTail(p)
	return len(p), nil
}

// keepTail keeps the last tail bytes of everything written (also of the
// part that went to the head, so that the tail always has the end of the
// output). The ring is made whole at the first write that needs it, never
// grown: memory that nothing has written yet costs no page (a quiet job's
// ring holds a few), while growing by copies would touch every byte of
// every smaller ring on the way (a chatty job's 8 MiB cost 10).
func (c *CappedLog) keepTail(p []byte) {
	capacity := c.tail
	if len(p) == 0 {
		return
	}
	if c.ring == nil {
		c.ring = make([]byte, 0, capacity)
		adviseHugePages(c.ring)
	}
	if len(p) >= capacity {
		c.ring = append(c.ring[:0], p[len(p)-capacity:]...)
		c.start, c.full = 0, true
		return
	}
	for len(p) > 0 {
		if !c.full {
			n := min(capacity-len(c.ring), len(p))
			c.ring = append(c.ring, p[:n]...)
			p = p[n:]
			c.full = len(c.ring) == capacity
			continue
		}
		n := copy(c.ring[c.start:], p)
		c.start = (c.start + n) % capacity
		p = p[n:]
	}
}

// TailReader reads the last bytes written, oldest first, without copying
// them: the ring is
// megabytes, and the diagnosis reads it once. The log must not be written
// to while it is read.
func (c *CappedLog) TailReader() io.Reader {
	c.mu.Lock()
	defer c.mu.Unlock()
	older, newer := c.parts()
	return io.MultiReader(bytes.NewReader(older), bytes.NewReader(newer))
}

// LastBytes is a copy of at most the last n bytes written.
func (c *CappedLog) LastBytes(n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	older, newer := c.parts()
	if len(newer) >= n {
		return append([]byte(nil), newer[len(newer)-n:]...)
	}
	older = older[max(0, len(older)-(n-len(newer))):]
	return append(append(make([]byte, 0, len(older)+len(newer)), older...), newer...)
}

// parts are the ring's two halves, oldest first.
func (c *CappedLog) parts() (older, newer []byte) {
	return c.ring[c.start:], c.ring[:c.start]
}

// Total is how many bytes the job wrote.
func (c *CappedLog) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Close writes what the head did not hold: everything when nothing was cut,
// else a marker line and the tail.
func (c *CappedLog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rest := c.total - c.written // bytes not in the file yet
	if rest > 0 {
		older, newer := c.parts()
		kept := int64(len(older) + len(newer))
		if kept > rest {
			// The head holds the start of the ring already.
			skip := kept - rest
			if skip >= int64(len(older)) {
				older, newer = nil, newer[skip-int64(len(older)):]
			} else {
				older = older[skip:]
			}
			kept = rest
		}
		if cut := rest - kept; cut > 0 {
			fmt.Fprintf(c.f, "\n[vramrun: %d bytes of output cut here; the log keeps the first %d and the last %d]\n", cut, c.written, kept)
		}
		for _, part := range [][]byte{older, newer} {
			if _, err := c.f.Write(part); err != nil && c.err == nil {
				c.err = err
			}
		}
	}
	if err := c.f.Close(); err != nil && c.err == nil {
		c.err = err
	}
	return c.err
}
