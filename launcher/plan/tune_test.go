package plan

import (
	"testing"
)

// tuneJob is a ground truth for the tuner: memory fixed + perSample x
// micro GiB (checkpointing keeps ckptKeeps of the per-sample part), speed
// m / (overhead + m) samples a unit time, checkpointing a quarter slower.
type tuneJob struct {
	fixed, perSample, ckptKeeps, overhead float64
	usable                                int64
	// q8Keeps is what the 8-bit optimizer keeps of the fixed part (0: 1).
	q8Keeps float64
}

func (j tuneJob) run(c Candidate) Trial {
	per, fixed := j.perSample, j.fixed
	if c.Checkpointing {
		per *= j.ckptKeeps
	}
	if c.Optimizer8bit && j.q8Keeps > 0 {
		fixed *= j.q8Keeps
	}
	need := int64((fixed + per*float64(c.Micro)) * float64(gib))
	tr := Trial{Candidate: c}
	if need > j.usable {
		// The OOM's figures are a lower bound: what was held when the
		// allocation failed, short of the whole step.
		tr.OOM, tr.Point = true, Point{Demand: j.usable + (need-j.usable)/3, Usable: j.usable}
		return tr
	}
	tr.Fits, tr.Point = true, Point{Demand: need, Usable: j.usable}
	tr.SamplesPerS = float64(c.Micro) / (j.overhead + float64(c.Micro))
	if c.Checkpointing {
		tr.SamplesPerS *= 0.75
	}
	return tr
}

// tune runs the tuner over job for at most trials trials.
func tune(t *testing.T, tu *Tuner, job tuneJob, trials int) []Trial {
	t.Helper()
	for range trials {
		c, why, ok := tu.Next()
		if !ok {
			break
		}
		if why == "" {
			t.Fatalf("candidate %v without a reason", c)
		}
		if c.Accum > 0 && c.Micro*c.Accum != 256 {
			t.Fatalf("candidate %v changes the effective batch", c)
		}
		tu.Record(job.run(c))
	}
	return tu.Trials()
}

func TestTuneFindsTheLargestFittingMicroBatch(t *testing.T) {
	// 4 + 0.15 x m GiB of 24: 128 fits (23.2 GiB), 256 does not; the
	// margin on the guesses may settle for 64.
	job := tuneJob{fixed: 4, perSample: 0.15, ckptKeeps: 1, overhead: 16, usable: 24 * gib}
	tu := NewTuner(256, 1, false, 1)
	trials := tune(t, tu, job, 6)
	best, ok := tu.Best()
	if !ok || best.Micro != 64 && best.Micro != 128 {
		t.Fatalf("best = %+v (trials %+v), want 128 or 64 x the rest", best, trials)
	}
	if trials[0].Micro != 256 || !trials[0].OOM {
		t.Fatalf("first trial = %+v, want the command as typed, out of memory", trials[0])
	}
	if len(trials) > 4 {
		t.Fatalf("%d trials: %+v", len(trials), trials)
	}
}

func TestTuneTakesCheckpointingWhenItLetsALargerBatchRunFaster(t *testing.T) {
	// Small micro-batches are slow (overhead 64): 256 with checkpointing
	// beats 32 without it.
	job := tuneJob{fixed: 4, perSample: 0.5, ckptKeeps: 0.25, overhead: 64, usable: 24 * gib}
	tu := NewTuner(256, 1, true, 1)
	trials := tune(t, tu, job, 6)
	best, ok := tu.Best()
	if !ok || !best.Checkpointing || best.Micro < 128 {
		t.Fatalf("best = %+v, want checkpointing at 128 or more; trials %+v", best, trials)
	}
	for _, tr := range trials {
		if tr.Checkpointing && tr.Micro <= 32 {
			t.Fatalf("checkpointing tried at %d, no larger than what fits without it: %+v", tr.Micro, trials)
		}
	}
}

