package launcher

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/sdk"
)

// peaked is a fake supervisor whose fitting attempts report an NVML peak.
// With bar, the job prints a progress bar (paced's), and NVML last saw the
// peak a second after its first reading when seenAfter, a second before
// it (at load: the job ended between two samples) when not.
type peaked struct {
	job
	peak, preStep  int64
	bar, seenAfter bool
}

func (p *peaked) Run(ctx context.Context, a supervise.Attempt) (supervise.Result, error) {
	res, err := p.job.Run(ctx, a)
	if res.Facts.Status != 0 {
		return res, err
	}
	res.Peak = p.peak
	if p.preStep > 0 {
		res.Memory.PreStepBytes = &p.preStep
	}
	if p.bar {
		res.Readings = a.Progress.NewReadings()
		m := res.Readings.Meter()
		m.Write([]byte("\r 9/10 [00:01<00:01, 2.50it/s]\n"))
		m.Close()
		began, ok := res.Readings.Began()
		if !ok {
			panic("paced's bar gave no reading")
		}
		res.PeakAt = began.Add(-time.Second)
		if p.seenAfter {
			res.PeakAt = began.Add(time.Second)
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
// and the room keeps it. The peak counts as the step's only when NVML saw
// it after the job's first progress reading, or, for a job that tells no
// progress, when NVML saw its level before the first step: a peak seen
// only at load names no room, and the end says why.
func TestRoomAfterTheCut(t *testing.T) {
	room := record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, UsableBytes: 24 << 30}
	leveled := room
	leveled.PreStepBytes = 4 << 30
	for _, c := range []struct {
		name           string
		peak, preStep  int64
		bar, seenAfter bool
		want           *record.Room
		withheld       bool
	}{
		{"room", 8 << 30, 0, true, true, &room, false},
		{"level below the prior", 8 << 30, 1 << 30, true, true, &room, false},
		{"level seen", 8 << 30, 4 << 30, true, true, &leveled, false},
		{"no room", 21 << 30, 0, true, true, nil, false},
		{"peak seen only at load", 8 << 30, 0, true, false, nil, true},
		{"peak seen only at load, a level before it", 8 << 30, 4 << 30, true, false, nil, true},
		{"peak seen only at load, no room anyway", 21 << 30, 0, true, false, nil, false},
		{"no progress, level seen", 8 << 30, 4 << 30, false, false, &leveled, false},
		{"no progress, no level", 8 << 30, 0, false, false, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sup := &peaked{job: job{ends: oomUnless(60)}, peak: c.peak, preStep: c.preStep, bar: c.bar, seenAfter: c.seenAfter}
			l, _ := newLoop(t, setup{plugin: paced{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, sup, "python toy.py --bs 240 --accum 1")
			l.cfg.memory = 24 << 30
			end := &endOf{}
			dir := t.TempDir()
			l.bus = append(l.bus, end, record.NewKeeper(dir, t.Errorf))
			if status, err := run(t, l); status != 0 || err != nil {
				t.Fatalf("run = %d, %v", status, err)
			}
			// The run record keeps the end's room, or why it names none.
			if kept, err := record.Read(dir); err != nil || !reflect.DeepEqual(kept.Room, end.end.Room) || kept.RoomWithheld != end.end.RoomWithheld {
				t.Fatalf("run record: %+v, %v; want the end's room %+v, withheld %q", kept, err, end.end.Room, end.end.RoomWithheld)
			}
			got := end.end.Room
			if got != nil {
				if got.PredictedGain <= 0 {
					t.Errorf("predicted gain %v: a larger micro-batch is predicted faster", got.PredictedGain)
				}
				if c.bar && (got.AtSamplesPerS != 600 || got.PredictedSamplesPerS <= got.AtSamplesPerS) {
					t.Errorf("speeds %v -> %v, want 600 (2.5 steps a second of 60 x 4) and more", got.AtSamplesPerS, got.PredictedSamplesPerS)
				}
				got.PredictedBytes, got.PredictedGain, got.AtSamplesPerS, got.PredictedSamplesPerS = 0, 0, 0, 0
			}
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Fatalf("room = %+v, want %+v", got, c.want)
			}
			if withheld := end.end.RoomWithheld; (withheld != "") != c.withheld {
				t.Fatalf("room withheld %q, want withheld %v", withheld, c.withheld)
			}
		})
	}
}
