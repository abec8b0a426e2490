package gpu

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Device is one GPU, or one MIG instance when a job names it in
// CUDA_VISIBLE_DEVICES, as NVML saw it when it was read.
//
// Its groups are embedded, in field order, so that every field reads (and
// encodes, in JSON and elsewhere) as a field of Device itself.
type Device struct {
	// Index is NVML's index (PCI bus order). A MIG instance has its GPU's.
	Index int
	// CUDAIndex is the index the job sees (position in CUDA's order, after
	// CUDA_VISIBLE_DEVICES), -1 when the job does not see the device or the
	// device was not resolved against an environment (Devices).
	CUDAIndex int
	// UUID is "GPU-..." for a whole GPU, "MIG-..." for a MIG instance.
	UUID string
	Name string
	Memory
	Capability
	// Processes are NVML's compute processes on the device, largest first.
	Processes []Process
	// Utilization is the GPU's busy percentage, -1 when unknown (also
	// under MIG, where NVML does not report it).
	Utilization int
	MIGTopology
	// Problem is set when NVML could not read the device ("GPU is lost").
	Problem string
}

// Memory is a Device's memory figures in bytes; for a MIG instance, the
// instance's own.
type Memory struct {
	MemoryTotal, MemoryUsed, MemoryFree uint64
}

// Capability is what a Device can compute.
type Capability struct {
	// ComputeMajor.ComputeMinor is the CUDA compute capability, 0.0 unknown.
	ComputeMajor, ComputeMinor int
	// BF16 is true from compute capability 8.0 on.
	BF16 bool
}

// MIGTopology places a Device in MIG: a GPU in MIG mode and its
// instances, or the GPU a MIG instance belongs to.
type MIGTopology struct {
	// MIG is true when the GPU is in MIG mode (for a MIG instance: always).
	MIG bool
	// MIGInstances are a MIG-mode GPU's instances.
	MIGInstances []MIGInstance
	// ParentUUID is the GPU's UUID when this Device is a MIG instance.
	ParentUUID string
}

// MIGInstance is one MIG device of a GPU in MIG mode.
type MIGInstance struct {
	UUID string `json:"uuid"`
	// GPUInstance and ComputeInstance are the ids of the older
	// "MIG-GPU-<uuid>/<gi>/<ci>" naming; -1 unknown.
	GPUInstance     int       `json:"gpu_instance"`
	ComputeInstance int       `json:"compute_instance"`
	MemoryTotal     uint64    `json:"memory_total_bytes"`
	MemoryUsed      uint64    `json:"memory_used_bytes"`
	Processes       []Process `json:"processes"`
}

// Process is a compute process holding GPU memory.
type Process struct {
	PID int `json:"pid"`
	// Name is /proc/<pid>/comm, "" when unknown (another pid namespace,
	// the process is gone, or no permission).
	Name string `json:"name"`
	// UsedBytes is the memory NVML attributes to it; 0 when NVML does not
	// know (see UsedKnown).
	UsedBytes uint64 `json:"used_bytes"`
	// UsedKnown is false when NVML reports the process without a figure
	// (some drivers, some permissions).
	UsedKnown bool `json:"used_known"`
}

// Label names a process for messages: "pid 1234 (python)".
func (p Process) Label() string {
	if p.Name == "" {
		return fmt.Sprintf("pid %d", p.PID)
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Name)
}

// Label names a device for messages: "GPU 0 (NVIDIA A100-SXM4-80GB)".
func (d Device) Label() string {
	name := d.Name
	if name == "" {
		name = d.UUID
	}
	if d.ParentUUID != "" {
		return fmt.Sprintf("GPU %d MIG instance %s", d.Index, d.UUID)
	}
	return fmt.Sprintf("GPU %d (%s)", d.Index, name)
}

// Devices reads every GPU NVML enumerates, in NVML (PCI bus) order. A GPU
// NVML cannot read is returned with Problem set rather than failing the
// whole call; the error is only for NVML failing to count its GPUs.
func (g *GPUs) Devices() ([]Device, error) {
	n, ret := g.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("NVML could not count the GPUs: %v", ret)
	}
	devs := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		devs = append(devs, g.readDevice(i))
	}
	return devs, nil
}

