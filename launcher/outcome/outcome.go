// Package outcome decides what ended an attempt, as a pure function of what
// the supervisor saw: the exit, the signals, the OOM texts and when they were
// printed, the GPU's samples, an Xid, the host-OOM evidence. Classify is the
// one place that says what counts as what; the loop only acts on its verdict.
package outcome

import (
	"syscall"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// Facts are what ended one attempt.
type Facts struct {
	// Status is the job's exit status (128+N for signal N), Signal the
	// signal that ended its main process (0 none).
	Status int
	Signal syscall.Signal
	// Interrupt is a terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT)
	// vramrun received and passed to the job during the attempt; 0 none.
	Interrupt syscall.Signal
	// Hung says vramrun ended the job after an OOM text and Grace of
	// silence.
	Hung bool
	// Ended is when the attempt ended.
	Ended time.Time
	// Texts are when the job printed OOM texts.
	Texts Texts
	// Diagnosis is the diagnosis of the attempt's output and exit.
	Diagnosis oom.Diagnosis
	// NearCapacity says GPU memory sat within 2% of capacity before the
	// end (NVML).
	NearCapacity bool
	// Xid describes a hardware Xid the GPU reported during the attempt; ""
	// none.
	Xid string
	// Rejection is the line with which the job rejected the fix applied
	// just before this attempt (it names what the fix changed); "" none.
	Rejection string
	// TrialEnded says vramrun ended the job, a trial of `vramrun tune`,
	// once it had run long enough.
	TrialEnded bool
}

// Texts are the times at which a job printed OOM texts: the first MaxTimes
// of them, the last MaxRecent after those, and how many there were in all.
// A job that survives OOMs by the thousand costs bounded memory, and the
// texts at its end are still known.
type Texts struct {
	Times []time.Time
	// recent is a ring of the texts after the first MaxTimes; next is
	// where the next one goes.
	recent []time.Time
	next   int
	Last   time.Time
	Count  int
}

// Bounds of Texts.
const (
	MaxTimes  = 1024
	MaxRecent = 64
)

// Add notes a text printed at t.
func (x *Texts) Add(t time.Time) {
	switch {
	case len(x.Times) < MaxTimes:
		x.Times = append(x.Times, t)
	case len(x.recent) < MaxRecent:
		x.recent = append(x.recent, t)
	default:
		x.recent[x.next] = t
		x.next = (x.next + 1) % MaxRecent
	}
	x.Last = t
	x.Count++
}

// known are the times kept, oldest first.
func (x Texts) known() []time.Time {
	out := append([]time.Time(nil), x.Times...)
	out = append(out, x.recent[x.next:]...)
	return append(out, x.recent[:x.next]...)
}

// Policy is what the settings say about judging attempts.
type Policy struct {
	// Grace is how long a job may live on after an OOM text and still have
	// died of it (--grace).
	Grace time.Duration
	// FixProbable treats a probable OOM as an OOM (probable_oom: fix).
	FixProbable bool
}

// Verdict is what an attempt was, and what the run does next.
type Verdict struct {
	// Attempt is the attempt's outcome (record.Attempt*).
	Attempt string
	// Relaunch says an OOM ended the attempt and a fix may help.
	Relaunch bool
	// Run is the run's outcome (record.Outcome*) when the run ends here:
	// ok, failed or interrupted; "" with Relaunch.
	Run string
	// Survived counts the OOM texts the job lived on after.
	Survived int
	// OOMAt is when the OOM that ended the attempt was printed (outcomes
	// oom and hung).
	OOMAt *time.Time
}

// Classify judges an attempt:
//
//   - interrupted: vramrun passed on SIGINT, SIGTERM, SIGHUP or SIGQUIT, or
//     the job died of SIGINT or SIGQUIT it got straight from the terminal;
//   - ok: exit status 0;
//   - hardware: the GPU reported an Xid that is not an application's;
//   - hung: an OOM text, then Grace of silence, and vramrun ended the job;
//   - host_oom: the diagnosis is a host-memory OOM;
//   - oom: a GPU OOM text, and the job died within Grace of it;
//   - probable_oom: no OOM text, but memory sat at capacity before the end;
//   - rejected: a failure whose output rejects the fix applied just before
//     (Rejection): the fix is taken back and the next one tried;
//   - failed: anything else, including a job that lived on for longer than
//     Grace after its last OOM text and then failed.
//
// Only oom, hung, rejected, and probable_oom with FixProbable, relaunch.
func Classify(f Facts, p Policy) Verdict {
	v := Verdict{Attempt: attemptOutcome(f, p)}
	switch v.Attempt {
	case record.AttemptOOM, record.AttemptHung:
		v.Relaunch = true
		v.OOMAt = causeAt(f, p.Grace)
	case record.AttemptProbableOOM:
		v.Relaunch = p.FixProbable
	case record.AttemptRejected:
		v.Relaunch = true
	}
	if !v.Relaunch {
		v.Run = runOutcome(v.Attempt)
	}
	v.Survived = survived(f, p.Grace, v.Attempt == record.AttemptOK)
	return v
}

func attemptOutcome(f Facts, p Policy) string {
	d := f.Diagnosis
	switch {
	case f.Interrupt != 0 || f.Signal == syscall.SIGINT || f.Signal == syscall.SIGQUIT:
		// The user's Ctrl-C or Ctrl-\ may reach the job without passing
		// through vramrun: the job's terminal is its pty, or it holds the
		// terminal's foreground.
		return record.AttemptInterrupted
	case f.Status == 0, f.TrialEnded && !d.OOM:
		return record.AttemptOK
	case f.Xid != "":
		return record.AttemptHardware
	case f.Hung:
		return record.AttemptHung
	case d.OOM && d.Kind == sdk.KindHost:
		return record.AttemptHostOOM
	case d.OOM && diedOfOOM(f, p.Grace):
		return record.AttemptOOM
	case !d.OOM && f.NearCapacity:
		return record.AttemptProbableOOM
	case f.Rejection != "" && !d.OOM:
		return record.AttemptRejected
	}
	return record.AttemptFailed
}

func runOutcome(attempt string) string {
	switch attempt {
	case record.AttemptOK:
		return record.OutcomeOK
	case record.AttemptInterrupted:
		return record.OutcomeInterrupted
	}
	return record.OutcomeFailed
}

// diedOfOOM says the job printed an OOM text and did not live on for more
// than grace after the last one. A job that kept running longer than that
// survived its OOM, and whatever ended it later is something else.
func diedOfOOM(f Facts, grace time.Duration) bool {
	return f.Texts.Count > 0 && f.Ended.Sub(f.Texts.Last) <= grace
}

// end is the moment the OOM texts are measured against: the attempt's end,
// or for a job that hung, its last OOM text (the hang was noticed grace
// after it, and the texts that came with it are the cause).
func end(f Facts) time.Time {
	if f.Hung {
		return f.Texts.Last
	}
	return f.Ended
}

// survived counts the OOM texts the job lived on after for more than grace:
// all of them when it ended well. Texts printed together at the end (every
// rank of a distributed job reporting the same OOM) are the cause, not
// survivals.
func survived(f Facts, grace time.Duration, endedWell bool) int {
	if endedWell {
		return f.Texts.Count
	}
	at := end(f)
	atEnd := 0
	for _, t := range f.Texts.known() {
		if at.Sub(t) <= grace {
			atEnd++
		}
	}
	// Texts between the first MaxTimes and the last MaxRecent are not
	// kept; they came before the last MaxRecent, so only when all of
	// those are at the end can some of them be too, and they count as
	// survived.
	return f.Texts.Count - atEnd
}

// causeAt is when the OOM that ended the attempt was printed: the first of
// the texts that came at the end.
func causeAt(f Facts, grace time.Duration) *time.Time {
	at := end(f)
	for _, t := range f.Texts.known() {
		if at.Sub(t) <= grace {
			return &t
		}
	}
	if last := f.Texts.Last; f.Texts.Count > 0 && at.Sub(last) <= grace {
		return &last
	}
	return nil
}

// Probable is the diagnosis of a probable OOM: no OOM text, but GPU memory
// sat at capacity (of the GPU's capacity bytes, nil when unknown) before
// the end.
func Probable(capacity *int64) oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Signature = true, sdk.KindGPU, "probable"
	d.CapacityBytes = capacity
	d.Message = "no out-of-memory text; GPU memory at capacity before the end"
	return d
}
