package launcher

import (
	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/supervise"
)

// room is the larger micro-batch the last fitting attempt leaves room for,
// when the run ended well after cutting the batch; nil otherwise. withheld
// says why none is named where the planner names one: the fit's peak is
// not known to be a step's (see notStepPeak).
func (l *loop) room(outcome string) (room *record.Room, withheld string) {
	f := l.fit
	if outcome != record.OutcomeOK || f.peak <= 0 || l.cfg.memory <= 0 || l.cfg.trial != nil {
		return nil, ""
	}
	below := l.oomBelow[l.otherFixes()]
	at := plan.Point{Size: f.micro, Demand: f.peak, Usable: l.cfg.memory, PreStep: f.preStep}
	fit, ok := l.planner.Room(at, f.accum, below)
	if !ok {
		return nil, ""
	}
	if f.notStep != "" {
		return nil, f.notStep
	}
	r := &record.Room{Micro: fit.Micro, Accumulation: fit.Accum, At: f.micro, PeakBytes: f.peak,
		PredictedBytes: fit.Need, UsableBytes: l.cfg.memory, PredictedGain: fit.Gain, PreStepBytes: fit.PreStep}
	if f.samplesPerS > 0 {
		r.AtSamplesPerS, r.PredictedSamplesPerS = f.samplesPerS, f.samplesPerS*(1+fit.Gain)
	}
	return r, ""
}

// noteFit keeps what the room at the end needs of an attempt: its size,
// NVML peak, level before its first step and whether the peak is a step's
// when it fit, its size when it ran out of memory.
func (l *loop) noteFit(v outcome.Verdict, shape *record.Shape, res supervise.Result, pace *record.Speed) {
	if shape == nil || shape.BatchSize == nil {
		return
	}
	micro := *shape.BatchSize
	switch {
	case v.Attempt == record.AttemptOK && res.Peak > 0:
		l.fit = fitted{micro: micro, peak: res.Peak, notStep: notStepPeak(res)}
		if res.Memory.PreStepBytes != nil {
			l.fit.preStep = *res.Memory.PreStepBytes
		}
		if pace != nil && pace.SamplesPerS != nil {
			l.fit.samplesPerS = *pace.SamplesPerS
		}
		if shape.GradAccumulation != nil {
			l.fit.accum = *shape.GradAccumulation
		}
	case v.Attempt == record.AttemptOOM || v.Attempt == record.AttemptHung:
		if l.oomBelow == nil {
			l.oomBelow = map[string]int{}
		}
		key := l.otherFixes()
		if below, ok := l.oomBelow[key]; !ok || micro < below {
			l.oomBelow[key] = micro
		}
	}
}

// notStepPeak says why an attempt's NVML peak is not known to hold a
// training step's memory; "" when it is. The room at the end takes the
// peak for the step's memory, and a peak NVML saw only once the job was
// loaded (its steps came and the job ended between two samples: a short
// job) is less: the room would name a micro-batch that may not fit. A caching allocator keeps a step's memory reserved until
// the process ends, so a sample at the peak after the first step shows
// it. When the job tells its speed as it trains, training had begun by
// the first reading (speed.Readings.Began): the peak counts when a sample
// saw it after that. Otherwise (no progress line, or only the final
// summary, which says nothing of when training began) it counts when NVML
// saw the job's level before its first step: a level held, then a rise
// to twice it or more, the peak at or after the rise.
func notStepPeak(res supervise.Result) string {
	if began, ok := res.Readings.Began(); ok {
		if res.PeakAt.After(began) {
			return ""
		}
		return "NVML last saw the peak before the job's first progress reading: it may be the loaded level, not a step's"
	}
	if res.Memory.PreStepBytes != nil {
		return ""
	}
	return "no progress line told when training began and NVML saw no level before a rise: the peak may be the loaded level, not a step's"
}
