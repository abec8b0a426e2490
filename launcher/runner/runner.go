// Package runner runs one attempt of a training job: under a pseudo-terminal
// (what the user would see without vramrun: colours, progress bars,
// prompts) or under plain pipes (byte-exact stdout and stderr, for CI, batch
// schedulers and log files). It supervises the job's processes: when the
// main process exits, or the launcher stops the job, every process of its
// group and every stray descendant that left the group is ended and reaped
// before Wait returns, so the next attempt starts on a GPU nobody holds.
// Should vramrun die first (SIGKILL), the kernel kills the main process
// (a parent-death signal, see launch).
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mode says how the job's standard streams are connected.
type Mode string

// The modes.
const (
	// PTY gives the job a pseudo-terminal; its stdout and stderr merge.
	PTY Mode = "pty"
	// Pipes gives the job separate pipes for stdout and stderr and
	// vramrun's own stdin.
	Pipes Mode = "pipes"
)

// ResolveMode turns the --pty flag value (auto, always or never) into a
// Mode. auto means PTY when stdout is a terminal.
func ResolveMode(flag string, stdout *os.File) (Mode, error) {
	switch flag {
	case "always":
		return PTY, nil
	case "never":
		return Pipes, nil
	case "auto":
		if isTerminal(stdout) {
			return PTY, nil
		}
		return Pipes, nil
	}
	return "", fmt.Errorf("--pty: %q is not auto, always or never", flag)
}

// MarkerEnv is the variable through which a job's processes carry their
// attempt's marker; descendants that leave the process group are found by
// it in /proc/<pid>/environ.
const MarkerEnv = "VRAMRUN_ATTEMPT"

// Defaults for the Spec durations left zero.
const (
	DefaultStopGrace    = 3 * time.Second
	DefaultDrainTimeout = 2 * time.Second
)

// Spec describes one attempt.
type Spec struct {
	// Argv is the program and its arguments. A program name without a
	// slash is looked up in the PATH of Env (not vramrun's own), a name
	// with one is relative to Dir.
	Argv []string
	// Env is the job's complete environment (KEY=VALUE); nil means
	// vramrun's own. MarkerEnv is set in it, and in Pipes mode
	// PYTHONUNBUFFERED=1 unless it sets PYTHONUNBUFFERED already.
	Env []string
	// Dir is the working directory; "" means vramrun's.
	Dir string
	// Mode is PTY or Pipes.
	Mode Mode
	// Stdin is vramrun's stdin. In Pipes mode it is the job's stdin (nil:
	// /dev/null). In PTY mode what is read from it is typed into the pty,
	// it is put in raw mode while the job runs when it is a terminal (its
	// suspend key then stops the job and vramrun, see ptySuspend), and
	// the end of a file or pipe reaches the job as Ctrl-D, with the pty's
	// echo off so that the file does not come back in the output; nil:
	// nothing is typed.
	Stdin *os.File
	// Stdout receives the job's stdout; in PTY mode all of its output.
	// nil discards it. A BufferWriter (Stdout or Stderr) is handed the
	// buffers of large reads instead of copies of them.
	Stdout io.Writer
	// Stderr receives the job's stderr in Pipes mode; nil discards it. When
	// it is the same writer as Stdout, both streams share one pipe and keep
	// their order.
	Stderr io.Writer
	// Terminal is the terminal the job's output ends up on (vramrun's
	// stdout when it is one), nil when none. In PTY mode the job's window
	// size follows it, and the pty translates \n to \r\n only when the
	// output goes to a terminal (Terminal or Stdout is one), so logs keep
	// the job's bytes.
	Terminal *os.File
	// Marker identifies this attempt; it must be unique per attempt. ""
	// picks a random one (see Job.Marker).
	Marker string
	// StopGrace is how long processes get between SIGTERM and SIGKILL
	// (DefaultStopGrace when 0).
	StopGrace time.Duration
	// DrainTimeout bounds reading the job's output after its main process
	// exited, before leftover processes that hold the output open are
	// ended (DefaultDrainTimeout when 0).
	DrainTimeout time.Duration
}

// Result is the outcome of one attempt.
type Result struct {
	// ExitCode is the main process's exit code, -1 when a signal killed it.
	ExitCode int
	// Signal is the signal that killed the main process, 0 if none.
	Signal syscall.Signal
	// Started is when the main process started; Ended when it was reaped.
	Started, Ended time.Time
	// Reaped lists, in increasing order, the job's other processes (group
	// members and strays, not the main process) that were still there when
	// the main process exited or Stop was called, and that vramrun
	// signalled or reaped.
	Reaped []int
	// Survivors lists processes still present after SIGKILL and a bounded
	// wait (stuck in the kernel); normally empty.
	Survivors []int
	// OutputErr is the first error moving the job's I/O: writing its output
	// to Stdout or Stderr, reading it, or putting vramrun's terminal in raw
	// mode and back. The output was drained regardless, so the job never
	// blocked on a failing writer.
	OutputErr error
}

