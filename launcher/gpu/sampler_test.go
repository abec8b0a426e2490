package gpu

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/human"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

// jobTree is a settable job process list, as the launcher would provide.
type jobTree struct {
	mu   sync.Mutex
	pids []int
}

func (j *jobTree) set(pids ...int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pids = pids
}

func (j *jobTree) get() []int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]int(nil), j.pids...)
}

func setProcs(m *gputest.Machine, i int, used uint64, procs ...nvml.ProcessInfo) {
	m.Update(i, func(g *gputest.GPU) {
		g.Used = used
		g.Processes = procs
	})
}

func TestSamplerAttributesTheJobsOwnMemory(t *testing.T) {
	other := gputest.Proc(9000, 4*gib)
	gpu0 := a100("GPU-aaaa", 4*gib)
	gpu0.Processes = []nvml.ProcessInfo{other}
	m := gputest.New("550", gpu0, a100("GPU-bbbb", 0))
	g := openFake(t, m, nil)
	devs := devicesOf(t, g)
	job := &jobTree{}
	s := NewSampler(g, devs, time.Second, job.get)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	s.TickAt(base) // before the job has a GPU context
	job.set(100, 101)
	setProcs(m, 0, 14*gib, other, gputest.Proc(100, 10*gib))
	setProcs(m, 1, 6*gib, gputest.Proc(101, 6*gib))
	s.TickAt(base.Add(time.Second))
	setProcs(m, 0, 9*gib, other, gputest.Proc(100, 5*gib))
	setProcs(m, 1, 6*gib, gputest.Proc(101, 6*gib))
	s.TickAt(base.Add(2 * time.Second))

	samples := s.Stop()
	if len(samples) != 3 {
		t.Fatalf("got %d samples", len(samples))
	}
	if samples[0].JobUsedKnown {
		t.Errorf("first sample has no job process, yet JobUsedKnown")
	}
	if !samples[1].JobUsedKnown || samples[1].JobUsed != 16*gib {
		t.Errorf("sample 1: job used %d known %v, want 16 GiB over both devices", samples[1].JobUsed, samples[1].JobUsedKnown)
	}
	if samples[1].DeviceUsed["GPU-aaaa"] != 14*gib || samples[1].DeviceUsed["GPU-bbbb"] != 6*gib || !samples[1].Time.Equal(base.Add(time.Second)) {
		t.Errorf("sample 1 = %+v", samples[1])
	}
	if peak, known := s.Peak(); !known || peak != 16*gib || !s.JobAttributed() {
		t.Errorf("Peak() = %d, %v (attributed %v), want the job's 16 GiB", peak, known, s.JobAttributed())
	}
	if notes := s.Notes(); len(notes) != 0 {
		t.Errorf("notes = %q", notes)
	}
}

// In a container NVML lists host pids, which never match the job's.
func TestSamplerContainerFallbackNotesOnce(t *testing.T) {
	other := gputest.Proc(9000, 2*gib)
	gpu0 := a100("GPU-aaaa", 2*gib)
	gpu0.Processes = []nvml.ProcessInfo{other}
	m := gputest.New("550", gpu0)
	g := openFake(t, m, nil)
	job := &jobTree{}
	job.set(12, 13)
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	s.Tick()
	for _, used := range []uint64{20, 50, 30} {
		setProcs(m, 0, (used+2)*gib, other, gputest.Proc(777123, used*gib))
		s.Tick()
	}
	notes := s.Notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "do not match") {
		t.Fatalf("notes = %q, want the container note once", notes)
	}
	if peak, known := s.Peak(); !known || peak != 52*gib || s.JobAttributed() {
		t.Errorf("Peak() = %s, %v (attributed %v), want the device peak 52 GiB", human.Bytes(int64(peak)), known, s.JobAttributed())
	}
	for _, sample := range s.Stop() {
		if sample.JobUsedKnown {
			t.Errorf("sample claims the job's figure: %+v", sample)
		}
	}
}

// Another process that was there before the job is no reason to fall back.
func TestSamplerNoFallbackForEarlierProcesses(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 3*gib)
	gpu0.Processes = []nvml.ProcessInfo{gputest.Proc(9000, 3*gib)}
	g := openFake(t, gputest.New("550", gpu0), nil)
	job := &jobTree{}
	job.set(12)
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	s.Tick()
	s.Tick()
	if notes := s.Notes(); len(notes) != 0 {
		t.Errorf("notes = %q", notes)
	}
	if peak, known := s.Peak(); !known || peak != 3*gib || s.JobAttributed() {
		t.Errorf("Peak() = %d, %v: want the device figure, unattributed", peak, known)
	}
}

func TestSamplerNearCapacity(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa", 0))
	g := openFake(t, m, nil)
	s := NewSampler(g, devicesOf(t, g), time.Second, nil)
	if s.NearCapacity(0.02) {
		t.Error("near capacity before any sample")
	}
	m.Update(0, func(x *gputest.GPU) { x.Used = 79 * gib }) // 98.75 %
	s.Tick()
	m.Update(0, func(x *gputest.GPU) { x.Used = 1 * gib }) // the job died, memory released
	s.Tick()
	if !s.NearCapacity(0.02) {
		t.Error("full GPU just before the end not seen")
	}
	if s.NearCapacity(0.001) {
		t.Error("98.75 % counted as within 0.1 % of capacity")
	}
	for i := 0; i < nearCapacityWindow; i++ {
		s.Tick()
	}
	if s.NearCapacity(0.02) {
		t.Error("an old peak still counts as 'before the end'")
	}
}

