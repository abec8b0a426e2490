package gpu

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

// watchUntilDrained runs WatchXid until every queued Xid was read, then
// stops it and returns what it reported.
func watchUntilDrained(t *testing.T, m *gputest.Machine, g *GPUs, devs []Device) []XidEvent {
	t.Helper()
	var mu sync.Mutex
	var got []XidEvent
	reported := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- g.WatchXid(ctx, devs, func(e XidEvent) {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
			reported <- struct{}{}
		})
	}()
	<-reported // the one hardware Xid each test queues, after the ignored ones
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchXid = %v", err)
	}
	if n := m.PendingXids(); n != 0 {
		t.Fatalf("%d Xids never read", n)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestWatchXidIgnoresApplicationXids(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa", 0), a100("GPU-bbbb", 0))
	g := openFake(t, m, nil)
	for _, x := range []uint64{13, 31, 43, 45, 68, 109} {
		m.QueueXid(0, x)
	}
	m.QueueXid(1, 79)
	got := watchUntilDrained(t, m, g, devicesOf(t, g))
	if len(got) != 1 || got[0].Xid != 79 || got[0].DeviceUUID != "GPU-bbbb" || got[0].Time.IsZero() {
		t.Errorf("reported %+v, want only Xid 79 on GPU-bbbb", got)
	}
}

func TestWatchXidRegistersEachGPUOnce(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	gpu0.MIG = []gputest.MIG{{UUID: "MIG-1111", Total: gib}, {UUID: "MIG-2222", Total: gib}}
	m := gputest.New("550", gpu0)
	g := openFake(t, m, nil)
	all := devicesOf(t, g)
	vis, _ := ResolveVisible(all, map[string]string{"CUDA_VISIBLE_DEVICES": "MIG-1111"})
	m.QueueXid(0, 48)
	got := watchUntilDrained(t, m, g, append(vis, all...))
	if n := len(m.Device(0).RegisterEventsCalls()); n != 1 {
		t.Errorf("RegisterEvents called %d times, want once for the GPU behind the MIG instance", n)
	}
	if len(got) != 1 || got[0].Xid != 48 {
		t.Errorf("reported %+v", got)
	}
}

func TestWatchXidUnsupported(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	gpu0.EventsUnsupported = true
	g := openFake(t, gputest.New("550", gpu0), nil)
	err := g.WatchXid(context.Background(), devicesOf(t, g), func(XidEvent) { t.Error("event reported") })
	if err == nil || !strings.Contains(err.Error(), "NOT_SUPPORTED") {
		t.Errorf("WatchXid = %v", err)
	}
}

func TestXidMeaningAndApplicationList(t *testing.T) {
	if !ApplicationXid(13) || ApplicationXid(79) || ApplicationXid(48) {
		t.Error("application Xid list wrong")
	}
	if XidMeaning(79) != "the GPU has fallen off the bus" || XidMeaning(12345) != "" {
		t.Error("Xid meanings wrong")
	}
}
