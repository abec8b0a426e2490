// Package gpuview is a run's view of its GPUs through NVML: the devices the
// job sees, preflight (who else holds memory), --pick-gpu, --wait-free, and
// each attempt's sampling and Xid watch. Every method works without NVML
// and then answers "unknown".
package gpuview

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/runner"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/profiles"
)

// Say is where the view's lines go.
type Say interface {
	Info(format string, args ...any)
	Warn(format string, args ...any)
}

// View is the run's NVML side; g is nil without NVML.
type View struct {
	g   *gpu.GPUs
	msg Say
	// poll is the sampling interval.
	poll time.Duration
	// devices are the GPUs the job sees, all every GPU, read at the start.
	devices, all []gpu.Device
}

// New reads the GPUs a job with env sees; poll is the sampling interval.
func New(g *gpu.GPUs, env map[string]string, poll time.Duration, msg Say) *View {
	v := &View{g: g, msg: msg, poll: poll}
	if g == nil {
		return v
	}
	all, err := g.Devices()
	if err != nil {
		msg.Warn("NVML: %v", err)
		v.g = nil
		return v
	}
	v.all = all
	devices, err := g.Visible(env)
	if err != nil {
		msg.Warn("NVML: %v", err)
	}
	v.devices = devices
	if len(devices) == 0 {
		msg.Info("NVML sees no GPU visible to the job; working from the job's output alone")
	}
	return v
}

// Model is the first visible GPU's name, or profiles.UnknownGPU.
func (v *View) Model() string {
	if len(v.devices) == 0 {
		return profiles.UnknownGPU
	}
	return v.devices[0].Name
}

// Key identifies the GPU model for learned state.
func (v *View) Key() profiles.GPUKey {
	if len(v.devices) == 0 {
		return profiles.GPUKey{Model: profiles.UnknownGPU}
	}
	return profiles.GPUKey{Model: v.devices[0].Name, TotalBytes: v.devices[0].MemoryTotal}
}

// BF16 is whether every visible GPU supports bf16; nil when unknown.
func (v *View) BF16() *bool { return bf16Of(v.devices) }

// Count is how many GPUs the job sees, 0 when unknown (no NVML).
func (v *View) Count() int { return len(v.devices) }

func bf16Of(devs []gpu.Device) *bool {
	if len(devs) == 0 {
		return nil
	}
	ok := true
	for _, d := range devs {
		if d.ComputeMajor == 0 {
			return nil
		}
		ok = ok && d.BF16
	}
	return &ok
}

// BF16Of says whether the GPUs a job with env would see support bf16 (nil
// when NVML cannot tell), for vramrun plan.
func BF16Of(g *gpu.GPUs, env map[string]string) *bool {
	devs, err := g.Visible(env)
	if err != nil {
		return nil
	}
	return bf16Of(devs)
}

// CountOf is how many GPUs a job with env would see, 0 when NVML cannot
// tell, for vramrun plan.
func CountOf(g *gpu.GPUs, env map[string]string) int {
	devs, err := g.Visible(env)
	if err != nil {
		return 0
	}
	return len(devs)
}

// Capacity is the first visible GPU's memory, 0 when unknown.
func (v *View) Capacity() int64 {
	if len(v.devices) == 0 {
		return 0
	}
	return int64(v.devices[0].MemoryTotal)
}

// Preflight names who holds memory on the job's GPUs before an attempt,
// and returns the devices to sample. earlier are the main pids of the run's
// earlier attempts: one of them still holding memory is a vramrun bug.
func (v *View) Preflight(env map[string]string, earlier []int) []gpu.Device {
	if v.g == nil || len(v.devices) == 0 {
		return nil
	}
	devs := v.devices
	if visible, err := v.g.Visible(env); err == nil && len(visible) > 0 {
		devs = visible
	}
	pf := v.g.Preflight(devs, v.all, earlier)
	for _, m := range pf.Messages {
		if len(pf.Stale) > 0 && strings.Contains(m, "earlier attempt") {
			v.msg.Warn("%s (this is a vramrun bug: please report it)", m)
			continue
		}
		v.msg.Info("%s", m)
	}
	return devs
}