// Status is the job's exit status as a shell reports it: ExitCode, or 128+N when the main
// process died of signal N.
func (r Result) Status() int {
	if r.Signal != 0 {
		return 128 + int(r.Signal)
	}
	return r.ExitCode
}

// Job is a running attempt.
type Job struct {
	spec   Spec
	marker string
	sup    supervision
	mainProcess
	output *outputCopiers
	ptySide
	terminalSide
	sweepState
	completion
}

// mainProcess is the job's main process and its reaping.
type mainProcess struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	exited  chan struct{} // closed once the main process is reaped
	ended   time.Time     // written before exited is closed
	waitErr error         // idem
}

// ptySide is vramrun's side of the job's pty (PTY mode).
type ptySide struct {
	master *os.File
	slave  *os.File // kept open so that the end marker can be written
	end    *endMarker
}

// terminalSide connects vramrun's terminal to the job.
type terminalSide struct {
	handoff *terminalHandoff // Pipes mode with vramrun's terminal as stdin
	input   *inputCopier
	resize  *resizeForwarder
	termRaw rawTerminal
}

// sweepState is what the sweeps of the job's processes ended.
type sweepState struct {
	sweepMu   sync.Mutex // one sweep at a time (Stop and Wait may overlap)
	reaped    map[int]bool
	survivors []int
}

// completion is the job's ending: Stop, Wait and the Result.
type completion struct {
	stopOnce    sync.Once
	waitOnce    sync.Once
	result      Result
	finished    atomic.Bool
	watcherDone chan struct{}
}

// Start starts the job. Cancelling ctx while the job runs stops it (see
// Stop). A command that does not exist gives an error matching
// ErrNotFound, one that cannot be executed ErrNotExecutable; both say
// which, in one line, with the name as typed.
func Start(ctx context.Context, spec Spec) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec, err := withDefaults(spec)
	if err != nil {
		return nil, err
	}
	marker, err := attemptMarker(spec.Marker)
	if err != nil {
		return nil, err
	}
	path, err := resolveProgram(spec.Argv[0], spec.Dir, spec.Env)
	if err != nil {
		return nil, err
	}
	j := newJob(spec, marker, path, jobEnv(spec, marker))
	if spec.Mode == PTY {
		err = j.startPTY()
	} else {
		err = j.startPipes()
	}
	if ef := (*execFailure)(nil); errors.As(err, &ef) {
		return nil, classifyStartError(spec.Argv[0], ef.err)
	} else if err != nil {
		return nil, fmt.Errorf("start %s: %w", displayName(spec.Argv[0]), err)
	}
	j.begin(ctx)
	return j, nil
}

// withDefaults checks spec and fills in what it leaves zero.
func withDefaults(spec Spec) (Spec, error) {
	if len(spec.Argv) == 0 {
		return spec, errors.New("no command given")
	}
	if spec.Mode != PTY && spec.Mode != Pipes {
		return spec, fmt.Errorf("runner: mode %q is not pty or pipes", spec.Mode)
	}
	if spec.StopGrace <= 0 {
		spec.StopGrace = DefaultStopGrace
	}
	if spec.DrainTimeout <= 0 {
		spec.DrainTimeout = DefaultDrainTimeout
	}
	if spec.Env == nil {
		spec.Env = os.Environ()
	}
	if spec.Dir != "" {
		if st, err := os.Stat(spec.Dir); err != nil {
			return spec, fmt.Errorf("working directory: %w", err)
		} else if !st.IsDir() {
			return spec, fmt.Errorf("working directory %s: not a directory", spec.Dir)
		}
	}
	return spec, nil
}

// attemptMarker is the marker the Spec asks for, or a random one when it
// asks for none.
func attemptMarker(marker string) (string, error) {
	if marker == "" {
		marker = randomMarker()
	}
	if strings.ContainsRune(marker, 0) {
		return "", errors.New("runner: marker contains a NUL byte")
	}
	return marker, nil
}

// jobEnv is the job's environment: spec.Env with the marker and, in Pipes
// mode, PYTHONUNBUFFERED.
func jobEnv(spec Spec, marker string) []string {
	env := withEnv(spec.Env, MarkerEnv, marker)
	if spec.Mode == Pipes && !hasEnv(env, "PYTHONUNBUFFERED") {
		env = append(env, "PYTHONUNBUFFERED=1")
	}
	return env
}

// newJob prepares the job, not started yet. It notes vramrun's children
// now, before the start, so that they are never taken for the job's.
func newJob(spec Spec, marker, path string, env []string) *Job {
	j := &Job{
		spec:   spec,
		marker: marker,
		mainProcess: mainProcess{
			exited: make(chan struct{}),
			cmd: &exec.Cmd{ // built by hand: exec.Command would search vramrun's PATH
				Path: path,
				Args: append([]string(nil), spec.Argv...),
				Env:  env,
				Dir:  spec.Dir,
			},
		},
		sweepState: sweepState{reaped: map[int]bool{}},
		completion: completion{watcherDone: make(chan struct{})},
	}
	self := os.Getpid()
	j.sup = supervision{
		self:        self,
		markerEntry: []byte(MarkerEnv + "=" + marker),
		preexisting: childrenOf(self),
		subreaper:   isSubreaper(),
	}
	return j
}

