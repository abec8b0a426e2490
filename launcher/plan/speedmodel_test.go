package plan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestEfficiency: a larger micro-batch is never slower, and a model whose
// samples take much memory loses less to a small one than a model whose
// samples take little.
func TestEfficiency(t *testing.T) {
	for _, perSample := range []float64{0, 16 << 20, 256 << 20, 8 << 30} {
		last := 0.0
		for b := 1; b <= 512; b *= 2 {
			e := Efficiency(b, perSample)
			if e <= last || e > 1 {
				t.Fatalf("per sample %v: efficiency at %d = %v after %v", perSample, b, e, last)
			}
			last = e
		}
	}
	small, large := SpeedRatio(64, 8, 16<<20), SpeedRatio(64, 8, 2<<30)
	if !(small < large && large <= 1) {
		t.Fatalf("64 -> 8: small samples keep %v of the speed, large ones %v", small, large)
	}
	if got := SpeedRatio(8, 8, 1<<30, SpeedFactors(nil)[sdk.FixGradCheckpointing]); got != 0.77 {
		t.Fatalf("checkpointing at the same size = %v, want its prior 0.77", got)
	}
}

// TestSpeedFactors: mixed precision is claimed faster only on a GPU known
// to have bf16; every other fix is no faster than without it.
func TestSpeedFactors(t *testing.T) {
	yes, no := true, false
	if f := SpeedFactors(&yes)[sdk.FixMixedPrecision]; f <= 1 {
		t.Fatalf("bf16 GPU: mixed precision %v", f)
	}
	for _, bf16 := range []*bool{nil, &no} {
		for id, f := range SpeedFactors(bf16) {
			if f > 1 || f <= 0 {
				t.Fatalf("%s: factor %v", id, f)
			}
		}
	}
}

// TestRoomNamesOnlyAGain: the room at the end names a larger micro-batch
// only when the speed model predicts at least room_gain for it.
func TestRoomNamesOnlyAGain(t *testing.T) {
	for _, c := range []struct {
		gain float64
		want bool
	}{{0, true}, {0.1, true}, {0.5, false}} {
		p := New(Config{Ladder: []sdk.FixID{sdk.FixBatchSize}, KeepEffectiveBatch: true, RoomGain: c.gain})
		p.Typed(sdk.AnalyzeResponse{Knobs: sdk.Knobs{BatchSize: sdk.Int(256), GradAccumulation: sdk.Int(1)}})
		// 32 fits with 3 of 24 GiB: small samples, so 128 would be much faster.
		fit, ok := p.Room(32, 8, 3<<30, 24<<30, 0)
		if ok != c.want {
			t.Fatalf("room_gain %v: room %+v, %v", c.gain, fit, ok)
		}
		if ok && (fit.Micro <= 32 || fit.Gain < 0.1) {
			t.Fatalf("room %+v", fit)
		}
	}
}

// TestCheckpointingPredictedFasterThanADeepCut: 256 ran out of 1 GiB with
// 2 GiB of small samples. The figures cut to 64 x 4, where a micro-batch
// of 9 MiB samples wastes much of the GPU; checkpointing's saving leaves
// room for 128 x 2, predicted faster despite its cost, so it is taken out
// of the ladder's turn with that micro-batch. With a large per-sample
// memory the cut alone stays faster.
func TestCheckpointingPredictedFasterThanADeepCut(t *testing.T) {
	ladder := []sdk.FixID{sdk.FixBatchSize, sdk.FixGradCheckpointing}
	p := New(Config{Ladder: ladder, KeepEffectiveBatch: true, MinBatchSize: 1})
	p.Typed(knobs(256, 1))
	pr := next(p, trainOOM(), knobs(256, 1), Observation{Demand: 2 * gib, Usable: gib})
	if pr.Step.Fix.ID != sdk.FixGradCheckpointing || pr.Step.Why != WhySpeed || len(pr.With) != 1 {
		t.Fatalf("step %+v with %+v, want checkpointing with a micro-batch", pr.Step, pr.With)
	}
	if w := pr.With[0]; w.Fix.BatchSize != 128 || w.Fix.GradAccumulation != 2 {
		t.Fatalf("with %+v, want 128 x 2", w.Fix)
	}
	if !strings.Contains(pr.Step.Reason, "predicted faster than cutting the micro-batch to 64") {
		t.Fatalf("reason %q", pr.Step.Reason)
	}
	p.CommitWith(pr.With[0])
	// The ladder goes on after the batch cut: the next OOM cuts again.
	again := next(p, trainOOM(), knobs(128, 2), Observation{Demand: 2 * gib, Usable: gib})
	if again.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("after: %+v", again.Step)
	}

	large := New(Config{Ladder: ladder, KeepEffectiveBatch: true, MinBatchSize: 1})
	large.Typed(knobs(256, 1))
	if pr := next(large, trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 20 * gib}); pr.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("large samples: %+v, want the cut", pr.Step)
	}
	off := New(Config{Ladder: ladder, KeepEffectiveBatch: true, MinBatchSize: 1, NoGrowBack: true})
	off.Typed(knobs(256, 1))
	if pr := next(off, trainOOM(), knobs(256, 1), Observation{Demand: 2 * gib, Usable: gib}); pr.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("the ladder as before: %+v, want the cut", pr.Step)
	}
}
