package gpu

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

// Simulated is vramrun's built-in simulated GPU, an NVML library with one
// device whose memory is what simulated jobs say they use: each process
// writes its current usage, in bytes, to <dir>/<pid>.mem (files of processes
// that are gone are ignored). It lets the demo and the tests exercise
// sampling, peaks, charts and learned state on a machine without a GPU.
//
// The device is described by the same variables the simulated training job
// reads, so both agree: SIMGPU_CAPACITY (default 24GiB), SIMGPU_NAME
// (default "vramrun simulated GPU"), SIMGPU_CC (compute capability, default
// 8.0) and SIMGPU_OTHER ("pid:size,...", memory other processes hold).
func Simulated(dir string, env map[string]string) nvml.Interface {
	total := uint64(24 << 30)
	if v, err := parseSimSize(env["SIMGPU_CAPACITY"]); err == nil && v > 0 {
		total = v
	}
	name := env["SIMGPU_NAME"]
	if name == "" {
		name = "vramrun simulated GPU"
	}
	major, minor := 8, 0
	if cc := env["SIMGPU_CC"]; cc != "" {
		a, b, _ := strings.Cut(cc, ".")
		if x, err := strconv.Atoi(a); err == nil {
			major = x
			minor, _ = strconv.Atoi(b)
		}
	}
	others := parseSimOthers(env["SIMGPU_OTHER"])
	m := gputest.New("simulated", gputest.GPU{UUID: "GPU-51a1a7ed-0000-4000-8000-000000000000", Name: name,
		Total: total, Major: major, Minor: minor, Utilization: -1})
	_ = os.MkdirAll(dir, 0o755)
	refresh := func() {
		procs := append([]nvml.ProcessInfo(nil), others...)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			pidText, ok := strings.CutSuffix(e.Name(), ".mem")
			if !ok {
				continue
			}
			pid, err := strconv.Atoi(pidText)
			if err != nil {
				continue
			}
			if _, err := os.Stat(filepath.Join("/proc", pidText)); err != nil {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			used, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
			if err != nil {
				continue
			}
			procs = append(procs, gputest.Proc(pid, used))
		}
		var used uint64
		for _, p := range procs {
			used += p.UsedGpuMemory
		}
		m.Update(0, func(g *gputest.GPU) { g.Processes, g.Used = procs, min(used, g.Total) })
	}
	d := m.Device(0)
	memInfo, running := d.GetMemoryInfoFunc, d.GetComputeRunningProcessesFunc
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { refresh(); return memInfo() }
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { refresh(); return running() }
	return m.Lib()
}

// parseSimSize reads sizes as the simulated job writes them: 24GiB, 24G,
// 512MiB, or plain bytes.
func parseSimSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil {
				return 0, err
			}
			return uint64(v * u.mult), nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return v, nil
}

func parseSimOthers(s string) []nvml.ProcessInfo {
	var out []nvml.ProcessInfo
	for _, part := range strings.Split(s, ",") {
		pidText, sizeText, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		pid, err1 := strconv.Atoi(pidText)
		size, err2 := parseSimSize(sizeText)
		if err1 == nil && err2 == nil {
			out = append(out, gputest.Proc(pid, size))
		}
	}
	return out
}
