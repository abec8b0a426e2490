// Package gputest builds fake NVML libraries from plain tables, on top of
// go-nvml's generated mocks, for tests of code that uses launcher/gpu.
// Every NVML call launcher/gpu makes is answered; the state may be changed
// while the code under test runs (Update, QueueXid).
package gputest

import (
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// GPU is one fake GPU. Zero values mean "reported as zero"; the
// ...Unsupported fields make the query answer ERROR_NOT_SUPPORTED.
type GPU struct {
	UUID, Name   string
	Total, Used  uint64
	Major, Minor int
	// Utilization in percent; -1 answers ERROR_NOT_SUPPORTED.
	Utilization int
	Processes   []nvml.ProcessInfo
	Health
	// MIG non-empty puts the GPU in MIG mode with these instances.
	MIG []MIG
	// Lost makes every query answer ERROR_GPU_IS_LOST.
	Lost bool
	// EventsUnsupported makes RegisterEvents answer ERROR_NOT_SUPPORTED.
	EventsUnsupported bool
}

// Health is what a GPU's health counters answer: ECC errors, retired
// pages and remapped rows.
type Health struct {
	// ECC nil answers ERROR_NOT_SUPPORTED for every counter.
	ECC *ECC
	// Retired pages.
	RetiredSingleBit        []uint64
	RetiredDoubleBit        []uint64
	PendingRetirement       bool
	RetiredPagesUnsupported bool
	// Remapped rows.
	RemapCorrected   int
	RemapUncorrected int
	RemapPending     bool
	RemapFailure     bool
	RemapUnsupported bool
}

// ECC are the four ECC counters.
type ECC struct {
	VolatileCorrected, VolatileUncorrected, AggregateCorrected, AggregateUncorrected uint64
}

// MIG is one MIG instance.
type MIG struct {
	UUID        string
	GI, CI      int
	Total, Used uint64
	Processes   []nvml.ProcessInfo
}

// Machine is a fake host with GPUs.
type Machine struct {
	mu        sync.Mutex
	driver    string
	initError nvml.Return
	gpus      []GPU
	xids      []queuedXid
	xidAdded  chan struct{} // closed and replaced when a Xid is queued
	lib       *mock.Interface
	devices   []*mock.Device
}

type queuedXid struct {
	gpu int
	xid uint64
}

// New returns a machine with the given driver version and GPUs.
func New(driver string, gpus ...GPU) *Machine {
	m := &Machine{driver: driver, gpus: gpus, xidAdded: make(chan struct{})}
	for i := range gpus {
		m.devices = append(m.devices, m.device(i))
	}
	m.lib = m.build()
	return m
}

// NoDriver returns a machine whose Init fails with ret.
func NoDriver(ret nvml.Return) *Machine {
	m := New("")
	m.initError = ret
	return m
}

// Lib is the fake library to give to gpu.Open.
func (m *Machine) Lib() *mock.Interface { return m.lib }

// Device is the mock handle of GPU i, to inspect the calls made to it.
func (m *Machine) Device(i int) *mock.Device { return m.devices[i] }

// Update changes GPU i under the machine's lock.
func (m *Machine) Update(i int, change func(*GPU)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(&m.gpus[i])
}

// QueueXid makes a later event-set wait report Xid xid on GPU i.
func (m *Machine) QueueXid(i int, xid uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.xids = append(m.xids, queuedXid{gpu: i, xid: xid})
	close(m.xidAdded)
	m.xidAdded = make(chan struct{})
}

// PendingXids is how many queued Xids no wait has reported yet.
func (m *Machine) PendingXids() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.xids)
}

func (m *Machine) gpu(i int) GPU {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gpus[i]
}

func (m *Machine) build() *mock.Interface {
	return &mock.Interface{
		InitFunc: func() nvml.Return {
			if m.initError != 0 {
				return m.initError
			}
			return nvml.SUCCESS
		},
		ShutdownFunc:               func() nvml.Return { return nvml.SUCCESS },
		SystemGetDriverVersionFunc: func() (string, nvml.Return) { return m.driver, nvml.SUCCESS },
		DeviceGetCountFunc:         func() (int, nvml.Return) { return len(m.devices), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(m.devices) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return m.devices[i], nvml.SUCCESS
		},
		DeviceGetHandleByUUIDFunc: func(uuid string) (nvml.Device, nvml.Return) {
			for i := range m.devices {
				if m.gpu(i).UUID == uuid {
					return m.devices[i], nvml.SUCCESS
				}
			}
			return nil, nvml.ERROR_NOT_FOUND
		},
		EventSetCreateFunc: func() (nvml.EventSet, nvml.Return) { return m.eventSet(), nvml.SUCCESS },
	}
}

