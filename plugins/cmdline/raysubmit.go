package cmdline

import (
	"fmt"
	"slices"
)

// RaySubmit is the `ray job submit` a command line runs behind: the
// options Ray's click parser reads before the entrypoint, and the edits
// vramrun makes to them. Ray starts the entrypoint on its cluster, with the
// cluster's environment and the runtime env's env_vars, and the job lives
// on when `ray job submit` ends: `ray job stop` ends it.
type RaySubmit struct {
	argv []string
	// at is the index of the ray program.
	at  int
	res scanResult
}

// FindRaySubmit finds the outermost `ray job submit` that argv runs
// behind, reading its wrappers as Parse does, also in a command whose
// script vramrun cannot find. false when there is none, or when Ray would
// not read it as typed.
func FindRaySubmit(argv []string) (RaySubmit, bool) { return wrappersOf(argv).RaySubmit() }

// RaySubmit is the `ray job submit` the command runs behind; false when
// there is none.
func (inv Invocation) RaySubmit() (RaySubmit, bool) {
	if inv.ray == nil {
		return RaySubmit{}, false
	}
	return *inv.ray, true
}

// Option is the value of ray's option key ("--address") as click keeps it:
// the last one typed.
func (r RaySubmit) Option(key string) (string, bool) {
	o, ok := last(r.res.opts, key)
	return o.value, ok
}

// SubmissionID is the id the command gives its job and the option that
// gives it: --submission-id, else the deprecated --job-id (Ray's
// `submission_id or job_id`, an empty value counting as none); "" when Ray
// makes one up.
func (r RaySubmit) SubmissionID() (id, key string) {
	for _, key := range []string{"--submission-id", "--job-id"} {
		if v, ok := r.Option(key); ok && v != "" {
			return v, key
		}
	}
	return "", ""
}

// WithOption returns the command line with ray's option key set to value:
// the last occurrence's value replaced in the form it was typed (--key v,
// --key=v), else key=value put in just before the "--" (or the
// entrypoint, when there is none).
func (r RaySubmit) WithOption(key, value string) []string {
	out := append([]string(nil), r.argv...)
	if o, ok := last(r.res.opts, key); ok && o.valueTok >= 0 {
		if o.valueTok == o.tok {
			out[o.tok] = out[o.tok][:o.valueOff] + value
		} else {
			out[o.valueTok] = value
		}
		return out
	}
	at := r.res.next
	if r.res.dashdash >= 0 {
		at = r.res.dashdash
	}
	return slices.Insert(out, at, key+"="+value)
}

// AttemptArgv is the command line attempt n runs. Ray refuses a submission
// id it has seen, also one whose job has ended ("Job with submission_id X
// already exists. Please use a different submission_id."), so a command
// that names one (X) submits attempt n > 1 as X-vramrun-N; changed says it
// did.
func (r RaySubmit) AttemptArgv(n int) (argv []string, changed bool) {
	id, key := r.SubmissionID()
	if id == "" || n <= 1 {
		return append([]string(nil), r.argv...), false
	}
	return r.WithOption(key, fmt.Sprintf("%s-vramrun-%d", id, n)), true
}

// RelaunchNote says how relaunches name their submission, for a command
// that names a submission id; "" for one that does not.
func (r RaySubmit) RelaunchNote() string {
	id, key := r.SubmissionID()
	if id == "" {
		return ""
	}
	return fmt.Sprintf("ray job submit %s %s: Ray refuses a submission id it has seen, so vramrun submits each relaunch "+
		"(and each tune trial after the first) as %s-vramrun-N, N the attempt", key, id, id)
}

// StopCommand is `ray job stop` for the job id, as the command would run
// it: the wrappers before ray (an `env RAY_ADDRESS=...` among them), the ray
// program as typed, and the options that stop shares with submit
// (--address, --headers, --verify), each as the command last typed it. The
// environment's RAY_ADDRESS, RAY_API_SERVER_ADDRESS and RAY_JOB_HEADERS
// reach it as they reached submit. stop waits until the job has ended.
func (r RaySubmit) StopCommand(id string) []string {
	out := append([]string(nil), r.argv[:r.at+1]...)
	out = append(out, "job", "stop")
	for _, key := range []string{"--address", "--headers", "--verify"} {
		if v, ok := r.Option(key); ok {
			out = append(out, key+"="+v)
		}
	}
	return append(out, id)
}
