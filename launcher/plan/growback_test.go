package plan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// memory is a job whose step needs fixed + perSample x micro-batch GiB.
func memory(fixed, perSample float64, micro int) int64 {
	return int64((fixed + perSample*float64(micro)) * float64(gib))
}

// TestCheckpointingLetsTheMicroBatchGrowBack: 256 and 128 ran out of a
// 24 GiB GPU; checkpointing's saving puts 256 back under the margin, so
// the step after the cut is checkpointing with 256 x 1 again.
func TestCheckpointingLetsTheMicroBatchGrowBack(t *testing.T) {
	p := New(Config{Ladder: []sdk.FixID{sdk.FixBatchSize, sdk.FixGradCheckpointing}, KeepEffectiveBatch: true, MinBatchSize: 1})
	usable := 24 * gib
	p.Typed(knobs(256, 1))
	first := next(p, trainOOM(), knobs(256, 1), Observation{Demand: memory(6, 0.12, 256), Usable: usable})
	if first.Step.Fix.ID != sdk.FixBatchSize || first.With != nil {
		t.Fatalf("first = %+v with %+v, want a cut alone", first.Step, first.With)
	}
	a := knobs(first.Step.Fix.BatchSize, first.Step.Fix.GradAccumulation)
	second := next(p, trainOOM(), a, Observation{Demand: memory(6, 0.12, first.Step.Fix.BatchSize), Usable: usable})
	if second.Step.Fix.ID != sdk.FixGradCheckpointing {
		t.Fatalf("second = %+v, want checkpointing", second.Step)
	}
	if len(second.With) != 1 {
		t.Fatalf("second goes with %+v, want one grow-back", second.With)
	}
	then := second.With[0]
	if then.Fix.ID != sdk.FixBatchSize || then.Fix.BatchSize != 256 || then.Fix.GradAccumulation != 1 || then.Why != WhyGrowBack {
		t.Fatalf("then = %+v, want the micro-batch back at 256 x 1", then)
	}
	if !strings.Contains(then.Reason, "grad_checkpointing frees memory") || !strings.Contains(then.Reason, "effective batch kept at 256") {
		t.Fatalf("reason = %q", then.Reason)
	}
	p.CommitWith(then)

	// Should 256 still run out with checkpointing on, the cut goes back to
	// the size before the grow-back, not below it.
	third := next(p, trainOOM(), knobs(256, 1), Observation{Demand: 25 * gib, Usable: usable})
	if third.Step.Fix.ID != sdk.FixBatchSize || third.Step.Fix.BatchSize != first.Step.Fix.BatchSize || third.With != nil {
		t.Fatalf("third = %+v with %+v, want back to %d", third.Step, third.With, first.Step.Fix.BatchSize)
	}
}

func TestNoGrowBackWithoutRoom(t *testing.T) {
	for _, c := range []struct {
		name  string
		obs   Observation
		typed int
	}{
		{"no figures", Observation{}, 256},
		// Checkpointing's 40 % of 0.3 GiB a sample still leaves 256 over.
		{"not enough saved", Observation{Demand: memory(6, 0.3, 128), Usable: 24 * gib}, 256},
		{"already as typed", Observation{Demand: memory(6, 0.15, 128), Usable: 24 * gib}, 128},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(Config{Ladder: []sdk.FixID{sdk.FixGradCheckpointing}, KeepEffectiveBatch: true, MinBatchSize: 1})
			p.Typed(knobs(c.typed, 1))
			if pr := next(p, trainOOM(), knobs(128, 2), c.obs); pr.Step == nil || pr.With != nil {
				t.Fatalf("proposal %+v with %+v, want checkpointing alone", pr.Step, pr.With)
			}
		})
	}
}

func TestGrowKeepsTheEffectiveBatch(t *testing.T) {
	for _, c := range []struct {
		micro, accum, target int
		keep                 bool
		wantMicro, wantAccum int
		ok                   bool
	}{
		{64, 4, 200, true, 128, 2, true},
		{64, 4, 256, true, 256, 1, true},
		{64, 4, 100, true, 0, 0, false},
		{48, 4, 100, true, 96, 2, true},
		{64, 4, 100, false, 100, 3, true},
		{64, 0, 100, true, 100, 0, true},
		{64, 4, 64, true, 0, 0, false},
	} {
		m, a, ok := Grow(c.micro, c.accum, c.target, c.keep)
		if m != c.wantMicro || a != c.wantAccum || ok != c.ok {
			t.Errorf("Grow(%d, %d, %d, %v) = %d, %d, %v; want %d, %d, %v", c.micro, c.accum, c.target, c.keep, m, a, ok, c.wantMicro, c.wantAccum, c.ok)
		}
	}
}

// TestRideAlongOutlivesARefusal: the allocator rides along with mixed
// precision; the plugin turns mixed precision down, and the allocator goes
// with the step proposed next instead of being lost.
func TestRideAlongOutlivesARefusal(t *testing.T) {
	p := New(Config{Ladder: []sdk.FixID{sdk.FixAllocator, sdk.FixMixedPrecision, sdk.FixGradCheckpointing}, KeepEffectiveBatch: true, MinBatchSize: 1, Precision: "auto"})
	d := trainOOM()
	held := int64(gib / 10)
	d.ReservedUnallocatedBytes = &held
	p.Observe(d, knobs(128, 1), Observation{Demand: 30 * gib, Usable: 24 * gib})
	first := p.Propose()
	if first.Step.Fix.ID != sdk.FixMixedPrecision || len(first.With) != 1 || first.With[0].Fix.ID != sdk.FixAllocator || first.With[0].Why != WhyRideAlong {
		t.Fatalf("first = %+v with %+v, want mixed precision with the allocator", first.Step, first.With)
	}
	p.Reject(first, "already in bf16")
	second := p.Propose()
	if second.Step == nil || second.Step.Fix.ID != sdk.FixGradCheckpointing || len(second.With) != 1 || second.With[0].Fix.ID != sdk.FixAllocator {
		t.Fatalf("second = %+v with %+v, want checkpointing with the allocator", second.Step, second.With)
	}
	p.Commit(second)
	p.CommitWith(second.With[0])
	p.Observe(d, knobs(128, 1), Observation{Demand: 30 * gib, Usable: 24 * gib})
	for _, s := range p.Propose().With {
		if s.Fix.ID == sdk.FixAllocator {
			t.Fatalf("the allocator rides along again after it was applied")
		}
	}
}
