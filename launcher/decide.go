package launcher

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/launcher/learn"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// maxProposals bounds one decision, in case a plugin turns down fixes the
// planner keeps proposing.
const maxProposals = 32

// claimCommand asks the plugins whose the command is. A claimant that then
// fails to analyse it is dropped, and the next one takes it.
func (l *loop) claimCommand(ctx context.Context, identify bool) {
	for {
		c, ok := l.plugins.Claim(ctx, l.cmd.SDK())
		l.sayNotes()
		if !ok {
			l.bus.Emit(record.Claimed{})
			return
		}
		a, err := l.analyze(ctx, c.Plugin)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			l.drop(c.Plugin, err)
			continue
		}
		if l.pipedConfigs(ctx, a) {
			// The plugin reads the copies now: what it knows of the
			// command changes.
			if a, err = l.analyze(ctx, c.Plugin); err != nil {
				if ctx.Err() != nil {
					return
				}
				l.drop(c.Plugin, err)
				continue
			}
		}
		l.take(claim{plugin: c.Plugin, framework: c.Recognition.Framework, analysis: a}, identify)
		l.bus.Emit(record.Claimed{Plugin: c.Plugin.Name(), Framework: c.Recognition.Framework, Reason: c.Recognition.Reason,
			Launcher: a.Launcher, Script: a.Script, Knobs: a.Knobs, WorldSize: a.WorldSize, Answers: c.Others, Notes: a.Notes})
		return
	}
}

// sayNotes says, once each, which plugins were dropped and why.
func (l *loop) sayNotes() {
	for _, n := range l.plugins.Notes {
		l.say.Warn("%s", n)
	}
	l.plugins.Notes = nil
}

// drop ends a plugin that failed a call or answered garbage, with one line;
// the run goes on without it. A call cut short by an interrupt is no
// failure of the plugin: nothing is dropped then.
func (l *loop) drop(p *host.Plugin, err error) {
	if l.pendingInterrupt() != 0 {
		return
	}
	l.plugins.Drop(p, err)
	l.sayNotes()
	if l.claim.plugin == p {
		l.claim = claim{}
	}
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
				l.drop(p, err)
				return false
			}
			l.take(claim{plugin: p, framework: fw, analysis: a}, true)
			l.bus.Emit(record.Claimed{Plugin: p.Name(), Framework: fw, Reason: "its out-of-memory text",
				Launcher: a.Launcher, Script: a.Script, Knobs: a.Knobs, WorldSize: a.WorldSize, ByOOM: true, Notes: a.Notes})
			return true
		}
	}
	return false
}

// take makes c the claim; identify says the command is still as typed, so
// that learned state knows it by this analysis.
func (l *loop) take(c claim, identify bool) {
	l.claim = c
	if identify {
		a, cmd := l.typed(c.analysis)
		l.learner.Identify(a, cmd, l.cfg.gpu)
		l.planner.Typed(a)
	}
}

// analyze has plugin p analyse the command as it runs now.
func (l *loop) analyze(ctx context.Context, p *host.Plugin) (sdk.AnalyzeResponse, error) {
	a, err := p.Framework.Analyze(ctx, sdk.AnalyzeRequest{Command: l.cmd.SDK()})
	return a, callError("Analyze", err)
}