// begin supervises the job once its main process runs: it is reaped, its
// output copied, vramrun's terminal connected (PTY mode) and ctx watched.
func (j *Job) begin(ctx context.Context) {
	j.pid = j.cmd.Process.Pid
	j.sup.pgid = j.pid
	j.output.start(j.recoverPanic)
	if j.spec.Mode == PTY {
		j.startTerminal()
	}
	go j.watchContext(ctx)
}

// recoverPanic, deferred in every goroutine of the job, gives the user's
// terminal back before a panic ends the program.
func (j *Job) recoverPanic() {
	if r := recover(); r != nil {
		_ = j.termRaw.restore()
		panic(r)
	}
}

func (j *Job) watchContext(ctx context.Context) {
	defer close(j.watcherDone)
	select {
	case <-ctx.Done():
		j.Stop()
	case <-j.exited:
	}
}

// PID is the main process's pid, which is also the job's process-group id.
func (j *Job) PID() int { return j.pid }

// Marker is the attempt's marker, as exported in MarkerEnv.
func (j *Job) Marker() string { return j.marker }

// Signal sends sig to the job's whole process group. After the job has
// ended it returns os.ErrProcessDone.
func (j *Job) Signal(sig syscall.Signal) error {
	if j.finished.Load() {
		return os.ErrProcessDone
	}
	if err := unix.Kill(-j.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("signal job group %d: %w", j.pid, err)
	}
	return nil
}

// Stop ends the job now, for a job the launcher judged hung: SIGTERM to
// every process of the job, up to StopGrace for them to go, then SIGKILL.
// It returns when they are gone. Idempotent; a no-op once Wait returned.
// Wait must still be called to collect the Result.
func (j *Job) Stop() {
	j.stopOnce.Do(func() {
		if !j.finished.Load() {
			j.sweep()
		}
	})
}

// sweep ends every remaining process of the job (see supervision.endAll)
// and records what it ended.
func (j *Job) sweep() {
	j.sweepMu.Lock()
	defer j.sweepMu.Unlock()
	out := j.sup.endAll(j.spec.StopGrace, j.pid)
	for _, pid := range out.ended {
		j.reaped[pid] = true
	}
	j.survivors = out.survivors
}

// Wait waits for the main process, ends every process of the job that is
// left, reads the rest of the output (bounded by DrainTimeout while a process
// it could not find holds it open), restores the terminal and returns the
// Result. It
// may be called more than once; later calls return the same Result.
func (j *Job) Wait() Result {
	j.waitOnce.Do(func() { j.result = j.finish() })
	return j.result
}

func (j *Job) finish() Result {
	<-j.exited
	// End the rest of the job first: what the main process wrote is in the
	// pipe or pty already and stays readable, while a worker that keeps
	// the output open would otherwise hold up the drain for DrainTimeout
	// on every attempt.
	j.sweep()
	deadline := time.Now().Add(j.spec.DrainTimeout)
	if j.slave != nil {
		if err := j.end.write(j.slave, deadline); err != nil {
			// The reader then ends at EIO, as without a marker.
			_ = j.slave.Close()
		}
	}
	if !j.output.waitDone(time.Until(deadline)) {
		// A process we could not find (one that changed both its group and
		// its environment, with no subreaper) still holds the output.
		j.output.abort()
	}
	if j.handoff != nil {
		j.handoff.stop()
	}
	if j.resize != nil {
		j.resize.stop()
	}
	if j.input != nil {
		j.input.stop()
	}
	j.output.close()
	if j.slave != nil {
		_ = j.slave.Close()
	}
	if err := j.termRaw.restore(); err != nil {
		j.output.noteErr(err)
	}
	<-j.watcherDone
	j.finished.Store(true)

	j.sweepMu.Lock()
	defer j.sweepMu.Unlock()
	r := Result{
		ExitCode:  -1,
		Started:   j.started,
		Ended:     j.ended,
		Reaped:    sortedPids(j.reaped, j.pid),
		Survivors: j.survivors,
		OutputErr: j.output.err(),
	}
	if st := j.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Signal = ws.Signal()
		} else {
			r.ExitCode = st.ExitCode()
		}
	} else if j.waitErr != nil && r.OutputErr == nil {
		r.OutputErr = fmt.Errorf("wait for job: %w", j.waitErr)
	}
	return r
}

// RestoreTerminal takes vramrun's terminal out of raw mode now; Wait does
// it too. Safe to call any number of times.
func (j *Job) RestoreTerminal() error { return j.termRaw.restore() }

// RawMode reports whether vramrun's terminal is in raw mode now; vramrun's
// own messages then need "\r\n" line ends.
func (j *Job) RawMode() bool { return j.termRaw.raw.Load() }

func randomMarker() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails on Linux (getrandom)
	return hex.EncodeToString(b)
}
