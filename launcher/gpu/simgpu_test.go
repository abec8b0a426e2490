package gpu

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestSimulatedGPUs: SIMGPU_COUNT devices, each with its own other
// processes and the simulated jobs that use it.
func TestSimulatedGPUs(t *testing.T) {
	dir := t.TempDir()
	// This test process plays a simulated job; its environment has no
	// CUDA_VISIBLE_DEVICES or LOCAL_RANK unless the runner set them.
	if os.Getenv("CUDA_VISIBLE_DEVICES") != "" || os.Getenv("LOCAL_RANK") != "" {
		t.Fatal("the test needs an environment without CUDA_VISIBLE_DEVICES and LOCAL_RANK")
	}
	if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".mem"), []byte("1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Open(Simulated(dir, map[string]string{"SIMGPU_COUNT": "2", "SIMGPU_OTHER": "4242:20GiB@1,4343:1GiB"}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	devs := devicesOf(t, g)
	if len(devs) != 2 || devs[0].UUID != "GPU-51a1a7ed-0000-4000-8000-000000000000" || devs[1].UUID != "GPU-51a1a7ed-0000-4000-8000-000000000001" {
		t.Fatalf("devices %v", uuids(devs))
	}
	if devs[0].MemoryUsed != 2*gib || devs[1].MemoryUsed != 20*gib {
		t.Errorf("used %d and %d, want 2 GiB (this job and pid 4343) and 20 GiB (pid 4242)", devs[0].MemoryUsed, devs[1].MemoryUsed)
	}
	if best := PickFreest(devs); best.Index != 0 {
		t.Errorf("the freest GPU is %d, want 0", best.Index)
	}
	// What a process listing read is handed back to the job, which may
	// wait for it, with how many listings in a row read it.
	seen := filepath.Join(dir, strconv.Itoa(os.Getpid())+".seen")
	if got, err := os.ReadFile(seen); err != nil || string(got) != "1073741824\n1\n" {
		t.Errorf("<pid>.seen = %q, %v; want what the job wrote, read once", got, err)
	}
	d, _ := g.handle(devs[0].UUID)
	d.GetMemoryInfo() // not a listing: no count
	d.GetComputeRunningProcesses()
	if got, _ := os.ReadFile(seen); string(got) != "1073741824\n2\n" {
		t.Errorf("<pid>.seen = %q after a second listing, want it read twice", got)
	}
	if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".mem"), []byte("2147483648\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.GetComputeRunningProcesses()
	if got, _ := os.ReadFile(seen); string(got) != "2147483648\n1\n" {
		t.Errorf("<pid>.seen = %q after the usage changed, want the new value read once", got)
	}
}

func TestSimDevice(t *testing.T) {
	uuid1 := simUUID(1)
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 0},
		{map[string]string{"LOCAL_RANK": "1"}, 1},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "1"}, 1},
		{map[string]string{"CUDA_VISIBLE_DEVICES": uuid1}, 1},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "1,0", "LOCAL_RANK": "1"}, 0},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "7"}, -1},
		{map[string]string{"CUDA_VISIBLE_DEVICES": ""}, -1},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-other"}, -1},
	} {
		if got := simDevice(c.env, 2); got != c.want {
			t.Errorf("simDevice(%v) = %d, want %d", c.env, got, c.want)
		}
	}
}

// TestSimulatedXid: an xid file is reported once as a Xid on its GPU, and
// removed.
func TestSimulatedXid(t *testing.T) {
	dir := t.TempDir()
	g, err := Open(Simulated(dir, map[string]string{"SIMGPU_COUNT": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	file := filepath.Join(dir, "xid-1234")
	if err := os.WriteFile(file, []byte("79@1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	devs := devicesOf(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan XidEvent, 1)
	done := make(chan error, 1)
	go func() { done <- g.WatchXid(ctx, devs, func(e XidEvent) { got <- e; cancel() }) }()
	e := <-got
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e.Xid != 79 || e.DeviceUUID != simUUID(1) {
		t.Errorf("reported %+v, want Xid 79 on GPU 1", e)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the xid file is still there: %v", err)
	}
}
