package gpu

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

const gib = gputest.GiB

// openFake opens a fake machine with process names read from a fake /proc
// holding names (pid -> comm).
func openFake(t *testing.T, m *gputest.Machine, names map[int]string) *GPUs {
	t.Helper()
	g, err := Open(m.Lib())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(g.Close)
	dir := t.TempDir()
	for pid, name := range names {
		p := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "comm"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.SetProcDir(dir)
	return g
}

// a100 and friends are GPU rows for the tables.
func a100(uuid string, used uint64) gputest.GPU {
	return gputest.GPU{UUID: uuid, Name: "NVIDIA A100-SXM4-80GB", Total: 80 * gib, Used: used, Major: 8, Minor: 0, Utilization: 10}
}

func v100(uuid string, used uint64) gputest.GPU {
	return gputest.GPU{UUID: uuid, Name: "Tesla V100-SXM2-32GB", Total: 32 * gib, Used: used, Major: 7, Minor: 0, Utilization: 0}
}

func devicesOf(t *testing.T, g *GPUs) []Device {
	t.Helper()
	devs, err := g.Devices()
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	return devs
}

func uuids(devs []Device) []string {
	out := make([]string, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.UUID)
	}
	return out
}
