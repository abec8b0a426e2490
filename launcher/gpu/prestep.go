package gpu

const (
	// earlyTicks is how many of an attempt's first ticks PreStepLevel
	// looks at: at 500ms, 34 minutes of loading, in 32 KiB.
	earlyTicks = 4096
	// flatShare makes two samples level: they differ by at most
	// 1/flatShare of the attempt's peak. A loaded job waiting for its
	// first batch allocates nothing, so its samples are equal but for
	// a stray workspace; a step's rise moves by whole tensors.
	flatShare = 256
)

// PreStepLevel is the memory the job held once loaded and before its
// first step: its weights, the CUDA context and whatever else the
// framework allocates before training (not gradients, nor optimizer state
// where the optimizer creates it at its first step, as PyTorch's Adam
// does). It is a lower bound of the fixed part of the step's memory.
//
// The rule: the highest level the job's own memory held for two
// consecutive samples (the lower of the two) before the first sample at
// half the attempt's peak or more. Two samples, because one taken during
// the first step's rise is not a plateau; half the peak, because the
// first step reaches it (its peak holds the weights and activations
// both), and a later, higher peak (an evaluation, allocator growth) must
// not let the first steps' own level pass for the loaded one. Known only
// when NVML attributed the memory to the job, and not when no such
// plateau came first: too few samples, a rise at once, or loading that
// outlasted earlyTicks.
func (s *Sampler) PreStepLevel() (bytes uint64, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.jobPeakKnown || s.containerPIDs || s.jobPeak == 0 {
		return 0, false
	}
	return plateauBefore(s.early, s.jobPeak)
}

// plateauBefore is PreStepLevel's rule over levels (0 where unknown).
func plateauBefore(levels []uint64, peak uint64) (uint64, bool) {
	var best uint64
	for i, level := range levels {
		if level >= peak-peak/2 {
			return best, best > 0
		}
		if i == 0 || level == 0 || levels[i-1] == 0 {
			continue
		}
		low, high := min(level, levels[i-1]), max(level, levels[i-1])
		if high-low <= peak/flatShare {
			best = max(best, low)
		}
	}
	return 0, false
}
