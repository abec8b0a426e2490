package plansim

import (
	"fmt"
	"math"
	"sort"

	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/sdk"
)

// ConfigJob is a simulated job whose command has fixes besides the batch,
// with a ground truth for memory and speed: what vramrun's run mode is
// judged against is the fastest configuration that fits, over every set of
// the command's fixes and every micro-batch that keeps the effective batch.
//
// Memory at micro-batch b: (fixed + perSample x b) x (1 + waste), where
// checkpointing multiplies perSample by CkptSaving, 8-bit Adam takes
// OptimizerShare of the fixed part down to a quarter, and the allocator fix
// cuts waste to 2 %. Time for one effective batch E: E/b micro-batches of
// (Overhead + b) x SampleTime x (CkptCost with checkpointing), plus the
// optimizer step; samples a second is E over that.
type ConfigJob struct {
	Job
	Effective      int
	CkptSaving     float64
	CkptCost       float64
	OptimizerShare float64
	// Overhead is a micro-batch's fixed cost, in samples' worth: small
	// models lose most to small micro-batches.
	Overhead float64
	// EagerState says the optimizer state is on the GPU before the first
	// step too (optax's init, DeepSpeed's engine), not only the Loaded
	// weights: NVML's level before the first step holds it.
	EagerState bool
}

// State is the configuration an attempt runs.
type State struct {
	Micro               int
	Allocator, Ckpt, Q8 bool
}

// ConfigsWithLoaded is jobs with Loaded set to share and EagerState to
// eager.
func ConfigsWithLoaded(jobs []ConfigJob, share float64, eager bool) []ConfigJob {
	out := make([]ConfigJob, len(jobs))
	for i, j := range jobs {
		j.Loaded, j.EagerState = share, eager
		out[i] = j
	}
	return out
}

// preStep is what NVML sees j hold before the first step in state s: the
// weights, which no fix here changes, the optimizer state when it is
// built at once (8-bit Adam's smaller), and the allocator's waste on them.
func (j ConfigJob) preStep(s State) int64 {
	if j.Loaded == 0 {
		return 0
	}
	level := float64(j.Fixed) * j.Loaded
	if j.EagerState {
		state := float64(j.Fixed) * j.OptimizerShare
		if s.Q8 {
			state *= 0.25
		}
		level += state
	}
	return int64(level * (1 + j.job(s).Waste))
}

func (j ConfigJob) job(s State) Job {
	out := j.Job
	if s.Ckpt {
		out.PerSample = int64(float64(out.PerSample) * j.CkptSaving)
	}
	if s.Q8 {
		out.Fixed -= int64(float64(out.Fixed) * j.OptimizerShare * 0.75)
	}
	if s.Allocator {
		out.Waste = 0.02
	}
	return out
}

// Fits says the configuration fits.
func (j ConfigJob) Fits(s State) bool { return j.job(s).Fits(s.Micro) }

// Speed is the configuration's samples a second (in SampleTime units).
func (j ConfigJob) Speed(s State) float64 {
	cost := 1.0
	if s.Ckpt {
		cost = j.CkptCost
	}
	optim := 0.1 * float64(j.Effective)
	if s.Q8 {
		optim *= 1.02
	}
	micros := float64(j.Effective / s.Micro)
	return float64(j.Effective) / (micros*(j.Overhead+float64(s.Micro))*cost + optim)
}

// Best is the fastest configuration that fits, and its speed.
func (j ConfigJob) Best() (State, float64) {
	var best State
	speed := 0.0
	for _, ckpt := range []bool{false, true} {
		for _, q8 := range []bool{false, true} {
			for b := 1; b <= j.Effective; b++ {
				s := State{Micro: b, Allocator: true, Ckpt: ckpt, Q8: q8}
				if j.Effective%b != 0 || !j.Fits(s) {
					continue
				}
				if v := j.Speed(s); v > speed {
					best, speed = s, v
				}
			}
		}
	}
	return best, speed
}

// ConfigOutcome is run mode on one ConfigJob.
type ConfigOutcome struct {
	Relaunches int
	// Share is the final configuration's speed over the best's; 0 when
	// run mode never fit.
	Share float64
	Final State
	// Room is what the end of the run says a larger micro-batch would
	// do, against the ground truth; nil when it names none.
	Room *RoomCheck
}

