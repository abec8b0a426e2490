package record

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
