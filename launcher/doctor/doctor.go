// Package doctor is `vramrun doctor`: what the driver, the GPUs and the
// job's Python look like, and plainly what is wrong, including the hardware
// faults that no software fix can help (doctor --json).
package doctor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/gpu"
)

// Options configure a check. The zero value checks the real machine.
type Options struct {
	// Python is the job's interpreter, "python3" when empty; a bare name
	// is looked up in Env's PATH.
	Python string
	// Env is the job's environment (CUDA_VISIBLE_DEVICES, PATH, ...); nil
	// means this process's.
	Env map[string]string
	// XidWatch is how long to listen for Xid errors, 3s when zero; a
	// negative value skips the watch.
	XidWatch time.Duration
	// PythonTimeout bounds the Python probe, 20s when zero.
	PythonTimeout time.Duration
	// Open opens NVML; gpu.Open(nil) when nil. Tests inject a fake.
	Open func() (*gpu.GPUs, error)
}

// Report is the doctor's finding, in the doctor --json shape (README).
type Report struct {
	NVML     NVMLInfo    `json:"nvml"`
	GPUs     []GPUReport `json:"gpus"`
	Python   PythonInfo  `json:"python"`
	Problems []Finding   `json:"problems"`
	Notes    []Finding   `json:"notes"`
}

// NVMLInfo says whether NVML could be used.
type NVMLInfo struct {
	Available bool `json:"available"`
	// Error says why not; "" when available.
	Error  string `json:"error"`
	Driver string `json:"driver"`
}

// GPUReport is one GPU as NVML sees it.
type GPUReport struct {
	Index int `json:"index"`
	// CUDAIndex is the index the job sees it under, -1 when hidden from it.
	CUDAIndex        int    `json:"cuda_index"`
	Name             string `json:"name"`
	UUID             string `json:"uuid"`
	MemoryTotalBytes uint64 `json:"memory_total_bytes"`
	MemoryUsedBytes  uint64 `json:"memory_used_bytes"`
	// ComputeCapability is "major.minor", "" unknown.
	ComputeCapability string        `json:"compute_capability"`
	BF16              bool          `json:"bf16"`
	Processes         []gpu.Process `json:"processes"`
	Health            gpu.Health    `json:"health"`
}

// Finding is one problem or note: what is the case, and what to do.
type Finding struct {
	Text   string `json:"text"`
	Advice string `json:"advice"`
	// Hardware is true when no software fix can help.
	Hardware bool `json:"hardware"`
}

// Run checks NVML, the GPUs and the job's Python. It never fails: what
// cannot be checked is itself a finding. The Xid watch and the Python
// probe run side by side.
func Run(ctx context.Context, opts Options) Report {
	opts = withDefaults(opts)
	r := Report{GPUs: []GPUReport{}, Problems: []Finding{}, Notes: []Finding{}}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Python = probePython(ctx, opts)
	}()

	g, err := opts.Open()
	if err != nil {
		r.NVML.Error = err.Error()
		r.problem(err.Error(), "Install the NVIDIA driver (nvidia-smi should work), or give the container access to the GPU. Without NVML vramrun still runs jobs, but cannot measure GPU memory or pick a GPU.", false)
	} else {
		defer g.Close()
		r.NVML.Available = true
		r.NVML.Driver = g.Driver()
		r.checkGPUs(ctx, g, opts)
	}
	wg.Wait()
	r.pythonFindings()
	return r
}

func withDefaults(o Options) Options {
	if o.Python == "" {
		o.Python = "python3"
	}
	if o.XidWatch == 0 {
		o.XidWatch = 3 * time.Second
	}
	if o.PythonTimeout <= 0 {
		o.PythonTimeout = 20 * time.Second
	}
	if o.Open == nil {
		o.Open = func() (*gpu.GPUs, error) { return gpu.Open(nil) }
	}
	if o.Env == nil {
		o.Env = processEnv()
	}
	return o
}

