package plan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/profiles"
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
	p := New(Config{})
	small, large := p.speedRatio(64, 8, 16<<20), p.speedRatio(64, 8, 2<<30)
	if !(small < large && large <= 1) {
		t.Fatalf("64 -> 8: small samples keep %v of the speed, large ones %v", small, large)
	}
	if got := p.speedRatio(8, 8, 1<<30) * p.factor(sdk.FixGradCheckpointing); got != 0.77 {
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
		fit, ok := p.Room(Point{Size: 32, Demand: 3 << 30, Usable: 24 << 30}, 8, 0)
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

func speedFact(micro int, ckpt bool, speed float64) profiles.Fact {
	fixes := []sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixBatchSize, BatchSize: micro, GradAccumulation: 256 / micro}}
	if ckpt {
		fixes = append(fixes, sdk.Fix{ID: sdk.FixGradCheckpointing})
	}
	return profiles.Fact{Fixes: fixes, Outcome: "ok", Micro: micro, SamplesPerS: speed}
}

// TestMeasureSpeed: three micro-batches measured at 100 x b / (b + 20)
// give the overhead 20; checkpointing measured at 0.7 of the speed without
// it at the same size gives its factor; OOMs and unknown speeds say nothing.
func TestMeasureSpeed(t *testing.T) {
	at := func(b float64) float64 { return 100 * b / (b + 20) }
	facts := []profiles.Fact{speedFact(16, false, at(16)), speedFact(32, false, at(32)), speedFact(64, false, at(64)),
		speedFact(32, true, 0.7*at(32)), speedFact(128, false, 0), {Outcome: "oom", Micro: 256, SamplesPerS: 1}}
	m := MeasureSpeed(facts)
	if m.Overhead < 19.9 || m.Overhead > 20.1 || m.Checkpointing < 0.699 || m.Checkpointing > 0.701 {
		t.Fatalf("measured %+v, want overhead 20 and checkpointing 0.7", m)
	}
	if got := MeasureSpeed(facts[:1]); got != (Measured{}) {
		t.Fatalf("one size: %+v, want nothing measured", got)
	}

	// The planner's predictions follow what was measured: a room from 32
	// to 64 is worth (64/84)/(32/52) with overhead 20.
	p := New(Config{Ladder: []sdk.FixID{sdk.FixBatchSize}, KeepEffectiveBatch: true})
	p.LearnSpeed(facts)
	if got, want := p.speedRatio(32, 64, 1<<30), (64.0/84)/(32.0/52); got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("ratio %v, want %v", got, want)
	}
	if p.factor(sdk.FixGradCheckpointing) != m.Checkpointing || p.speedSource() != "speed model, with what earlier runs measured" {
		t.Fatalf("factor %v, source %q", p.factor(sdk.FixGradCheckpointing), p.speedSource())
	}
}

// TestOptimizer8bitPredictedFasterThanACut: 256 ran out of 24 GiB at 26.5
// GiB, with 21 GiB held before the first step: most of the memory is
// fixed. The figures cut to 128 x 2; checkpointing's saving of the small
// per-sample part leaves room for less than that; the 8-bit optimizer's
// saving of the fixed part keeps 256 at 2 %, predicted faster than the
// cut, so it is taken out of the ladder's turn, the micro-batch as it is.
func TestOptimizer8bitPredictedFasterThanACut(t *testing.T) {
	ladder := []sdk.FixID{sdk.FixBatchSize, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit}
	obs := Observation{Demand: 26*gib + gib/2, Usable: 24 * gib, PreStep: 21 * gib}
	p := New(Config{Ladder: ladder, KeepEffectiveBatch: true, MinBatchSize: 1})
	p.Typed(knobs(256, 1))
	pr := next(p, trainOOM(), knobs(256, 1), obs)
	if pr.Step.Fix.ID != sdk.FixOptimizer8bit || pr.Step.Why != WhySpeed || len(pr.With) != 0 {
		t.Fatalf("step %+v with %+v, want the 8-bit optimizer alone", pr.Step, pr.With)
	}
	if !strings.Contains(pr.Step.Reason, "predicted faster than cutting the micro-batch to 128: optimizer_8bit costs about 2 % of the speed") ||
		!strings.Contains(pr.Step.Reason, "usable with optimizer_8bit at 256") {
		t.Fatalf("reason %q", pr.Step.Reason)
	}
	// Without the 8-bit optimizer in the ladder the cut stays.
	ck := New(Config{Ladder: ladder[:2], KeepEffectiveBatch: true, MinBatchSize: 1})
	ck.Typed(knobs(256, 1))
	if pr := next(ck, trainOOM(), knobs(256, 1), obs); pr.Step.Fix.ID != sdk.FixBatchSize || pr.Step.Fix.BatchSize != 128 {
		t.Fatalf("checkpointing only: %+v, want the cut to 128", pr.Step)
	}
}
