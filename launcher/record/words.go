package record

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
)
