package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

const gib = gputest.GiB

const allInstalled = `{"executable":"/fake/bin/python","version":"3.10.4","packages":{` +
	`"torch":{"installed":true,"version":"2.3.0+cu121","cuda_available":true,"cuda_version":"12.1"},` +
	`"transformers":{"installed":true,"version":"4.40.0"},"bitsandbytes":{"installed":true,"version":"0.43.0"},` +
	`"tensorflow":{"installed":true,"version":"2.16.1"},"jax":{"installed":true,"version":"0.4.28"}}}`

// fakePython writes an interpreter that checks it is called as the probe
// is, prints some noise as imports do, then the answer.
func fakePython(t *testing.T, answer string) string {
	t.Helper()
	script := "#!/bin/sh\n" +
		"[ \"$1\" = \"-c\" ] || { echo 'not called with -c' >&2; exit 3; }\n" +
		"echo 'Welcome to some banner'\n" +
		"printf '%s\\n' '" + probeMarker + answer + "'\n"
	return writeScript(t, script)
}

func writeScript(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func a100(uuid string) gputest.GPU {
	return gputest.GPU{UUID: uuid, Name: "NVIDIA A100-SXM4-80GB", Total: 80 * gib, Used: gib / 2, Major: 8, Utilization: 3,
		Health: gputest.Health{ECC: &gputest.ECC{}, RemapUnsupported: false}}
}

// options checks machine m with a fake Python that has everything.
func options(t *testing.T, m *gputest.Machine, env map[string]string) Options {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	return Options{
		Python:   fakePython(t, allInstalled),
		Env:      env,
		XidWatch: time.Millisecond,
		Open: func() (*gpu.GPUs, error) {
			g, err := gpu.Open(m.Lib())
			if err == nil {
				// Process names come from an empty tree: the made-up
				// pids must not find this machine's processes.
				g.SetProcDir(t.TempDir())
			}
			return g, err
		},
	}
}

func TestHealthyMachine(t *testing.T) {
	r := Run(context.Background(), options(t, gputest.New("550.54.15", a100("GPU-aaaa")), nil))
	if len(r.Problems) != 0 || len(r.Notes) != 0 || r.ExitCode() != 0 {
		t.Fatalf("problems %+v notes %+v", r.Problems, r.Notes)
	}
	if !r.NVML.Available || r.NVML.Driver != "550.54.15" || r.NVML.Error != "" {
		t.Errorf("nvml = %+v", r.NVML)
	}
	g := r.GPUs[0]
	if g.UUID != "GPU-aaaa" || g.ComputeCapability != "8.0" || !g.BF16 || g.CUDAIndex != 0 || g.MemoryTotalBytes != 80*gib {
		t.Errorf("gpu = %+v", g)
	}
	if !r.Python.Available || r.Python.Version != "3.10.4" || r.Python.Packages["torch"].CUDAVersion != "12.1" {
		t.Errorf("python = %+v", r.Python)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NVIDIA driver 550.54.15", "GPU 0  NVIDIA A100-SXM4-80GB  GPU-aaaa", "compute 8.0 (bf16)", "torch 2.3.0+cu121 (CUDA 12.1)", "No problems found."} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if lines := strings.Count(text.String(), "\n"); lines > 24 {
		t.Errorf("text is %d lines, more than a screen", lines)
	}
}

func TestHealthFindings(t *testing.T) {
	cases := []struct {
		name     string
		change   func(*gputest.GPU)
		xid      uint64
		problem  string // "" when the case is a note
		note     string
		hardware bool
	}{
		{name: "uncorrectable ECC", change: func(g *gputest.GPU) { g.ECC = &gputest.ECC{VolatileUncorrected: 4, AggregateUncorrected: 4} },
			problem: "4 uncorrectable ECC memory errors since the driver was loaded", hardware: true},
		{name: "old uncorrectable ECC", change: func(g *gputest.GPU) { g.ECC = &gputest.ECC{AggregateUncorrected: 2} },
			note: "2 uncorrectable ECC memory errors in its life"},
		{name: "pending retirement", change: func(g *gputest.GPU) { g.PendingRetirement = true; g.RetiredDoubleBit = []uint64{1} },
			problem: "pages waiting to be retired (1 retired for double-bit", hardware: true},
		{name: "remap failure", change: func(g *gputest.GPU) { g.RemapFailure = true; g.RemapUncorrected = 1 },
			problem: "failed to remap a faulty memory row", hardware: true},
		{name: "remap pending", change: func(g *gputest.GPU) { g.RemapPending = true },
			problem: "rows waiting to be remapped", hardware: true},
		{name: "critical Xid", xid: 79, problem: "reported Xid 79 (the GPU has fallen off the bus)", hardware: true},
		{name: "application Xid is not a fault", xid: 13},
		{name: "lost GPU", change: func(g *gputest.GPU) { g.Lost = true }, problem: "ERROR_GPU_IS_LOST", hardware: true},
		{name: "MIG instances", change: func(g *gputest.GPU) {
			g.MIG = []gputest.MIG{{UUID: "MIG-1111", Total: 20 * gib, Used: 3 * gib}, {UUID: "MIG-2222", Total: 40 * gib}}
		}, note: "in MIG mode with 2 instances: MIG-1111 (20 GiB, 3.0 GiB used), MIG-2222 (40 GiB, 0 bytes used)"},
		{name: "other processes", change: func(g *gputest.GPU) {
			g.Processes = []nvml.ProcessInfo{gputest.Proc(4242, 10*gib), gputest.Proc(4243, gib)}
		}, note: "2 other processes hold 11 GiB: pid 4242 10 GiB, pid 4243 1.0 GiB"},
		{name: "unsupported counters are fine", change: func(g *gputest.GPU) {
			g.ECC, g.RetiredPagesUnsupported, g.RemapUnsupported = nil, true, true
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := a100("GPU-aaaa")
			if c.change != nil {
				c.change(&g)
			}
			m := gputest.New("550", g)
			if c.xid != 0 {
				m.QueueXid(0, c.xid)
			}
			r := Run(context.Background(), options(t, m, nil))
			switch {
			case c.problem != "":
				if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Text, c.problem) || r.Problems[0].Hardware != c.hardware {
					t.Fatalf("problems = %+v, want one containing %q (hardware %v)", r.Problems, c.problem, c.hardware)
				}
				if c.hardware && !strings.Contains(r.Problems[0].Advice, "No software fix") {
					t.Errorf("hardware advice does not say no software fix helps: %q", r.Problems[0].Advice)
				}
				if r.ExitCode() != 1 {
					t.Errorf("ExitCode = %d with a problem", r.ExitCode())
				}
			case len(r.Problems) != 0:
				t.Fatalf("unexpected problems %+v", r.Problems)
			}
			if c.note != "" && (len(r.Notes) != 1 || !strings.Contains(r.Notes[0].Text, c.note) || r.Notes[0].Advice == "") {
				t.Errorf("notes = %+v, want one containing %q", r.Notes, c.note)
			}
			if c.note == "" && len(r.Notes) != 0 {
				t.Errorf("unexpected notes %+v", r.Notes)
			}
			if c.xid == 79 && (len(r.GPUs[0].Health.XidEvents) != 1 || r.GPUs[0].Health.XidEvents[0].Xid != 79) {
				t.Errorf("xid events = %+v", r.GPUs[0].Health.XidEvents)
			}
		})
	}
}

