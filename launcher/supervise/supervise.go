// Package supervise runs one attempt of a job and says what ended it: it
// keeps the attempt's log, runs the OOM scanner over its output, passes
// vramrun's signals to it, ends it when it hangs after an OOM, samples the
// GPU, gathers the host-OOM evidence and diagnoses the output. It judges
// nothing: package outcome does, from the Facts it returns.
package supervise

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/gpuview"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rejection"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/launcher/speed"
)

// Say is where the supervisor's own lines go. SetRaw tells it how to end a
// line while a pty job holds the terminal raw (nil when none does).
type Say interface {
	Info(format string, args ...any)
	Warn(format string, args ...any)
	Verbose(format string, args ...any)
	SetRaw(raw func() bool)
	// SetMidLine tells it how to learn, and forget, that the job's output
	// left a line unfinished where its lines go.
	SetMidLine(mid func() bool)
}

// Streams are vramrun's own standard streams.
type Streams struct {
	Stdin, Stdout, Stderr *os.File
}

// Timing is how long the supervisor waits for what.
type Timing struct {
	// Grace is how long a job may be silent after an OOM text before it
	// counts as hung and is ended.
	Grace time.Duration
	// LearnAfter is how long a job must run without an OOM to count as
	// fitting; 0 never.
	LearnAfter time.Duration
	// WaitFree is how long to wait for other processes to release the GPU
	// before each attempt; 0 not at all.
	WaitFree time.Duration
	// HandOffStop bounds the command that stops a job the attempt's
	// command handed on (see HandOff); 0 is DefaultHandOffStop.
	HandOffStop time.Duration
}

// Config is what the attempts of one run share.
type Config struct {
	Streams Streams
	// PTY is the --pty setting: auto, always or never.
	PTY    string
	Timing Timing
	// RunDir is the run's folder: logs and samples go there.
	RunDir  string
	Matcher *oom.Matcher
	GPU     *gpuview.View
	// PickGPU moves each attempt to the freest visible GPU.
	PickGPU bool
	// Signals routes vramrun's signals: to the job while it runs.
	Signals *Signals
	// KernelLog is where the kernel's OOM kills are read from.
	KernelLog oom.KernelLog
	// Rejections finds the lines with which a job rejects its arguments.
	Rejections *rejection.Matcher
	Say        Say
	Now        func() time.Time
}

// Supervisor runs the attempts of one run.
type Supervisor struct {
	cfg Config
	// jobPIDs are the main pids of the attempts so far, so that preflight
	// can tell a leftover of an earlier attempt from a stranger.
	jobPIDs []int
}

// New makes the supervisor of one run.
func New(cfg Config) *Supervisor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Supervisor{cfg: cfg}
}

// Attempt is one launch of the job.
type Attempt struct {
	N    int
	Argv []string
	// Env is the job's whole environment.
	Env map[string]string
	Dir string
	// Marker tells this attempt's processes from any other's.
	Marker string
	// Script is the training script, for telling its evaluation frames;
	// "" when unknown.
	Script string
	// Fits is called once, while the job runs, when it has run for
	// LearnAfter without an OOM; nil when nobody asks.
	Fits func()
	// Progress reads the job's speed from its output; nil reads nothing.
	Progress *speed.Set
	// Trial, when set, makes the attempt one of `vramrun tune`'s short
	// trials: the supervisor ends it once its speed is known.
	Trial *Trial
	// HandOff, when set, is the job the command hands on, to stop when
	// the command does not end of itself.
	HandOff *HandOff
}

// Trial is when a trial has run long enough: Readings progress readings
// after the warm-up, or Time, whichever comes first (0: no limit).
type Trial struct {
	Readings int
	Time     time.Duration
}

// Result is what one attempt came to.
type Result struct {
	Facts   outcome.Facts
	Exit    record.Exit
	Started time.Time
	Output  record.Output
	Memory  record.Memory
	// Peak is the NVML peak in bytes, 0 when unknown; PeakAt when a
	// sample last saw it.
	Peak   int64
	PeakAt time.Time
	Notes  []string
	// Rejections are the lines at the output's end with which the job
	// rejected something (the loop tells whether it was the last fix).
	Rejections []rejection.Finding
	// Readings are what the job's progress lines said of its speed.
	Readings *speed.Readings
}

// TerminatingSignals are the ones after which vramrun does not relaunch.
func TerminatingSignals() []syscall.Signal {
	return []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}
}

// IsTerminating says s is one of TerminatingSignals.
func IsTerminating(s syscall.Signal) bool {
	for _, t := range TerminatingSignals() {
		if s == t {
			return true
		}
	}
	return false
}

