package record

import "fmt"

// NoteKilled is an attempt's note when SIGKILL ended the job and the
// kernel log, readable, records no OOM kill of it: someone killed it (kill
// -9, timeout -s KILL, a scheduler), not the OOM killer.
const NoteKilled = "killed by SIGKILL (no OOM kill recorded)"

// Attempt outcomes, as Attempt.Outcome records them.
const (
	AttemptOK          = "ok"
	AttemptOOM         = "oom"
	AttemptHung        = "hung"
	AttemptHostOOM     = "host_oom"
	AttemptProbableOOM = "probable_oom"
	AttemptFailed      = "failed"
	AttemptInterrupted = "interrupted"
	AttemptHardware    = "hardware"
	// AttemptRejected: the job rejected the fix before it (an unknown
	// flag, a missing module); vramrun took the fix back.
	AttemptRejected = "rejected"
)

// Words is an attempt's speed in the fewest words: "812 samples/s",
// "31.2k tokens/s", "2.4 step/s" when a step's size is unknown, "-" when
// the output never said (s nil).
func (s *Speed) Words() string {
	switch {
	case s == nil:
		return "-"
	case s.SamplesPerS != nil:
		return figure(*s.SamplesPerS) + " samples/s"
	case s.TokensPerS != nil:
		return figure(*s.TokensPerS) + " tokens/s"
	}
	return figure(s.Rate) + " " + s.Unit + "/s"
}

// figure writes v with about three significant digits: 0.512, 41.2, 812,
// 12.3k, 412k, 1.2M.
func figure(v float64) string {
	switch {
	case v >= 999_500:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 99_950:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 9_995:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 99.95:
		return fmt.Sprintf("%.0f", v)
	case v >= 9.995:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Faster says the speed the room's larger micro-batch is predicted to
// gain: "about 18 % faster", with the samples a second when the fit's
// speed was read.
func (r *Room) Faster() string {
	s := fmt.Sprintf("about %.0f %% faster", 100*r.PredictedGain)
	if r.AtSamplesPerS > 0 {
		s += fmt.Sprintf(" (%s -> %s samples/s)", figure(r.AtSamplesPerS), figure(r.PredictedSamplesPerS))
	}
	return s
}

// OutcomeWords are the tables' words for an attempt's outcome.
func OutcomeWords(outcome string) string {
	switch outcome {
	case AttemptOOM:
		return "GPU OOM"
	case AttemptHung:
		return "GPU OOM, hung"
	case AttemptHostOOM:
		return "host memory OOM"
	case AttemptProbableOOM:
		return "probable GPU OOM"
	case AttemptHardware:
		return "GPU fault"
	case AttemptRejected:
		return "rejected the fix"
	}
	return outcome // ok, failed, interrupted
}
