// Package plansim simulates training jobs that run out of memory, to compare
// how batch-size strategies converge: vramrun's planner, halving (what most
// tools do) and 0.9x per failure (accelerate's find_executable_batch_size
// since v1.9). It reports relaunches to fit and the final micro-batch as a
// share of the largest that fits.
package plansim

import (
	"fmt"
	"math"
	"sort"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/sdk"
)

// Job is a simulated training job on one GPU. Memory at micro-batch B is
// (Fixed + PerSample*B) * (1 + Waste): weights, gradients and optimizer
// state, activations that grow with the batch, and what the caching
// allocator holds unused.
type Job struct {
	Name     string
	Capacity int64
	Fixed    int64
	// PerSample is the activation memory of one sample at the step's peak.
	PerSample int64
	// Chunks is how many allocations the activations arrive in; the OOM
	// happens at the chunk that crosses capacity, and reports that chunk
	// as "tried". Few chunks (one big logits tensor) make the figures tell
	// a lot; many small ones tell little.
	Chunks int
	Waste  float64
	Start  int
	// Loaded is the share of Fixed the job holds once loaded, before its
	// first step (the weights: gradients come in the first backward pass
	// and Adam's state at the first optimizer step), as NVML shows it;
	// 0: NVML saw no such level.
	Loaded float64
}

// PreStep is what NVML sees the job hold before its first step, the
// allocator's waste on it; 0 when Loaded is 0.
func (j Job) PreStep() int64 {
	return int64(float64(j.Fixed) * j.Loaded * (1 + j.Waste))
}

// WithLoaded is jobs with Loaded set to share.
func WithLoaded(jobs []Job, share float64) []Job {
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		j.Loaded = share
		out[i] = j
	}
	return out
}

// Demand is the memory a step at micro-batch b takes, the allocator's
// waste included: what NVML's peak shows when it fits.
func (j Job) Demand(b int) float64 {
	return float64(j.Fixed+j.PerSample*int64(b)) * (1 + j.Waste)
}

// Fits reports whether micro-batch b fits.
func (j Job) Fits(b int) bool { return j.Demand(b) <= float64(j.Capacity) }

// Largest is the largest micro-batch that fits (0 when none does).
func (j Job) Largest() int {
	b := int((float64(j.Capacity)/(1+j.Waste) - float64(j.Fixed)) / float64(j.PerSample))
	for b > 0 && !j.Fits(b) {
		b--
	}
	for j.Fits(b + 1) {
		b++
	}
	return b
}

// OOM is the diagnosis PyTorch's message gives for a failed step at b: the
// chunk that did not fit, what was allocated before it, what the allocator
// held unused, and what was free.
func (j Job) OOM(b int) oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Framework, d.Phase = true, sdk.KindGPU, "pytorch", sdk.PhaseTrain
	chunk := j.PerSample * int64(b) / int64(j.Chunks)
	if chunk < 1 {
		chunk = 1
	}
	allocated := j.Fixed
	for i := 0; i < j.Chunks; i++ {
		if float64(allocated+chunk)*(1+j.Waste) > float64(j.Capacity) {
			break
		}
		allocated += chunk
	}
	ru := int64(float64(allocated) * j.Waste)
	free := j.Capacity - allocated - ru
	if free < 0 {
		free = 0
	}
	d.TriedBytes, d.AllocatedBytes, d.ReservedUnallocatedBytes = &chunk, &allocated, &ru
	d.FreeBytes, d.CapacityBytes = &free, &j.Capacity
	return d
}

// Strategy proposes the next micro-batch after an OOM at b of j.
type Strategy interface {
	Name() string
	Reset(j Job)
	Next(b int, d oom.Diagnosis) (int, bool)
}

// Halving halves the batch.
type Halving struct{}

// Name is the strategy's name.
func (Halving) Name() string { return "halving" }

// Reset starts a new job.
func (Halving) Reset(Job) {}

// Next halves.
func (Halving) Next(b int, _ oom.Diagnosis) (int, bool) { return b / 2, b > 1 }

// Shrink90 multiplies the batch by 0.9.
type Shrink90 struct{}

// Name is the strategy's name.
func (Shrink90) Name() string { return "0.9x" }

// Reset starts a new job.
func (Shrink90) Reset(Job) {}