// callError names the call a plugin's error came from, once.
func callError(call string, err error) error {
	if err == nil || strings.HasPrefix(err.Error(), call) {
		return err
	}
	return fmt.Errorf("%s: %w", call, err)
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
	found = fastestLearned(found)
	l.planner.LearnSpeed(found.Facts)
	var fixes []sdk.Fix
	for _, f := range found.Fixes {
		_, refused, err := l.apply(ctx, 1, plan.Step{Fix: f, Why: plan.WhyLearned, Reason: "what fit last time"}, true)
		if err != nil {
			return err
		}
		if l.claim.plugin == nil {
			// The plugin failed and was dropped: go on with what it
			// applied so far, and whichever plugin takes the command now.
			l.planner.Resume(fixes)
			l.claimCommand(ctx, false)
			return nil
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

// fastestLearned is what the next run starts from: what fit last, unless
// the facts of earlier runs or tune's trials measured another
// configuration faster (both speeds known), and its newest fact still fit.
func fastestLearned(found profiles.Learned) profiles.Learned {
	best, ok := found.Fastest()
	last := found.SpeedOf(found.Fixes)
	if !ok || last <= 0 || best.SamplesPerS <= last {
		return found
	}
	found.Fixes = best.Fixes
	found.Summary = fmt.Sprintf("%s (the fastest measured, %.0f samples/s; what fit last, %s, ran at %.0f)",
		learn.Summary(best.Fixes), best.SamplesPerS, found.Summary, last)
	return found
}

// noClaimant is the give-up reason when the claiming plugin was dropped and
// no other takes the command.
const noClaimant = "the plugin that claimed the command failed, and no other plugin takes it"

// decide answers attempt next-1's OOM: the planner proposes, the plugin
// applies or turns down, the planner commits or rejects, until a fix is
// applied (the pending fix of attempt next) or the planner gives up (the
// reason).
func (l *loop) decide(ctx context.Context, next int, e ended) (pending, string, error) {
	a, ok := sdk.AnalyzeResponse{}, e.analysis != nil
	if ok {
		a = *e.analysis
	} else {
		a, ok = l.analyzeOrReclaim(ctx)
	}
	if !ok {
		return pending{}, noClaimant, nil
	}
	obs := plan.ObservationFrom(e.diagnosis, e.peak, l.cfg.memory)
	obs.Late, obs.PreStep = e.late, e.preStep
	l.planner.Observe(e.diagnosis, a, obs)
	return l.choose(ctx, next, e)
}

// choose has the planner propose fixes for the OOM of e until the claiming
// plugin applies one (the pending fix of attempt next) or the planner gives
// up (the reason).
func (l *loop) choose(ctx context.Context, next int, e ended) (pending, string, error) {
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
		cmd, planner := l.cmd.Clone(), l.planner.Clone()
		fix, refused, err := l.apply(ctx, next, *pr.Step, false)
		switch {
		case err != nil:
			return pending{}, "", err
		case l.claim.plugin == nil:
			// The plugin failed the fix and was dropped: the next
			// claimant answers the same proposal.
			l.claimCommand(ctx, false)
			a, ok := l.analyzeOrReclaim(ctx)
			if !ok {
				return out, noClaimant, nil
			}
			l.planner.Reanalyzed(a)
			continue
		case refused != "":
			l.planner.Reject(pr, refused)
			skip(record.SkipRecord{Fix: pr.Step.Fix.ID, Reason: refused})
			continue
		}
		l.planner.Commit(pr)
		for _, with := range pr.With {
			also, err := l.applyWith(ctx, next, *with, skip)
			if err != nil {
				return pending{}, "", err
			}
			if also != nil {
				l.planner.CommitWith(with)
				out.also = append(out.also, *also)
			}
		}
		l.keepUndo(next, cmd, planner, pr, e, *fix, len(out.also))
		out.fix = fix
		return out, "", nil
	}
	return out, "the plugin turned down every fix", nil
}

// analyzeOrReclaim is the claiming plugin's analysis of the command as it
// runs now. A claimant that fails is dropped and the next one takes the
// command; false when none is left.
func (l *loop) analyzeOrReclaim(ctx context.Context) (sdk.AnalyzeResponse, bool) {
	for l.claim.plugin != nil && ctx.Err() == nil {
		a, err := l.analyze(ctx, l.claim.plugin)
		if err == nil {
			return a, true
		}
		l.drop(l.claim.plugin, err)
		l.claimCommand(ctx, false)
	}
	return sdk.AnalyzeResponse{}, false
}

// apply has the claiming plugin rewrite the command for step, before
// attempt before, and takes its answer: the fix as applied, or the plugin's
// reason when it turned the fix down. A plugin whose Apply fails is dropped
// (the claim is then empty) and nothing is applied.
func (l *loop) apply(ctx context.Context, before int, step plan.Step, learned bool) (*record.FixRecord, string, error) {
	p := l.claim.plugin
	copyDir := l.copyDir(before)
	resp, err := p.Framework.Apply(ctx, sdk.ApplyRequest{Command: l.cmd.SDK(), Fix: step.Fix, CopyDir: copyDir})
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		return nil, unsupported.Reason, nil
	}
	if err != nil {
		l.drop(p, callError("Apply "+string(step.Fix.ID), err))
		return nil, "", nil
	}
	// The environment goes where the job reads it: not always the
	// environment of the command vramrun runs.
	if resp, err = host.PlaceEnv(l.cmd.SDK(), resp, copyDir); err != nil {
		return nil, err.Error(), nil
	}
	if err := l.cmd.Take(step.Fix.ID, resp, copyDir); err != nil {
		return nil, "", &ExitError{StatusFailure, err}
	}
	fix := record.FixRecord{Fix: step.Fix, Reason: step.Reason, Summary: resp.Summary, Learned: learned}
	l.bus.Emit(record.FixCommitted{Before: before, Fix: fix, ShowReason: step.Why != plan.WhyLadder && step.Why != plan.WhyLearned,
		With: step.Along, Launch: l.cmd.Launch()})
	return &fix, "", nil
}

// applyWith applies step, which goes with the fix just applied before
// attempt before: nil when the plugin turned it down (a skip says why; the
// attempt runs with the fix alone) or failed.
func (l *loop) applyWith(ctx context.Context, before int, step plan.Step, skip func(record.SkipRecord)) (*record.FixRecord, error) {
	step.Along = true
	fix, refused, err := l.apply(ctx, before, step, false)
	if refused != "" {
		skip(record.SkipRecord{Fix: step.Fix.ID, Reason: refused})
	}
	return fix, err
}
