package launcher

import (
	"context"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/speed"
	"github.com/vramrun/vramrun/sdk"
)

// progressSet is what reads an attempt's speed: the profile's progress
// patterns first (the user knows their script), then the claiming
// plugin's. Compiled once per claim; a plugin whose patterns do not
// compile costs a warning and its attempts' speed goes unread.
func (l *loop) progressSet() *speed.Set {
	if l.claim.compiled {
		return l.claim.progress
	}
	decls := append([]sdk.ProgressPattern(nil), l.cfg.progress...)
	if l.claim.plugin != nil {
		decls = append(decls, l.claim.plugin.Desc.Progress...)
	}
	s, err := speed.Compile(decls)
	if err != nil {
		// The profile's were checked when it was read: the plugin's failed.
		l.say.Warn("progress patterns of plugin %s: %v; the attempts' speed goes unread", l.framework(), err)
	}
	l.claim.progress, l.claim.compiled = s, true
	return s
}

// shapeOf is the claiming plugin's analysis of the command that just ran,
// for the attempt's shape and speed and for the decision after it; nil
// when no plugin claims the command or its analysis failed (the decision
// then asks again, and drops a plugin that fails twice).
func (l *loop) shapeOf(ctx context.Context) *sdk.AnalyzeResponse {
	if l.claim.plugin == nil || ctx.Err() != nil {
		return nil
	}
	a, err := l.analyze(ctx, l.claim.plugin)
	if err != nil {
		return nil
	}
	return &a
}

// measured is the attempt's shape and speed from the analysis a (nil:
// unknown shape) and its progress readings.
func measured(a *sdk.AnalyzeResponse, r *speed.Readings) (*record.Shape, *record.Speed) {
	if a == nil {
		return nil, r.Speed(speed.Shape{World: 1})
	}
	return &record.Shape{Knobs: a.Knobs, WorldSize: a.WorldSize}, r.Speed(speed.ShapeOf(a.Knobs, a.WorldSize))
}
