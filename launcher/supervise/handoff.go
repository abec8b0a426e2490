package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/human"
)

// HandOff is a job that the attempt's command hands on to a system that
// runs it elsewhere, and that outlives the command: ending the command
// does not end the job. After the supervisor ends such a command, or the
// command dies of a signal, for any reason other than its own exit (a
// hang after an OOM text, a trial's end, an interrupt it passed on), it
// runs Stop with the job's id, so that the job lets go of its GPUs before
// the next attempt. The plugins' host says which commands hand their job
// on, and how to stop it.
type HandOff struct {
	// ID is the job's id when the command names it; "" when only the
	// output tells it.
	ID string
	// Find finds the job's id in the command's output, in its first
	// group; an id found there wins over ID.
	Find *regexp.Regexp
	// Stop is the command line that stops the job with the given id. It
	// runs in the attempt's folder and environment.
	Stop func(id string) []string
}

// DefaultHandOffStop bounds the stop command when Timing sets no bound.
const DefaultHandOffStop = time.Minute

// maxIDLine is how much of a line the id is looked for in.
const maxIDLine = 4096

// idFinder keeps the first id its pattern finds in the lines of one
// stream.
type idFinder struct {
	re   *regexp.Regexp
	mu   sync.Mutex
	line []byte
	id   string
}

func (f *idFinder) Write(p []byte) (int, error) {
	n := len(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(p) > 0 && f.id == "" {
		chunk, rest, ended := bytes.Cut(p, []byte("\n"))
		p = rest
		if room := maxIDLine - len(f.line); room > 0 {
			f.line = append(f.line, chunk[:min(len(chunk), room)]...)
		}
		if ended {
			f.match()
			f.line = f.line[:0]
		}
	}
	return n, nil
}

func (f *idFinder) match() {
	if m := f.re.FindSubmatch(f.line); len(m) > 1 {
		f.id = string(m[1])
	}
}

// found is the id, looked for also in an unfinished last line.
func (f *idFinder) found() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id == "" && len(f.line) > 0 {
		f.match()
	}
	return f.id
}

// finders are the id finders of an attempt's streams: none when the
// command hands no job on, or names its id and Find is nil.
type finders []*idFinder

func newFinders(h *HandOff, streams int) finders {
	if h == nil || h.Find == nil {
		return nil
	}
	out := make(finders, streams)
	for i := range out {
		out[i] = &idFinder{re: h.Find}
	}
	return out
}

// writer is the finder of stream i, nil when there is none.
func (fs finders) writer(i int) *idFinder {
	if i < len(fs) {
		return fs[i]
	}
	return nil
}

func (fs finders) id() string {
	for _, f := range fs {
		if id := f.found(); id != "" {
			return id
		}
	}
	return ""
}

// exitedByItself says the command ended of its own accord: the job it
// handed on has ended with it.
func exitedByItself(w watched) bool {
	return !w.hung && w.trial == "" && w.interrupt == 0 && w.res.Signal == 0
}

// stopHandedOff runs the hand-off's stop command for the job the command
// handed on, and says how it went in one line; its note for the attempt's
// record ("" when there was no job to stop).
func (s *Supervisor) stopHandedOff(h *HandOff, found string, env map[string]string, dir string) string {
	id := found
	if id == "" {
		id = h.ID
	}
	if id == "" {
		s.cfg.Say.Verbose("the command hands its job on, but its output named no job: nothing to stop")
		return ""
	}
	argv := h.Stop(id)
	if len(argv) == 0 {
		return ""
	}
	timeout := s.cfg.Timing.HandOffStop
	if timeout <= 0 {
		timeout = DefaultHandOffStop
	}
	// Not the run's context: an interrupt that ended the command is no
	// reason to leave its job running.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = envList(env), dir
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	shown := human.Join(argv)
	said := out.lastLine()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no end within %s", timeout)
	}
	if err != nil {
		if said != "" {
			err = fmt.Errorf("%v: %s", err, said)
		}
		s.cfg.Say.Warn("could not stop the job the command handed on (%s: %v): it may still hold its GPUs", shown, err)
		return fmt.Sprintf("could not stop the job the command handed on: %s: %v", shown, err)
	}
	if said == "" {
		said = "done"
	}
	s.cfg.Say.Info("stopped the job the command handed on: %s: %s", shown, said)
	return "vramrun stopped the job the command handed on: " + shown
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailKeep = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailKeep {
		t.b = append([]byte(nil), t.b[len(t.b)-tailKeep:]...)
	}
	return len(p), nil
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// lastLine is the last line with text, without terminal colours, its
// runs of blanks (a log record's tabs) one space each.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(ansiEscape.ReplaceAllString(string(t.b), ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if line := strings.Join(strings.Fields(lines[i]), " "); line != "" {
			return human.Printable(line)
		}
	}
	return ""
}