func TestSamplerThinsEvenly(t *testing.T) {
	g := openFake(t, gputest.New("550", a100("GPU-aaaa", 0)), nil)
	s := NewSampler(g, devicesOf(t, g), time.Second, nil)
	s.maxSamples = 8
	base := time.Unix(0, 0)
	for i := 0; i < 40; i++ {
		s.TickAt(base.Add(time.Duration(i) * time.Second))
	}
	samples := s.Stop()
	if len(samples) > 8 || len(samples) < 4 {
		t.Fatalf("kept %d samples, want between 4 and 8", len(samples))
	}
	step := samples[1].Time.Sub(samples[0].Time)
	for i := 1; i < len(samples); i++ {
		if d := samples[i].Time.Sub(samples[i-1].Time); d != step {
			t.Fatalf("uneven spacing: %v then %v", step, d)
		}
	}
	if !samples[0].Time.Equal(base) {
		t.Errorf("first sample dropped")
	}
}

func TestSamplerStartStop(t *testing.T) {
	g := openFake(t, gputest.New("550", a100("GPU-aaaa", 5*gib)), nil)
	s := NewSampler(g, devicesOf(t, g), time.Hour, nil)
	s.Start(context.Background())
	s.Start(context.Background()) // ignored
	samples := s.Stop()
	if len(samples) != 1 || samples[0].DeviceUsed["GPU-aaaa"] != 5*gib {
		t.Fatalf("Start must sample once at once: %+v", samples)
	}
	if again := s.Stop(); len(again) != 1 {
		t.Errorf("second Stop returned %d samples", len(again))
	}
}

func TestSamplerNotesNVMLFailureOnce(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa", 5*gib))
	g := openFake(t, m, nil)
	s := NewSampler(g, devicesOf(t, g), time.Second, nil)
	m.Update(0, func(x *gputest.GPU) { x.Lost = true })
	s.Tick()
	s.Tick()
	if notes := s.Notes(); len(notes) != 1 || !strings.Contains(notes[0], "GPU_IS_LOST") {
		t.Errorf("notes = %q", notes)
	}
	if _, known := s.Peak(); known {
		t.Error("a peak without any figure")
	}
}

func TestSamplesRoundTrip(t *testing.T) {
	in := []Sample{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), DeviceUsed: map[string]uint64{"GPU-a": 1 << 33, "GPU-b": 7}, JobUsed: 1 << 32, JobUsedKnown: true},
		{Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), DeviceUsed: map[string]uint64{"GPU-a": 5}},
	}
	var buf bytes.Buffer
	if err := WriteSamples(&buf, in); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"job_used":null`) || !strings.Contains(lines[0], `"time":"2026-01-02T03:04:05.123456789Z"`) {
		t.Errorf("written:\n%s", buf.String())
	}
	out, err := ReadSamples(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestReadSamplesNamesTheBadLine(t *testing.T) {
	text := `{"time":"2026-01-02T03:04:05Z","device_used":{},"job_used":null}` + "\n\n" + `{"time":"yesterday","device_used":{}}` + "\n"
	_, err := ReadSamples(strings.NewReader(text))
	if err == nil || !strings.HasPrefix(err.Error(), "samples line 3:") {
		t.Errorf("error = %v, want one naming line 3", err)
	}
	_, err = ReadSamples(strings.NewReader("{not json\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "samples line 1:") {
		t.Errorf("error = %v, want one naming line 1", err)
	}
}

// One sampling tick on one GPU with a few processes. At the default 500ms
// interval, a core's share is ns/op / 5e8.
func BenchmarkSampleTick(b *testing.B) {
	gpu0 := a100("GPU-aaaa", 40*gib)
	gpu0.Processes = []nvml.ProcessInfo{gputest.Proc(100, 30*gib), gputest.Proc(101, 5*gib), gputest.Proc(9000, 5*gib)}
	m := gputest.New("550", gpu0)
	g, err := Open(m.Lib())
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	devs, err := g.Devices()
	if err != nil {
		b.Fatal(err)
	}
	s := NewSampler(g, devs, 500*time.Millisecond, func() []int { return []int{100, 101} })
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.TickAt(now)
	}
}

// TestSamplerJobSeenHoldingNothingHasNoPeak: NVML listed the job's
// process, but holding nothing at every sample (it ran out of memory
// between two): its peak is unknown, not "0 bytes".
func TestSamplerJobSeenHoldingNothingHasNoPeak(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	m := gputest.New("550", gpu0)
	g := openFake(t, m, nil)
	job := &jobTree{}
	s := NewSampler(g, devicesOf(t, g), time.Second, job.get)
	job.set(100)
	setProcs(m, 0, 0, gputest.Proc(100, 0))
	s.TickAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	samples := s.Stop()
	if len(samples) != 1 || !samples[0].JobUsedKnown {
		t.Fatalf("samples %+v: want one that saw the job", samples)
	}
	if peak, known := s.Peak(); known {
		t.Fatalf("Peak() = %d, known: want unknown", peak)
	}
}
