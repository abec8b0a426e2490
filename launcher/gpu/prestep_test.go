package gpu

import (
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

const mib = gib / 1024

// sampleJob ticks a sampler once per level (MiB the job's pid 100 holds,
// -1 for a tick before the job is listed) and returns it.
func sampleJob(t *testing.T, levels ...int64) *Sampler {
	t.Helper()
	m := gputest.New("550", a100("GPU-aaaa", 0))
	g := openFake(t, m, nil)
	job := &jobTree{}
	job.set(100)
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, level := range levels {
		if level < 0 {
			setProcs(m, 0, 0)
		} else {
			setProcs(m, 0, uint64(level)*mib, gputest.Proc(100, uint64(level)*mib))
		}
		s.TickAt(base.Add(time.Duration(i) * time.Second))
	}
	return s
}

func TestPreStepLevelIsThePlateauBeforeTheFirstStep(t *testing.T) {
	for _, c := range []struct {
		name   string
		levels []int64
		want   int64 // MiB; 0 unknown
	}{
		// The CUDA context, the weights arriving, the loaded job waiting
		// for its first batch, then the step.
		{"load, plateau, step", []int64{-1, 500, 2000, 6000, 6000, 6000, 20000, 18000, 20000}, 6000},
		// The context's own plateau is lower than the loaded one.
		{"highest plateau", []int64{500, 500, 6000, 6000, 20000}, 6000},
		// A stray workspace within 1/256 of the peak is still level; the
		// lower of the two is the level held.
		{"within the tolerance", []int64{6000, 6050, 20000}, 6000},
		// An evaluation later peaks higher: the first step, past half of
		// that peak, ends the search, so its own level is not taken.
		{"later higher peak", []int64{4000, 4000, 20000, 20000, 20000, 36000}, 4000},
		{"rise at once", []int64{500, 20000, 20000}, 0},
		{"one sample", []int64{6000}, 0},
		{"a ramp is no plateau", []int64{1000, 2000, 3000, 4000, 5000, 20000}, 0},
		// Never seen rising: the level may be the step's own.
		{"no rise seen", []int64{6000, 6000, 6000}, 0},
		// The plateau is at half the peak or more: not told from the step.
		{"plateau past half the peak", []int64{12000, 12000, 20000}, 0},
		// A tick that did not see the job breaks the pair.
		{"gap between", []int64{6000, -1, 6000, 20000}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, known := sampleJob(t, c.levels...).PreStepLevel()
			if c.want == 0 {
				if known {
					t.Errorf("PreStepLevel() = %d MiB, want unknown", got/mib)
				}
				return
			}
			if !known || got != uint64(c.want)*mib {
				t.Errorf("PreStepLevel() = %d MiB, %v; want %d MiB", got/mib, known, c.want)
			}
		})
	}
}

// Memory NVML could not attribute to the job (container pids) gives no
// pre-step level: the device figures hold other processes too.
func TestPreStepLevelNeedsTheJobsOwnFigures(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa", 0))
	g := openFake(t, m, nil)
	job := &jobTree{}
	job.set(12)
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	s.Tick()
	for _, used := range []uint64{6, 6, 20} {
		setProcs(m, 0, used*gib, gputest.Proc(777123, used*gib))
		s.Tick()
	}
	if level, known := s.PreStepLevel(); known {
		t.Errorf("PreStepLevel() = %d, known, from unattributed figures", level)
	}
}

// The plateau is found however long the attempt ran: the first ticks are
// kept whole while the timeline thins.
func TestPreStepLevelSurvivesThinning(t *testing.T) {
	levels := []int64{6000, 6000}
	for range 100 {
		levels = append(levels, 20000)
	}
	s := sampleJob(t)
	s.maxSamples = 8
	for i, level := range levels {
		s.record(Sample{Time: time.Unix(int64(i), 0), JobUsed: uint64(level) * mib, JobUsedKnown: true,
			DeviceUsed: map[string]uint64{"GPU-aaaa": uint64(level) * mib}}, nil, nil, false, false)
	}
	if got, known := s.PreStepLevel(); !known || got != 6000*mib {
		t.Errorf("PreStepLevel() = %d MiB, %v; want 6000 MiB", got/mib, known)
	}
	if kept := len(s.Stop()); kept > 8 {
		t.Errorf("kept %d samples, want the timeline thinned to 8", kept)
	}
}

// PeakAt is when the last sample at the peak was taken, a stray
// workspace's tolerance aside: a job's reserve holds the step's memory to
// its end, and a job that ended between two samples was last seen at its
// loaded level.
func TestPeakAtIsTheLastSampleAtThePeak(t *testing.T) {
	for _, c := range []struct {
		name   string
		levels []int64
		want   int // the sample's index
	}{
		{"the step's reserve held to the end", []int64{-1, 500, 6000, 6000, 20000, 20000, 20000, -1}, 6},
		{"within the tolerance", []int64{6000, 20050, 20000, -1}, 2},
		{"a later, higher peak", []int64{6000, 20000, 20000, 36000, 20000}, 3},
		{"seen only loaded", []int64{500, 6000, 6000, -1, -1}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			at, known := sampleJob(t, c.levels...).PeakAt()
			want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(c.want) * time.Second)
			if !known || !at.Equal(want) {
				t.Errorf("PeakAt() = %v, %v; want %v", at, known, want)
			}
		})
	}
}

// With the devices' figures (container pids), PeakAt follows their peak:
// the job's end lowers them.
func TestPeakAtOfTheDeviceFigures(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa", 0))
	g := openFake(t, m, nil)
	job := &jobTree{}
	job.set(12)
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.TickAt(base)
	for i, used := range []uint64{6, 20, 20, 0} {
		if used == 0 {
			setProcs(m, 0, 0)
		} else {
			setProcs(m, 0, used*gib, gputest.Proc(777123, used*gib))
		}
		s.TickAt(base.Add(time.Duration(i+1) * time.Second))
	}
	if at, known := s.PeakAt(); !known || !at.Equal(base.Add(3*time.Second)) {
		t.Errorf("PeakAt() = %v, %v; want the third second", at, known)
	}
}
