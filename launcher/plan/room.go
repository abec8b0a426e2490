package plan

import (
	"github.com/vramrun/vramrun/sdk"
)

// Room is the larger micro-batch that an attempt which fit leaves room
// for. at is the fit: its micro-batch, NVML peak as the demand, the usable
// memory and its level before the first step; accum its accumulation. The
// line of the figures since the last change of anything but the batch,
// the fit's peak among them (one point alone is split, see split), under
// Margin, up to the micro-batch as typed and below the smallest that ran
// out with the same other fixes (below; 0 none), the effective batch
// kept. ok is false when the batch was never cut, nothing is known,
// nothing larger is predicted, or the speed model predicts less than
// RoomGain for it.
func (p *Planner) Room(at Point, accum, below int) (RoomFit, bool) {
	micro := at.Size
	if p.growth.typed <= micro || at.Demand <= 0 || at.Usable <= 0 {
		return RoomFit{}, false
	}
	pts := []Point{at}
	for _, pt := range p.points[sdk.FixBatchSize] {
		if pt.Size > 0 && pt.Demand > 0 && pt.Size != micro {
			pts = append(pts, pt)
		}
	}
	l := lineOf(pts, at)
	target := min(p.under(l.fixed, l.perSample, float64(at.Usable)), p.growth.typed)
	if below > 0 {
		target = min(target, below-1)
	}
	newMicro, newAccum, ok := Grow(micro, accum, target, p.cfg.KeepEffectiveBatch)
	if !ok {
		return RoomFit{}, false
	}
	fit := RoomFit{Micro: newMicro, Accum: newAccum, Need: int64(l.fixed + l.perSample*float64(newMicro)),
		Gain: p.speedRatio(micro, newMicro, l.perSample) - 1, PreStep: l.preStep}
	return fit, fit.Gain >= p.cfg.RoomGain
}

// RoomFit is a larger micro-batch the room at the end names: its size and
// accumulation, the memory the line predicts for it, and the speed the
// model predicts, as a gain over the size that fit (0.18: 18 % faster).
// PreStep is the level before the first step the line took as its fixed
// part, 0 when it did not.
type RoomFit struct {
	Micro, Accum int
	Need         int64
	Gain         float64
	PreStep      int64
}
