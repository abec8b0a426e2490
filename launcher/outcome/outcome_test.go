package outcome

import (
	"syscall"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

var t0 = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func texts(secs ...float64) Texts {
	var x Texts
	for _, s := range secs {
		x.Add(at(s))
	}
	return x
}

func gpuOOM() oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Framework, d.Phase = true, sdk.KindGPU, "pytorch", sdk.PhaseTrain
	return d
}

func hostOOM() oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Signature = true, sdk.KindHost, oom.SignatureSIGKILL
	return d
}

// TestClassify has a row for each line of the README's "what counts as
// what", and the edges between them.
func TestClassify(t *testing.T) {
	grace := 10 * time.Second
	policy := Policy{Grace: grace}
	fix := Policy{Grace: grace, FixProbable: true}
	cases := []struct {
		name         string
		f            Facts
		p            Policy
		attempt, run string
		relaunch     bool
		survived     int
		oomAt        *time.Time
	}{
		{"exit 0 is ok", Facts{Status: 0, Ended: at(60)}, policy,
			record.AttemptOK, record.OutcomeOK, false, 0, nil},
		{"an OOM text and death within grace is a GPU OOM", Facts{Status: 1, Ended: at(62), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptOOM, "", true, 0, ptr(at(60))},
		{"death exactly grace after the text is still the OOM", Facts{Status: 1, Ended: at(70), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptOOM, "", true, 0, ptr(at(60))},
		{"an OOM text, then silence: vramrun ended it, hung", Facts{Status: 143, Signal: syscall.SIGTERM, Hung: true, Ended: at(73), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptHung, "", true, 0, ptr(at(60))},
		{"a trial vramrun ended once its speed was known fits", Facts{Status: 143, Signal: syscall.SIGTERM, TrialEnded: true, Ended: at(73), Diagnosis: oom.NoOOM()}, policy,
			record.AttemptOK, record.OutcomeOK, false, 0, nil},
		{"a trial that ran out of memory first is an OOM", Facts{Status: 1, TrialEnded: true, Ended: at(61), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptOOM, "", true, 0, ptr(at(60))},
		{"a survived OOM and a good end", Facts{Status: 0, Ended: at(300), Texts: texts(60, 120), Diagnosis: gpuOOM()}, policy,
			record.AttemptOK, record.OutcomeOK, false, 2, nil},
		{"a survived OOM, then another failure, is a failure", Facts{Status: 1, Ended: at(300), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptFailed, record.OutcomeFailed, false, 1, nil},
		{"every rank's text at the end is the cause, not survivals", Facts{Status: 1, Ended: at(303), Texts: texts(60, 300, 301, 302), Diagnosis: gpuOOM()}, policy,
			record.AttemptOOM, "", true, 1, ptr(at(300))},
		{"a host-RAM OOM is reported, never fixed", Facts{Status: 137, Signal: syscall.SIGKILL, Ended: at(60), Diagnosis: hostOOM()}, policy,
			record.AttemptHostOOM, record.OutcomeFailed, false, 0, nil},
		{"a probable OOM is reported", Facts{Status: 1, Ended: at(60), NearCapacity: true, Diagnosis: oom.NoOOM()}, policy,
			record.AttemptProbableOOM, record.OutcomeFailed, false, 0, nil},
		{"a probable OOM with probable_oom: fix relaunches", Facts{Status: 1, Ended: at(60), NearCapacity: true, Diagnosis: oom.NoOOM()}, fix,
			record.AttemptProbableOOM, "", true, 0, nil},
		{"memory near capacity with an OOM text long gone is no probable OOM", Facts{Status: 1, Ended: at(300), Texts: texts(60), NearCapacity: true, Diagnosis: gpuOOM()}, fix,
			record.AttemptFailed, record.OutcomeFailed, false, 1, nil},
		{"a hardware fault ends the run, even with an OOM text", Facts{Status: 1, Ended: at(61), Texts: texts(60), Diagnosis: gpuOOM(), Xid: "Xid 79 on GPU-1: fell off the bus"}, fix,
			record.AttemptHardware, record.OutcomeFailed, false, 0, nil},
		{"anything else is a failure", Facts{Status: 2, Ended: at(1), Diagnosis: oom.NoOOM()}, fix,
			record.AttemptFailed, record.OutcomeFailed, false, 0, nil},
		{"vramrun passed on SIGTERM: interrupted", Facts{Status: 143, Signal: syscall.SIGTERM, Interrupt: syscall.SIGTERM, Ended: at(5)}, policy,
			record.AttemptInterrupted, record.OutcomeInterrupted, false, 0, nil},
		{"interrupted even if the job then exits 0", Facts{Status: 0, Interrupt: syscall.SIGINT, Ended: at(5)}, policy,
			record.AttemptInterrupted, record.OutcomeInterrupted, false, 0, nil},
		{"interrupted even right after an OOM text", Facts{Status: 130, Signal: syscall.SIGINT, Interrupt: syscall.SIGINT, Ended: at(61), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptInterrupted, record.OutcomeInterrupted, false, 0, nil},
		{"Ctrl-C straight to the job: interrupted, not failed", Facts{Status: 130, Signal: syscall.SIGINT, Ended: at(5)}, policy,
			record.AttemptInterrupted, record.OutcomeInterrupted, false, 0, nil},
		{"Ctrl-\\ straight to the job: interrupted", Facts{Status: 131, Signal: syscall.SIGQUIT, Ended: at(5)}, policy,
			record.AttemptInterrupted, record.OutcomeInterrupted, false, 0, nil},
		{"SIGKILL with a GPU OOM text is the GPU OOM", Facts{Status: 137, Signal: syscall.SIGKILL, Ended: at(61), Texts: texts(60), Diagnosis: gpuOOM()}, policy,
			record.AttemptOOM, "", true, 0, ptr(at(60))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Classify(c.f, c.p)
			if v.Attempt != c.attempt || v.Run != c.run || v.Relaunch != c.relaunch || v.Survived != c.survived {
				t.Errorf("Classify = %+v; want attempt %s, run %q, relaunch %v, survived %d", v, c.attempt, c.run, c.relaunch, c.survived)
			}
			switch {
			case (v.OOMAt == nil) != (c.oomAt == nil):
				t.Errorf("OOMAt = %v, want %v", v.OOMAt, c.oomAt)
			case v.OOMAt != nil && !v.OOMAt.Equal(*c.oomAt):
				t.Errorf("OOMAt = %v, want %v", *v.OOMAt, *c.oomAt)
			}
		})
	}
}

// TestTextsBeyondTheBound: a job that survives OOMs by the thousand is
// counted in full, and its last text still decides whether it died of one.
func TestTextsBeyondTheBound(t *testing.T) {
	var x Texts
	for i := 0; i < MaxTimes+500; i++ {
		x.Add(at(float64(i)))
	}
	if len(x.Times) != MaxTimes || x.Count != MaxTimes+500 {
		t.Fatalf("kept %d of %d", len(x.Times), x.Count)
	}
	end := at(float64(MaxTimes + 500))
	v := Classify(Facts{Status: 1, Ended: end, Texts: x, Diagnosis: gpuOOM()}, Policy{Grace: 10 * time.Second})
	if v.Attempt != record.AttemptOOM {
		t.Fatalf("the last text came a second before the end: %+v", v)
	}
	// The texts of the last ten seconds (grace) are the cause: ten of
	// them, at end-10s up to end-1s; the rest were survived.
	if want := MaxTimes + 500 - 10; v.Survived != want {
		t.Fatalf("survived = %d, want %d (all but the last grace's texts)", v.Survived, want)
	}
	if v.OOMAt == nil || !v.OOMAt.Equal(end.Add(-10*time.Second)) {
		t.Fatalf("OOMAt = %v, want the first text within grace of the end", v.OOMAt)
	}
}

func ptr(t time.Time) *time.Time { return &t }
