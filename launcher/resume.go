package launcher

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/checkpoint"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// resumeConfig says whether relaunches resume, and from where when the
// profile says so itself.
type resumeConfig struct {
	on bool
	// from is the profile's own checkpoints and flag; nil: the plugin's.
	from *profiles.ResumeFrom
	// settle is how long a checkpoint file must stay the same size.
	settle time.Duration
}

// resumeSettle is how long a marker-less checkpoint file must keep its
// size: the job has ended, but a process it left may still be writing.
const resumeSettle = 200 * time.Millisecond

// resumeStep is how attempt n resumes: the command with the resume flag
// (the loop's own command stays without it, so that fixes, take-backs and
// learned state never carry one), and what it resumes from.
type resumeStep struct {
	cmd *rewrite.Command
	rec record.Resume
}

// changesOptimizer says a fix changes the optimizer's state (its kind or
// where it lives): a checkpoint written before it holds state the new
// optimizer cannot load, so the attempt after it starts fresh, and only
// checkpoints written from then on count.
func changesOptimizer(id sdk.FixID) bool {
	return id == sdk.FixOptimizer8bit || id == sdk.FixCPUOffload
}

// resumeFor is how attempt next resumes after attempt next-1 ended as e
// and the fix p was applied: from the newest complete checkpoint the run
// wrote, when the plugin (or the profile) knows where checkpoints go and
// can point the command at it. Nil starts it from scratch; when a
// checkpoint was there, an event says why.
func (l *loop) resumeFor(ctx context.Context, next int, e ended, p pending) *resumeStep {
	if !l.cfg.resume.on || l.claim.plugin == nil && l.cfg.resume.from == nil {
		return nil
	}
	spec, ok := l.checkpoints(ctx)
	if !ok {
		return nil
	}
	search := checkpoint.Search{Spec: spec, Dir: l.cfg.dir, Since: l.since, Settle: l.cfg.resume.settle, Stale: l.stale}
	c, found := checkpoint.Newest(search)
	if p.fix != nil && changesOptimizer(p.fix.Fix.ID) {
		l.stale = checkpoint.All(search)
		for k, v := range search.Stale {
			l.stale[k] = v
		}
		if found {
			l.bus.Emit(record.ResumeDeclined{Before: next, Checkpoint: c.Path,
				Reason: fmt.Sprintf("%s changes the optimizer, and the checkpoint holds the old one's state: starting fresh", p.fix.Fix.ID)})
		}
		return nil
	}
	if !found {
		return nil
	}
	cmd := l.cmd.Clone()
	resp, refused := l.resumeAnswer(ctx, cmd, c, next)
	if refused != "" {
		l.bus.Emit(record.ResumeDeclined{Before: next, Checkpoint: c.Path, Reason: refused})
		return nil
	}
	if err := cmd.Resume(resp, l.resumeDir(next)); err != nil {
		l.bus.Emit(record.ResumeDeclined{Before: next, Checkpoint: c.Path, Reason: err.Error()})
		return nil
	}
	rec := record.Resume{Checkpoint: c.Path, Written: c.Written, Step: c.Step, Summary: resp.Summary, Notes: resp.Notes}
	if d := e.oomAt.Sub(c.Written); !e.oomAt.IsZero() && d > 0 {
		rec.BeforeOOM = d
	}
	l.bus.Emit(record.Resumed{Before: next, Resume: rec})
	return &resumeStep{cmd: cmd, rec: rec}
}

// noteStale remembers the checkpoints there are before the first attempt:
// they are another run's, and a relaunch never resumes from them (unless
// the job writes one of them again).
func (l *loop) noteStale() {
	if !l.cfg.resume.on {
		return
	}
	var spec *sdk.Checkpoints
	switch {
	case l.cfg.resume.from != nil:
		spec = &sdk.Checkpoints{Globs: l.cfg.resume.from.Checkpoints}
	case l.claim.plugin != nil:
		spec = l.claim.analysis.Checkpoints
	}
	if spec != nil {
		l.stale = checkpoint.All(checkpoint.Search{Spec: *spec, Dir: l.cfg.dir})
	}
}

// checkpoints is where the command's checkpoints go: the profile's when it
// names them, else the claiming plugin's analysis of the command as it
// runs now; false when neither knows.
func (l *loop) checkpoints(ctx context.Context) (sdk.Checkpoints, bool) {
	if f := l.cfg.resume.from; f != nil {
		return sdk.Checkpoints{Globs: f.Checkpoints}, true
	}
	a, ok := l.analyzeOrReclaim(ctx)
	if !ok || a.Checkpoints == nil {
		return sdk.Checkpoints{}, false
	}
	return *a.Checkpoints, true
}

// resumeAnswer is the command pointed at checkpoint c: by the profile's
// flag, appended (for argparse and most parsers the last occurrence of a
// flag wins), or by the plugin's answer to the fix resume. A non-empty
// reason turns resuming down.
func (l *loop) resumeAnswer(ctx context.Context, cmd *rewrite.Command, c checkpoint.Checkpoint, next int) (sdk.ApplyResponse, string) {
	if f := l.cfg.resume.from; f != nil {
		added := strings.Fields(strings.ReplaceAll(f.Flag, "{checkpoint}", "\x00"))
		for i, w := range added {
			added[i] = strings.ReplaceAll(w, "\x00", c.Path)
		}
		return sdk.ApplyResponse{Argv: append(cmd.Argv(), added...), Summary: strings.Join(added, " ")}, ""
	}
	resp, err := l.claim.plugin.Framework.Apply(ctx, sdk.ApplyRequest{Command: cmd.SDK(),
		Fix: sdk.Fix{ID: sdk.FixResume, Checkpoint: c.Path}, CopyDir: l.resumeDir(next)})
	var unsupported *sdk.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return resp, unsupported.Reason
	case err != nil:
		// A plugin that fails resume keeps the command: the job starts
		// fresh, as it would without resuming.
		return resp, "the plugin failed: " + err.Error()
	}
	if resp, err = host.PlaceEnv(cmd.SDK(), resp, l.resumeDir(next)); err != nil {
		return resp, err.Error()
	}
	return resp, ""
}

// resumeDir is where the copies of a resumed attempt go: a folder of its
// own, so that the fix's copies (which the next fix rewrites) never carry
// the resume.
func (l *loop) resumeDir(next int) string { return filepath.Join(l.copyDir(next), "resume") }
