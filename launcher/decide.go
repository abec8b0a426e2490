package launcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/sdk"
)

// maxProposals bounds one decision, in case a plugin turns down fixes the
// planner keeps proposing.
const maxProposals = 32

// claimCommand asks the plugins whose the command is.
func (l *loop) claimCommand(ctx context.Context) error {
	c, ok := l.plugins.Claim(ctx, l.cmd.SDK())
	// Plugins dropped at load or while claiming, each said once.
	for _, n := range l.plugins.Notes {
		l.say.Warn("%s", n)
	}
	l.plugins.Notes = nil
	if !ok {
		l.bus.Emit(record.Claimed{})
		return nil
	}
	a, err := l.analyze(ctx, c.Plugin)
	if err != nil {
		return err
	}
	l.take(claim{plugin: c.Plugin, framework: c.Recognition.Framework, analysis: a})
	l.bus.Emit(record.Claimed{Plugin: c.Plugin.Name(), Framework: c.Recognition.Framework, Reason: c.Recognition.Reason,
		Launcher: a.Launcher, Script: a.Script, Knobs: a.Knobs, Answers: c.Others, Notes: a.Notes})
	return nil
}

// claimByOOM is recognition's last resort: no plugin knew the command, but
// the OOM text names a runtime; the plugin that declared that runtime takes
// the command from here on.
func (l *loop) claimByOOM(ctx context.Context, d oom.Diagnosis) bool {
	for _, p := range l.plugins.Plugins() {
		for _, fw := range p.Desc.Frameworks {
			if fw != d.Framework {
				continue
			}
			a, err := l.analyze(ctx, p)
			if err != nil {
				l.say.Verbose("plugin %s cannot analyse the command: %v", p.Name(), err)
				return false
			}
			l.take(claim{plugin: p, framework: fw, analysis: a})
			l.bus.Emit(record.Claimed{Plugin: p.Name(), Framework: fw, Reason: "its out-of-memory text",
				Launcher: a.Launcher, Script: a.Script, Knobs: a.Knobs, ByOOM: true, Notes: a.Notes})
			return true
		}
	}
	return false
}

func (l *loop) take(c claim) {
	l.claim = c
	l.learner.Identify(c.analysis, l.cfg.argv, l.cfg.dir, l.cfg.gpu)
}

// analyze has plugin p analyse the command as it runs now.
func (l *loop) analyze(ctx context.Context, p *host.Plugin) (sdk.AnalyzeResponse, error) {
	a, err := p.Framework.Analyze(ctx, sdk.AnalyzeRequest{Command: l.cmd.SDK()})
	if err != nil {
		return a, pluginFailed(p, err)
	}
	return a, nil
}

// startFromLearned applies what fit last time on this GPU model.
func (l *loop) startFromLearned(ctx context.Context) error {
	if l.claim.plugin == nil {
		return nil
	}
	found, ok := l.learner.Lookup()
	if !ok {
		return nil
	}
	var fixes []sdk.Fix
	for _, f := range found.Fixes {
		_, refused, err := l.apply(ctx, 1, plan.Step{Fix: f, Why: plan.WhyLearned, Reason: "what fit last time"}, true)
		if err != nil {
			return err
		}
		if refused != "" {
			l.say.Warn("could not re-apply %s from learned state: %s", f.ID, refused)
			continue
		}
		fixes = append(fixes, f)
	}
	l.planner.Resume(fixes)
	l.bus.Emit(record.LearnedStart{GPU: l.cfg.gpu.Model, Summary: found.Summary})
	return nil
}

// decide answers attempt next-1's OOM: the planner proposes, the plugin
// applies or turns down, the planner commits or rejects, until a fix is
// applied (the pending fix of attempt next) or the planner gives up (the
// reason).
func (l *loop) decide(ctx context.Context, next int, e ended) (pending, string, error) {
	a, err := l.analyze(ctx, l.claim.plugin)
	if err != nil {
		return pending{}, "", err
	}
	l.planner.Observe(e.diagnosis, a, plan.ObservationFrom(e.diagnosis, e.peak, l.cfg.memory))
	var out pending
	skip := func(s record.SkipRecord) {
		out.skips = append(out.skips, s)
		l.bus.Emit(record.FixSkipped{Before: next, Skip: s})
	}
	for range maxProposals {
		pr := l.planner.Propose()
		for _, s := range pr.Skipped {
			skip(record.SkipRecord{Fix: s.Fix, Reason: s.Reason})
		}
		if pr.Step == nil {
			return out, pr.GiveUp, nil
		}
		fix, refused, err := l.apply(ctx, next, *pr.Step, false)
		if err != nil {
			return pending{}, "", err
		}
		if refused != "" {
			l.planner.Reject(pr, refused)
			skip(record.SkipRecord{Fix: pr.Step.Fix.ID, Reason: refused})
			continue
		}
		l.planner.Commit(pr)
		out.fix = fix
		return out, "", nil
	}
	return out, "the plugin turned down every fix", nil
}

// apply has the claiming plugin rewrite the command for step, before
// attempt before, and takes its answer: the fix as applied, or the plugin's
// reason when it turned the fix down.
func (l *loop) apply(ctx context.Context, before int, step plan.Step, learned bool) (*record.FixRecord, string, error) {
	p := l.claim.plugin
	copyDir := l.copyDir(before)
	resp, err := p.Framework.Apply(ctx, sdk.ApplyRequest{Command: l.cmd.SDK(), Fix: step.Fix, CopyDir: copyDir})
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		return nil, unsupported.Reason, nil
	}
	if err != nil {
		return nil, "", pluginFailed(p, err)
	}
	if err := l.cmd.Take(step.Fix.ID, resp, copyDir); err != nil {
		return nil, "", &ExitError{StatusFailure, err}
	}
	fix := record.FixRecord{Fix: step.Fix, Reason: step.Reason, Summary: resp.Summary, Learned: learned}
	l.bus.Emit(record.FixCommitted{Before: before, Fix: fix, ShowReason: step.Why != plan.WhyLadder && step.Why != plan.WhyLearned,
		Launch: l.cmd.Launch()})
	return &fix, "", nil
}

func pluginFailed(p *host.Plugin, err error) error {
	return &ExitError{StatusFailure, fmt.Errorf("plugin %s: %w", p.Name(), err)}
}