// Variant is which of run mode's steps are on.
type Variant struct {
	Name                    string
	NoGrowBack, NoRideAlong bool
}

// Variants are run mode as it is, without the grow-back, and without
// either (the ladder as it walked before both).
func Variants() []Variant {
	return []Variant{{Name: "vramrun run mode"}, {Name: "without the grow-back", NoGrowBack: true},
		{Name: "without the grow-back and the ride-along (the ladder before)", NoGrowBack: true, NoRideAlong: true}}
}

// RunMode is vramrun's run mode on j: the planner with the ladder
// allocator, batch_size, grad_checkpointing, optimizer_8bit, keeping the
// effective batch, each proposal applied as the plugin would.
func RunMode(j ConfigJob, v Variant) ConfigOutcome {
	p := plan.New(plan.Config{Ladder: []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit},
		KeepEffectiveBatch: true, MinBatchSize: 1, NoGrowBack: v.NoGrowBack, NoRideAlong: v.NoRideAlong, RoomGain: -1})
	// RoomGain -1: every room the memory line allows comes back, each judged
	// against room_gain by SummarizeRooms.
	s := State{Micro: j.Start}
	knobs := func() sdk.AnalyzeResponse {
		return sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(s.Micro), GradAccumulation: sdk.Int(j.Effective / s.Micro)}}
	}
	p.Typed(knobs())
	var out ConfigOutcome
	below := map[State]int{}
	for !j.Fits(s) {
		if out.Relaunches >= maxRelaunches {
			return out
		}
		if key := (State{Allocator: s.Allocator, Ckpt: s.Ckpt, Q8: s.Q8}); below[key] == 0 || s.Micro < below[key] {
			below[key] = s.Micro
		}
		d := j.job(s).OOM(s.Micro)
		obs := plan.ObservationFrom(d, 0, 0)
		obs.PreStep = j.preStep(s)
		p.Observe(d, knobs(), obs)
		pr := p.Propose()
		if pr.Step == nil {
			return out
		}
		p.Commit(pr)
		apply(&s, pr.Step.Fix)
		for _, w := range pr.With {
			apply(&s, w.Fix)
			p.CommitWith(w)
		}
		out.Relaunches++
	}
	_, best := j.Best()
	out.Final, out.Share = s, j.Speed(s)/best
	out.Room = roomAtEnd(p, j, s, below[State{Allocator: s.Allocator, Ckpt: s.Ckpt, Q8: s.Q8}])
	return out
}

// TuneTrials is the most trials TuneMode runs, as vramrun tune's default.
const TuneTrials = 6

// TuneMode is `vramrun tune` on j: the plan.Tuner's trials (the allocator
// on in each, checkpointing and the 8-bit optimizer where they are
// predicted to fit a larger micro-batch), an
// OOM's figures from the simulated allocator, a fitting trial's NVML peak
// and its speed from the ground truth. Relaunches counts the trials.
func TuneMode(j ConfigJob) ConfigOutcome {
	t := plan.NewTuner(j.Start, j.Effective/j.Start, true, 1).AllowOptimizer8bit()
	var out ConfigOutcome
	for out.Relaunches < TuneTrials {
		c, _, ok := t.Next()
		if !ok {
			break
		}
		out.Relaunches++
		s := State{Micro: c.Micro, Allocator: true, Ckpt: c.Checkpointing, Q8: c.Optimizer8bit}
		tr := plan.Trial{Candidate: c}
		if jb := j.job(s); jb.Fits(s.Micro) {
			tr.Fits, tr.SamplesPerS = true, j.Speed(s)
			tr.Point = plan.Point{Demand: int64(jb.Demand(s.Micro)), Usable: jb.Capacity, PreStep: j.preStep(s)}
		} else {
			obs := plan.ObservationFrom(jb.OOM(s.Micro), 0, 0)
			tr.OOM, tr.Point = true, plan.Point{Demand: obs.Demand, Usable: obs.Usable, PreStep: j.preStep(s)}
		}
		t.Record(tr)
	}
	win, ok := t.Best()
	if !ok {
		return out
	}
	_, best := j.Best()
	out.Final = State{Micro: win.Micro, Allocator: true, Ckpt: win.Checkpointing, Q8: win.Optimizer8bit}
	out.Share = j.Speed(out.Final) / best
	out.Relaunches--
	return out
}

