package launcher

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/sdk"
	"golang.org/x/term"
)

// Attempt outcomes, as kept in the run record.
const (
	outcomeOK          = record.AttemptOK
	outcomeOOM         = record.AttemptOOM
	outcomeHung        = record.AttemptHung
	outcomeHostOOM     = record.AttemptHostOOM
	outcomeProbable    = record.AttemptProbableOOM
	outcomeFailed      = record.AttemptFailed
	outcomeInterrupted = record.AttemptInterrupted
	outcomeHardware    = record.AttemptHardware
)

// attemptResult is what the loop needs from one attempt.
type attemptResult struct {
	status    int
	outcome   string
	diagnosis sdk.Diagnosis
	peak      int64
}

// terminatingSignals are the ones after which vramrun does not relaunch.
var terminatingSignals = map[syscall.Signal]bool{
	syscall.SIGINT: true, syscall.SIGTERM: true, syscall.SIGHUP: true, syscall.SIGQUIT: true,
}

// attempt runs the command once.
func (r *run) attempt(n int, fix *record.FixRecord, skips []record.SkipRecord) (attemptResult, error) {
	o := r.o
	mode, err := runner.ResolveMode(o.Settings.PTY, o.Stdout)
	if err != nil {
		return attemptResult{}, &ExitError{StatusFailure, err}
	}
	if n == 1 {
		r.msg.first(o.Settings.MaxAttempts, r.argv, r.rec.Framework)
	}
	logName := fmt.Sprintf("attempt-%d.log", n)
	logw, err := record.NewCappedLog(filepath.Join(r.runDir, logName), record.DefaultHead, record.DefaultTail)
	if err != nil {
		return attemptResult{}, &ExitError{StatusFailure, fmt.Errorf("attempt log: %w", err)}
	}
	env := mergeEnv(r.base, r.setEnv)
	devices := r.gpu.preflight(env, r.earlierPIDs())
	if o.Settings.PickGPU {
		env = r.gpu.pick(env)
	}
	if o.Settings.WaitFree > 0 {
		r.gpu.waitFree(r.ctx, o.Settings.WaitFree)
	}

	watch := newOutputWatch(o.Now)
	onMatch := func(oom.Match) { watch.oom() }
	var stdout, stderr fanout
	var scanners []*oom.Scanner
	if mode == runner.PTY {
		sc := oom.NewScanner(r.matcher, onMatch)
		scanners = append(scanners, sc)
		stdout = fanout{o.Stdout, logw, sc}
	} else {
		so, se := oom.NewScanner(r.matcher, onMatch), oom.NewScanner(r.matcher, onMatch)
		scanners = append(scanners, so, se)
		stdout = fanout{o.Stdout, logw, so}
		stderr = fanout{o.Stderr, logw, se}
	}
	a := record.Attempt{N: n, Argv: append([]string(nil), r.argv...), Env: copyMap(r.setEnv), Files: copyMap(r.files),
		Started: o.Now(), Fix: fix, Skipped: skips, LogFile: logName}
	r.events.Emit(record.EventAttemptStarted, n, map[string]any{"argv": r.argv, "env": r.setEnv})

	spec := runner.Spec{
		Argv: r.argv, Env: envList(env), Dir: o.Dir, Mode: mode,
		Stdin: o.Stdin, Stdout: watchWriter{watch, stdout}, Stderr: watchWriter{watch, stderr},
		Terminal: terminalOf(o.Stdout), Marker: fmt.Sprintf("%s/%d", r.rec.ID, n),
	}
	oomKillsBefore, _ := oom.CgroupOOMKills()
	job, err := runner.Start(r.ctx, spec)
	if err != nil {
		logw.Close()
		return attemptResult{}, execError(err)
	}
	r.msg.setRaw(job.RawMode)
	r.jobPIDs = append(r.jobPIDs, job.PID())
	sampler := r.gpu.startSampler(r.ctx, devices, job)
	waited := make(chan runner.Result, 1)
	go func() { waited <- job.Wait() }()
	res, hung, learnedAt := r.supervise(job, waited, watch, a.Started)
	r.msg.setRaw(nil)
	for _, sc := range scanners {
		sc.Close()
	}
	samples := sampler.stop(r.runDir, n)
	if err := logw.Close(); err != nil {
		r.msg.warn("attempt log: %v", err)
	}

	a.Ended = o.Now()
	a.ExitCode, a.Signal, a.ExitStatus = res.ExitCode, int(res.Signal), res.Status()
	a.LogBytes = logw.Total()
	a.PeakBytes, a.CapacityBytes, a.SamplesFile = samples.peak, samples.capacity, samples.file
	if len(res.Reaped) > 0 {
		a.Notes = append(a.Notes, fmt.Sprintf("ended %d leftover process(es) of the job: %v", len(res.Reaped), res.Reaped))
		r.msg.verbose("ended %d leftover process(es) of the job: %v", len(res.Reaped), res.Reaped)
	}

	end := oom.Ending{Exited: true, ExitCode: res.ExitCode, Signal: int(res.Signal),
		JobPIDs: append(append([]int{job.PID()}, res.Reaped...), samples.jobPIDs...)}
	if after, ok := oom.CgroupOOMKills(); ok && after > oomKillsBefore {
		end.HostOOMKills = after - oomKillsBefore
	}
	if res.Signal == syscall.SIGKILL && !hung {
		end.KernelOOM, _ = oom.KernelOOMKilled(job.PID())
	}
	diag, err := oom.Diagnose(r.matcher, bytes.NewReader(logw.Tail()), end, r.claimScript())
	if err != nil {
		diag = sdk.NoOOM()
	}

	out := attemptResult{status: res.Status(), diagnosis: diag}
	if samples.peak != nil {
		out.peak = *samples.peak
	}
	switch {
	case r.interrupted != 0 && (res.Signal == r.interrupted || res.Status() != 0 || terminatingSignals[r.interrupted]):
		out.outcome = outcomeInterrupted
	case res.Signal == syscall.SIGINT || res.Signal == syscall.SIGQUIT:
		// The user's Ctrl-C or Ctrl-\ reached the job without passing
		// through vramrun: the job's terminal is its pty, or it holds the
		// terminal's foreground.
		out.outcome = outcomeInterrupted
	case res.Status() == 0:
		out.outcome = outcomeOK
	case samples.xid != "":
		out.outcome = outcomeHardware
		r.msg.info("the GPU reported a hardware or driver fault during this attempt (%s): memory fixes cannot help; see vramrun doctor", samples.xid)
	case hung:
		out.outcome = outcomeHung
	case diag.OOM && diag.Kind == sdk.KindHost:
		out.outcome = outcomeHostOOM
	case diag.OOM && watch.oomCause(o.Settings.Grace):
		out.outcome = outcomeOOM
	case !diag.OOM && samples.nearCapacity:
		out.outcome = outcomeProbable
	default:
		out.outcome = outcomeFailed
	}
	if out.outcome == outcomeProbable {
		diag = probableDiagnosis(samples)
		out.diagnosis = diag
	}
	if survived := watch.survived(o.Settings.Grace, out.outcome == outcomeOK, hung); survived > 0 {
		a.SurvivedOOMs = survived
		r.msg.info("the job survived %d out-of-memory error(s) on its own; vramrun left it alone", survived)
	}
	if diag.OOM || out.outcome == outcomeProbable {
		d := diag
		a.Diagnosis = &d
		r.events.Emit(record.EventOOM, n, map[string]any{"diagnosis": d})
	}
	if out.outcome == outcomeOOM || out.outcome == outcomeHung {
		if t, ok := watch.causeAt(o.Settings.Grace, hung); ok {
			a.OOMAt = &t
		}
	}
	a.Outcome = out.outcome
	r.rec.Attempts = append(r.rec.Attempts, a)
	r.events.Emit(record.EventAttemptEnded, n, map[string]any{
		"exit_status": out.status, "signal": signalField(res.Signal), "peak_bytes": a.PeakBytes,
		"duration_s": a.Ended.Sub(a.Started).Seconds(),
	})
	r.reportEnd(out, diag)
	if out.outcome == outcomeOK || learnedAt {
		r.learn(n)
	}
	if err := r.rec.Write(r.runDir); err != nil {
		r.msg.warn("could not write the run record: %v", err)
	}
	return out, nil
}