// Pick moves the job to the visible GPU with the most free memory
// (--pick-gpu) by setting CUDA_VISIBLE_DEVICES to its UUID.
func (v *View) Pick(env map[string]string) map[string]string {
	if v.g == nil || len(v.devices) < 2 {
		return env
	}
	best := gpu.PickFreest(v.devices)
	if best.UUID == "" || best.UUID == v.devices[0].UUID && len(v.devices) == 1 {
		return env
	}
	out := make(map[string]string, len(env)+1)
	for k, val := range env {
		out[k] = val
	}
	out["CUDA_VISIBLE_DEVICES"] = best.UUID
	v.msg.Info("--pick-gpu: running on GPU %d (%s, %s free)", best.Index, best.Name, human.Bytes(int64(best.MemoryFree)))
	return out
}

// WaitFree waits up to d for other processes to release the job's GPUs.
func (v *View) WaitFree(ctx context.Context, d time.Duration) {
	if v.g == nil || len(v.devices) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	said := false
	err := v.g.WaitFree(ctx, v.devices, time.Second, nil, func(held []gpu.Process) {
		if !said {
			said = true
			v.msg.Info("waiting up to %s for other processes to release GPU memory", d)
		}
	})
	if err != nil {
		v.msg.Warn("%v; starting anyway", err)
	}
}

// Samples is what an attempt's sampling found.
type Samples struct {
	Peak, Capacity *int64
	// PeakAt is when a sample last saw the peak; zero when Peak is nil.
	PeakAt time.Time
	// PreStep is the job's level before its first step; nil unknown.
	PreStep *int64
	// File is the samples' file in the run folder, "" when none.
	File         string
	NearCapacity bool
	// Xid describes a hardware Xid seen during the attempt ("" none).
	Xid string
	// JobPIDs are the job's processes the sampler saw.
	JobPIDs []int
}

// Sampler samples one attempt and watches for Xid errors.
type Sampler struct {
	v       *View
	s       *gpu.Sampler
	devices []gpu.Device
	cancel  context.CancelFunc
	mu      sync.Mutex
	xids    []gpu.XidEvent
	seen    map[int]bool // the job's pids at any tick; mu
	done    chan struct{}
}

// StartSampler samples devices while the job whose main process is pid
// runs; Stop ends it.
func (v *View) StartSampler(ctx context.Context, devices []gpu.Device, pid int) *Sampler {
	a := &Sampler{v: v, devices: devices}
	if v.g == nil || len(devices) == 0 {
		return a
	}
	a.seen = map[int]bool{}
	a.s = gpu.NewSampler(v.g, devices, v.poll, func() []int {
		tree := runner.ProcessTree(pid)
		a.mu.Lock()
		for _, p := range tree {
			a.seen[p] = true
		}
		a.mu.Unlock()
		return tree
	})
	ctx, a.cancel = context.WithCancel(ctx)
	a.s.Start(ctx)
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		_ = v.g.WatchXid(ctx, devices, func(e gpu.XidEvent) {
			a.mu.Lock()
			a.xids = append(a.xids, e)
			a.mu.Unlock()
		})
	}()
	return a
}

// xidStopWait is how long Stop waits for the Xid watch to return.
const xidStopWait = 50 * time.Millisecond

// Stop ends sampling and keeps attempt n's samples in the run folder.
func (a *Sampler) Stop(runDir string, n int) Samples {
	var out Samples
	if a.s == nil {
		return out
	}
	samples := a.s.Stop()
	a.cancel()
	// The Xid watch returns at the end of its current wait, up to a
	// second on; what it has seen is kept as it comes, and an attempt
	// need not end later for an Xid after its job ended.
	wait := time.NewTimer(xidStopWait)
	select {
	case <-a.done:
	case <-wait.C:
	}
	wait.Stop()
	for _, note := range a.s.Notes() {
		a.v.msg.Info("%s", note)
	}
	if peak, ok := a.s.Peak(); ok {
		p := int64(peak)
		out.Peak = &p
		out.PeakAt, _ = a.s.PeakAt()
	}
	if level, ok := a.s.PreStepLevel(); ok {
		l := int64(level)
		out.PreStep = &l
	}
	c := int64(a.devices[0].MemoryTotal)
	out.Capacity = &c
	out.NearCapacity = a.s.NearCapacity(0.02)
	name := fmt.Sprintf("attempt-%d.samples.jsonl", n)
	if f, err := os.Create(filepath.Join(runDir, name)); err == nil {
		if gpu.WriteSamples(f, samples) == nil {
			out.File = name
		}
		f.Close()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out.JobPIDs = slices.Sorted(maps.Keys(a.seen))
	for _, e := range a.xids {
		out.Xid = fmt.Sprintf("Xid %d on %s: %s", e.Xid, e.DeviceUUID, gpu.XidMeaning(e.Xid))
	}
	return out
}