func apply(s *State, f sdk.Fix) {
	switch f.ID {
	case sdk.FixAllocator:
		s.Allocator = true
	case sdk.FixBatchSize:
		s.Micro = f.BatchSize
	case sdk.FixGradCheckpointing:
		s.Ckpt = true
	case sdk.FixOptimizer8bit:
		s.Q8 = true
	}
}

// ConfigGrid is the jobs of the configuration benchmark: the batch grid's
// GPUs, fixed shares and chunkings, starting at 256 x 1 with more or less
// overshoot, times checkpointing savings, optimizer shares and speed
// curves; those whose best configuration does not fit are left out.
func ConfigGrid() []ConfigJob {
	var out []ConfigJob
	for _, base := range Grid() {
		if base.Capacity != 24<<30 && base.Capacity != 80<<30 {
			continue
		}
		for _, saving := range []float64{0.25, 0.5} {
			for _, overhead := range []float64{1, 16, 128} {
				j := ConfigJob{Job: base, Effective: base.Start, CkptSaving: saving, CkptCost: 1.3, OptimizerShare: 0.5, Overhead: overhead}
				j.Name = fmt.Sprintf("%s ckpt x%.2f overhead %.0f", base.Name, saving, overhead)
				if _, v := j.Best(); v > 0 {
					out = append(out, j)
				}
			}
		}
	}
	return out
}

// ConfigSummary is run mode over a grid.
type ConfigSummary struct {
	Name                             string
	MedianRelaunches, MeanRelaunches float64
	MaxRelaunches                    int
	MedianShare, TenthPercentile     float64
	Failed, Jobs                     int
}

// SummarizeConfigs runs each variant of run mode, then tune, over jobs.
func SummarizeConfigs(jobs []ConfigJob) []ConfigSummary {
	var out []ConfigSummary
	for _, v := range Variants() {
		out = append(out, summarize(v.Name, jobs, func(j ConfigJob) ConfigOutcome { return RunMode(j, v) }))
	}
	return append(out, summarize("vramrun tune (trials after the first)", jobs, TuneMode))
}

func summarize(name string, jobs []ConfigJob, mode func(ConfigJob) ConfigOutcome) ConfigSummary {
	s := ConfigSummary{Name: name, Jobs: len(jobs)}
	var rel, share []float64
	for _, j := range jobs {
		o := mode(j)
		if o.Share == 0 {
			s.Failed++
			continue
		}
		rel = append(rel, float64(o.Relaunches))
		share = append(share, o.Share)
		s.MaxRelaunches = max(s.MaxRelaunches, o.Relaunches)
	}
	s.MedianRelaunches, s.MeanRelaunches, s.MedianShare = median(rel), mean(rel), median(share)
	s.TenthPercentile = percentile(share, 0.1)
	return s
}

func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1))]
}

// Loading is what a grid's jobs hold before their first step, as NVML
// shows it: a share of the fixed part (the weights: bf16 an eighth of 16
// bytes a parameter with Adam, fp32 a quarter), and the optimizer state
// when it is built at once.
type Loading struct {
	Name   string
	Loaded float64
	Eager  bool
}

// Loadings are the levels the benchmark compares: none seen (the prior
// alone), bf16 and fp32 weights, and fp32 weights with Adam's state built
// before the first step.
func Loadings() []Loading {
	return []Loading{{Name: "no level seen (a quarter taken as fixed)"}, {Name: "weights, an eighth of the fixed part", Loaded: 0.125},
		{Name: "weights, a quarter", Loaded: 0.25}, {Name: "weights and Adam's state built at once", Loaded: 0.25, Eager: true}}
}

// SummarizeLoadings runs run mode and tune over jobs at each loading.
func SummarizeLoadings(jobs []ConfigJob) []ConfigSummary {
	var out []ConfigSummary
	for _, l := range Loadings() {
		js := ConfigsWithLoaded(jobs, l.Loaded, l.Eager)
		out = append(out, summarize("run mode, "+l.Name, js, func(j ConfigJob) ConfigOutcome { return RunMode(j, Variants()[0]) }),
			summarize("tune, "+l.Name, js, TuneMode))
	}
	return out
}
