package cmdline

import (
	"errors"
	"fmt"
	"slices"
)

// rayJob reads `ray job submit [options] [--] ENTRYPOINT`. Ray runs the
// entrypoint on its cluster, not under this machine's GPUs, so ray job
// submit is a wrapper whatever the entrypoint is (the entrypoint is the
// job's driver, one process unless it is a launcher that starts more).
// Ray's parser is click's, which reads options anywhere on the line up to
// a "--": without one before the entrypoint, every option after the
// entrypoint is ray's, so only an entrypoint without options reads as one
// (and an edit that gives it one puts the "--" in, see guarded).
func (p *parser) rayJob(i int) error {
	res, err := rayJobSubmitTable().scan(p.argv, i+3)
	if err != nil {
		return err
	}
	if o, ok := last(res.opts, "--no-wait"); ok {
		p.inv.Detached = o.typed
	}
	if res.next >= len(p.argv) {
		return errors.New("ray job submit: no entrypoint after its options")
	}
	if res.dashdash < 0 {
		rest := p.argv[res.next+1:]
		if slices.Contains(rest, "--no-wait") {
			p.inv.Detached = "--no-wait"
		}
		if k := slices.IndexFunc(rest, isOption); k >= 0 {
			return fmt.Errorf("ray job submit: with no -- before the entrypoint, ray reads %s as an option of its own: "+
				"write ray job submit [options] -- ENTRYPOINT", rest[k])
		}
		p.inv.bareAt = res.next
	}
	if p.inv.ray == nil {
		p.inv.ray = &RaySubmit{argv: append([]string(nil), p.argv...), at: i, res: res}
	}
	p.wrapperTasks = append(p.wrapperTasks, 1)
	p.inv.Wrappers = append(p.inv.Wrappers, "ray job submit")
	return p.program(res.next, "ray job submit")
}

// isRayJobSubmit says argv[i] starts `ray job submit`.
func isRayJobSubmit(argv []string, i int) bool {
	return i+2 < len(argv) && argv[i+1] == "job" && argv[i+2] == "submit"
}

// isOption says click reads tok as an option: a dash and more.
func isOption(tok string) bool { return len(tok) > 1 && tok[0] == '-' }

// guarded is an edited command line out with a "--" put before the
// entrypoint of a `ray job submit` typed without one, when the edit gave
// the entrypoint an option that ray would otherwise read as its own.
func (inv Invocation) guarded(out []string) []string {
	if inv.bareAt == 0 || inv.bareAt > len(out) || !slices.ContainsFunc(out[inv.bareAt:], isOption) {
		return out
	}
	return slices.Insert(out, inv.bareAt, "--")
}

// Unwatchable says why vramrun cannot supervise argv at all, "" when it
// can (see Wrapping.Unwatched). It reads the wrappers also of a command
// whose script it cannot find.
func Unwatchable(argv []string) string { return wrappersOf(argv).Unwatched() }

// Unwatched says why vramrun cannot supervise the command, "" when it
// can: a wrapper that hands the job on and returns at once, without
// waiting for it or passing its output through (ray job submit
// --no-wait), leaves vramrun no OOM to see and no end of the job to wait
// for.
func (w Wrapping) Unwatched() string {
	if w.Detached == "" {
		return ""
	}
	return fmt.Sprintf("ray job submit %s returns once the job is submitted, without waiting for it or streaming its logs, "+
		"so vramrun would see no OOM: drop %s to run it under vramrun", w.Detached, w.Detached)
}
