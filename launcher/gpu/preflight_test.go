package gpu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

func TestPreflightNamesOthersAndFlagsStale(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	m := gputest.New("550", gpu0, a100("GPU-bbbb", 0))
	g := openFake(t, m, map[int]string{4242: "jupyter", 5151: "python"})
	devs := devicesOf(t, g) // snapshot before the earlier attempt
	// The earlier attempt's pid 5151 survived; someone else started 4242.
	setProcs(m, 0, 16*gib, gputest.Proc(4242, 10*gib), gputest.Proc(5151, 6*gib))

	pf := g.Preflight(devs[:1], devs, []int{5150, 5151})
	if len(pf.Others) != 1 || pf.Others[0].PID != 4242 || pf.Others[0].Name != "jupyter" {
		t.Errorf("Others = %+v", pf.Others)
	}
	if len(pf.Stale) != 1 || pf.Stale[0].PID != 5151 {
		t.Errorf("Stale = %+v", pf.Stale)
	}
	if len(pf.Messages) < 2 {
		t.Fatalf("messages = %q", pf.Messages)
	}
	stale := pf.Messages[0]
	for _, want := range []string{"vramrun bug", "pid 5151 (python)", "6.0 GiB", "GPU 0", "please report", "kill 5151"} {
		if !strings.Contains(stale, want) {
			t.Errorf("stale message %q lacks %q", stale, want)
		}
	}
	others := pf.Messages[1]
	for _, want := range []string{"GPU 0 (NVIDIA A100-SXM4-80GB)", "1 other process holds 10 GiB", "pid 4242 (jupyter) 10 GiB"} {
		if !strings.Contains(others, want) {
			t.Errorf("others message %q lacks %q", others, want)
		}
	}
	if pf.FreerGPU == nil || pf.FreerGPU.UUID != "GPU-bbbb" {
		t.Errorf("FreerGPU = %+v, want GPU-bbbb", pf.FreerGPU)
	} else if last := pf.Messages[len(pf.Messages)-1]; !strings.Contains(last, "--pick-gpu") || !strings.Contains(last, "GPU 1") {
		t.Errorf("freer-GPU message = %q", last)
	}
}

func TestPreflightQuietWhenNothingInTheWay(t *testing.T) {
	g := openFake(t, gputest.New("550", a100("GPU-aaaa", 0), a100("GPU-bbbb", 0)), nil)
	devs := devicesOf(t, g)
	pf := g.Preflight(devs[:1], devs, nil)
	if len(pf.Others)+len(pf.Stale)+len(pf.Messages) != 0 || pf.FreerGPU != nil {
		t.Errorf("preflight = %+v", pf)
	}
}

// A GPU that is only a little freer is not worth a suggestion.
func TestPreflightNoFreerGPUWhenOthersAreBusyToo(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 10*gib)
	gpu0.Processes = []nvml.ProcessInfo{gputest.Proc(4242, 10*gib)}
	gpu1 := a100("GPU-bbbb", 8*gib)
	gpu1.Processes = []nvml.ProcessInfo{gputest.Proc(4243, 8*gib)}
	g := openFake(t, gputest.New("550", gpu0, gpu1), nil)
	devs := devicesOf(t, g)
	pf := g.Preflight(devs[:1], devs, nil)
	if pf.FreerGPU != nil {
		t.Errorf("suggested %s with 2 GiB more free", pf.FreerGPU.UUID)
	}
	if len(pf.Others) != 1 {
		t.Errorf("Others = %+v", pf.Others)
	}
}

func TestPickFreest(t *testing.T) {
	devs := []Device{
		{UUID: "GPU-a", Memory: Memory{MemoryFree: 10 * gib}},
		{UUID: "GPU-b", Memory: Memory{MemoryFree: 70 * gib}},
		{UUID: "GPU-c", Memory: Memory{MemoryFree: 70 * gib}},
		{UUID: "GPU-d", Memory: Memory{MemoryFree: 1 * gib}},
	}
	if got := PickFreest(devs); got.UUID != "GPU-b" {
		t.Errorf("PickFreest = %s, want GPU-b (the first of equals)", got.UUID)
	}
	devs = append(devs, Device{UUID: "GPU-mig", Memory: Memory{MemoryFree: 80 * gib}, MIGTopology: MIGTopology{MIG: true}}, Device{Index: 9, Memory: Memory{MemoryFree: 90 * gib}, Problem: "lost"})
	if got := PickFreest(devs); got.UUID != "GPU-b" {
		t.Errorf("PickFreest = %q, want GPU-b: a MIG-mode GPU or an unreadable one cannot be given whole", got.UUID)
	}
	if got := PickFreest(devs[4:]); got.UUID != "GPU-mig" {
		t.Errorf("PickFreest with nothing pickable = %q, want the first", got.UUID)
	}
	if got := PickFreest(nil); got.Index != -1 || got.UUID != "" {
		t.Errorf("PickFreest(nil) = %+v", got)
	}
}

func TestWaitFreeReturnsWhenMemoryIsReleased(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 10*gib)
	gpu0.Processes = []nvml.ProcessInfo{gputest.Proc(4242, 10*gib)}
	m := gputest.New("550", gpu0)
	g := openFake(t, m, nil)
	devs := devicesOf(t, g)
	tick := make(chan time.Time)
	checks := make(chan []Process, 10)
	done := make(chan error, 1)
	go func() {
		done <- g.WaitFree(context.Background(), devs, time.Hour, tick, func(held []Process) { checks <- held })
	}()
	for i := 0; i < 2; i++ {
		held := <-checks
		if len(held) != 1 || held[0].PID != 4242 {
			t.Fatalf("check %d: held = %+v", i, held)
		}
		select {
		case tick <- time.Now():
		case err := <-done:
			t.Fatalf("WaitFree returned %v while memory was held", err)
		}
	}
	<-checks
	setProcs(m, 0, 0)
	tick <- time.Now()
	if err := <-done; err != nil {
		t.Fatalf("WaitFree = %v after the memory was released", err)
	}
}

func TestWaitFreeGivesUpAtTheDeadline(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 10*gib)
	gpu0.Processes = []nvml.ProcessInfo{gputest.Proc(4242, 10*gib)}
	g := openFake(t, gputest.New("550", gpu0), map[int]string{4242: "python"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.WaitFree(ctx, devicesOf(t, g), time.Hour, make(chan time.Time), nil)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "pid 4242 (python) 10 GiB") || strings.Contains(err.Error(), "context") {
		t.Errorf("WaitFree = %v, want an error naming the holder, and not the context", err)
	}
}

func TestWaitFreeAtOnceWhenFree(t *testing.T) {
	g := openFake(t, gputest.New("550", a100("GPU-aaaa", 0)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.WaitFree(ctx, devicesOf(t, g), time.Hour, make(chan time.Time), nil); err != nil {
		t.Errorf("WaitFree on a free GPU = %v", err)
	}
}
