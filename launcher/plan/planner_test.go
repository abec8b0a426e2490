package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

const gib = int64(1) << 30

func knobs(batch, accum int) sdk.AnalyzeResponse {
	a := sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(batch)}}
	if accum > 0 {
		a.Knobs.GradAccumulation = sdk.Int(accum)
	}
	return a
}

func trainOOM() oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Phase = true, sdk.KindGPU, sdk.PhaseTrain
	return d
}

func evalOOM() oom.Diagnosis {
	d := trainOOM()
	d.Phase = sdk.PhaseEval
	return d
}

func cfg() Config {
	yes := true
	return Config{Ladder: sdk.DefaultLadder(), KeepEffectiveBatch: true, MinBatchSize: 1, Precision: "auto", BF16: &yes}
}

// next answers one OOM as the loop does when the plugin applies every
// step: Observe, Propose, Commit.
func next(p *Planner, d oom.Diagnosis, a sdk.AnalyzeResponse, obs Observation) Proposal {
	p.Observe(d, a, obs)
	pr := p.Propose()
	if pr.Step != nil {
		p.Commit(pr)
	}
	return pr
}

// walk runs the planner over n training OOMs without figures, applying each
// step to the knobs as a plugin would, and returns the fix ids and sizes.
func walk(t *testing.T, p *Planner, a sdk.AnalyzeResponse, n int) []sdk.Fix {
	t.Helper()
	var out []sdk.Fix
	for i := 0; i < n; i++ {
		dec := next(p, trainOOM(), a, Observation{})
		if dec.Step == nil {
			break
		}
		out = append(out, dec.Step.Fix)
		if dec.Step.Fix.ID == sdk.FixBatchSize {
			a.Knobs.BatchSize = sdk.Int(dec.Step.Fix.BatchSize)
			if dec.Step.Fix.GradAccumulation > 0 {
				a.Knobs.GradAccumulation = sdk.Int(dec.Step.Fix.GradAccumulation)
			}
		}
	}
	return out
}

func TestLadderOrderThenRepeatedBatch(t *testing.T) {
	got := walk(t, New(cfg()), knobs(32, 1), 20)
	want := []sdk.Fix{
		{ID: sdk.FixAllocator},
		{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		{ID: sdk.FixFusedLoss},
		{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
		{ID: sdk.FixGradCheckpointing},
		{ID: sdk.FixActivationOffload},
		{ID: sdk.FixOptimizer8bit},
		// CPU offload is the last resort: every batch cut comes first.
		{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4},
		{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 8},
		{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 16},
		{ID: sdk.FixBatchSize, BatchSize: 1, GradAccumulation: 32},
		{ID: sdk.FixCPUOffload},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walk:\n got %+v\nwant %+v", got, want)
	}
}

func TestGiveUpAtMinBatchSize(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	c.MinBatchSize = 8
	p := New(c)
	a := knobs(16, 1)
	dec := next(p, trainOOM(), a, Observation{})
	if dec.Step == nil || dec.Step.Fix.BatchSize != 8 {
		t.Fatalf("first step = %+v, want batch 8", dec.Step)
	}
	a.Knobs.BatchSize = sdk.Int(8)
	dec = next(p, trainOOM(), a, Observation{})
	if dec.Step != nil || dec.GiveUp == "" {
		t.Fatalf("at the floor: step %+v, give-up %q; want give up", dec.Step, dec.GiveUp)
	}
}

func TestFragmentedTakesAllocatorFirst(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize, sdk.FixAllocator}
	p := New(c)
	d := trainOOM()
	d.Fragmented = true
	dec := next(p, d, knobs(32, 1), Observation{})
	if dec.Step == nil || dec.Step.Fix.ID != sdk.FixAllocator {
		t.Fatalf("step = %+v, want allocator first for a fragmented OOM", dec.Step)
	}
	// The ladder then goes on from its start, and allocator's own entry is
	// passed over without a word: it is on already.
	dec = next(p, trainOOM(), knobs(32, 1), Observation{})
	if dec.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("second step = %+v, want batch_size", dec.Step)
	}
	dec = next(p, trainOOM(), knobs(16, 2), Observation{})
	if len(dec.Skipped) != 0 || dec.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("third decision: step %+v skipped %+v; want batch_size again, nothing skipped", dec.Step, dec.Skipped)
	}
}

