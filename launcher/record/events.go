package record

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// Event names of the --events stream (contract section 4).
const (
	EventRunStarted     = "run_started"
	EventAttemptStarted = "attempt_started"
	EventOOM            = "oom"
	EventFix            = "fix"
	EventAttemptEnded   = "attempt_ended"
	EventRunEnded       = "run_ended"
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
