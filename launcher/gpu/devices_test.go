package gpu

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

func TestDevicesReadsEveryField(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 12*gib)
	gpu0.Processes = append(gpu0.Processes, gputest.Proc(4001, 2*gib), gputest.Proc(4002, 10*gib), gputest.Proc(4003, math.MaxUint64))
	m := gputest.New("550", gpu0, v100("GPU-bbbb", 0))
	g := openFake(t, m, map[int]string{4001: "python", 4002: "jupyter"})
	devs := devicesOf(t, g)
	if len(devs) != 2 {
		t.Fatalf("got %d devices", len(devs))
	}
	d := devs[0]
	if d.Index != 0 || d.CUDAIndex != -1 || d.UUID != "GPU-aaaa" || d.Name != "NVIDIA A100-SXM4-80GB" {
		t.Errorf("identity: %+v", d)
	}
	if d.MemoryTotal != 80*gib || d.MemoryUsed != 12*gib || d.MemoryFree != 68*gib {
		t.Errorf("memory: total %d used %d free %d", d.MemoryTotal, d.MemoryUsed, d.MemoryFree)
	}
	if d.ComputeMajor != 8 || d.ComputeMinor != 0 || !d.BF16 || d.Utilization != 10 || d.MIG {
		t.Errorf("capability: %+v", d)
	}
	want := []Process{
		{PID: 4002, Name: "jupyter", UsedBytes: 10 * gib, UsedKnown: true},
		{PID: 4001, Name: "python", UsedBytes: 2 * gib, UsedKnown: true},
		{PID: 4003, Name: "", UsedBytes: 0, UsedKnown: false},
	}
	if !reflect.DeepEqual(d.Processes, want) {
		t.Errorf("processes = %+v, want %+v (largest first, names from /proc, unknown figure kept)", d.Processes, want)
	}
	if devs[1].BF16 || devs[1].ComputeMajor != 7 {
		t.Errorf("V100 must not claim bf16: %+v", devs[1])
	}
}

func TestDevicesMIGInstances(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	gpu0.MIG = []gputest.MIG{
		{UUID: "MIG-1111", GI: 1, CI: 0, Total: 20 * gib, Used: 3 * gib, Processes: []nvml.ProcessInfo{gputest.Proc(4100, 3*gib)}},
		{UUID: "MIG-2222", GI: 2, CI: 0, Total: 40 * gib},
	}
	g := openFake(t, gputest.New("550", gpu0), nil)
	d := devicesOf(t, g)[0]
	if !d.MIG || len(d.MIGInstances) != 2 {
		t.Fatalf("MIG not seen: %+v", d)
	}
	if d.Utilization != -1 {
		t.Errorf("utilisation under MIG = %d, want -1 (unknown)", d.Utilization)
	}
	m0 := d.MIGInstances[0]
	if m0.UUID != "MIG-1111" || m0.GPUInstance != 1 || m0.ComputeInstance != 0 || m0.MemoryTotal != 20*gib || m0.MemoryUsed != 3*gib {
		t.Errorf("instance 0 = %+v", m0)
	}
	if len(d.Processes) != 1 || d.Processes[0].PID != 4100 {
		t.Errorf("the GPU's processes must include its instances': %+v", d.Processes)
	}
}

func TestDevicesLostGPUIsReportedNotFatal(t *testing.T) {
	lost := a100("GPU-aaaa", 0)
	lost.Lost = true
	g := openFake(t, gputest.New("550", lost, a100("GPU-bbbb", 0)), nil)
	devs := devicesOf(t, g)
	if len(devs) != 2 {
		t.Fatalf("got %d devices", len(devs))
	}
	if devs[0].Problem == "" || !strings.Contains(devs[0].Problem, "GPU_IS_LOST") || devs[0].UUID != "" {
		t.Errorf("lost GPU: %+v", devs[0])
	}
	if devs[1].Problem != "" || devs[1].UUID != "GPU-bbbb" {
		t.Errorf("healthy GPU: %+v", devs[1])
	}
}
