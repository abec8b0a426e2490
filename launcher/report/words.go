package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/oom"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// attemptResult says in a few words how an attempt ended. The outcome words
// are those the launcher records in Attempt.Outcome.
func attemptResult(a record.Attempt) string {
	var what, after string
	switch a.Outcome {
	case record.AttemptOK:
		return "ran to the end"
	case record.AttemptOOM:
		what = "GPU out of memory"
	case record.AttemptHung:
		what, after = "GPU out of memory", ", then hung"
	case record.AttemptHostOOM:
		what = "host memory ran out"
	case record.AttemptProbableOOM:
		return "probable GPU out of memory (no message; memory at capacity)"
	case record.AttemptFailed:
		return "failed, not for lack of memory"
	case record.AttemptInterrupted:
		return "interrupted"
	case record.AttemptHardware:
		return "GPU hardware or driver fault"
	case "":
		return "still running"
	default:
		return a.Outcome
	}
	if a.Diagnosis != nil {
		what += phaseWords(a.Diagnosis.Phase)
	}
	return what + after
}

func phaseWords(p sdk.Phase) string {
	switch p {
	case sdk.PhaseTrain:
		return " in training"
	case sdk.PhaseEval:
		return " in evaluation"
	}
	return ""
}

// oomMark is where an attempt's chart marks its out-of-memory moment, and
// the legend words: when the OOM text was printed, for records that have
// the time, else the attempt's end.
func oomMark(a record.Attempt) (time.Time, string, bool) {
	if a.OOMAt != nil && !a.OOMAt.IsZero() {
		switch a.Outcome {
		case record.AttemptOOM:
			return *a.OOMAt, "OOM", true
		case record.AttemptHung:
			return *a.OOMAt, "OOM (the job then hung)", true
		}
	}
	if a.Ended.IsZero() {
		return time.Time{}, "", false
	}
	switch a.Outcome {
	case record.AttemptOOM, record.AttemptProbableOOM:
		return a.Ended, "OOM (attempt ended)", true
	case record.AttemptHostOOM:
		return a.Ended, "host OOM (attempt ended)", true
	case record.AttemptHung:
		return a.Ended, "OOM, hung job ended", true
	}
	return time.Time{}, "", false
}

// runOutcome says how the whole run ended.
func runOutcome(r *record.Run) string {
	switch r.Outcome {
	case record.OutcomeOK:
		if len(r.Attempts) > 1 {
			return "fits: ran to the end after " + plural(len(r.Attempts)-1, "relaunch", "relaunches")
		}
		return "ran to the end on the first attempt"
	case record.OutcomeGaveUp:
		return "gave up: still out of memory after " + plural(len(r.Attempts), "attempt", "attempts")
	case record.OutcomeFailed:
		return "failed, not for lack of memory"
	case record.OutcomeInterrupted:
		return "interrupted"
	case record.OutcomeRunning, "":
		return "still running (or vramrun was killed)"
	}
	return r.Outcome
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fixWords is the "fix applied before it" cell: what changed and why.
func fixWords(f *record.FixRecord) string {
	if f == nil {
		return "none: the command as typed"
	}
	s := string(f.Fix.ID)
	if f.Summary != "" {
		s += ": " + f.Summary
	}
	var why []string
	if f.Reason != "" {
		why = append(why, f.Reason)
	}
	if f.Learned {
		why = append(why, "learned from an earlier run")
	}
	if len(why) > 0 {
		s += " (" + strings.Join(why, "; ") + ")"
	}
	return s
}

// duration writes an attempt's length; "" when it has not ended.
func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return ""
	}
	d := end.Sub(start)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// peakWords is the peak VRAM cell: the peak, and its share of the GPU.
func peakWords(a record.Attempt) string {
	if a.PeakBytes == nil {
		return ""
	}
	s := human.Bytes(*a.PeakBytes)
	if a.CapacityBytes != nil && *a.CapacityBytes > 0 {
		s += fmt.Sprintf(" of %s (%.0f %%)", human.Bytes(*a.CapacityBytes),
			100*float64(*a.PeakBytes)/float64(*a.CapacityBytes))
	}
	return s
}

// diagnosisLines says what the diagnosis of an OOM found, one fact a line.
func diagnosisLines(d *oom.Diagnosis) []string {
	if d == nil || !d.OOM {
		return nil
	}
	var out []string
	what := "GPU memory ran out"
	if d.Kind == sdk.KindHost {
		what = "host memory ran out"
	}
	switch d.Phase {
	case sdk.PhaseTrain:
		what += " during training"
	case sdk.PhaseEval:
		what += " during evaluation"
	default:
		what += " (phase unknown: no training or evaluation frame in the traceback)"
	}
	if d.Device != nil {
		what += fmt.Sprintf(", on device %d", *d.Device)
	}
	out = append(out, what+".")
	if d.TriedBytes != nil {
		out = append(out, "It asked for "+human.Bytes(*d.TriedBytes)+" more.")
	}
	if d.CapacityBytes != nil {
		out = append(out, "The GPU holds "+human.Bytes(*d.CapacityBytes)+" in all.")
	}
	if d.FreeBytes != nil {
		out = append(out, human.Bytes(*d.FreeBytes)+" was free at that moment.")
	}
	if d.AllocatedBytes != nil {
		out = append(out, human.Bytes(*d.AllocatedBytes)+" was allocated by the framework.")
	}
	if d.ReservedUnallocatedBytes != nil {
		s := human.Bytes(*d.ReservedUnallocatedBytes) + " was held unused by the allocator (reserved but unallocated)"
		if d.Fragmented {
			s += ": the memory was fragmented"
		}
		out = append(out, s+".")
	}
	if d.AllowedBytes != nil {
		out = append(out, "The process was allowed "+human.Bytes(*d.AllowedBytes)+".")
	}
	if len(d.OtherProcesses) > 0 {
		parts := make([]string, len(d.OtherProcesses))
		for i, p := range d.OtherProcesses {
			parts[i] = fmt.Sprintf("pid %d held %s", p.PID, human.Bytes(p.UsedBytes))
		}
		out = append(out, "Other processes on the GPU: "+strings.Join(parts, ", ")+".")
	}
	if d.Framework != "" && d.Framework != "unknown" {
		s := "Recognised as " + d.Framework
		if d.Signature != "" {
			s += " (" + d.Signature + ")"
		}
		out = append(out, s+".")
	}
	if len(d.NextFixes) > 0 {
		ids := make([]string, len(d.NextFixes))
		for i, f := range d.NextFixes {
			ids[i] = string(f)
		}
		out = append(out, "Fixes that suit it: "+strings.Join(ids, ", ")+".")
	}
	return out
}
