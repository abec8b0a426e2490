package plan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestSplitRaisesThePriorToTheLevelBeforeTheFirstStep: one point alone is
// split by the prior, a quarter of its demand fixed, unless NVML's level
// before the first step, a lower bound of the fixed part, is above that;
// a level that is no memory, or all of the demand, is not sane.
func TestSplitRaisesThePriorToTheLevelBeforeTheFirstStep(t *testing.T) {
	for _, c := range []struct {
		name      string
		pt        Point
		wantFixed int64
		measured  bool
	}{
		{"no level", Point{Size: 64, Demand: 20 * gib}, 5 * gib, false},
		{"level below the prior", Point{Size: 64, Demand: 20 * gib, PreStep: 2 * gib}, 5 * gib, false},
		{"level above the prior", Point{Size: 64, Demand: 20 * gib, PreStep: 12 * gib}, 12 * gib, true},
		{"an OOM's too", Point{Size: 64, Demand: 20 * gib, PreStep: 12 * gib, OOM: true}, 12 * gib, true},
		{"level all of the demand", Point{Size: 64, Demand: 20 * gib, PreStep: 20 * gib}, 5 * gib, false},
		{"level past the demand", Point{Size: 64, Demand: 20 * gib, PreStep: 30 * gib}, 5 * gib, false},
		{"negative level", Point{Size: 64, Demand: 20 * gib, PreStep: -gib}, 5 * gib, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := lineOf(nil, c.pt)
			if int64(l.fixed) != c.wantFixed || (l.preStep != 0) != c.measured {
				t.Fatalf("line %+v, want fixed %d GiB, measured %v", l, c.wantFixed/gib, c.measured)
			}
			if got := l.fixed + l.perSample*float64(c.pt.Size); int64(got) != c.pt.Demand {
				t.Errorf("the line gives %.0f at the point, want its demand %d", got, c.pt.Demand)
			}
		})
	}
	// Two points or more are fitted; the level plays no part.
	pts := []Point{{Size: 64, Demand: memory(4, 0.25, 64), PreStep: 15 * gib}, {Size: 32, Demand: memory(4, 0.25, 32), PreStep: 15 * gib}}
	if l := lineOf(pts, pts[0]); int64(l.fixed) != 4*gib || l.preStep != 0 {
		t.Errorf("fitted line %+v, want fixed 4 GiB from the fit", l)
	}
}

// TestRoomTakesTheLevelBeforeTheFirstStep: 32 x 8 fit with 12 of 24 GiB,
// 9 GiB of it held before the first step (frozen weights: the step adds
// little). The prior's quarter makes each sample dear and names 64 x 4;
// the level names 128 x 2 and the room says it came from it.
func TestRoomTakesTheLevelBeforeTheFirstStep(t *testing.T) {
	for _, c := range []struct {
		preStep int64
		micro   int
	}{{0, 64}, {9 * gib, 128}} {
		p := New(Config{Ladder: []sdk.FixID{sdk.FixBatchSize}, KeepEffectiveBatch: true})
		p.Typed(knobs(256, 1))
		fit, ok := p.Room(Point{Size: 32, Demand: 12 * gib, Usable: 24 * gib, PreStep: c.preStep}, 8, 0)
		if !ok || fit.Micro != c.micro || fit.Accum != 256/c.micro || fit.PreStep != c.preStep {
			t.Errorf("level %d GiB: room %+v, %v; want %d x %d", c.preStep/gib, fit, ok, c.micro, 256/c.micro)
		}
	}
}

// TestGrowBackTakesTheLevelBeforeTheFirstStep: 128 ran out with 26 GiB
// of 24, the only attempt since the last change. Half of it was there
// before the first step: less of the demand is activations, checkpointing
// frees less, and the grow-back is smaller than the prior's, and says why.
func TestGrowBackTakesTheLevelBeforeTheFirstStep(t *testing.T) {
	for _, c := range []struct {
		preStep int64
		micro   int
		words   bool
	}{{0, 247, false}, {2 * gib, 247, false}, {13 * gib, 211, true}} {
		p := New(Config{Ladder: []sdk.FixID{sdk.FixBatchSize, sdk.FixGradCheckpointing}, KeepEffectiveBatch: true, MinBatchSize: 1})
		p.Typed(knobs(256, 0))
		p.Observe(trainOOM(), knobs(128, 0), Observation{Demand: 26 * gib, Usable: 24 * gib, PreStep: c.preStep})
		step := p.growBack(sdk.FixGradCheckpointing)
		if step == nil || step.Fix.BatchSize != c.micro {
			t.Fatalf("level %d GiB: grow-back %+v, want %d", c.preStep/gib, step, c.micro)
		}
		if got := strings.Contains(step.Reason, "with the 13 GiB NVML saw before the first step as the fixed part"); got != c.words {
			t.Errorf("level %d GiB: reason %q", c.preStep/gib, step.Reason)
		}
	}
}