func TestFragmentedWithoutAllocatorInLadder(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	d := trainOOM()
	d.Fragmented = true
	dec := next(New(c), d, knobs(32, 1), Observation{})
	if dec.Step == nil || dec.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("step = %+v; a profile that leaves allocator out must not get it", dec.Step)
	}
}

func TestEvalOOMNeverTouchesTrainingBatch(t *testing.T) {
	p := New(cfg())
	a := knobs(32, 1)
	a.Knobs.EvalBatchSize = sdk.Int(64)
	var ids []sdk.FixID
	for i := 0; i < 12; i++ {
		dec := next(p, evalOOM(), a, Observation{})
		if dec.Step == nil {
			break
		}
		if dec.Step.Fix.ID == sdk.FixBatchSize {
			t.Fatal("an evaluation OOM changed the training batch")
		}
		ids = append(ids, dec.Step.Fix.ID)
		if dec.Step.Fix.ID == sdk.FixEvalBatchSize {
			a.Knobs.EvalBatchSize = sdk.Int(dec.Step.Fix.BatchSize)
		}
	}
	want := []sdk.FixID{sdk.FixEvalAccumulation, sdk.FixEvalBatchSize, sdk.FixAllocator, sdk.FixMixedPrecision,
		sdk.FixEvalBatchSize, sdk.FixEvalBatchSize, sdk.FixEvalBatchSize, sdk.FixEvalBatchSize, sdk.FixEvalBatchSize}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("eval ladder = %v, want %v", ids, want)
	}
	if *a.Knobs.EvalBatchSize != 1 {
		t.Fatalf("eval batch ended at %d, want 1", *a.Knobs.EvalBatchSize)
	}
}

func TestPrecisionChoice(t *testing.T) {
	no, yes := false, true
	cases := []struct {
		name  string
		pref  string
		bf16  *bool
		want  string
		cause string
	}{
		{"auto with bf16", "auto", &yes, "bf16", "bf16, which this GPU supports"},
		{"auto without bf16", "auto", &no, "fp16", "fp16 because this GPU has no bf16 (compute capability below 8.0)"},
		{"auto unknown GPU", "auto", nil, "fp16", "fp16 because the GPU's compute capability is unknown (bf16 needs 8.0)"},
		{"profile says fp16", "fp16", &yes, "fp16", "precision fp16 from the profile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg()
			c.Ladder = []sdk.FixID{sdk.FixMixedPrecision}
			c.Precision, c.BF16 = tc.pref, tc.bf16
			dec := next(New(c), trainOOM(), knobs(8, 1), Observation{})
			if dec.Step.Fix.Precision != tc.want || dec.Step.Reason != tc.cause {
				t.Fatalf("got %q (%q), want %q (%q)", dec.Step.Fix.Precision, dec.Step.Reason, tc.want, tc.cause)
			}
		})
	}
}

func TestResumeContinuesAfterLearnedFixes(t *testing.T) {
	p := New(cfg())
	p.Resume([]sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixMixedPrecision, Precision: "bf16"}, {ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2}})
	dec := next(p, trainOOM(), knobs(16, 2), Observation{})
	if dec.Step == nil || dec.Step.Fix.ID != sdk.FixGradCheckpointing {
		t.Fatalf("after resume step = %+v, want grad_checkpointing", dec.Step)
	}
}

func TestBatchSizeWithoutAccumulationChangesEffectiveBatch(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	dec := next(New(c), trainOOM(), knobs(48, 0), Observation{})
	if dec.Step.Fix.BatchSize != 24 || dec.Step.Fix.GradAccumulation != 0 || !dec.Step.EffectiveBatchChanged {
		t.Fatalf("step = %+v, want batch 24, no accumulation, effective batch changed", dec.Step)
	}
}

