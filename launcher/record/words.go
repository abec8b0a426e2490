package record

import "fmt"

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

// HumanBytes writes a size the way vramrun's lines and pages do: GiB with
// one decimal below 10 GiB and none above, MiB below 1 GiB.
func HumanBytes(n int64) string {
	const gib, mib = 1 << 30, 1 << 20
	switch {
	case n >= 10*gib:
		return fmt.Sprintf("%.0f GiB", float64(n)/gib)
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	case n >= mib:
		return fmt.Sprintf("%.0f MiB", float64(n)/mib)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
