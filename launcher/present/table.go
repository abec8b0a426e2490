package present

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// table is the summary printed when the run ends.
func (m *Lines) table(end record.End) {
	if m.verbosity < 0 || len(m.attempts) == 0 {
		return
	}
	var b strings.Builder
	// The speed column is there only when some attempt's output told its
	// speed: a job that prints none gets the table it always had.
	speeds := false
	for _, a := range m.attempts {
		speeds = speeds || a.Speed != nil
	}
	if speeds {
		fmt.Fprintf(&b, "%-8s %-6s %-26s %-16s %s\n", "attempt", "exit", "result", "speed", "fix before it")
	} else {
		fmt.Fprintf(&b, "%-8s %-6s %-26s %s\n", "attempt", "exit", "result", "fix before it")
	}
	for _, a := range m.attempts {
		fix := "-"
		if a.Fix != nil {
			fix = string(a.Fix.Fix.ID)
			if a.Fix.Learned {
				fix += " (learned)"
			}
		}
		for _, also := range a.Also {
			fix += " + " + string(also.Fix.ID)
		}
		if r := a.Resumed; r != nil {
			fix += ", resumed"
			if r.Step != nil {
				fix += fmt.Sprintf(" at step %d", *r.Step)
			}
		}
		if speeds {
			fmt.Fprintf(&b, "%-8d %-6d %-26s %-16s %s\n", a.N, a.ExitStatus, human.Printable(result(a)), a.Speed.Words(), human.Printable(fix))
		} else {
			fmt.Fprintf(&b, "%-8d %-6d %-26s %s\n", a.N, a.ExitStatus, human.Printable(result(a)), human.Printable(fix))
		}
	}
	fmt.Fprintf(&b, "outcome: %s", strings.ReplaceAll(end.Outcome, "_", " "))
	if len(m.fixes) > 0 {
		fmt.Fprintf(&b, "\nfinal command: %s", human.Join(end.FinalArgv))
		if len(end.FinalEnv) > 0 {
			fmt.Fprintf(&b, "\nwith environment: %s", human.Env(end.FinalEnv))
		}
	}
	if r := end.Room; r != nil {
		larger := fmt.Sprint(r.Micro)
		if r.Accumulation > 0 {
			larger += fmt.Sprintf(" x %d", r.Accumulation)
		}
		fixed := ""
		if r.PreStepBytes > 0 {
			fixed = fmt.Sprintf(", %s of it before the first step", human.Bytes(r.PreStepBytes))
		}
		fmt.Fprintf(&b, "\nroom: micro-batch %s may fit (peak %s of %s at %d%s, predicted %s) and run %s: `vramrun tune` measures whether it does",
			larger, human.Bytes(r.PeakBytes), human.Bytes(r.UsableBytes), r.At, fixed, human.Bytes(r.PredictedBytes), r.Faster())
	}
	// Every part was made printable above (human.Join and human.Env quote
	// what they write).
	m.emit(b.String())
}

func result(a record.Attempt) string {
	if a.Diagnosis == nil || (a.Outcome != record.AttemptOOM && a.Outcome != record.AttemptHung) {
		return record.OutcomeWords(a.Outcome)
	}
	r := "GPU OOM"
	if a.Diagnosis.Phase != sdk.PhaseUnknown {
		r += " (" + string(a.Diagnosis.Phase) + ")"
	}
	if a.Outcome == record.AttemptHung {
		r += ", hung"
	}
	return r
}

// Cause says in a few words what ended an attempt, with the figures that
// matter: "GPU OOM in training (asked 2.3 GiB of a 24 GiB GPU, 7.0 GiB held
// unused by the allocator)".
func Cause(a record.Attempt) string {
	switch a.Outcome {
	case record.AttemptProbableOOM:
		return "probable GPU OOM (no message; memory at capacity)"
	case record.AttemptRejected:
		if a.Fix != nil {
			return "the job rejected " + string(a.Fix.Fix.ID)
		}
		return "the job rejected the fix"
	}
	d := oom.NoOOM()
	if a.Diagnosis != nil {
		d = *a.Diagnosis
	}
	what := "GPU OOM"
	if d.Kind == sdk.KindHost {
		what = "host memory OOM"
	}
	switch d.Phase {
	case sdk.PhaseTrain:
		what += " in training"
	case sdk.PhaseEval:
		what += " in evaluation"
	}
	if a.Outcome == record.AttemptHung {
		what += ", then hung"
	}
	if figs := figures(d); len(figs) > 0 {
		what += " (" + strings.Join(figs, ", ") + ")"
	}
	return what
}

func figures(d oom.Diagnosis) []string {
	var figs []string
	if d.TriedBytes != nil {
		f := "asked " + human.Bytes(*d.TriedBytes)
		if d.CapacityBytes != nil {
			f += " of a " + human.Bytes(*d.CapacityBytes) + " GPU"
		}
		figs = append(figs, f)
	} else if d.CapacityBytes != nil {
		figs = append(figs, "a "+human.Bytes(*d.CapacityBytes)+" GPU")
	}
	if d.ReservedUnallocatedBytes != nil && *d.ReservedUnallocatedBytes > 0 {
		figs = append(figs, human.Bytes(*d.ReservedUnallocatedBytes)+" held unused by the allocator")
	}
	var others int64
	for _, p := range d.OtherProcesses {
		others += p.UsedBytes
	}
	if others > 0 {
		figs = append(figs, fmt.Sprintf("%s held by %d other process(es)", human.Bytes(others), len(d.OtherProcesses)))
	}
	return figs
}
