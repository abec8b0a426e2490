package plan

import (
	"github.com/vramrun/vramrun/sdk"
)

// Room is the larger micro-batch that an attempt which fit at micro x
// accum, with NVML peak of usable, leaves room for: the line of the
// figures since the last change of anything but the batch, the fit's peak
// among them (one point alone is split by FixedShare), under Margin, up to
// the micro-batch as typed and below the smallest that ran out with the same
// other fixes (below; 0 none), the effective batch kept. ok is false when
// the batch was never cut, nothing is known, nothing larger is predicted,
// or the speed model predicts less than RoomGain for it.
func (p *Planner) Room(micro, accum int, peak, usable int64, below int) (RoomFit, bool) {
	if p.growth.typed <= micro || peak <= 0 || usable <= 0 {
		return RoomFit{}, false
	}
	pts := []Point{{Size: micro, Demand: peak, Usable: usable}}
	for _, pt := range p.points[sdk.FixBatchSize] {
		if pt.Size > 0 && pt.Demand > 0 && pt.Size != micro {
			pts = append(pts, pt)
		}
	}
	fixed, perSample := lineOf(pts, pts[0])
	target := min(p.under(fixed, perSample, float64(usable)), p.growth.typed)
	if below > 0 {
		target = min(target, below-1)
	}
	newMicro, newAccum, ok := Grow(micro, accum, target, p.cfg.KeepEffectiveBatch)
	if !ok {
		return RoomFit{}, false
	}
	fit := RoomFit{Micro: newMicro, Accum: newAccum, Need: int64(fixed + perSample*float64(newMicro)),
		Gain: p.speedRatio(micro, newMicro, perSample) - 1}
	return fit, fit.Gain >= p.cfg.RoomGain
}

// RoomFit is a larger micro-batch the room at the end names: its size and
// accumulation, the memory the line predicts for it, and the speed the
// model predicts, as a gain over the size that fit (0.18: 18 % faster).
type RoomFit struct {
	Micro, Accum int
	Need         int64
	Gain         float64
}
