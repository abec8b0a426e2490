package doctor

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

func probeWith(t *testing.T, python string, env map[string]string) Report {
	t.Helper()
	opts := options(t, gputest.New("550", a100("GPU-aaaa")), env)
	opts.Python = python
	return Run(context.Background(), opts)
}

func TestPythonProbeFakeInterpreter(t *testing.T) {
	answer := `{"executable":"/venv/bin/python","version":"3.9.18","packages":{` +
		`"torch":{"installed":true,"version":"2.1.0+cpu","cuda_available":false,"cuda_version":""},` +
		`"transformers":{"installed":true,"version":"4.40.0"},` +
		`"bitsandbytes":{"installed":true,"version":"0.43.0","error":"RuntimeError: CUDA Setup failed despite GPU being available"},` +
		`"tensorflow":{"installed":false,"version":""},"jax":{"installed":false,"version":""}}}`
	r := probeWith(t, fakePython(t, answer), nil)
	p := r.Python
	if !p.Available || p.Executable != "/venv/bin/python" || p.Version != "3.9.18" || len(p.Packages) != 5 {
		t.Fatalf("python = %+v", p)
	}
	if torch := p.Packages["torch"]; !torch.Installed || torch.CUDAAvailable == nil || *torch.CUDAAvailable {
		t.Errorf("torch = %+v", torch)
	}
	wantNotes := []string{
		"bitsandbytes is installed in the job's Python but does not import: RuntimeError: CUDA Setup failed",
		"torch 2.1.0+cpu is installed but cannot use the GPU",
		"The job's Python (3.9.18, /venv/bin/python) does not have tensorflow, jax.",
	}
	if len(r.Notes) != len(wantNotes) {
		t.Fatalf("notes = %+v", r.Notes)
	}
	for _, want := range wantNotes {
		found := false
		for _, n := range r.Notes {
			found = found || strings.Contains(n.Text, want)
		}
		if !found {
			t.Errorf("no note contains %q: %+v", want, r.Notes)
		}
	}
	if len(r.Problems) != 0 {
		t.Errorf("Python findings must be notes, got problems %+v", r.Problems)
	}
}

func TestPythonMissingIsANote(t *testing.T) {
	r := probeWith(t, "python-that-is-not-there", map[string]string{"PATH": t.TempDir()})
	if r.Python.Available || len(r.Problems) != 0 || r.ExitCode() != 0 {
		t.Fatalf("python %+v problems %+v", r.Python, r.Problems)
	}
	if len(r.Notes) != 1 || r.Notes[0].Text != "The job's Python (python-that-is-not-there) was not found on its PATH." {
		t.Errorf("notes = %+v", r.Notes)
	}
	r = probeWith(t, "/nonexistent/bin/python3", nil)
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0].Text, "/nonexistent/bin/python3 does not exist") {
		t.Errorf("notes = %+v", r.Notes)
	}
}

func TestPythonLookedUpInTheJobsPATH(t *testing.T) {
	python := fakePython(t, allInstalled)
	dir, name := python[:strings.LastIndex(python, "/")], "python"
	r := probeWith(t, name, map[string]string{"PATH": "/nonexistent:" + dir})
	if !r.Python.Available || r.Python.Version != "3.10.4" {
		t.Errorf("python = %+v", r.Python)
	}
}

func TestPythonFailingProbeSaysWhy(t *testing.T) {
	python := writeScript(t, "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'ImportError: bad magic number' >&2\nexit 1\n")
	r := probeWith(t, python, nil)
	if r.Python.Available || !strings.Contains(r.Python.Error, "could not be probed: ImportError: bad magic number") {
		t.Errorf("python = %+v", r.Python)
	}
	if len(r.Notes) != 1 || len(r.Problems) != 0 {
		t.Errorf("notes %+v problems %+v", r.Notes, r.Problems)
	}
}

func TestPythonProbeTimesOut(t *testing.T) {
	python := writeScript(t, "#!/bin/sh\nexec sleep 600\n")
	opts := options(t, gputest.New("550", a100("GPU-aaaa")), nil)
	opts.Python = python
	opts.PythonTimeout = 50 * time.Millisecond
	r := Run(context.Background(), opts)
	if r.Python.Available || !strings.Contains(r.Python.Error, "did not answer within 50ms") {
		t.Errorf("python = %+v", r.Python)
	}
}

// The machine's own python3: the probe script itself is exercised. Each
// package is either reported with a version or named in the missing note.
func TestPythonProbeRealInterpreter(t *testing.T) {
	env := map[string]string{"PATH": os.Getenv("PATH")}
	r := probeWith(t, "python3", env)
	p := r.Python
	if !p.Available {
		t.Fatalf("python3 probe failed: %s", p.Error)
	}
	if !strings.HasPrefix(p.Version, "3.") || !strings.HasPrefix(p.Executable, "/") {
		t.Errorf("python = %+v", p)
	}
	var missing string
	for _, n := range r.Notes {
		if strings.Contains(n.Text, "does not have") {
			missing = n.Text
		}
	}
	for _, spec := range pythonPackages() {
		info, ok := p.Packages[spec.Name]
		if !ok {
			t.Errorf("%s not reported", spec.Name)
			continue
		}
		if info.Installed != !strings.Contains(missing, spec.Name) {
			t.Errorf("%s: installed %v, missing note %q", spec.Name, info.Installed, missing)
		}
		if !info.Installed && info.Version != "" {
			t.Errorf("%s absent with version %q", spec.Name, info.Version)
		}
	}
}
