package launcher

import (
	"context"
	"testing"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/sdk"
)

// peaked is a fake supervisor whose fitting attempts report an NVML peak.
type peaked struct {
	job
	peak, preStep int64
}

func (p *peaked) Run(ctx context.Context, a supervise.Attempt) (supervise.Result, error) {
	res, err := p.job.Run(ctx, a)
	if res.Facts.Status == 0 {
		res.Peak = p.peak
		if p.preStep > 0 {
			res.Memory.PreStepBytes = &p.preStep
		}
	}
	return res, err
}

// endOf keeps the end of a run.
type endOf struct{ end *record.End }

func (e *endOf) On(ev record.Event) {
	if r, ok := ev.(record.RunEnded); ok {
		e.end = &r.End
	}
}

// TestRoomAfterTheCut: 240 and 120 ran out (no figures), 60 fits with a
// peak of 8 of 24 GiB: the end says 80 x 3 would fit, under the 120 that
// ran out; with a peak near the top, nothing. A level before the first
// step above the prior's quarter of the peak is the line's fixed part,
// and the room keeps it.
func TestRoomAfterTheCut(t *testing.T) {
	for _, c := range []struct {
		name          string
		peak, preStep int64
		want          *record.Room
	}{
		{"room", 8 << 30, 0, &record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, UsableBytes: 24 << 30}},
		{"level below the prior", 8 << 30, 1 << 30, &record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, UsableBytes: 24 << 30}},
		{"level seen", 8 << 30, 4 << 30, &record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, UsableBytes: 24 << 30,
			PreStepBytes: 4 << 30}},
		{"no room", 21 << 30, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			sup := &peaked{job: job{ends: oomUnless(60)}, peak: c.peak, preStep: c.preStep}
			l, _ := newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, sup, "python toy.py --bs 240 --accum 1")
			l.cfg.memory = 24 << 30
			end := &endOf{}
			l.bus = append(l.bus, end)
			if status, err := run(t, l); status != 0 || err != nil {
				t.Fatalf("run = %d, %v", status, err)
			}
			got := end.end.Room
			if got != nil {
				if got.PredictedGain <= 0 {
					t.Errorf("predicted gain %v: a larger micro-batch is predicted faster", got.PredictedGain)
				}
				got.PredictedBytes, got.PredictedGain = 0, 0
			}
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Fatalf("room = %+v, want %+v", got, c.want)
			}
		})
	}
}
