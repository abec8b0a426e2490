package gpu

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Sample is one reading of GPU memory during an attempt.
type Sample struct {
	Time time.Time
	// DeviceUsed is each sampled device's used memory, by UUID.
	DeviceUsed map[string]uint64
	// JobUsed is the memory NVML attributes to the job's own processes,
	// summed over the devices; meaningful only when JobUsedKnown.
	JobUsed      uint64
	JobUsedKnown bool
}

const (
	// defaultMaxSamples bounds a Sampler's memory: a week at 500ms would
	// be 1.2 million samples; beyond the bound they are thinned evenly.
	defaultMaxSamples = 20000
	// nearCapacityWindow is how many of the last samples NearCapacity
	// looks at: at 500ms, the last two seconds, which covers the samples
	// taken after the job died and released its memory.
	nearCapacityWindow = 4
	defaultInterval    = 500 * time.Millisecond
)

// Sampler samples the memory of a job's devices while an attempt runs.
//
// Attribution: on each tick the pids NVML lists on the devices are matched
// against jobPIDs(). When some match, their memory is the job's. NVML
// reports host pids; inside a container without the host's pid namespace
// none match. The first tick records the pids already on the devices (the
// job has not created a GPU context yet); when later ticks show memory held
// by new pids while the job runs and none of the job's pids match, the
// sampler concludes the pids are not comparable, falls back to the device
// figures (Peak then returns the device peak) and says so once in Notes.
type Sampler struct {
	g        *GPUs
	devices  []sampledDevice
	interval time.Duration
	jobPIDs  func() []int

	// tickMu makes ticks one at a time; mu guards the results, so Peak and
	// friends never wait on NVML.
	tickMu   sync.Mutex
	baseline map[int]bool // pids present at the first tick; tickMu

	mu sync.Mutex
	timeline
	recentWindow
	peaks
	noteSet
	loop
}

// timeline is the samples a Sampler keeps; the Sampler's mu guards it.
type timeline struct {
	maxSamples int
	samples    []Sample
	stride     int // keep every stride-th tick once thinned
	ticks      int
	// early is the job's attributed memory at each of the first
	// earlyTicks ticks (0 where NVML attributed none), kept whole for
	// PreStepLevel: thinning would lose a load plateau of a long attempt.
	early []uint64
}

// recentWindow is what NearCapacity looks at; the Sampler's mu guards it.
type recentWindow struct {
	recent   []Sample // the last nearCapacityWindow samples
	capacity map[string]uint64
}

// peaks are the highest figures seen, when each was last seen (see
// PeakAt), and which of them Peak can report; the Sampler's mu guards them.
type peaks struct {
	jobPeak         uint64
	jobPeakKnown    bool
	jobPeakAt       time.Time
	devicePeak      uint64
	devicePeakKnown bool
	devicePeakAt    time.Time
	containerPIDs   bool
}

// noteSet is a Sampler's Notes, each once; the Sampler's mu guards it.
type noteSet struct {
	notes []string
	noted map[string]bool
}

// loop is the sampling goroutine Start runs and Stop ends; the Sampler's
// mu guards it.
type loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

type sampledDevice struct {
	uuid   string
	handle nvml.Device
}

// NewSampler samples the given devices every interval (500ms when not
// positive). jobPIDs returns the pids of the job's process tree; it is
// called once per tick and may be nil (no attribution).
func NewSampler(g *GPUs, devices []Device, interval time.Duration, jobPIDs func() []int) *Sampler {
	if interval <= 0 {
		interval = defaultInterval
	}
	s := &Sampler{
		g:            g,
		interval:     interval,
		jobPIDs:      jobPIDs,
		timeline:     timeline{maxSamples: defaultMaxSamples, stride: 1},
		recentWindow: recentWindow{capacity: map[string]uint64{}},
		noteSet:      noteSet{noted: map[string]bool{}},
	}
	for _, d := range devices {
		if d.UUID == "" {
			continue
		}
		s.capacity[d.UUID] = d.MemoryTotal
		h, ok := g.handle(d.UUID)
		if !ok {
			s.note(fmt.Sprintf("NVML no longer lists %s; its memory is not sampled", d.UUID))
			continue
		}
		s.devices = append(s.devices, sampledDevice{uuid: d.UUID, handle: h})
	}
	return s
}

// Start samples once at once, then every interval until ctx ends or Stop
// is called. A second Start is ignored.
func (s *Sampler) Start(ctx context.Context) {
	s.mu.Lock()
	if s.done != nil {
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		s.Tick()
		ticker := time.NewTicker(s.interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				s.TickAt(now)
			}
		}
	}()
}

// Stop ends sampling and returns every sample kept (evenly thinned when
// there were more than the bound). It may be called without Start and more
// than once.
func (s *Sampler) Stop() []Sample {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Tick takes one sample now. Start calls it on its timer; tests call it
// directly to drive sampling without sleeping.
func (s *Sampler) Tick() { s.TickAt(time.Now()) }

// TickAt takes one sample stamped now: one GetMemoryInfo and one
// GetComputeRunningProcesses per device.
func (s *Sampler) TickAt(now time.Time) {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	var job map[int]bool
	if s.jobPIDs != nil {
		pids := s.jobPIDs()
		job = make(map[int]bool, len(pids))
		for _, p := range pids {
			job[p] = true
		}
	}
	first := s.baseline == nil
	if first {
		s.baseline = map[int]bool{}
	}
	sample := Sample{Time: now, DeviceUsed: make(map[string]uint64, len(s.devices))}
	var matched, figureMissing, strangers bool
	var failures []string
	totals := make(map[string]uint64, len(s.devices))
	for _, d := range s.devices {
		mem, ret := d.handle.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			failures = append(failures, fmt.Sprintf("reading the memory of %s failed: %v", d.uuid, ret))
			continue
		}
		sample.DeviceUsed[d.uuid] = mem.Used
		totals[d.uuid] = mem.Total
		procs, ret := d.handle.GetComputeRunningProcesses()
		if ret != nvml.SUCCESS {
			failures = append(failures, fmt.Sprintf("listing the processes on %s failed: %v", d.uuid, ret))
			continue
		}
		for _, p := range procs {
			pid := int(p.Pid)
			switch {
			case job[pid]:
				matched = true
				if usedKnown(p.UsedGpuMemory) {
					sample.JobUsed += p.UsedGpuMemory
				} else {
					figureMissing = true
				}
			case first:
				s.baseline[pid] = true
			case !s.baseline[pid] && p.UsedGpuMemory > 0:
				strangers = true
			}
		}
	}
	sample.JobUsedKnown = matched && !figureMissing
	s.record(sample, totals, failures, len(job) > 0 && !matched && strangers, matched && figureMissing)
}

