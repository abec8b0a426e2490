package launcher

import (
	"io"
	"sync"
	"time"
)

// outputWatch follows one attempt's output: when it last printed anything,
// and when it last printed an OOM text. That is all the launcher needs to
// tell a job that survived its OOM (it keeps printing) from one that hung
// after it (silent for the grace period).
type outputWatch struct {
	now func() time.Time

	mu         sync.Mutex
	lastOutput time.Time
	lastOOM    time.Time
	ooms       int
	// oomTimes are when OOM texts were printed (the first maxOOMTimes),
	// to tell survived OOMs from the one that ended the job.
	oomTimes []time.Time
}

// maxOOMTimes bounds what a job that survives OOMs by the thousand costs.
const maxOOMTimes = 1024

func newOutputWatch(now func() time.Time) *outputWatch {
	return &outputWatch{now: now, lastOutput: now()}
}

// output records that the job printed something.
func (w *outputWatch) output() {
	w.mu.Lock()
	w.lastOutput = w.now()
	w.mu.Unlock()
}

// oom records that the job printed an OOM text.
func (w *outputWatch) oom() {
	w.mu.Lock()
	t := w.now()
	w.lastOOM, w.lastOutput = t, t
	w.ooms++
	if len(w.oomTimes) < maxOOMTimes {
		w.oomTimes = append(w.oomTimes, t)
	}
	w.mu.Unlock()
}

// hung reports whether the job printed an OOM text and nothing since for
// grace.
func (w *outputWatch) hung(grace time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ooms > 0 && w.now().Sub(w.lastOutput) >= grace
}

// oomCause reports whether an attempt that ended now died of its last OOM:
// it printed one and did not live on for more than grace after it. A job
// that kept running longer than that survived its OOM, and whatever ended it
// later is something else.
func (w *outputWatch) oomCause(grace time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ooms > 0 && w.now().Sub(w.lastOOM) <= grace
}

func (w *outputWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ooms
}

// survived counts the OOM texts the job lived on after for more than grace:
// all of them when it ended well. Texts printed together at the end (every
// rank of a distributed job reporting the same OOM) are the cause, not
// survivals; so is the last one of a job that hung after it (hung).
func (w *outputWatch) survived(grace time.Duration, endedWell, hung bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if endedWell {
		return w.ooms
	}
	now := w.end(hung)
	n := w.ooms - len(w.oomTimes) // beyond the bound: long before the end
	for _, t := range w.oomTimes {
		if now.Sub(t) > grace {
			n++
		}
	}
	return n
}

// end is the moment the OOM texts are measured against: now, or for a job
// that hung, its last OOM text (the hang was noticed grace after it, and
// the texts that came with it are the cause). The caller holds mu.
func (w *outputWatch) end(hung bool) time.Time {
	if hung {
		return w.lastOOM
	}
	return w.now()
}

// causeAt is when the OOM that ended the attempt was printed: the first of
// the texts that came at the end (see survived). False when none did.
func (w *outputWatch) causeAt(grace time.Duration, hung bool) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ooms == 0 {
		return time.Time{}, false
	}
	now := w.end(hung)
	for _, t := range w.oomTimes {
		if now.Sub(t) <= grace {
			return t, true
		}
	}
	return w.lastOOM, now.Sub(w.lastOOM) <= grace
}

// watchWriter marks output on the watch and passes bytes on.
type watchWriter struct {
	w    *outputWatch
	next io.Writer
}

func (ww watchWriter) Write(p []byte) (int, error) {
	ww.w.output()
	return ww.next.Write(p)
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
