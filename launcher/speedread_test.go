package launcher

import (
	"context"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/sdk"
)

// paced is toy with a progress bar that ticks per optimizer step.
type paced struct{ toy }

func (p paced) Describe(ctx context.Context, req sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	d, err := p.toy.Describe(ctx, req)
	d.Progress = []sdk.ProgressPattern{{ID: "toy.bar", Regexp: `(?P<per_s>[0-9.]+)it/s`, Unit: sdk.UnitStep}}
	return d, err
}

// printing is a fake supervisor whose jobs print lines, read with the
// attempt's progress patterns, and end as ends says.
type printing struct {
	job
	lines func(n int) string
}

func (p *printing) Run(ctx context.Context, a supervise.Attempt) (supervise.Result, error) {
	res, err := p.job.Run(ctx, a)
	res.Readings = a.Progress.NewReadings()
	m := res.Readings.Meter()
	m.Write([]byte(p.lines(len(p.ran))))
	m.Close()
	return res, err
}

// attempts keeps the attempts as they ended.
type attempts []record.Attempt

func (a *attempts) On(ev record.Event) {
	if e, ok := ev.(record.AttemptEnded); ok {
		*a = append(*a, e.Attempt)
	}
}

func TestAttemptSpeedInSamplesOfTheCommandThatRan(t *testing.T) {
	j := &printing{job: job{ends: oomUnless(32)}, lines: func(n int) string {
		if n == 1 {
			return "out of memory before the first step\n"
		}
		return strings.Repeat("\r 9/10 [00:01<00:01, 1.00it/s]", 3) + strings.Repeat("\r 9/10 [00:01<00:01, 2.50it/s]", 5) + "\n"
	}}
	l, _ := newLoop(t, setup{plugin: paced{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, j, "python toy.py --bs 64 --accum 1")
	var got attempts
	l.bus = append(l.bus, &got)
	if status, err := run(t, l); err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	if len(got) != 2 || got[0].Speed != nil {
		t.Fatalf("attempts %+v: want two, the first of unknown speed", got)
	}
	s, shape := got[1].Speed, got[1].Shape
	if shape == nil || *shape.BatchSize != 32 || *shape.GradAccumulation != 2 || shape.WorldSize != 1 {
		t.Fatalf("shape = %+v, want 32 x 2 on one process", shape)
	}
	// 2.5 steps a second of 32 x 2 samples.
	if s == nil || s.SamplesPerS == nil || *s.SamplesPerS != 160 || s.Pattern != "toy.bar" || s.Readings != 5 {
		t.Fatalf("speed = %+v, want 160 samples/s from toy.bar's 5 steady readings", s)
	}
}

func TestProfileProgressComesFirst(t *testing.T) {
	j := &printing{job: job{ends: func(int, supervise.Attempt) outcome.Facts { return outcome.Facts{Ended: t0} }},
		lines: func(int) string { return "step 3: 40 img/s | 1.00it/s\n" }}
	l, _ := newLoop(t, setup{plugin: paced{}}, j, "python toy.py --bs 8")
	l.cfg.progress = []sdk.ProgressPattern{{ID: "profile.progress_1", Regexp: `(?P<per_s>[0-9.]+) img/s`, Unit: sdk.UnitSample}}
	var got attempts
	l.bus = append(l.bus, &got)
	if _, err := run(t, l); err != nil {
		t.Fatal(err)
	}
	if s := got[0].Speed; s == nil || s.Pattern != "profile.progress_1" || *s.SamplesPerS != 40 {
		t.Fatalf("speed = %+v, want the profile's 40 samples/s", s)
	}
}
