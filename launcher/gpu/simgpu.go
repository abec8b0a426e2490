package gpu

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

// Simulated is vramrun's built-in simulated GPU, an NVML library whose
// devices' memory is what simulated jobs say they use: each process writes
// its current usage, in bytes, to <dir>/<pid>.mem (files of processes that
// are gone are ignored). It lets the demo and the tests exercise sampling,
// peaks, charts, learned state, --pick-gpu, --wait-free and the Xid watch
// on a machine without a GPU.
//
// The devices are described by the same variables the simulated training
// job reads, so both agree: SIMGPU_COUNT (default 1), SIMGPU_CAPACITY
// (default 24GiB), SIMGPU_NAME (default "vramrun simulated GPU"), SIMGPU_CC
// (compute capability, default 8.0) and SIMGPU_OTHER ("pid:size[@gpu],...",
// memory other processes hold, on GPU 0 without @). A job's usage counts on
// the GPU it uses as CUDA does: CUDA_VISIBLE_DEVICES' entry at LOCAL_RANK
// (an index or a UUID), else LOCAL_RANK, read from the process's
// environment. What a process listing read of a job's usage is copied to
// <dir>/<pid>.seen, with how many listings in a row read that value (one a
// sampler's tick): a job may wait for it.
// A file <dir>/xid-<anything> holding "N" or "N@gpu" is reported once as
// Xid N by the event set and removed.
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
	count := 1
	if n, err := strconv.Atoi(env["SIMGPU_COUNT"]); err == nil && n >= 1 && n <= maxSimGPUs {
		count = n
	}
	gpus := make([]gputest.GPU, count)
	for i := range gpus {
		gpus[i] = gputest.GPU{UUID: simUUID(i), Name: name, Total: total, Major: major, Minor: minor, Utilization: -1}
	}
	m := gputest.New("simulated", gpus...)
	others := parseSimOthers(env["SIMGPU_OTHER"], count)
	_ = os.MkdirAll(dir, 0o755)
	refresh := func(listing int) { refreshSim(dir, m, others, listing) }
	for i := range count {
		d := m.Device(i)
		memInfo, running := d.GetMemoryInfoFunc, d.GetComputeRunningProcessesFunc
		d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { refresh(-1); return memInfo() }
		d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { refresh(i); return running() }
	}
	lib := m.Lib()
	createSet := lib.EventSetCreateFunc
	lib.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		set, ret := createSet()
		if ms, ok := set.(*mock.EventSet); ok && ret == nvml.SUCCESS {
			wait, free := ms.WaitFunc, ms.FreeFunc
			watch := newSimXidWatch(dir)
			ms.FreeFunc = func() nvml.Return { watch.close(); return free() }
			ms.WaitFunc = func(ms uint32) (nvml.EventData, nvml.Return) {
				deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
				for {
					queueSimXids(dir, m, count)
					data, ret := wait(0)
					left := time.Until(deadline)
					if ret != nvml.ERROR_TIMEOUT || left <= 0 {
						return data, ret
					}
					watch.wait(left)
				}
			}
		}
		return set, ret
	}
	return lib
}

const (
	// maxSimGPUs bounds SIMGPU_COUNT.
	maxSimGPUs = 16
	// simXidPoll is how often a waiting event set looks for xid files where
	// the folder cannot be watched (no inotify): the simulated driver's
	// reaction time.
	simXidPoll = 250 * time.Millisecond
	// simUUIDPrefix and an index in 12 hex digits make a simulated GPU's
	// UUID; the simulated job parses it back (simgpu_model.SIM_UUID).
	simUUIDPrefix = "GPU-51a1a7ed-0000-4000-8000-"
)

func simUUID(i int) string { return fmt.Sprintf("%s%012x", simUUIDPrefix, i) }

// refreshSim sets the devices' processes and used memory from the jobs'
// usage files in dir; listing is the device whose process list is being
// read (-1 none), whose jobs are told what was seen.
func refreshSim(dir string, m *gputest.Machine, others [][]nvml.ProcessInfo, listing int) {
	count := len(others)
	procs := make([][]nvml.ProcessInfo, count)
	for i := range procs {
		procs[i] = append([]nvml.ProcessInfo(nil), others[i]...)
	}
	for _, j := range simJobs(dir) {
		if i := simDeviceOf(j.Pid, count); i >= 0 {
			procs[i] = append(procs[i], j.ProcessInfo)
			if i == listing {
				markSeen(j.seen, j.data)
			}
		}
	}
	for i := range procs {
		var used uint64
		for _, p := range procs[i] {
			used += p.UsedGpuMemory
		}
		m.Update(i, func(g *gputest.GPU) { g.Processes, g.Used = procs[i], min(used, g.Total) })
	}
}

