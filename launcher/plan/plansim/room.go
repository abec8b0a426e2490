package plansim

import (
	"github.com/vramrun/vramrun/launcher/plan"
)

// RoomGain is room_gain's default (10 %): the gain the speed model must
// predict for a run to name a room, and the true gain a room is judged by.
const RoomGain = 0.1

// RoomCheck is the larger micro-batch a run's memory line leaves room for
// at its end, judged by the ground truth: whether it fits with the same
// fixes, and the speed gain predicted against the true one (0 when it
// does not fit).
type RoomCheck struct {
	Micro               int
	Fits                bool
	Predicted, TrueGain float64
}

// roomAtEnd is the room at the end of a run that fit in state s: the
// planner's Room from the fit's NVML peak (the ground truth's demand),
// below the smallest micro-batch that ran out with the same fixes; nil
// when the line leaves room for none. The planner names every room (its
// RoomGain is negative): SummarizeRooms applies room_gain.
func roomAtEnd(p *plan.Planner, j ConfigJob, s State, below int) *RoomCheck {
	jb := j.job(s)
	at := plan.Point{Size: s.Micro, Demand: int64(jb.Demand(s.Micro)), Usable: jb.Capacity, PreStep: j.preStep(s)}
	fit, ok := p.Room(at, j.Effective/s.Micro, below)
	if !ok {
		return nil
	}
	larger := s
	larger.Micro = fit.Micro
	c := &RoomCheck{Micro: fit.Micro, Fits: j.Fits(larger), Predicted: fit.Gain}
	if c.Fits {
		c.TrueGain = j.Speed(larger)/j.Speed(s) - 1
	}
	return c
}

// RoomSummary is how the rooms at the end of run mode bear out over a
// grid: Rooms runs whose memory line leaves room for a larger micro-batch,
// Fit of those where it truly fits, Named those the speed model predicts
// at least RoomGain for (what vramrun says), Right those named that fit
// and truly gain RoomGain, Missed those not named that would have; the
// median predicted and true gains of the rooms that fit.
type RoomSummary struct {
	Name                            string
	Runs, Rooms, Fit, Named, Right  int
	Missed                          int
	MedianPredicted, MedianTrueGain float64
}

// SummarizeRooms judges run mode's rooms at each loading.
func SummarizeRooms(jobs []ConfigJob) []RoomSummary {
	var out []RoomSummary
	for _, l := range Loadings() {
		s := RoomSummary{Name: l.Name}
		var pred, truth []float64
		for _, j := range ConfigsWithLoaded(jobs, l.Loaded, l.Eager) {
			o := RunMode(j, Variants()[0])
			if o.Share == 0 {
				continue
			}
			s.Runs++
			r := o.Room
			if r == nil {
				continue
			}
			s.Rooms++
			named, gains := r.Predicted >= RoomGain, r.Fits && r.TrueGain >= RoomGain
			switch {
			case named && gains:
				s.Named++
				s.Right++
			case named:
				s.Named++
			case gains:
				s.Missed++
			}
			if r.Fits {
				s.Fit++
				pred, truth = append(pred, r.Predicted), append(truth, r.TrueGain)
			}
		}
		s.MedianPredicted, s.MedianTrueGain = median(pred), median(truth)
		out = append(out, s)
	}
	return out
}
