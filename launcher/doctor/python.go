package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// PythonInfo is what the job's Python has.
type PythonInfo struct {
	// Available is false when the interpreter is missing or the probe
	// failed; Error then says why.
	Available  bool   `json:"available"`
	Command    string `json:"command"`
	Executable string `json:"executable"`
	Version    string `json:"version"`
	Error      string `json:"error"`
	// Packages maps each probed package to what was found.
	Packages map[string]PackageInfo `json:"packages"`
}

// PackageInfo is one package in the job's Python.
type PackageInfo struct {
	Installed bool `json:"installed"`
	// Version is "" when unknown or not installed.
	Version string `json:"version"`
	// Error is set when the package is present but does not import.
	Error string `json:"error,omitempty"`
	// CUDAAvailable and CUDAVersion are reported for packages probed for
	// CUDA support.
	CUDAAvailable *bool  `json:"cuda_available,omitempty"`
	CUDAVersion   string `json:"cuda_version,omitempty"`
}

// pythonPackage says how to probe one package.
type pythonPackage struct {
	Name string `json:"name"`
	// Dists are the distribution names to read the version from, in order
	// (a package can ship under several).
	Dists []string `json:"dists,omitempty"`
	// Import says to import it (an import check, or for CUDA).
	Import bool `json:"import,omitempty"`
	// CUDA says to ask it whether CUDA is usable (name.cuda.is_available()
	// and name.version.cuda).
	CUDA bool `json:"cuda,omitempty"`
}

// pythonPackages are the packages the doctor looks for in the job's Python.
// This data list is the one place outside plugins/ that names frameworks.
// Only what must be imported is imported: the others are slow to import
// and their version is read from the installed metadata.
func pythonPackages() []pythonPackage {
	return []pythonPackage{
		{Name: "torch", Import: true, CUDA: true},
		{Name: "transformers"},
		{Name: "bitsandbytes", Import: true},
		{Name: "tensorflow", Dists: []string{"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-macos"}},
		{Name: "jax"},
	}
}

// probeMarker starts the probe's answer line, so that whatever the imports
// print cannot be mistaken for it.
const probeMarker = "VRAMRUN-PYTHON-PROBE "

// probeScript prints the interpreter and package facts as one JSON line.
// Imported packages may print; stdout goes to stderr while they load.
const probeScript = `
import json, sys, importlib, importlib.util
try:
    from importlib import metadata
except Exception:
    metadata = None
real_stdout = sys.stdout
sys.stdout = sys.stderr
out = {"executable": sys.executable, "version": "%d.%d.%d" % tuple(sys.version_info[:3]), "packages": {}}
for p in json.loads(sys.argv[1]):
    name = p["name"]
    info = {"installed": False, "version": ""}
    try:
        found = importlib.util.find_spec(name) is not None
    except Exception:
        found = False
    if found:
        info["installed"] = True
        if metadata is not None:
            for dist in p.get("dists") or [name]:
                try:
                    info["version"] = metadata.version(dist)
                    break
                except Exception:
                    pass
        if p.get("import"):
            try:
                m = importlib.import_module(name)
                info["version"] = str(getattr(m, "__version__", "") or info["version"])
                if p.get("cuda"):
                    info["cuda_available"] = bool(m.cuda.is_available())
                    info["cuda_version"] = str(m.version.cuda or "")
            except BaseException as e:
                info["error"] = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]
    out["packages"][name] = info
real_stdout.write("` + probeMarker + `" + json.dumps(out) + "\n")
real_stdout.flush()
`

// probePython runs the probe script with the job's interpreter and
// environment. It imports local packages only and needs no network.
func probePython(ctx context.Context, opts Options) PythonInfo {
	info := PythonInfo{Command: opts.Python, Packages: map[string]PackageInfo{}}
	path, err := lookPython(opts.Python, opts.Env)
	if err != nil {
		info.Error = err.Error()
		return info
	}
	list, err := json.Marshal(pythonPackages())
	if err != nil {
		info.Error = fmt.Sprintf("cannot encode the package list: %v", err)
		return info
	}
	ctx, cancel := context.WithTimeout(ctx, opts.PythonTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", probeScript, string(list))
	cmd.Env = envList(opts.Env)
	// An empty working folder: `python -c` puts it first on sys.path, and
	// a project's own torch.py or bitsandbytes.py must not run because the
	// doctor looked.
	if clean, err := os.MkdirTemp("", "vramrun-probe-"); err == nil {
		defer os.RemoveAll(clean)
		cmd.Dir = clean
	}
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so that a timeout also ends anything the
	// imports started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	runErr := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		info.Error = fmt.Sprintf("the job's Python (%s) did not answer within %s", path, opts.PythonTimeout)
		return info
	}
	answer, ok := findAnswer(stdout.String())
	if !ok {
		why := lastLine(stderr.String())
		if why == "" && runErr != nil {
			why = runErr.Error()
		}
		info.Error = fmt.Sprintf("the job's Python (%s) could not be probed: %s", path, orUnknown(why))
		return info
	}
	var parsed struct {
		Executable string                 `json:"executable"`
		Version    string                 `json:"version"`
		Packages   map[string]PackageInfo `json:"packages"`
	}
	if err := json.Unmarshal([]byte(answer), &parsed); err != nil {
		info.Error = fmt.Sprintf("the job's Python (%s) gave an unreadable answer: %v", path, err)
		return info
	}
	info.Available = true
	info.Executable, info.Version = parsed.Executable, parsed.Version
	for name, p := range parsed.Packages {
		info.Packages[name] = p
	}
	return info
}

// lookPython finds the interpreter the way the job's shell would: a name
// with a slash as is, a bare name in the job's PATH.
func lookPython(python string, env map[string]string) (string, error) {
	if strings.Contains(python, "/") {
		if _, err := os.Stat(python); err != nil {
			return "", fmt.Errorf("the job's Python %s does not exist", python)
		}
		return python, nil
	}
	for _, dir := range filepath.SplitList(env["PATH"]) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, python)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("the job's Python (%s) was not found on its PATH", python)
}

func findAnswer(stdout string) (string, bool) {
	for _, line := range strings.Split(stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, probeMarker); ok {
			return rest, true
		}
	}
	return "", false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func processEnv() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
