package launcher

import (
	"context"

	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rejection"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/supervise"
)

// undo is how to take back the last fix: the command and the planner as
// they were before it, the proposal it answered and the OOM that prompted
// it, and what it changed (which a rejection must name).
type undo struct {
	// before is the attempt the fix came before.
	before   int
	cmd      *rewrite.Command
	planner  *plan.Planner
	proposal plan.Proposal
	ended    ended
	fix      record.FixRecord
	// with is how many fixes went with fix.
	with   int
	change rejection.Change
}

// rejectionOf is the line with which attempt n rejected the fix applied
// just before it, "" when it did not (no fix before it, the fix was
// learned, or no rejection text names what the fix changed).
func (l *loop) rejectionOf(n int, res supervise.Result) string {
	u := l.undo
	if u == nil || u.before != n || res.Facts.Status == 0 {
		return ""
	}
	f, ok := rejection.Rejected(res.Rejections, u.change)
	if !ok {
		return ""
	}
	return f.Line
}

// keepUndo remembers how to take back the fix just applied for attempt
// before: the command and planner as they were (cmd, planner), and what
// the fix changed.
func (l *loop) keepUndo(before int, cmd *rewrite.Command, planner *plan.Planner, pr plan.Proposal, e ended, fix record.FixRecord, with int) {
	was, now := cmd.Launch(), l.cmd.Launch()
	set := map[string]string{}
	for k, v := range now.Env {
		if was.Env[k] != v {
			set[k] = v
		}
	}
	l.undo = &undo{before: before, cmd: cmd, planner: planner, proposal: pr, ended: e, fix: fix, with: with,
		change: rejection.NewChange(was.Argv, now.Argv, set, fix.Summary)}
}

// takeBack answers attempt n, which rejected the fix before it: the
// command and the planner go back to before that fix, the planner counts
// it as turned down with the job's line, and the next fix answers the OOM
// that prompted it. The relaunch counts against max_attempts, not against
// the ladder.
func (l *loop) takeBack(ctx context.Context, n int, e ended) (pending, string, error) {
	u := l.undo
	l.undo = nil
	l.cmd, l.planner = u.cmd, u.planner
	l.planner.Reject(u.proposal, "the job rejected it: "+e.rejection)
	l.bus.Emit(record.FixRejected{N: n, Fix: u.fix, Line: e.rejection, Launch: l.cmd.Launch(), With: u.with})
	if l.claim.plugin == nil {
		return pending{}, noClaimant, nil
	}
	return l.choose(ctx, n+1, u.ended)
}