// eventSet waits as NVML does: it reports a queued Xid at once, else blocks
// until one is queued or the timeout passes.
func (m *Machine) eventSet() *mock.EventSet {
	return &mock.EventSet{
		FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		WaitFunc: func(ms uint32) (nvml.EventData, nvml.Return) {
			timeout := time.NewTimer(time.Duration(ms) * time.Millisecond)
			defer timeout.Stop()
			for {
				m.mu.Lock()
				if len(m.xids) > 0 {
					x := m.xids[0]
					m.xids = m.xids[1:]
					m.mu.Unlock()
					return nvml.EventData{Device: m.devices[x.gpu], EventType: nvml.EventTypeXidCriticalError, EventData: x.xid}, nvml.SUCCESS
				}
				added := m.xidAdded
				m.mu.Unlock()
				select {
				case <-added:
				case <-timeout.C:
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
			}
		},
	}
}

// device builds the mock handle of GPU i; each answer reads the current
// table under the lock.
func (m *Machine) device(i int) *mock.Device {
	get := func() GPU { return m.gpu(i) }
	d := &mock.Device{}
	answerReadings(d, get)
	m.answerMIG(d, i, get)
	answerHealth(d, get)
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return {
		if get().EventsUnsupported {
			return nvml.ERROR_NOT_SUPPORTED
		}
		return nvml.SUCCESS
	}
	return d
}

// answerReadings answers what a GPU reads as: identity, memory, processes,
// compute capability and utilisation.
func answerReadings(d *mock.Device, get func() GPU) {
	lost := func() bool { return get().Lost }
	d.GetUUIDFunc = func() (string, nvml.Return) {
		if lost() {
			return "", nvml.ERROR_GPU_IS_LOST
		}
		return get().UUID, nvml.SUCCESS
	}
	d.GetNameFunc = func() (string, nvml.Return) { g := get(); return g.Name, lostOr(g) }
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		g := get()
		return nvml.Memory{Total: g.Total, Used: g.Used, Free: g.Total - min(g.Used, g.Total)}, lostOr(g)
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		g := get()
		return append([]nvml.ProcessInfo(nil), g.Processes...), lostOr(g)
	}
	d.GetCudaComputeCapabilityFunc = func() (int, int, nvml.Return) { g := get(); return g.Major, g.Minor, lostOr(g) }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		g := get()
		if g.Utilization < 0 || len(g.MIG) > 0 {
			return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
		}
		return nvml.Utilization{Gpu: uint32(g.Utilization)}, lostOr(g)
	}
}

// answerMIG answers the MIG mode of GPU i and hands out its instances.
func (m *Machine) answerMIG(d *mock.Device, i int, get func() GPU) {
	d.GetMigModeFunc = func() (int, int, nvml.Return) {
		g := get()
		if len(g.MIG) > 0 {
			return nvml.DEVICE_MIG_ENABLE, nvml.DEVICE_MIG_ENABLE, nvml.SUCCESS
		}
		return nvml.DEVICE_MIG_DISABLE, nvml.DEVICE_MIG_DISABLE, lostOr(g)
	}
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return len(get().MIG) + 1, nvml.SUCCESS }
	d.GetMigDeviceHandleByIndexFunc = func(n int) (nvml.Device, nvml.Return) {
		if n >= len(get().MIG) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return m.migDevice(i, n), nvml.SUCCESS
	}
}

// answerHealth answers the health counters from the GPU's Health.
func answerHealth(d *mock.Device, get func() GPU) {
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		g := get()
		if g.ECC == nil {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		e := *g.ECC
		switch {
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED && c == nvml.VOLATILE_ECC:
			return e.VolatileCorrected, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC:
			return e.VolatileUncorrected, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED && c == nvml.AGGREGATE_ECC:
			return e.AggregateCorrected, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.AGGREGATE_ECC:
			return e.AggregateUncorrected, nvml.SUCCESS
		}
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	d.GetRetiredPagesFunc = func(cause nvml.PageRetirementCause) ([]uint64, nvml.Return) {
		g := get()
		if g.RetiredPagesUnsupported {
			return nil, nvml.ERROR_NOT_SUPPORTED
		}
		if cause == nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR {
			return g.RetiredDoubleBit, nvml.SUCCESS
		}
		return g.RetiredSingleBit, nvml.SUCCESS
	}
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) {
		g := get()
		if g.RetiredPagesUnsupported {
			return nvml.FEATURE_DISABLED, nvml.ERROR_NOT_SUPPORTED
		}
		if g.PendingRetirement {
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		return nvml.FEATURE_DISABLED, nvml.SUCCESS
	}
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
		g := get()
		if g.RemapUnsupported {
			return 0, 0, false, false, nvml.ERROR_NOT_SUPPORTED
		}
		return g.RemapCorrected, g.RemapUncorrected, g.RemapPending, g.RemapFailure, nvml.SUCCESS
	}
}

// migDevice builds the handle of MIG instance n of GPU i.
func (m *Machine) migDevice(i, n int) *mock.Device {
	get := func() MIG { return m.gpu(i).MIG[n] }
	return &mock.Device{
		GetUUIDFunc: func() (string, nvml.Return) { return get().UUID, nvml.SUCCESS },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			g := get()
			return nvml.Memory{Total: g.Total, Used: g.Used, Free: g.Total - min(g.Used, g.Total)}, nvml.SUCCESS
		},
		GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return append([]nvml.ProcessInfo(nil), get().Processes...), nvml.SUCCESS
		},
		GetGpuInstanceIdFunc:     func() (int, nvml.Return) { return get().GI, nvml.SUCCESS },
		GetComputeInstanceIdFunc: func() (int, nvml.Return) { return get().CI, nvml.SUCCESS },
	}
}

func lostOr(g GPU) nvml.Return {
	if g.Lost {
		return nvml.ERROR_GPU_IS_LOST
	}
	return nvml.SUCCESS
}

// Proc is shorthand for an NVML process entry.
func Proc(pid int, used uint64) nvml.ProcessInfo {
	return nvml.ProcessInfo{Pid: uint32(pid), UsedGpuMemory: used}
}

// GiB is 1<<30 bytes.
const GiB = uint64(1) << 30