// readDevice fills one Device and records its handles for later lookups by
// UUID.
func (g *GPUs) readDevice(i int) Device {
	d := Device{Index: i, CUDAIndex: -1, Utilization: -1}
	h, ret := g.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		d.Problem = fmt.Sprintf("NVML cannot open GPU %d: %v", i, ret)
		return d
	}
	uuid, ret := h.GetUUID()
	if ret != nvml.SUCCESS {
		d.Problem = fmt.Sprintf("NVML cannot read GPU %d: %v", i, ret)
		return d
	}
	d.UUID = uuid
	g.remember(uuid, "", h)
	if name, ret := h.GetName(); ret == nvml.SUCCESS {
		d.Name = name
	}
	if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotal, d.MemoryUsed, d.MemoryFree = mem.Total, mem.Used, mem.Free
	} else {
		d.Problem = fmt.Sprintf("NVML cannot read the memory of GPU %d: %v", i, ret)
	}
	if major, minor, ret := h.GetCudaComputeCapability(); ret == nvml.SUCCESS {
		d.ComputeMajor, d.ComputeMinor = major, minor
		d.BF16 = major >= 8
	}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		d.Utilization = int(u.Gpu)
	}
	procDir := g.procDirectory()
	d.Processes = readProcesses(h, procDir)
	if current, _, ret := h.GetMigMode(); ret == nvml.SUCCESS && current == nvml.DEVICE_MIG_ENABLE {
		d.MIG = true
		d.MIGInstances = g.readMIG(h, uuid, procDir)
		for _, m := range d.MIGInstances {
			d.Processes = mergeProcesses(d.Processes, m.Processes)
		}
	}
	return d
}

// readMIG lists a MIG-mode GPU's instances. Slots without an instance
// answer ERROR_NOT_FOUND and are skipped.
func (g *GPUs) readMIG(h nvml.Device, parent, procDir string) []MIGInstance {
	slots, ret := h.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return nil
	}
	var out []MIGInstance
	for i := 0; i < slots; i++ {
		mh, ret := h.GetMigDeviceHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		uuid, ret := mh.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		g.remember(uuid, parent, mh)
		m := MIGInstance{UUID: uuid, GPUInstance: -1, ComputeInstance: -1}
		if gi, ret := mh.GetGpuInstanceId(); ret == nvml.SUCCESS {
			m.GPUInstance = gi
		}
		if ci, ret := mh.GetComputeInstanceId(); ret == nvml.SUCCESS {
			m.ComputeInstance = ci
		}
		if mem, ret := mh.GetMemoryInfo(); ret == nvml.SUCCESS {
			m.MemoryTotal, m.MemoryUsed = mem.Total, mem.Used
		}
		m.Processes = readProcesses(mh, procDir)
		out = append(out, m)
	}
	return out
}

func (g *GPUs) remember(uuid, parent string, h nvml.Device) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handles[uuid] = h
	if parent != "" {
		g.parents[uuid] = parent
	}
}

func (g *GPUs) procDirectory() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.procDir
}

// readProcesses lists a device's compute processes with their names,
// largest first; nil when NVML cannot tell.
func readProcesses(h nvml.Device, procDir string) []Process {
	procs, _ := listProcesses(h, procDir)
	return procs
}

// listProcesses is readProcesses that also says whether NVML answered.
func listProcesses(h nvml.Device, procDir string) ([]Process, bool) {
	infos, ret := h.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return nil, false
	}
	out := make([]Process, 0, len(infos))
	for _, info := range infos {
		p := Process{PID: int(info.Pid), Name: processName(procDir, int(info.Pid))}
		if usedKnown(info.UsedGpuMemory) {
			p.UsedBytes, p.UsedKnown = info.UsedGpuMemory, true
		}
		out = append(out, p)
	}
	sortProcesses(out)
	return out, true
}

// usedKnown reports whether NVML gave a per-process figure: it writes
// NVML_VALUE_NOT_AVAILABLE (all bits set) when it cannot.
func usedKnown(v uint64) bool { return v != math.MaxUint64 }

func sortProcesses(ps []Process) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].UsedBytes != ps[j].UsedBytes {
			return ps[i].UsedBytes > ps[j].UsedBytes
		}
		return ps[i].PID < ps[j].PID
	})
}

// mergeProcesses adds the processes of more that are not in base yet.
func mergeProcesses(base, more []Process) []Process {
	seen := map[int]bool{}
	for _, p := range base {
		seen[p.PID] = true
	}
	for _, p := range more {
		if !seen[p.PID] {
			base = append(base, p)
			seen[p.PID] = true
		}
	}
	sortProcesses(base)
	return base
}

// processName reads <procDir>/<pid>/comm; "" when it cannot.
func processName(procDir string, pid int) string {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
