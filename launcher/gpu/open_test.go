package gpu

import (
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

// The real library pointed at a missing file: the no-driver path as it is
// on a machine without NVIDIA's driver, also where there is one.
func TestOpenWithoutDriverSaysWhy(t *testing.T) {
	g, err := Open(nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1")))
	if err == nil {
		g.Close()
		t.Fatal("Open succeeded without a library")
	}
	want := "NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver?)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false", err)
	}
}

func TestOpenExplainsInitFailures(t *testing.T) {
	cases := map[nvml.Return]string{
		nvml.ERROR_DRIVER_NOT_LOADED:       "kernel driver is not loaded",
		nvml.ERROR_LIB_RM_VERSION_MISMATCH: "different versions",
		nvml.ERROR_NO_PERMISSION:           "no permission",
		nvml.ERROR_UNKNOWN:                 "initialisation failed",
	}
	for ret, want := range cases {
		_, err := Open(gputest.NoDriver(ret).Lib())
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "NVML unavailable: ") {
			t.Errorf("Init %v: error %v, want one containing %q", ret, err, want)
		}
	}
}

func TestDriverAndCloseTwice(t *testing.T) {
	m := gputest.New("550.54.15", a100("GPU-a", 0))
	g, err := Open(m.Lib())
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Driver(); got != "550.54.15" {
		t.Errorf("Driver() = %q", got)
	}
	g.Close()
	g.Close()
	if n := len(m.Lib().ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
}
