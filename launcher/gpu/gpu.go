// Package gpu reads NVIDIA GPUs through NVML: which devices a job will see,
// who holds their memory, how much the job uses while it runs, whether the
// hardware reports faults (ECC, retired pages, remapped rows, Xid events).
//
// Everything goes through nvml.Interface, so the package is tested with
// go-nvml's generated mocks and needs no GPU; the real library is loaded
// with dlopen at Open, so a binary built with this package still starts on a
// machine without an NVIDIA driver (Open then returns an *UnavailableError).
package gpu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML is the library interface the package talks to: nvml.New() in
// production, a *mock.Interface in tests.
type NVML = nvml.Interface

// GPUs is an initialised NVML library. It is safe for concurrent use: the
// sampler, the Xid watch and the launcher may call it at the same time.
type GPUs struct {
	lib NVML

	mu sync.Mutex
	// handles maps a device UUID (GPU-... or MIG-...) to its NVML handle,
	// filled by Devices. Everything after enumeration is keyed by UUID,
	// never by index, because CUDA's and NVML's indices can differ.
	handles map[string]nvml.Device
	// parents maps a MIG instance's UUID to its GPU's UUID.
	parents map[string]string
	// procDir is where process names are read from (<procDir>/<pid>/comm).
	procDir string
	closed  bool
}

// UnavailableError says why NVML cannot be used. Its message is meant for
// the user as it is.
type UnavailableError struct {
	// Return is NVML's own status for the failure.
	Return nvml.Return
	// Reason is the plain explanation.
	Reason string
}

func (e *UnavailableError) Error() string { return "NVML unavailable: " + e.Reason }

// Open initialises NVML. lib nil means the real library (nvml.New()).
// Without a driver it returns an *UnavailableError whose message says why,
// e.g. "NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver?)".
func Open(lib nvml.Interface) (*GPUs, error) {
	if lib == nil {
		lib = nvml.New()
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, &UnavailableError{Return: ret, Reason: initFailureReason(ret)}
	}
	return &GPUs{
		lib:     lib,
		handles: map[string]nvml.Device{},
		parents: map[string]string{},
		procDir: "/proc",
	}, nil
}

// initFailureReason turns nvmlInit's status into a sentence a user can act on.
func initFailureReason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "libnvidia-ml.so.1 not found (no NVIDIA driver?)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "the NVIDIA kernel driver is not loaded (is the GPU visible to this machine or container?)"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "the NVML library and the kernel driver have different versions (reboot after a driver update?)"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to open the GPU devices (/dev/nvidia*)"
	case nvml.ERROR_INSUFFICIENT_POWER:
		return "a GPU is not correctly powered (check its power cables)"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "the installed libnvidia-ml.so.1 is too old for this program (update the NVIDIA driver)"
	default:
		return fmt.Sprintf("initialisation failed: %v", ret)
	}
}

// IsUnavailable reports whether err says NVML cannot be used at all.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// SetProcDir sets where process names are read from, /proc by default. In a
// container that mounts the host's /proc elsewhere (NVML reports host pids),
// point it there; tests point it at a fake tree.
func (g *GPUs) SetProcDir(dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.procDir = dir
}

// Close shuts NVML down. Calling it twice is harmless.
func (g *GPUs) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	_ = g.lib.Shutdown()
}

// Driver returns the driver version, "" when NVML cannot tell.
func (g *GPUs) Driver() string {
	v, ret := g.lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return ""
	}
	return v
}

// handle returns the NVML handle of a device by UUID, enumerating devices
// when the UUID is not known yet.
func (g *GPUs) handle(uuid string) (nvml.Device, bool) {
	g.mu.Lock()
	h, ok := g.handles[uuid]
	g.mu.Unlock()
	if ok {
		return h, true
	}
	if _, err := g.Devices(); err != nil {
		return nil, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok = g.handles[uuid]
	return h, ok
}

// physicalUUID returns the UUID of the GPU a device lives on: itself for a
// whole GPU, its parent for a MIG instance.
func (g *GPUs) physicalUUID(uuid string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.parents[uuid]; ok {
		return p
	}
	return uuid
}
