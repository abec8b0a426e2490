package gpu

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

func sameModel() []Device {
	mk := func(i int, uuid string) Device {
		return Device{Index: i, CUDAIndex: -1, UUID: uuid, Name: "NVIDIA A100-SXM4-80GB", Memory: Memory{MemoryTotal: 80 * gib}, Capability: Capability{ComputeMajor: 8}}
	}
	return []Device{mk(0, "GPU-8f2a1111"), mk(1, "GPU-8f2b2222"), mk(2, "GPU-1c3d3333")}
}

func TestResolveVisibleSameModel(t *testing.T) {
	cases := []struct {
		name      string
		env       map[string]string
		want      []string
		noteMatch string // "" means no notes
	}{
		{"unset means all", map[string]string{}, []string{"GPU-8f2a1111", "GPU-8f2b2222", "GPU-1c3d3333"}, ""},
		{"empty means none", map[string]string{"CUDA_VISIBLE_DEVICES": ""}, nil, "set but empty"},
		{"blank means none", map[string]string{"CUDA_VISIBLE_DEVICES": "  "}, nil, "set but empty"},
		{"indices in the order listed", map[string]string{"CUDA_VISIBLE_DEVICES": "2,0"}, []string{"GPU-1c3d3333", "GPU-8f2a1111"}, ""},
		{"spaces are ignored", map[string]string{"CUDA_VISIBLE_DEVICES": " 1 , 2 "}, []string{"GPU-8f2b2222", "GPU-1c3d3333"}, ""},
		{"full UUID", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-8f2b2222"}, []string{"GPU-8f2b2222"}, ""},
		{"unique UUID prefix", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-8f2b,GPU-1c"}, []string{"GPU-8f2b2222", "GPU-1c3d3333"}, ""},
		{"UUIDs are not case-sensitive", map[string]string{"CUDA_VISIBLE_DEVICES": "gpu-1C3D"}, []string{"GPU-1c3d3333"}, ""},
		{"ambiguous prefix names nothing", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-8f2"}, nil, "matches 2 GPUs"},
		{"invalid entry ends the list", map[string]string{"CUDA_VISIBLE_DEVICES": "1,7,0"}, []string{"GPU-8f2b2222"}, `entry 2 ("7")`},
		{"negative index", map[string]string{"CUDA_VISIBLE_DEVICES": "-1"}, nil, `entry 1 ("-1")`},
		{"repeat ends the list", map[string]string{"CUDA_VISIBLE_DEVICES": "0,GPU-8f2a,2"}, []string{"GPU-8f2a1111"}, "repeats"},
		{"unknown UUID", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-ffff"}, nil, "no GPU has that UUID"},
		{"not a device at all", map[string]string{"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, nil, "not an index"},
		{"same model: order variable changes nothing", map[string]string{"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "CUDA_VISIBLE_DEVICES": "0"}, []string{"GPU-8f2a1111"}, ""},
		{"unknown order value", map[string]string{"CUDA_DEVICE_ORDER": "SLOWEST"}, []string{"GPU-8f2a1111", "GPU-8f2b2222", "GPU-1c3d3333"}, "is not one CUDA knows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vis, notes := ResolveVisible(sameModel(), c.env)
			if got := uuids(vis); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
				t.Errorf("visible = %v, want %v", got, c.want)
			}
			for i, d := range vis {
				if d.CUDAIndex != i {
					t.Errorf("%s has CUDAIndex %d, want %d", d.UUID, d.CUDAIndex, i)
				}
			}
			if c.noteMatch == "" && len(notes) > 0 {
				t.Errorf("unexpected notes: %q", notes)
			}
			if c.noteMatch != "" && (len(notes) != 1 || !strings.Contains(notes[0], c.noteMatch)) {
				t.Errorf("notes = %q, want one containing %q", notes, c.noteMatch)
			}
		})
	}
}

// NVML index 0 is a V100 and 1 an A100: CUDA's default order puts the A100
// first, PCI_BUS_ID keeps NVML's order.
func TestResolveVisibleDeviceOrder(t *testing.T) {
	all := []Device{
		{Index: 0, UUID: "GPU-v100", Name: "Tesla V100", Memory: Memory{MemoryTotal: 32 * gib}, Capability: Capability{ComputeMajor: 7}},
		{Index: 1, UUID: "GPU-a100", Name: "A100", Memory: Memory{MemoryTotal: 80 * gib}, Capability: Capability{ComputeMajor: 8}},
		{Index: 2, UUID: "GPU-a10", Name: "A10", Memory: Memory{MemoryTotal: 24 * gib}, Capability: Capability{ComputeMajor: 8, ComputeMinor: 6}},
	}
	cases := []struct {
		name     string
		env      map[string]string
		want     []string
		wantNote bool
	}{
		{"default order is fastest first", map[string]string{}, []string{"GPU-a10", "GPU-a100", "GPU-v100"}, true},
		{"explicit FASTEST_FIRST", map[string]string{"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "CUDA_VISIBLE_DEVICES": "2"}, []string{"GPU-v100"}, true},
		{"PCI_BUS_ID is NVML's order", map[string]string{"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, []string{"GPU-v100", "GPU-a100", "GPU-a10"}, false},
		{"PCI_BUS_ID indices", map[string]string{"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0"}, []string{"GPU-v100"}, false},
		{"UUIDs need no order", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-v100,GPU-a100"}, []string{"GPU-v100", "GPU-a100"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vis, notes := ResolveVisible(all, c.env)
			if got := uuids(vis); !reflect.DeepEqual(got, c.want) {
				t.Errorf("visible = %v, want %v", got, c.want)
			}
			hasNote := len(notes) == 1 && strings.Contains(notes[0], "CUDA_DEVICE_ORDER=PCI_BUS_ID")
			if hasNote != c.wantNote || (!c.wantNote && len(notes) > 0) {
				t.Errorf("notes = %q, want order note: %v", notes, c.wantNote)
			}
		})
	}
}

func TestVisibleMIG(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	gpu0.MIG = []gputest.MIG{
		{UUID: "MIG-1111aaaa", GI: 1, CI: 0, Total: 20 * gib, Used: 5 * gib},
		{UUID: "MIG-2222bbbb", GI: 2, CI: 0, Total: 40 * gib, Used: 1 * gib},
	}
	g := openFake(t, gputest.New("550", gpu0, a100("GPU-bbbb", 0)), nil)
	for _, entry := range []string{"MIG-2222bbbb", "MIG-2222", "MIG-GPU-aaaa/2/0"} {
		vis, err := g.Visible(map[string]string{"CUDA_VISIBLE_DEVICES": entry})
		if err != nil {
			t.Fatal(err)
		}
		if len(vis) != 1 {
			t.Fatalf("%s: visible = %v", entry, uuids(vis))
		}
		d := vis[0]
		if d.UUID != "MIG-2222bbbb" || d.ParentUUID != "GPU-aaaa" || d.MemoryTotal != 40*gib || d.MemoryUsed != gib || d.MemoryFree != 39*gib || !d.MIG || d.CUDAIndex != 0 || !d.BF16 {
			t.Errorf("%s: MIG device = %+v", entry, d)
		}
	}
	all := devicesOf(t, g)
	_, notes := ResolveVisible(all, map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-aaaa"})
	if len(notes) != 1 || !strings.Contains(notes[0], "MIG mode") {
		t.Errorf("naming a whole MIG-mode GPU must be noted: %q", notes)
	}
	if vis, _ := ResolveVisible(all, map[string]string{"CUDA_VISIBLE_DEVICES": "MIG-GPU-aaaa/3/0"}); len(vis) != 0 {
		t.Errorf("a missing legacy instance matched %v", uuids(vis))
	}
}

func TestVisibleThroughNVMLUnset(t *testing.T) {
	g := openFake(t, gputest.New("550", a100("GPU-aaaa", 0), a100("GPU-bbbb", 0)), nil)
	vis, err := g.Visible(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := uuids(vis); !reflect.DeepEqual(got, []string{"GPU-aaaa", "GPU-bbbb"}) || vis[1].CUDAIndex != 1 {
		t.Errorf("visible = %v", got)
	}
}