func TestEstimateFromFigures(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	// 256 samples needed 40 GiB of a 24 GiB GPU: proportionally about 138
	// fit in 90% of 24 GiB; the largest divisor of 256 below that is 128.
	dec := next(New(c), trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	if got := dec.Step.Fix; got.BatchSize != 128 || got.GradAccumulation != 2 {
		t.Fatalf("step = %+v, want 128 x 2", got)
	}
	// Without keep_effective_batch the estimate itself is used.
	c.KeepEffectiveBatch = false
	dec = next(New(c), trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	if got := dec.Step.Fix; got.BatchSize != 138 || got.GradAccumulation != 2 {
		t.Fatalf("step = %+v, want 138 x 2 (accumulation rounded up)", got)
	}
}

func TestLinearFitAfterTwoAttempts(t *testing.T) {
	// demand = 8 GiB + 0.125 GiB per sample: (0.9*24 - 8) / 0.125 = 108.8
	pts := []Point{{Size: 256, Demand: 40 * gib, Usable: 24 * gib}, {Size: 200, Demand: 33 * gib, Usable: 24 * gib}}
	size, how, ok := Estimate(pts, 200, Margin)
	if !ok || size != 108 || how != "fitted to 2 attempts" {
		t.Fatalf("Estimate = %d %q %v; want 108 fitted", size, how, ok)
	}
}

func TestFailedEstimateFallsBackToHalving(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	c.KeepEffectiveBatch = false
	p := New(c)
	next(p, trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	// The estimate (138) ran out of memory too: from now on no step is
	// smaller than halving, whatever the figures say.
	dec := next(p, trainOOM(), knobs(138, 2), Observation{Demand: 26 * gib, Usable: 24 * gib})
	if got := dec.Step.Fix.BatchSize; got != 69 || !strings.HasPrefix(dec.Step.Reason, "halved (the last estimate still ran out of memory); effective batch kept at 276; predicted to cost about ") {
		t.Fatalf("after a failed estimate: %d (%q), want 69 halved", got, dec.Step.Reason)
	}
}

func TestPointsResetAfterOtherFixes(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize, sdk.FixMixedPrecision}
	c.KeepEffectiveBatch = false
	p := New(c)
	next(p, trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	next(p, trainOOM(), knobs(138, 2), Observation{Demand: 30 * gib, Usable: 24 * gib}) // mixed_precision
	if len(p.points[sdk.FixBatchSize]) != 0 {
		t.Fatalf("points after a precision change: %v, want none", p.points)
	}
}

func TestResize(t *testing.T) {
	cases := []struct {
		micro, accum, proposal, min int
		keep                        bool
		wantMicro, wantAccum        int
		ok                          bool
	}{
		{64, 1, 40, 1, true, 32, 2, true},  // largest divisor of 64 not above 40
		{96, 1, 40, 1, true, 32, 3, true},  // 96 has 32
		{96, 1, 47, 1, true, 32, 3, true},  //
		{100, 1, 30, 1, true, 25, 4, true}, //
		{64, 1, 40, 1, false, 40, 2, true}, // rounding up: 64/40 -> 2 (effective 80)
		{64, 0, 40, 1, true, 40, 0, true},  // no accumulation knob
		{10, 1, 3, 4, true, 5, 2, true},    // no divisor in [4,3]: smallest above the proposal
		{8, 1, 1, 8, true, 0, 0, false},    // at the floor
		{7, 1, 3, 1, true, 1, 7, true},     // prime effective batch
		{12, 2, 5, 1, true, 4, 6, true},    // effective 24
		{12, 2, 13, 1, true, 0, 0, false},  // proposal not below current
		{2, 1, 1, 1, true, 1, 2, true},     //
		{6, 1, 2, 3, true, 3, 2, true},     // proposal raised to the floor
	}
	for _, c := range cases {
		m, a, ok := Resize(c.micro, c.accum, c.proposal, c.min, c.keep)
		if m != c.wantMicro || a != c.wantAccum || ok != c.ok {
			t.Errorf("Resize(%d,%d,%d,min %d,keep %v) = %d,%d,%v; want %d,%d,%v",
				c.micro, c.accum, c.proposal, c.min, c.keep, m, a, ok, c.wantMicro, c.wantAccum, c.ok)
		}
	}
}

func TestEstimateNeedsInformativeFigures(t *testing.T) {
	// Figures that barely pass the GPU's size (a small request on a full
	// GPU) say nothing of how much too big the batch is.
	flat := []Point{{Size: 64, Demand: 25 * gib, Usable: 24 * gib}}
	if _, _, ok := Estimate(flat, 64, Margin); ok {
		t.Fatal("Estimate must refuse figures that only say the GPU was full")
	}
	if _, _, ok := Estimate(nil, 10, Margin); ok {
		t.Fatal("Estimate without points must say it knows nothing")
	}
	// Two informative bounds that grow as the batch shrinks give no usable
	// line: the smallest proportional bound is used.
	pts := []Point{{Size: 64, Demand: 30 * gib, Usable: 24 * gib}, {Size: 48, Demand: 32 * gib, Usable: 24 * gib}}
	size, how, ok := Estimate(pts, 48, Margin)
	if !ok || size != 32 || how != "estimated from the OOM figures" { // min(64*21.6/30, 48*21.6/32) = 32.4
		t.Fatalf("Estimate = %d %q %v; want 32 from the figures", size, how, ok)
	}
	// memory_margin 0 aims for all of the usable memory: min(64*24/30, 48*24/32) = 36.
	if size, _, _ := Estimate(pts, 48, 1); size != 36 {
		t.Fatalf("Estimate aiming for all of it = %d, want 36", size)
	}
	if cfg := FromSettings(profiles.Defaults(), nil); cfg.Aim != 0.9 {
		t.Fatalf("the default memory_margin aims for %g, want 0.9", cfg.Aim)
	}
}

func TestObservationFrom(t *testing.T) {
	d := trainOOM()
	d.TriedBytes, d.CapacityBytes = ptr(2*gib), ptr(24*gib)
	d.AllocatedBytes, d.ReservedUnallocatedBytes = ptr(20*gib), ptr(1*gib)
	d.OtherProcesses = []oom.ProcessUsage{{PID: 1, UsedBytes: 1 * gib}}
	obs := ObservationFrom(d, 0, 0)
	// 20 GiB allocated + 1 GiB held unused + the 2 GiB request with the
	// same 5% waste = 23.1 GiB.
	if obs.Demand != 21*gib+2*gib+gib/10 || obs.Usable != 23*gib {
		t.Fatalf("pytorch figures: %+v, want demand 23.1 GiB usable 23 GiB", obs)
	}
	// A text with only the tried size (JAX) uses NVML's capacity: the GPU
	// was full, so demand is usable plus the request.
	j := trainOOM()
	j.TriedBytes = ptr(3 * gib)
	obs = ObservationFrom(j, 0, 80*gib)
	if obs.Demand != 83*gib || obs.Usable != 80*gib {
		t.Fatalf("jax figures: %+v", obs)
	}
	// allowed caps usable; a peak above the figures wins.
	d.AllowedBytes = ptr(12 * gib)
	obs = ObservationFrom(d, 30*gib, 0)
	if obs.Usable != 11*gib || obs.Demand != 30*gib {
		t.Fatalf("allowed and peak: %+v", obs)
	}
	if (ObservationFrom(oom.NoOOM(), 0, 0) != Observation{}) {
		t.Fatal("no figures must give an empty observation")
	}
}

func ptr(v int64) *int64 { return &v }

func TestNextFixes(t *testing.T) {
	c := cfg()
	if got := NextFixes(c, oom.NoOOM()); len(got) != 0 {
		t.Fatalf("no OOM: %v", got)
	}
	d := trainOOM()
	if got := NextFixes(c, d); !reflect.DeepEqual(got, sdk.DefaultLadder()) {
		t.Fatalf("train: %v", got)
	}
	c.Ladder = []sdk.FixID{sdk.FixBatchSize, sdk.FixAllocator, sdk.FixBatchSize}
	d.Fragmented = true
	want := []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize, sdk.FixBatchSize}
	if got := NextFixes(c, d); !reflect.DeepEqual(got, want) {
		t.Fatalf("fragmented: %v, want %v", got, want)
	}
	want = []sdk.FixID{sdk.FixEvalAccumulation, sdk.FixEvalBatchSize, sdk.FixAllocator}
	if got := NextFixes(c, evalOOM()); !reflect.DeepEqual(got, want) {
		t.Fatalf("eval: %v, want %v", got, want)
	}
	h := trainOOM()
	h.Kind = sdk.KindHost
	if got := NextFixes(c, h); len(got) != 0 {
		t.Fatalf("host: %v", got)
	}
}

// TestRejectedStepsGiveTheNext: a step the plugin turns down is rejected,
// and the next proposal is the step after it; a rejected fix is not
// proposed again.
func TestRejectedStepsGiveTheNext(t *testing.T) {
	p := New(cfg())
	p.Observe(trainOOM(), knobs(32, 1), Observation{})
	refusals := map[sdk.FixID]string{sdk.FixAllocator: "not a PyTorch job", sdk.FixMixedPrecision: "no precision flag in train.py",
		sdk.FixFusedLoss: "no fused loss in train.py"}
	var rejected []sdk.FixID
	pr := p.Propose()
	for pr.Step != nil && refusals[pr.Step.Fix.ID] != "" {
		rejected = append(rejected, pr.Step.Fix.ID)
		p.Reject(pr, refusals[pr.Step.Fix.ID])
		pr = p.Propose()
	}
	if want := []sdk.FixID{sdk.FixAllocator, sdk.FixMixedPrecision, sdk.FixFusedLoss}; !reflect.DeepEqual(rejected, want) {
		t.Fatalf("rejected %v, want %v", rejected, want)
	}
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixBatchSize {
		t.Fatalf("step after three refusals = %+v, want batch_size", pr.Step)
	}
	p.Commit(pr)
	// A fragmented OOM does not bring the refused allocator back.
	d := trainOOM()
	d.Fragmented = true
	if got := next(p, d, knobs(16, 2), Observation{}); got.Step == nil || got.Step.Fix.ID != sdk.FixGradCheckpointing {
		t.Fatalf("fragmented after allocator was refused: %+v, want grad_checkpointing", got.Step)
	}
}

// TestProposeChangesNothing: the same proposal twice, and the planner as it
// was, until Commit or Reject.
func TestProposeChangesNothing(t *testing.T) {
	p := New(cfg())
	p.Observe(trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	before := *p
	first, second := p.Propose(), p.Propose()
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("two proposals differ:\n%+v\n%+v", first, second)
	}
	if !reflect.DeepEqual(before, *p) {
		t.Fatal("Propose changed the planner")
	}
}

// TestRefusalKeepsTheEstimates: a plugin's Apply that turns a fix down
// leaves the batch estimates as they were, so that the next batch step is
// still sized from the figures.
func TestRefusalKeepsTheEstimates(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixGradCheckpointing, sdk.FixBatchSize}
	p := New(c)
	p.Observe(trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	pr := p.Propose()
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixGradCheckpointing {
		t.Fatalf("first proposal = %+v, want grad_checkpointing", pr.Step)
	}
	p.Reject(pr, "no checkpointing flag in train.py")
	if len(p.points[sdk.FixBatchSize]) != 1 {
		t.Fatalf("points after a refusal: %v, want the one observed", p.points)
	}
	pr = p.Propose()
	if pr.Step == nil || pr.Step.Fix.BatchSize != 128 || pr.Step.Reason != "estimated from the OOM figures; effective batch kept at 256; predicted to cost about 3 % of the speed 256 would have (speed model)" {
		t.Fatalf("batch step after the refusal = %+v, want 128 estimated from the figures", pr.Step)
	}
	// Committing the same checkpointing step instead would have dropped
	// the points: the memory curve changes with checkpointing.
	q := New(c)
	q.Observe(trainOOM(), knobs(256, 1), Observation{Demand: 40 * gib, Usable: 24 * gib})
	q.Commit(q.Propose())
	if len(q.points[sdk.FixBatchSize]) != 0 {
		t.Fatalf("points after checkpointing was applied: %v, want none", q.points)
	}
}

// TestRefusedBatchEndsTheRun: past the ladder only the batch repeats; once
// the plugin turns it down there is nothing left, and the give-up says why.
func TestRefusedBatchEndsTheRun(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	p := New(c)
	p.Observe(trainOOM(), knobs(32, 1), Observation{})
	pr := p.Propose()
	p.Reject(pr, "no batch-size flag in train.py")
	pr = p.Propose()
	if pr.Step != nil || pr.GiveUp != "no fix left: no batch-size flag in train.py" {
		t.Fatalf("after the batch was refused: %+v", pr)
	}
}

// TestOffloadFirstWhenTheLadderSaysSo: a profile whose ladder puts
// cpu_offload before any batch cut gets it first.
func TestOffloadFirstWhenTheLadderSaysSo(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixCPUOffload, sdk.FixBatchSize}
	if pr := next(New(c), trainOOM(), knobs(32, 1), Observation{}); pr.Step == nil || pr.Step.Fix.ID != sdk.FixCPUOffload {
		t.Fatalf("offload first in the ladder: %+v", pr.Step)
	}
}

// TestLateOOMTakesTheSmallestChange: an OOM after learn_after takes the
// allocator first, then one step down in micro-batch (not half, and
// before mixed precision), and an early OOM after that walks the ladder
// again from where it was.
func TestLateOOMTakesTheSmallestChange(t *testing.T) {
	p := New(cfg())
	a := knobs(24, 2) // effective batch 48
	pr := next(p, trainOOM(), a, Observation{Late: true})
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixAllocator || pr.Step.Why != WhyLate {
		t.Fatalf("first late OOM: %+v, want the allocator, why late", pr.Step)
	}
	pr = next(p, trainOOM(), a, Observation{Late: true})
	if pr.Step == nil || pr.Step.Fix != (sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 3}) || pr.Step.Why != WhyLate {
		t.Fatalf("second late OOM: %+v, want batch 16 x 3 (one step down from 24 x 2), why late", pr.Step)
	}
	pr = next(p, trainOOM(), knobs(16, 3), Observation{})
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixMixedPrecision {
		t.Fatalf("early OOM after: %+v, want mixed_precision, the ladder's next", pr.Step)
	}
}

