package supervise

import (
	"io"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/outcome"
)

// clock follows one attempt's output while it runs: when it last printed
// anything, and when it printed OOM texts. The streaming OOM scanner is only
// this clock's hand: it says *when* an OOM text came, which telling a
// survived OOM from a hang needs while the job runs. *What* the OOM was
// (figures, phase, runtime) the diagnosis reads afterwards from the log,
// with the whole context a line-by-line match does not have.
type clock struct {
	now func() time.Time
	// firstOOM is closed at the first OOM text, so that a watcher needs no
	// ticker until there is a hang to look for.
	firstOOM chan struct{}

	mu         sync.Mutex
	lastOutput time.Time
	texts      outcome.Texts
}

func newClock(now func() time.Time) *clock {
	return &clock{now: now, lastOutput: now(), firstOOM: make(chan struct{})}
}

// output records that the job printed something.
func (c *clock) output() {
	c.mu.Lock()
	c.lastOutput = c.now()
	c.mu.Unlock()
}

// oom records that the job printed an OOM text.
func (c *clock) oom() {
	c.mu.Lock()
	t := c.now()
	c.lastOutput = t
	if c.texts.Count == 0 {
		close(c.firstOOM)
	}
	c.texts.Add(t)
	c.mu.Unlock()
}

// hung reports whether the job printed an OOM text and nothing since for
// grace.
func (c *clock) hung(grace time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.texts.Count > 0 && c.now().Sub(c.lastOutput) >= grace
}

// ooms counts the OOM texts so far.
func (c *clock) ooms() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.texts.Count
}

// oomTexts are the OOM texts' times so far.
func (c *clock) oomTexts() outcome.Texts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.texts
}

// clockWriter marks output on the clock and passes bytes on.
type clockWriter struct {
	c    *clock
	next io.Writer
}

func (w clockWriter) Write(p []byte) (int, error) {
	w.c.output()
	return w.next.Write(p)
}

// fanout writes to every sink and never fails: a sink that breaks (a closed
// pipe on vramrun's stdout) must not stop the job's output from reaching the
// log and the scanner, or the job would block on a full pipe.
type fanout []io.Writer

func (f fanout) Write(p []byte) (int, error) {
	for _, w := range f {
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return len(p), nil
}