// Run runs one attempt and returns when its every process is gone. An
// error means the job could not be started (see runner.ErrNotFound and
// runner.ErrNotExecutable) or its log could not be made.
func (s *Supervisor) Run(ctx context.Context, a Attempt) (Result, error) {
	cfg := s.cfg
	mode, err := runner.ResolveMode(cfg.PTY, cfg.Streams.Stdout)
	if err != nil {
		return Result{}, err
	}
	logName := fmt.Sprintf("attempt-%d.log", a.N)
	logw, err := record.NewCappedLog(filepath.Join(cfg.RunDir, logName), record.DefaultHead, record.DefaultTail)
	if err != nil {
		return Result{}, fmt.Errorf("attempt log: %w", err)
	}
	env, devices := s.preflight(ctx, a.Env)
	readings := a.Progress.NewReadings()
	trial := a.Trial.end(readings)
	found := newFinders(a.HandOff, 2)
	w := s.wire(mode, logw, readings, found)
	spec := runner.Spec{
		Argv: a.Argv, Env: envList(env), Dir: a.Dir, Mode: mode,
		Stdin: cfg.Streams.Stdin, Stdout: w.stdout, Stderr: w.stderr,
		Terminal: terminalOf(cfg.Streams.Stdout), Marker: a.Marker,
	}
	oomKillsBefore, _ := oom.CgroupOOMKills()
	// A second's slack: the kernel's clock and this one are read apart.
	since := oom.Now() - oom.Since(time.Second)
	started := cfg.Now()
	cfg.Signals.Running(true)
	job, err := runner.Start(ctx, spec)
	if err != nil {
		cfg.Signals.Running(false)
		w.close()
		logw.Close()
		return Result{}, err
	}
	cfg.Say.SetRaw(job.RawMode)
	s.jobPIDs = append(s.jobPIDs, job.PID())
	sampler := cfg.GPU.StartSampler(ctx, devices, job.PID())
	watched := s.watch(job, w.clock, started, a.Fits, trial)
	if sig := cfg.Signals.stop(); watched.interrupt == 0 {
		watched.interrupt = sig
	}
	cfg.Say.SetRaw(nil)
	w.close()
	// The judging below reads the log's tail in memory, which nothing
	// writes any more, while the tail goes to the log file beside it.
	// When the scanners saw no OOM text the tail is not read at all: it
	// could tell the diagnosis nothing the ending does not (the OOM fuzz
	// test holds the two to that), and it may be megabytes.
	text := io.Reader(bytes.NewReader(nil))
	if w.clock.ooms() > 0 {
		text = logw.TailReader()
	}
	var lastBytes []byte
	if watched.res.Status() != 0 {
		lastBytes = logw.LastBytes(rejection.TailBytes)
	}
	logBytes := logw.Total()
	closed := make(chan error, 1)
	go func() { closed <- logw.Close() }()
	samples := sampler.Stop(cfg.RunDir, a.N)
	out := s.result(watched, samples, w.clock, started)
	out.Readings = readings
	out.Output = record.Output{LogFile: logName, LogBytes: logBytes}
	end := s.ending(job.PID(), watched, samples, oomKillsBefore, since)
	out.Facts.Diagnosis, err = oom.Diagnose(cfg.Matcher, text, end, a.Script)
	if err != nil {
		out.Facts.Diagnosis = oom.NoOOM()
	}
	if lastBytes != nil {
		out.Rejections = cfg.Rejections.Find(lastBytes)
	}
	if err := <-closed; err != nil {
		cfg.Say.Warn("attempt log: %v", err)
	}
	s.ended(&out, watched, a, found, env)
	return out, nil
}

// ended stops the job the attempt's command handed on, when the command
// did not end of itself, and notes how the attempt ended where vramrun
// ended it or something killed it.
func (s *Supervisor) ended(out *Result, watched watched, a Attempt, found finders, env map[string]string) {
	if watched.trial != "" {
		out.Notes = append(out.Notes, "vramrun ended the trial: "+watched.trial)
	}
	if a.HandOff != nil && !exitedByItself(watched) {
		if note := s.stopHandedOff(a.HandOff, found.id(), env, a.Dir); note != "" {
			out.Notes = append(out.Notes, note)
		}
	}
	if watched.res.Signal == syscall.SIGKILL && !watched.hung && watched.trial == "" && !out.Facts.Diagnosis.OOM {
		out.Notes = append(out.Notes, record.NoteKilled)
	}
}