// record stores a sample and updates peaks and notes.
func (s *Sampler) record(sample Sample, totals map[string]uint64, failures []string, containerPIDs, figureMissing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range failures {
		s.note(f)
	}
	for uuid, total := range totals {
		s.capacity[uuid] = total
	}
	if containerPIDs && !s.containerPIDs {
		s.containerPIDs = true
		s.note("NVML's process ids do not match the job's (a container without the host's pid namespace?): GPU memory figures are for the whole device, other processes included")
	}
	if figureMissing {
		s.note("NVML does not report per-process GPU memory here: GPU memory figures are for the whole device, other processes included")
	}
	if sample.JobUsedKnown {
		s.jobPeakAt = atPeak(sample.JobUsed, sample.Time, &s.jobPeak, &s.jobPeakKnown, s.jobPeakAt)
	}
	if len(sample.DeviceUsed) > 0 {
		var sum uint64
		for _, u := range sample.DeviceUsed {
			sum += u
		}
		s.devicePeakAt = atPeak(sum, sample.Time, &s.devicePeak, &s.devicePeakKnown, s.devicePeakAt)
	}
	if len(s.early) < earlyTicks {
		var level uint64
		if sample.JobUsedKnown {
			level = sample.JobUsed
		}
		s.early = append(s.early, level)
	}
	s.recent = append(s.recent, sample)
	if len(s.recent) > nearCapacityWindow {
		s.recent = s.recent[len(s.recent)-nearCapacityWindow:]
	}
	if s.ticks%s.stride == 0 {
		s.samples = append(s.samples, sample)
		if len(s.samples) >= s.maxSamples {
			s.thin()
		}
	}
	s.ticks++
}

// atPeak raises *peak to level and returns when the peak was last seen:
// at, when level is it (to within 1/flatShare: a held reserve moves by a
// stray workspace), else last. The peak only rises, and a rise is seen at
// once, so the last sample near the peak as it stood then is the last near
// the final one.
func atPeak(level uint64, at time.Time, peak *uint64, known *bool, last time.Time) time.Time {
	if !*known || level > *peak {
		*peak, *known = level, true
	}
	if level >= *peak-*peak/flatShare {
		return at
	}
	return last
}

// thin halves the kept samples, keeping every other one, and from then on
// keeps every other tick, so the timeline stays evenly spaced.
func (t *timeline) thin() {
	kept := t.samples[:0]
	for i := 0; i < len(t.samples); i += 2 {
		kept = append(kept, t.samples[i])
	}
	clear(t.samples[len(kept):])
	t.samples = kept
	t.stride *= 2
}

// note adds a message once; the Sampler's mu must be held.
func (n *noteSet) note(msg string) {
	if n.noted[msg] {
		return
	}
	n.noted[msg] = true
	n.notes = append(n.notes, msg)
}

// Peak returns the job's own peak memory (summed over its devices) when
// NVML attributed memory to the job, else the peak of the devices' used
// memory. known is false when no sample had any figure, and when every
// sample found the job holding nothing: a job that ran out of memory
// between two samples was not seen, and "0 bytes" would say it used none.
func (s *Sampler) Peak() (bytes uint64, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobPeakKnown && !s.containerPIDs {
		return s.jobPeak, s.jobPeak > 0
	}
	return s.devicePeak, s.devicePeakKnown
}

// PeakAt is when the last sample at Peak's figure (to within 1/flatShare
// of it) was taken: the peak was held until then at least. A caching
// allocator keeps a step's memory reserved until the process ends, so a
// sample at the peak after the first step means the peak holds the step's
// memory; one that saw only the loaded level, the job ending between two
// samples, says nothing of it. known as Peak's.
func (s *Sampler) PeakAt() (at time.Time, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobPeakKnown && !s.containerPIDs {
		return s.jobPeakAt, s.jobPeak > 0
	}
	return s.devicePeakAt, s.devicePeakKnown
}

// JobAttributed reports whether Peak is the job's own figure rather than
// the devices'.
func (s *Sampler) JobAttributed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobPeakKnown && !s.containerPIDs
}

// Notes are the things the user should know about the figures, each once.
func (s *Sampler) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// NearCapacity reports whether, in any of the last few samples (the last
// two seconds at 500ms), a device's used memory was within the fraction
// within (e.g. 0.02) of its capacity: evidence for a "probable OOM" when a
// job dies without printing one.
func (s *Sampler) NearCapacity(within float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sample := range s.recent {
		for uuid, used := range sample.DeviceUsed {
			total := s.capacity[uuid]
			if total == 0 {
				continue
			}
			if float64(used) >= float64(total)*(1-within) {
				return true
			}
		}
	}
	return false
}
