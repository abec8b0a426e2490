package supervise

import (
	"context"
	"os"
	"sync"
	"syscall"
)

// Signals routes the signals vramrun receives. While a job runs they go to
// it (Job); at any other moment — reading files, loading plugins, waiting
// for free memory, between attempts — a terminating one (SIGINT, SIGTERM,
// SIGHUP, SIGQUIT) cancels the run's context at once, so that whatever
// vramrun is doing returns, and is kept for the run to end with. A nil
// *Signals routes nothing.
type Signals struct {
	jobs   chan os.Signal
	cancel context.CancelFunc

	mu          sync.Mutex
	running     bool
	interrupted syscall.Signal
}

// NewSignals routes in; cancel cancels the run's context.
func NewSignals(in <-chan os.Signal, cancel context.CancelFunc) *Signals {
	s := &Signals{jobs: make(chan os.Signal, 8), cancel: cancel}
	go s.route(in)
	return s
}

func (s *Signals) route(in <-chan os.Signal) {
	for sig := range in {
		sys, _ := sig.(syscall.Signal)
		s.mu.Lock()
		switch {
		case s.running:
			// Sent under the lock, so that stop sees every signal that
			// came while the job ran.
			select {
			case s.jobs <- sig:
			default: // the job is being ended already; the signal is moot
			}
		case IsTerminating(sys):
			if s.interrupted == 0 {
				s.interrupted = sys
			}
			s.cancel()
		}
		s.mu.Unlock()
	}
}

// Job delivers the signals that arrive while a job runs.
func (s *Signals) Job() <-chan os.Signal {
	if s == nil {
		return nil
	}
	return s.jobs
}

// Running says whether a job runs (signals go to it) or not (a terminating
// one cancels the run).
func (s *Signals) Running(on bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.running = on
	s.mu.Unlock()
}

// stop ends a job's turn: from now on a terminating signal cancels the run.
// It returns a terminating signal that came for the job too late to reach
// it, 0 when none did.
func (s *Signals) stop() syscall.Signal {
	if s == nil {
		return 0
	}
	s.Running(false)
	var late syscall.Signal
	for {
		select {
		case sig := <-s.jobs:
			if sys, ok := sig.(syscall.Signal); ok && IsTerminating(sys) && late == 0 {
				late = sys
			}
		default:
			return late
		}
	}
}

// Interrupted is the terminating signal that came while no job ran, 0 when
// none did.
func (s *Signals) Interrupted() syscall.Signal {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interrupted
}