// preflight names who holds the job's GPUs, moves the job to the freest
// one with --pick-gpu and waits for them with --wait-free; it returns the
// job's environment and the devices to sample.
func (s *Supervisor) preflight(ctx context.Context, env map[string]string) (map[string]string, []gpu.Device) {
	v := s.cfg.GPU
	devices := v.Preflight(env, s.jobPIDs)
	if s.cfg.PickGPU {
		env = v.Pick(env)
	}
	if d := s.cfg.Timing.WaitFree; d > 0 {
		v.WaitFree(ctx, d)
	}
	return env, devices
}

// wiring is where the job's output goes: the terminal or vramrun's own
// streams first, then, beside the copy (see behind), the attempt log, the
// OOM scanner and the progress meter of each stream; each write marks the
// clock.
type wiring struct {
	clock          *clock
	stdout, stderr io.Writer
	// midLine says the job's last byte where vramrun's lines go (stderr,
	// and stdout when it is the same file) ended no line.
	midLine  *atomic.Bool
	scanners []*oom.Scanner
	meters   []*speed.Meter
	queue    *behind
}

// scanLag is how far the attempt log and the OOM scanners may fall behind
// the job's output before the copy waits for them.
const scanLag = 1 << 20

func (s *Supervisor) wire(mode runner.Mode, logw *record.CappedLog, readings *speed.Readings, found finders) *wiring {
	w := &wiring{clock: newClock(s.cfg.Now), queue: newBehind(scanLag), midLine: &atomic.Bool{}}
	// Until the next attempt's wiring, vramrun's lines end what this one's
	// output left unfinished (its last lines come after the job ended).
	s.cfg.Say.SetMidLine(func() bool { return w.midLine.Swap(false) })
	// Each stream goes to its terminal (or vramrun's own stdout) as it is
	// copied; the attempt log and the stream's scanner take it from the
	// queue, in the order of the copies. The log is not on the copy path:
	// a slow disk under .vramrun must not slow the job's output, until the
	// log is a whole queue behind.
	stream := func(to io.Writer, shared bool, find *idFinder) io.Writer {
		if shared {
			to = lineEnd{w: to, mid: w.midLine}
		}
		sc := oom.NewScanner(s.cfg.Matcher, func(oom.Match) { w.clock.oom() })
		w.scanners = append(w.scanners, sc)
		m := readings.Meter()
		w.meters = append(w.meters, m)
		if to == nil {
			to = fanout{}
		}
		tee := fanout{logw, sc, m}
		if find != nil {
			tee = append(tee, find)
		}
		return &streamWriter{clock: w.clock, to: to, queue: w.queue.writer(tee)}
	}
	st := s.cfg.Streams
	if mode == runner.PTY {
		// One stream: the pty merges stdout and stderr.
		w.stdout = stream(st.Stdout, sameFile(st.Stdout, st.Stderr), found.writer(0))
		w.stderr = clockWriter{w.clock, fanout{}}
		return w
	}
	w.stdout = stream(st.Stdout, sameFile(st.Stdout, st.Stderr), found.writer(0))
	w.stderr = stream(st.Stderr, true, found.writer(1))
	return w
}

// lineEnd passes writes on and remembers whether the last byte ended a
// line ("\r" does not: a bar redrawn with it is still on screen).
type lineEnd struct {
	w   io.Writer
	mid *atomic.Bool
}

func (l lineEnd) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.mid.Store(p[n-1] != '\n')
	}
	return n, err
}

