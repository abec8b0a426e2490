package supervise

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }

func TestHungAfterSilence(t *testing.T) {
	fc := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClock(fc.now)
	grace := 10 * time.Second
	fc.add(time.Minute)
	if c.hung(grace) {
		t.Fatal("silence without an OOM text is not a hang")
	}
	c.oom()
	fc.add(9 * time.Second)
	if c.hung(grace) {
		t.Fatal("hung before the grace period")
	}
	c.output() // the job keeps printing: it survived
	fc.add(9 * time.Second)
	if c.hung(grace) {
		t.Fatal("output resets the grace period")
	}
	fc.add(time.Second)
	if !c.hung(grace) {
		t.Fatal("silent for the grace period after an OOM: hung")
	}
	if texts := c.oomTexts(); texts.Count != 1 || c.ooms() != 1 || !texts.Last.Equal(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)) {
		t.Fatalf("texts = %+v", texts)
	}
}
