package plan

import (
	"math"

	"github.com/vramrun/vramrun/sdk"
)

// Room is the larger micro-batch that an attempt which fit at micro x
// accum, with NVML peak of usable, leaves room for: the line of the
// figures since the last change of anything but the batch, the fit's peak
// among them (one point alone is split by FixedShare), under Margin, up to
// the micro-batch as typed and below the smallest that ran out with the same
// other fixes (below; 0 none), the effective batch kept. ok is false when
// the batch was never cut, nothing is known or nothing larger is predicted.
func (p *Planner) Room(micro, accum int, peak, usable int64, below int) (newMicro, newAccum int, need int64, ok bool) {
	if p.growth.typed <= micro || peak <= 0 || usable <= 0 {
		return 0, 0, 0, false
	}
	pts := []Point{{Size: micro, Demand: peak, Usable: usable}}
	for _, pt := range p.points[sdk.FixBatchSize] {
		if pt.Size > 0 && pt.Demand > 0 && pt.Size != micro {
			pts = append(pts, pt)
		}
	}
	fixed, perSample := lineOf(pts, pts[0])
	target := min(int(math.Floor((float64(usable)*p.aim()-fixed)/perSample)), p.growth.typed)
	if below > 0 {
		target = min(target, below-1)
	}
	newMicro, newAccum, ok = Grow(micro, accum, target, p.cfg.KeepEffectiveBatch)
	if !ok {
		return 0, 0, 0, false
	}
	return newMicro, newAccum, int64(fixed + perSample*float64(newMicro)), true
}