// sameFile says a and b are one file (the same terminal, say).
func sameFile(a, b *os.File) bool {
	if a == nil || b == nil {
		return false
	}
	if a == b {
		return true
	}
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// close waits for the scanners and the log's tail to catch up and scans
// the last line of each stream.
func (w *wiring) close() {
	w.queue.Close()
	for _, sc := range w.scanners {
		sc.Close()
	}
	for _, m := range w.meters {
		m.Close()
	}
}

// watched is how the supervision of a job went.
type watched struct {
	res       runner.Result
	hung      bool
	interrupt syscall.Signal
	// trial says why vramrun ended a trial ("" it did not).
	trial string
}

// trialEnd is when watch ends a trial: once enough is closed, or after.
type trialEnd struct {
	enough <-chan struct{}
	after  time.Duration
}

// end is when to end the trial whose speed readings gives; never for an
// attempt that is no trial (t nil).
func (t *Trial) end(readings *speed.Readings) trialEnd {
	if t == nil {
		return trialEnd{}
	}
	return trialEnd{enough: readings.Enough(t.Readings), after: t.Time}
}

// watch waits for the job while passing vramrun's signals on, ending it when
// it hangs after an OOM, and calling fits once when it has run long enough
// without an OOM to count as fitting. It returns when Wait has returned: the
// job's main process has exited and the rest of its group is gone. A quiet
// job costs it no wake-ups: the hang check ticks only once an OOM text has
// come, and fitting is one timer.
func (s *Supervisor) watch(job *runner.Job, c *clock, started time.Time, fits func(), trial trialEnd) watched {
	waited := make(chan runner.Result, 1)
	go func() { waited <- job.Wait() }()
	var trialTime <-chan time.Time
	if trial.after > 0 {
		t := time.NewTimer(trial.after)
		defer t.Stop()
		trialTime = t.C
	}
	endTrial := func(w *watched, why string) {
		if w.trial == "" && !w.hung {
			w.trial = why
			go job.Stop()
		}
	}
	grace, learnAfter := s.cfg.Timing.Grace, s.cfg.Timing.LearnAfter
	var learn <-chan time.Time
	if fits != nil && learnAfter > 0 {
		t := time.NewTimer(max(learnAfter-s.cfg.Now().Sub(started), 0))
		defer t.Stop()
		learn = t.C
	}
	firstOOM := c.firstOOM
	var hangCheck <-chan time.Time
	var w watched
	for {
		select {
		case w.res = <-waited:
			return w
		case sig := <-s.cfg.Signals.Job():
			sys, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			_ = job.Signal(sys)
			if IsTerminating(sys) {
				w.interrupt = sys
			}
		case <-firstOOM:
			firstOOM = nil
			ticker := time.NewTicker(min(max(grace/4, 10*time.Millisecond), 250*time.Millisecond))
			defer ticker.Stop()
			hangCheck = ticker.C
		case <-hangCheck:
			if !w.hung && c.hung(grace) {
				w.hung = true
				s.cfg.Say.Info("the job printed an out-of-memory error and then nothing for %s: ending it", grace)
				go job.Stop()
			}
		case <-learn:
			learn = nil
			if c.ooms() == 0 {
				fits()
			}
		case <-trial.enough:
			trial.enough = nil
			if c.ooms() == 0 {
				endTrial(&w, "its speed is known")
			}
		case <-trialTime:
			endTrial(&w, "the trial time ran out")
		}
	}
}

// result gathers the facts of an attempt that ended.
func (s *Supervisor) result(w watched, samples gpuview.Samples, c *clock, started time.Time) Result {
	res := w.res
	out := Result{
		Started: started,
		Exit:    record.Exit{ExitCode: res.ExitCode, Signal: int(res.Signal), ExitStatus: res.Status()},
		Memory: record.Memory{PeakBytes: samples.Peak, PreStepBytes: samples.PreStep, CapacityBytes: samples.Capacity,
			SamplesFile: samples.File},
		Facts: outcome.Facts{Status: res.Status(), Signal: res.Signal, Interrupt: w.interrupt, Hung: w.hung,
			Ended: s.cfg.Now(), Texts: c.oomTexts(), NearCapacity: samples.NearCapacity, Xid: samples.Xid,
			TrialEnded: w.trial != ""},
	}
	if samples.Peak != nil {
		out.Peak, out.PeakAt = *samples.Peak, samples.PeakAt
	}
	if len(res.Reaped) > 0 {
		note := fmt.Sprintf("ended %d leftover process(es) of the job: %v", len(res.Reaped), res.Reaped)
		if w.trial != "" || w.hung {
			// vramrun stopped the job itself: its other processes went
			// with it, they were not left behind by a job that ended.
			note = fmt.Sprintf("ended %d other process(es) of the job with it: %v", len(res.Reaped), res.Reaped)
		}
		out.Notes = append(out.Notes, note)
		s.cfg.Say.Verbose("%s", note)
	}
	if samples.Xid != "" {
		out.Notes = append(out.Notes, samples.Xid)
	}
	return out
}

// ending is how the job ended, with the host-OOM evidence the kernel and
// the cgroup give, for the diagnosis.
func (s *Supervisor) ending(pid int, w watched, samples gpuview.Samples, oomKillsBefore int, since oom.Since) oom.Ending {
	res := w.res
	end := oom.Ending{Exited: true, ExitCode: res.ExitCode, Signal: int(res.Signal),
		JobPIDs: append(append([]int{pid}, res.Reaped...), samples.JobPIDs...)}
	if after, ok := oom.CgroupOOMKills(); ok && after > oomKillsBefore {
		end.HostOOMKills = after - oomKillsBefore
	}
	if res.Signal == syscall.SIGKILL && !w.hung {
		end.KernelOOM, end.KernelLogRead = s.cfg.KernelLog.OOMKilled(pid, since)
	}
	return end
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func terminalOf(f *os.File) *os.File {
	if f != nil && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}