// TestLateOOMStillCutsAsMuchAsTheFiguresSay: when the figures call for a
// bigger cut than one step, the cut covers the overshoot.
func TestLateOOMStillCutsAsMuchAsTheFiguresSay(t *testing.T) {
	c := cfg()
	c.Ladder = []sdk.FixID{sdk.FixBatchSize}
	p := New(c)
	pr := next(p, trainOOM(), knobs(64, 1), Observation{Late: true, Demand: 40 * gib, Usable: 20 * gib})
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixBatchSize || pr.Step.Fix.BatchSize >= 32 {
		t.Fatalf("late OOM at twice the memory: %+v, want a cut below 32", pr.Step)
	}
}

// TestLateEvalOOMStepsTheEvalBatchDownOnce: after moving predictions off
// the GPU (turned down here), one step down in evaluation batch.
func TestLateEvalOOMStepsTheEvalBatchDownOnce(t *testing.T) {
	p := New(cfg())
	a := knobs(8, 1)
	a.Knobs.EvalBatchSize = sdk.Int(12)
	p.Observe(evalOOM(), a, Observation{Late: true})
	pr := p.Propose()
	if pr.Step == nil || pr.Step.Fix.ID != sdk.FixEvalAccumulation {
		t.Fatalf("late eval OOM: %+v, want eval_accumulation first", pr.Step)
	}
	p.Reject(pr, "no eval_accumulation_steps in train.py")
	pr = p.Propose()
	if pr.Step == nil || pr.Step.Fix != (sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 11}) {
		t.Fatalf("late eval OOM: %+v, want eval batch 11", pr.Step)
	}
}