// checkGPUs fills the GPU part of the report.
func (r *Report) checkGPUs(ctx context.Context, g *gpu.GPUs, opts Options) {
	all, err := g.Devices()
	if err != nil {
		r.problem(err.Error(), "Check the driver with nvidia-smi; reboot if it cannot list the GPUs either.", false)
		return
	}
	if len(all) == 0 {
		r.problem("NVML works but lists no GPU.", "Check that the GPU is seated and powered (nvidia-smi should list it), and that the container was given GPUs.", false)
		return
	}
	visible, visibilityNotes := gpu.ResolveVisible(all, opts.Env)
	cudaIndex := map[string]int{}
	for _, d := range visible {
		cudaIndex[d.UUID] = d.CUDAIndex
		if d.ParentUUID != "" {
			cudaIndex[d.ParentUUID] = d.CUDAIndex
		}
	}
	if len(visible) == 0 {
		r.problem(fmt.Sprintf("The job sees no GPU: CUDA_VISIBLE_DEVICES=%q hides all %d.", opts.Env["CUDA_VISIBLE_DEVICES"], len(all)),
			"Unset CUDA_VISIBLE_DEVICES or list GPUs in it by index or UUID (nvidia-smi -L).", false)
	}
	migNotes := map[string]bool{}
	for _, d := range visible {
		migNotes[gpu.MIGVisibilityNote(d)] = true
	}
	for _, n := range visibilityNotes {
		// The MIG note below says more about MIG-mode GPUs.
		if !migNotes[n] {
			r.note(sentence(n), "")
		}
	}

	xids := r.watchXid(ctx, g, all, opts.XidWatch)
	for _, d := range all {
		rep := GPUReport{
			Index: d.Index, CUDAIndex: -1, Name: d.Name, UUID: d.UUID,
			MemoryTotalBytes: d.MemoryTotal, MemoryUsedBytes: d.MemoryUsed,
			BF16: d.BF16, Processes: d.Processes, Health: g.Health(d),
		}
		if i, ok := cudaIndex[d.UUID]; ok && d.UUID != "" {
			rep.CUDAIndex = i
		}
		if d.ComputeMajor > 0 {
			rep.ComputeCapability = fmt.Sprintf("%d.%d", d.ComputeMajor, d.ComputeMinor)
		}
		if rep.Processes == nil {
			rep.Processes = []gpu.Process{}
		}
		for _, x := range xids {
			if x.DeviceUUID == d.UUID {
				rep.Health.XidEvents = append(rep.Health.XidEvents, x)
			}
		}
		r.GPUs = append(r.GPUs, rep)
		r.gpuFindings(d, rep.Health)
	}
}

// watchXid listens for critical Xid events on every GPU for d.
func (r *Report) watchXid(ctx context.Context, g *gpu.GPUs, all []gpu.Device, d time.Duration) []gpu.XidEvent {
	var readable []gpu.Device
	for _, dev := range all {
		if dev.UUID != "" {
			readable = append(readable, dev)
		}
	}
	if d < 0 || len(readable) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var events []gpu.XidEvent
	err := g.WatchXid(ctx, readable, func(e gpu.XidEvent) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	})
	if err != nil {
		r.note(fmt.Sprintf("Xid errors could not be watched: %v.", err), "Check the kernel log (dmesg | grep -i xid) for NVRM Xid lines instead.")
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]gpu.XidEvent(nil), events...)
}

func (r *Report) problem(text, advice string, hardware bool) {
	r.Problems = append(r.Problems, Finding{Text: text, Advice: advice, Hardware: hardware})
}

func (r *Report) note(text, advice string) {
	r.Notes = append(r.Notes, Finding{Text: text, Advice: advice})
}

// ExitCode is 1 when the report has a problem, else 0.
func (r Report) ExitCode() int {
	if len(r.Problems) > 0 {
		return 1
	}
	return 0
}