// The real library pointed at a missing file is the no-driver machine.
func TestNoDriver(t *testing.T) {
	opts := options(t, gputest.New("550"), nil)
	opts.Open = func() (*gpu.GPUs, error) {
		return gpu.Open(nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1")))
	}
	r := Run(context.Background(), opts)
	if r.NVML.Available || r.NVML.Error != "NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver?)" {
		t.Errorf("nvml = %+v", r.NVML)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Text, "libnvidia-ml.so.1 not found") || r.Problems[0].Hardware {
		t.Errorf("problems = %+v", r.Problems)
	}
	if r.ExitCode() != 1 {
		t.Errorf("ExitCode = %d", r.ExitCode())
	}
	if len(r.GPUs) != 0 || !r.Python.Available {
		t.Errorf("gpus %+v, python %+v: the Python check must still run", r.GPUs, r.Python)
	}
}

func TestNoVisibleGPU(t *testing.T) {
	m := gputest.New("550", a100("GPU-aaaa"), a100("GPU-bbbb"))
	r := Run(context.Background(), options(t, m, map[string]string{"CUDA_VISIBLE_DEVICES": ""}))
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Text, "The job sees no GPU") || r.ExitCode() != 1 {
		t.Errorf("problems = %+v", r.Problems)
	}
	for _, g := range r.GPUs {
		if g.CUDAIndex != -1 {
			t.Errorf("hidden GPU %s has CUDA index %d", g.UUID, g.CUDAIndex)
		}
	}
	r = Run(context.Background(), options(t, gputest.New("550"), nil))
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Text, "lists no GPU") {
		t.Errorf("no GPU at all: problems = %+v", r.Problems)
	}
}

func TestJSONShape(t *testing.T) {
	g := a100("GPU-aaaa")
	g.Processes = []nvml.ProcessInfo{gputest.Proc(4242, gib)}
	r := Run(context.Background(), options(t, gputest.New("550", g), nil))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "top", top, "nvml", "gpus", "python", "problems", "notes")
	var nvmlPart map[string]json.RawMessage
	mustUnmarshal(t, top["nvml"], &nvmlPart)
	requireKeys(t, "nvml", nvmlPart, "available", "error", "driver")
	var gpus []map[string]json.RawMessage
	mustUnmarshal(t, top["gpus"], &gpus)
	if len(gpus) != 1 {
		t.Fatalf("gpus = %s", top["gpus"])
	}
	requireKeys(t, "gpu", gpus[0], "index", "cuda_index", "name", "uuid", "memory_total_bytes", "memory_used_bytes", "compute_capability", "bf16", "processes", "health")
	var procs []map[string]json.RawMessage
	mustUnmarshal(t, gpus[0]["processes"], &procs)
	if len(procs) != 1 {
		t.Fatalf("processes = %s", gpus[0]["processes"])
	}
	requireKeys(t, "process", procs[0], "pid", "name", "used_bytes", "used_known")
	var health map[string]json.RawMessage
	mustUnmarshal(t, gpus[0]["health"], &health)
	requireKeys(t, "health", health, "ecc", "retired_pages", "remapped_rows", "utilization_percent", "mig", "xid_events")
	var notes []map[string]json.RawMessage
	mustUnmarshal(t, top["notes"], &notes)
	if len(notes) != 1 {
		t.Fatalf("notes = %s", top["notes"])
	}
	requireKeys(t, "finding", notes[0], "text", "advice", "hardware")
	if string(top["problems"]) != "[]" {
		t.Errorf("problems = %s, want an empty array, not null", top["problems"])
	}
	var py map[string]json.RawMessage
	mustUnmarshal(t, top["python"], &py)
	requireKeys(t, "python", py, "available", "command", "executable", "version", "error", "packages")
}

func requireKeys(t *testing.T, what string, m map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