// simJob is a simulated job's process as NVML lists it, the usage file's
// text and where what was seen of it goes.
type simJob struct {
	nvml.ProcessInfo
	data []byte
	seen string
}

// simJobs are the processes that wrote their usage to dir and still run.
func simJobs(dir string) []simJob {
	var out []simJob
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
		out = append(out, simJob{ProcessInfo: gputest.Proc(pid, used), data: data, seen: filepath.Join(dir, pidText+".seen")})
	}
	return out
}

// markSeen tells a simulated job what a process listing last read of its
// usage, and how many listings in a row read that (it may wait for that:
// before it fails, as the "silent" OOM does; before its first step, so
// that the sampler saw the loaded level twice).
func markSeen(path string, data []byte) {
	value := strings.TrimSpace(string(data))
	times := 1
	if old, err := os.ReadFile(path); err == nil {
		was, n, _ := strings.Cut(strings.TrimSpace(string(old)), "\n")
		if k, err := strconv.Atoi(strings.TrimSpace(n)); err == nil && was == value {
			times = k + 1
		}
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, []byte(fmt.Sprintf("%s\n%d\n", value, times)), 0o644) == nil {
		_ = os.Rename(tmp, path)
	}
}

// simDeviceOf is the simulated GPU a process uses, from its environment as
// CUDA would read it; -1 when it names none of the count GPUs.
func simDeviceOf(pid uint32, count int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return 0
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return simDevice(env, count)
}

// simDevice is simDeviceOf's rule on an environment: the job's device
// LOCAL_RANK among those CUDA_VISIBLE_DEVICES lets it see, as
// ResolveVisible reads the variable.
func simDevice(env map[string]string, count int) int {
	all := make([]Device, count)
	for i := range all {
		all[i] = Device{Index: i, UUID: simUUID(i)}
	}
	visible, _ := ResolveVisible(all, env)
	logical, _ := strconv.Atoi(env["LOCAL_RANK"])
	if logical < 0 || logical >= len(visible) {
		return -1
	}
	return visible[logical].Index
}

// simXidWatch lets a waiting event set sleep until a file may have appeared
// in the simulated GPU's folder, as a driver's wait sleeps, instead of
// polling it: the CPU figures of a simulated run are then vramrun's own.
// Without inotify it polls every simXidPoll.
type simXidWatch struct{ fd int }

func newSimXidWatch(dir string) *simXidWatch {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return &simXidWatch{fd: -1}
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		_ = unix.Close(fd)
		return &simXidWatch{fd: -1}
	}
	return &simXidWatch{fd: fd}
}

// wait returns when the folder changed since the last wait, or after d.
func (w *simXidWatch) wait(d time.Duration) {
	if w.fd < 0 {
		time.Sleep(min(d, simXidPoll))
		return
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, int(max(d/time.Millisecond, 1))); n > 0 {
		var buf [4096]byte
		for {
			if n, err := unix.Read(w.fd, buf[:]); n <= 0 || err != nil {
				break
			}
		}
	}
}

func (w *simXidWatch) close() {
	if w.fd >= 0 {
		_ = unix.Close(w.fd)
		w.fd = -1
	}
}

// queueSimXids reports the xid files in dir as Xid events and removes them.
func queueSimXids(dir string, m *gputest.Machine, count int) {
	files, _ := filepath.Glob(filepath.Join(dir, "xid-*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || !bytes.HasSuffix(data, []byte("\n")) {
			continue // not written whole yet: its close wakes the watch
		}
		_ = os.Remove(f)
		xidText, gpuText, _ := strings.Cut(strings.TrimSpace(string(data)), "@")
		xid, err := strconv.ParseUint(xidText, 10, 64)
		if err != nil {
			continue
		}
		i, _ := strconv.Atoi(gpuText)
		if i >= 0 && i < count {
			m.QueueXid(i, xid)
		}
	}
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

// parseSimOthers reads SIMGPU_OTHER: each GPU's other processes.
func parseSimOthers(s string, count int) [][]nvml.ProcessInfo {
	out := make([][]nvml.ProcessInfo, count)
	for _, part := range strings.Split(s, ",") {
		pidText, rest, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		sizeText, gpuText, _ := strings.Cut(rest, "@")
		pid, err1 := strconv.Atoi(pidText)
		size, err2 := parseSimSize(sizeText)
		i := 0
		if gpuText != "" {
			var err error
			if i, err = strconv.Atoi(gpuText); err != nil {
				continue
			}
		}
		if err1 == nil && err2 == nil && i >= 0 && i < count {
			out[i] = append(out[i], gputest.Proc(pid, size))
		}
	}
	return out
}
