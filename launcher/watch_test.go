package launcher

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) add(d time.Duration)  { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock            { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func watchWith(c *fakeClock) *outputWatch { return newOutputWatch(c.now) }

func TestHungAfterSilence(t *testing.T) {
	c := newFakeClock()
	w := watchWith(c)
	grace := 10 * time.Second
	c.add(time.Minute)
	if w.hung(grace) {
		t.Fatal("silence without an OOM text is not a hang")
	}
	w.oom()
	c.add(9 * time.Second)
	if w.hung(grace) {
		t.Fatal("hung before the grace period")
	}
	w.output() // the job keeps printing: it survived
	c.add(9 * time.Second)
	if w.hung(grace) {
		t.Fatal("output resets the grace period")
	}
	c.add(time.Second)
	if !w.hung(grace) {
		t.Fatal("silent for the grace period after an OOM: hung")
	}
}

func TestOOMCauseAndSurvivals(t *testing.T) {
	c := newFakeClock()
	w := watchWith(c)
	grace := 10 * time.Second
	w.oom() // survived: the job lives on for a minute
	c.add(time.Minute)
	if w.oomCause(grace) {
		t.Fatal("an OOM a minute before the end did not end the job")
	}
	w.oom() // two ranks report the same OOM, then the job dies
	w.oom()
	c.add(time.Second)
	if !w.oomCause(grace) {
		t.Fatal("the job died right after its OOM: that is the cause")
	}
	if got := w.survived(grace, false, false); got != 1 {
		t.Fatalf("survived = %d, want 1 (the two at the end are the cause)", got)
	}
	if got := w.survived(grace, true, false); got != 3 {
		t.Fatalf("a job that ended well survived all %d, got %d", 3, got)
	}
	// A hang noticed grace after the last OOM: that OOM is the cause.
	c.add(grace)
	if got := w.survived(grace, false, true); got != 1 {
		t.Fatalf("hung: survived = %d, want 1", got)
	}
}

// TestOOMCauseAt: the OOM that ended an attempt is dated at the first of
// the texts printed at the end, not at a survived one nor at the end.
func TestOOMCauseAt(t *testing.T) {
	c := newFakeClock()
	w := watchWith(c)
	grace := 10 * time.Second
	if _, ok := w.causeAt(grace, false); ok {
		t.Fatal("no OOM text, yet a cause time")
	}
	w.oom() // survived
	c.add(time.Minute)
	first := c.now()
	w.oom() // rank 0, then rank 1 a second later, then the job dies
	c.add(time.Second)
	w.oom()
	c.add(3 * time.Second)
	if at, ok := w.causeAt(grace, false); !ok || !at.Equal(first) {
		t.Fatalf("causeAt = %v, %v; want %v", at, ok, first)
	}
	// Hung: noticed a grace period after the last text.
	c.add(grace)
	if at, ok := w.causeAt(grace, true); !ok || !at.Equal(first) {
		t.Fatalf("hung: causeAt = %v, %v; want %v", at, ok, first)
	}
	if _, ok := w.causeAt(grace, false); ok {
		t.Fatal("the job lived on long after its last OOM text: no cause")
	}
}