func TestTuneLeavesCheckpointingOffWhenItGainsNothing(t *testing.T) {
	// Everything fits as typed: checkpointing could only be slower.
	job := tuneJob{fixed: 4, perSample: 0.05, ckptKeeps: 0.4, overhead: 8, usable: 24 * gib}
	tu := NewTuner(256, 1, true, 1)
	trials := tune(t, tu, job, 6)
	best, _ := tu.Best()
	if len(trials) != 1 || best.Micro != 256 || best.Checkpointing {
		t.Fatalf("trials %+v, best %+v: want the command as typed alone", trials, best)
	}
}

func TestTuneGrowsWhenThePeakLeavesRoom(t *testing.T) {
	// Typed 32 x 8 fits with room to spare: the peak says 128 fits too.
	job := tuneJob{fixed: 2, perSample: 0.1, ckptKeeps: 1, overhead: 16, usable: 24 * gib}
	tu := NewTuner(32, 8, false, 1)
	tune(t, tu, job, 6)
	best, _ := tu.Best()
	if best.Micro <= 32 || best.Micro*best.Accum != 256 {
		t.Fatalf("best = %+v, want a larger micro-batch, effective 256", best)
	}
}

func TestTuneWithoutFiguresStopsAtWhatFits(t *testing.T) {
	tu := NewTuner(256, 1, true, 1)
	tu.Record(Trial{Candidate: Candidate{Micro: 256, Accum: 1}, Fits: true, SamplesPerS: 100})
	if c, _, ok := tu.Next(); ok {
		t.Fatalf("next = %+v, want none: no memory figures to go on", c)
	}
	if best, ok := tu.Best(); !ok || best.Micro != 256 {
		t.Fatalf("best = %+v", best)
	}
	empty := NewTuner(8, 0, false, 1)
	empty.Record(Trial{Candidate: Candidate{Micro: 8}, OOM: true})
	if _, ok := empty.Best(); ok {
		t.Fatal("a winner among trials that all ran out")
	}
}

// TestTunerSaysWhenItHalves: an OOM without figures predicts nothing, so
// the next trial is half, and its reason says so rather than a prediction.
func TestTunerSaysWhenItHalves(t *testing.T) {
	tu := NewTuner(256, 1, false, 1)
	first, _, _ := tu.Next()
	tu.Record(Trial{N: 1, Candidate: first, OOM: true})
	c, why, ok := tu.Next()
	if !ok || c.Micro != 128 || why != "256 ran out of memory and the figures predict no size; half" {
		t.Fatalf("next = %+v %q %v", c, why, ok)
	}
}

// TestTuneTriesTheOptimizer8bitWhenItFreesRoom: 16 GiB of weights and
// optimizer state of 24 leave room for 64 x 4 without fixes; 8-bit Adam
// takes the fixed part to half, so 128 x 2 fits and, small micro-batches
// being slow, wins. Without it allowed, no trial has it.
func TestTuneTriesTheOptimizer8bitWhenItFreesRoom(t *testing.T) {
	job := tuneJob{fixed: 16, perSample: 0.1, ckptKeeps: 1, overhead: 64, usable: 24 * gib, q8Keeps: 0.5}
	tu := NewTuner(256, 1, false, 1).AllowOptimizer8bit()
	trials := tune(t, tu, job, 6)
	best, ok := tu.Best()
	if !ok || !best.Optimizer8bit || best.Micro != 128 {
		t.Fatalf("best = %+v, want the 8-bit optimizer at 128 (trials %+v)", best, trials)
	}
	for _, tr := range trials {
		if tr.Optimizer8bit && tr.Micro <= 64 {
			t.Fatalf("8-bit trial at %d, no larger than what fits without it: %+v", tr.Micro, trials)
		}
	}
	plain := NewTuner(256, 1, false, 1)
	for _, tr := range tune(t, plain, job, 6) {
		if tr.Optimizer8bit {
			t.Fatalf("8-bit trial without it allowed: %+v", tr)
		}
	}
}