// Next shrinks by a tenth, at least by one.
func (Shrink90) Next(b int, _ oom.Diagnosis) (int, bool) {
	n := int(float64(b) * 0.9)
	if n >= b {
		n = b - 1
	}
	return n, n >= 1
}

// Planner is vramrun's planner with only the batch_size fix, sizing from
// the OOM figures, with keep_effective_batch off so that sizes are free.
type Planner struct {
	p   *plan.Planner
	job Job
}

// Name is the strategy's name.
func (*Planner) Name() string { return "vramrun" }

// Reset starts a new job.
func (s *Planner) Reset(j Job) {
	s.p = plan.New(plan.Config{Ladder: []sdk.FixID{sdk.FixBatchSize}, MinBatchSize: 1})
	s.job = j
}

// Next asks the planner.
func (s *Planner) Next(b int, d oom.Diagnosis) (int, bool) {
	a := sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(b), GradAccumulation: sdk.Int(1)}}
	obs := plan.ObservationFrom(d, 0, 0)
	obs.PreStep = s.job.PreStep()
	s.p.Observe(d, a, obs)
	pr := s.p.Propose()
	if pr.Step == nil {
		return 0, false
	}
	s.p.Commit(pr)
	return pr.Step.Fix.BatchSize, true
}

// Outcome is one strategy on one job.
type Outcome struct {
	Relaunches int
	// Share is the final micro-batch over the largest that fits; 0 when
	// the strategy never fit.
	Share float64
	Final int
}

// maxRelaunches stops a strategy that would go on for ever.
const maxRelaunches = 60

// Simulate runs s on j.
func Simulate(j Job, s Strategy) Outcome {
	s.Reset(j)
	b := j.Start
	var out Outcome
	for !j.Fits(b) {
		next, ok := s.Next(b, j.OOM(b))
		if !ok || next < 1 || out.Relaunches >= maxRelaunches {
			return out
		}
		b = next
		out.Relaunches++
	}
	out.Final = b
	out.Share = float64(b) / float64(j.Largest())
	return out
}

// Grid is the benchmark's jobs: GPUs of 16 to 80 GiB, a fixed part of 10%
// to 50% of the GPU, activation sizes such that the largest fitting batch is
// from about 1/20 to about 2/3 of the starting batch, and activations in
// 1, 4 or 32 allocations.
func Grid() []Job {
	const gib = int64(1) << 30
	var jobs []Job
	for _, capGiB := range []int64{16, 24, 40, 80} {
		for _, fixedShare := range []float64{0.1, 0.3, 0.5} {
			for _, over := range []float64{1.5, 2.6, 4.3, 7.7, 19} {
				for _, chunks := range []int{1, 4, 32} {
					c := capGiB * gib
					fixed := int64(fixedShare * float64(c))
					start := 256
					// The batch that fits is start/over: choose the
					// per-sample size to make it so.
					fits := float64(start) / over
					perSample := int64((float64(c)/1.15 - float64(fixed)) / fits)
					jobs = append(jobs, Job{
						Name:     fmt.Sprintf("%dGiB fixed %.0f%% start %.1fx chunks %d", capGiB, fixedShare*100, over, chunks),
						Capacity: c, Fixed: fixed, PerSample: perSample, Chunks: chunks, Waste: 0.15, Start: start,
					})
				}
			}
		}
	}
	return jobs
}

// Summary is a strategy's results over the grid.
type Summary struct {
	Strategy                         string
	MedianRelaunches, MeanRelaunches float64
	MaxRelaunches                    int
	MedianShare, MeanShare           float64
	Failed                           int
}

// Summarize runs every strategy over the jobs.
func Summarize(jobs []Job, strategies ...Strategy) []Summary {
	var out []Summary
	for _, s := range strategies {
		var rel, share []float64
		sum := Summary{Strategy: s.Name()}
		for _, j := range jobs {
			o := Simulate(j, s)
			if o.Share == 0 {
				sum.Failed++
				continue
			}
			rel = append(rel, float64(o.Relaunches))
			share = append(share, o.Share)
			if o.Relaunches > sum.MaxRelaunches {
				sum.MaxRelaunches = o.Relaunches
			}
		}
		sum.MedianRelaunches, sum.MeanRelaunches = median(rel), mean(rel)
		sum.MedianShare, sum.MeanShare = median(share), mean(share)
		out = append(out, sum)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}