// supervise waits for the job while forwarding signals, ending it when it
// hangs after an OOM, and noting when it has run long enough without an OOM
// to count as fitting. It returns when Wait has returned: the job's main
// process has exited and the rest of its group is gone.
func (r *run) supervise(job *runner.Job, waited <-chan runner.Result, watch *outputWatch, started time.Time) (res runner.Result, hung, learned bool) {
	grace := r.o.Settings.Grace
	tick := grace / 4
	if tick > 250*time.Millisecond {
		tick = 250 * time.Millisecond
	}
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case res = <-waited:
			return res, hung, learned
		case sig := <-r.o.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			_ = job.Signal(s)
			if terminatingSignals[s] {
				r.interrupted = s
			}
		case <-ticker.C:
			if !hung && watch.hung(grace) {
				hung = true
				r.msg.info("the job printed an out-of-memory error and then nothing for %s: ending it", grace)
				go job.Stop()
			}
			if !learned && r.o.Settings.LearnAfter > 0 && watch.count() == 0 && r.o.Now().Sub(started) >= r.o.Settings.LearnAfter {
				learned = true
				r.learn(len(r.rec.Attempts) + 1)
			}
		}
	}
}

// reportEnd says, in one line, how an attempt that did not fit ended, when
// the attempt line of the next attempt will not say it.
func (r *run) reportEnd(res attemptResult, d sdk.Diagnosis) {
	switch res.outcome {
	case outcomeHostOOM:
		r.msg.info("the job ran out of host memory (RAM), not GPU memory: %s. Try fewer data-loader workers and no CPU offload; vramrun applies no GPU fix for this", hostEvidence(d))
	case outcomeProbable:
		if r.o.Settings.ProbableOOM != "fix" {
			r.msg.info("the job failed (exit %d) without an out-of-memory message, but GPU memory sat at capacity just before: probably an OOM. Set probable_oom: fix to let vramrun treat it as one", res.status)
		}
	case outcomeFailed:
		r.msg.verbose("the job failed (exit %d) with no sign of running out of memory: not relaunching", res.status)
	}
}

func hostEvidence(d sdk.Diagnosis) string {
	if d.Message != "" {
		return d.Message
	}
	return "killed by SIGKILL with no GPU out-of-memory message"
}

func probableDiagnosis(s samplesResult) sdk.Diagnosis {
	d := sdk.NoOOM()
	d.OOM, d.Kind, d.Signature = true, sdk.KindGPU, "probable"
	d.CapacityBytes = s.capacity
	d.Message = "no out-of-memory text; GPU memory at capacity before the end"
	return d
}

func (r *run) claimScript() string { return r.analysis.Script }

func (r *run) earlierPIDs() []int { return r.jobPIDs }

func signalField(s syscall.Signal) any {
	if s == 0 {
		return nil
	}
	return int(s)
}

func terminalOf(f *os.File) *os.File {
	if f != nil && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
