package learn

import (
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

func TestSummary(t *testing.T) {
	got := Summary([]sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixMixedPrecision, Precision: "bf16"},
		{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}, {ID: sdk.FixBatchSize, BatchSize: 24, GradAccumulation: 4}})
	if want := "batch 24 x accumulation 4, allocator, bf16"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}

type quiet struct{}

func (quiet) Warn(string, ...any)    {}
func (quiet) Verbose(string, ...any) {}

// TestFactsOfEveryAttemptAreRecorded: the OOM before the fix and the fit
// after it are both kept, each with the fixes it ran with, its shape, peak
// and speed; the fit's speed, read at its end, is recorded although the
// fixes were recorded when it ran past learn_after.
func TestFactsOfEveryAttemptAreRecorded(t *testing.T) {
	store, _, err := profiles.OpenStore(t.TempDir(), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) }
	l := New(store, true, quiet{}, now)
	a := sdk.AnalyzeResponse{Script: "train.py", WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(64)}}
	gpu := profiles.GPUKey{Model: "NVIDIA A10G"}
	l.Identify(a, sdk.Command{Argv: []string{"python", "train.py"}}, gpu)
	peak, speed := int64(20<<30), 412.0
	cut := sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}
	for _, ev := range []record.Event{
		record.RunStarted{ID: "run-1"},
		record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptOOM,
			Measured: record.Measured{Shape: &record.Shape{Knobs: sdk.Knobs{BatchSize: sdk.Int(64)}}}}},
		record.FixCommitted{Fix: record.FixRecord{Fix: cut}},
		record.AttemptFits{N: 2},
		record.AttemptEnded{Attempt: record.Attempt{N: 2, Outcome: record.AttemptOK, Memory: record.Memory{PeakBytes: &peak},
			Measured: record.Measured{Speed: &record.Speed{SamplesPerS: &speed},
				Shape: &record.Shape{Knobs: sdk.Knobs{BatchSize: sdk.Int(32), GradAccumulation: sdk.Int(2)}}}}},
	} {
		l.On(ev)
	}
	found, ok := l.Lookup()
	if !ok || len(found.Facts) != 2 {
		t.Fatalf("found %+v, %v", found, ok)
	}
	oom, fit := found.Facts[0], found.Facts[1]
	if oom.Outcome != "oom" || oom.Micro != 64 || len(oom.Fixes) != 0 || oom.RunID != "run-1" {
		t.Fatalf("the OOM's fact %+v", oom)
	}
	if fit.Outcome != "ok" || fit.Micro != 32 || fit.Accum != 2 || fit.PeakBytes != peak || fit.SamplesPerS != speed ||
		len(fit.Fixes) != 1 || fit.Fixes[0] != cut {
		t.Fatalf("the fit's fact %+v", fit)
	}
}
