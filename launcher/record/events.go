package record

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// Event names of the --events stream. Each line is a JSON object with
// "time" (RFC 3339, UTC), "event" and "attempt", and the fields of its event:
//
//	run_started      attempt 0: run_id, argv
//	attempt_started  argv, env (what vramrun set)
//	oom              diagnosis (the explain --json object)
//	skip             the attempt it comes before: fix, reason
//	fix              the attempt it comes before: fix (its id), reason, argv, env, files
//	resume           the attempt it comes before: checkpoint, step (null when
//	                 unknown), written, summary
//	resume_declined  the attempt it comes before: checkpoint, reason
//	attempt_ended    exit_status, signal (null when none), peak_bytes (null
//	                 when unknown), pre_step_bytes (null when unknown),
//	                 duration_s, samples_per_s (null when unknown)
//	run_ended        the number of attempts: outcome, exit_status, final_argv
//
// A reader should ignore event names and fields it does not know.
const (
	EventRunStarted     = "run_started"
	EventAttemptStarted = "attempt_started"
	EventOOM            = "oom"
	EventSkip           = "skip"
	EventFix            = "fix"
	EventAttemptEnded   = "attempt_ended"
	EventRunEnded       = "run_ended"
	EventResume         = "resume"
	EventResumeDeclined = "resume_declined"
)

// Events writes the JSON-lines event stream, one object a line, each line
// written and flushed on its own so a follower never reads half an event.
// A nil *Events discards everything.
type Events struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
	err error
}

// OpenEvents appends to path (created when missing).
func OpenEvents(path string, now func() time.Time) (*Events, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Events{f: f, now: now}, nil
}

// Emit writes one event. fields are merged after time, event and attempt.
func (e *Events) Emit(event string, attempt int, fields map[string]any) {
	if e == nil {
		return
	}
	obj := map[string]any{}
	for k, v := range fields {
		obj[k] = v
	}
	obj["time"] = e.now().UTC().Format(time.RFC3339Nano)
	obj["event"] = event
	obj["attempt"] = attempt
	line, err := json.Marshal(obj)
	if err != nil {
		e.setErr(err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.f.Write(append(line, '\n')); err != nil && e.err == nil {
		e.err = err
	}
	if err := e.f.Sync(); err != nil && e.err == nil && !isNotSyncable(err) {
		e.err = err
	}
}

func (e *Events) setErr(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// isNotSyncable is true for files such as pipes and /dev/stdout where fsync
// means nothing; the write itself already reached the reader.
func isNotSyncable(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)
}

// On writes the line of a run's event; events that have no line in the
// stream (a claim, a learned start) are left out.
func (e *Events) On(ev Event) {
	switch ev := ev.(type) {
	case RunStarted:
		e.Emit(EventRunStarted, 0, map[string]any{"run_id": ev.ID, "argv": ev.Argv})
	case AttemptStarted:
		e.Emit(EventAttemptStarted, ev.N, map[string]any{"argv": ev.Launch.Argv, "env": orEmpty(ev.Launch.Env)})
	case OOMDiagnosed:
		e.Emit(EventOOM, ev.N, map[string]any{"diagnosis": ev.Diagnosis})
	case FixSkipped:
		e.Emit(EventSkip, ev.Before, map[string]any{"fix": ev.Skip.Fix, "reason": ev.Skip.Reason})
	case FixCommitted:
		e.Emit(EventFix, ev.Before, map[string]any{"fix": ev.Fix.Fix.ID, "reason": ev.Fix.Reason,
			"argv": ev.Launch.Argv, "env": orEmpty(ev.Launch.Env), "files": orEmpty(ev.Launch.Files)})
	case AttemptEnded:
		a := ev.Attempt
		var signal any
		if a.Signal != 0 {
			signal = a.Signal
		}
		var samples any
		if a.Speed != nil && a.Speed.SamplesPerS != nil {
			samples = *a.Speed.SamplesPerS
		}
		e.Emit(EventAttemptEnded, a.N, map[string]any{"exit_status": a.ExitStatus, "signal": signal,
			"peak_bytes": a.PeakBytes, "pre_step_bytes": a.PreStepBytes, "duration_s": a.Ended.Sub(a.Started).Seconds(),
			"samples_per_s": samples})
	case Resumed:
		var step any
		if ev.Resume.Step != nil {
			step = *ev.Resume.Step
		}
		e.Emit(EventResume, ev.Before, map[string]any{"checkpoint": ev.Resume.Checkpoint, "step": step,
			"written": ev.Resume.Written.UTC().Format(time.RFC3339Nano), "summary": ev.Resume.Summary})
	case ResumeDeclined:
		e.Emit(EventResumeDeclined, ev.Before, map[string]any{"checkpoint": ev.Checkpoint, "reason": ev.Reason})
	case RunEnded:
		e.Emit(EventRunEnded, ev.Attempts, map[string]any{"outcome": ev.End.Outcome, "exit_status": ev.End.ExitStatus,
			"final_argv": ev.End.FinalArgv})
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Close closes the stream and returns the first write error.
func (e *Events) Close() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.f.Close(); err != nil && e.err == nil {
		e.err = err
	}
	return e.err
}
