package transformers

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// fakePython writes an executable `name` in a new folder that exits with
// code for `-c "import bitsandbytes"` and records its arguments and the
// environment variable VRAMRUN_TEST_MARK it sees.
func fakePython(t *testing.T, name string, code int) (dir string) {
	t.Helper()
	dir = t.TempDir()
	// Shell built-ins only: the job's PATH in these tests has no tools.
	script := "#!/bin/sh\necho \"$*|$VRAMRUN_TEST_MARK|$PWD\" > \"${0%/*}/called\"\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func called(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "called"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func TestOptimizer8bitWithBitsandbytes(t *testing.T) {
	dir := fakePython(t, "python3", 0)
	work := t.TempDir()
	cmd := command(filepath.Join(dir, "python3")+" run_clm.py --do_train", map[string]string{"run_clm.py": runCLM})
	cmd.Dir = work
	cmd.Env["VRAMRUN_TEST_MARK"] = "job-env"
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if want := filepath.Join(dir, "python3") + " run_clm.py --do_train --optim adamw_bnb_8bit"; plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv %s, want %s", plugintab.ArgvText(got.Argv), want)
	}
	if !strings.Contains(got.Summary, "--optim adamw_torch -> adamw_bnb_8bit") || !strings.Contains(got.Summary, "bitsandbytes imports in") {
		t.Errorf("summary %q", got.Summary)
	}
	// The job's interpreter and environment, in an empty folder of its
	// own: `python -c` puts its folder first on sys.path, and a project's
	// own bitsandbytes.py must not run because vramrun looked.
	c := called(t, dir)
	args, cwd, _ := strings.Cut(strings.TrimPrefix(c, "-c import bitsandbytes|"), "|")
	if !strings.HasPrefix(c, "-c import bitsandbytes|") || args != "job-env" || cwd == work || !strings.Contains(cwd, "vramrun-probe-") {
		t.Errorf("the probe ran as %q, want the job's interpreter with its env, in a folder of its own", c)
	}
	if _, err := os.Stat(cwd); !os.IsNotExist(err) {
		t.Errorf("the probe's folder %s is left behind", cwd)
	}
}

func TestOptimizer8bitWithoutBitsandbytes(t *testing.T) {
	dir := fakePython(t, "python3", 1)
	cmd := command("python3 run_clm.py --optim adamw_torch_fused", map[string]string{"run_clm.py": runCLM})
	cmd.Env["PATH"] = dir
	cmd.Dir = t.TempDir()
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if plugintab.ArgvText(got.Argv) != "python3 run_clm.py --optim adafactor" {
		t.Errorf("argv %q", got.Argv)
	}
	want := "--optim adamw_torch_fused -> adafactor (bitsandbytes is not installed in python3, so adafactor)"
	if got.Summary != want {
		t.Errorf("summary %q, want %q", got.Summary, want)
	}
	if called(t, dir) == "" {
		t.Error("the probe did not run the python3 on the job's PATH")
	}
}

func TestOptimizer8bitUnderLaunchersUsesPathPython(t *testing.T) {
	// torchrun names no interpreter: python3 on the job's PATH, else python.
	dir := fakePython(t, "python", 0)
	cmd := command("torchrun --nproc_per_node 2 run_clm.py", map[string]string{"run_clm.py": runCLM})
	cmd.Env["PATH"] = dir
	cmd.Dir = t.TempDir()
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--optim adamw_bnb_8bit") || !strings.Contains(got.Summary, "bitsandbytes imports in python") {
		t.Errorf("argv %q summary %q", got.Argv, got.Summary)
	}

	// No Python at all on the PATH: Adafactor, and the summary says why.
	cmd.Env["PATH"] = t.TempDir()
	got = plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--optim adafactor") || !strings.Contains(got.Summary, "no python3 or python found on the job's PATH") {
		t.Errorf("argv %q summary %q", got.Argv, got.Summary)
	}
}

func TestOptimizer8bitInJSONArgs(t *testing.T) {
	dir := fakePython(t, "python3", 1)
	files := map[string]string{"run_clm.py": runCLM, "args.json": `{"output_dir": "o", "optim": "adamw_torch"}`}
	cmd := command(filepath.Join(dir, "python3")+" run_clm.py args.json", files)
	cmd.Dir = t.TempDir()
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if m := copyJSON(t, got, "args.json"); m["optim"] != "adafactor" {
		t.Errorf("copy %v", m)
	}
	if !strings.Contains(got.Summary, "optim adamw_torch -> adafactor") || !strings.Contains(got.Summary, "not installed") {
		t.Errorf("summary %q", got.Summary)
	}
}

func TestOptimizer8bitWhenThePythonCannotRun(t *testing.T) {
	dir := fakePython(t, "python3", 0)
	// Found and executable, but its interpreter does not exist.
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte("#!/nonexistent/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := command(filepath.Join(dir, "python3")+" run_clm.py", map[string]string{"run_clm.py": runCLM})
	cmd.Dir = t.TempDir()
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixOptimizer8bit})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--optim adafactor") || !strings.Contains(got.Summary, "could not be run to check for bitsandbytes") {
		t.Errorf("argv %q summary %q", got.Argv, got.Summary)
	}
}

func TestOptimizer8bitBlockedByDeepSpeedOptimizer(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "ds.json": `{"optimizer": {"type": "AdamW"}}`}
	_, err := plugintab.Apply(t, New(), command("python run_clm.py --deepspeed ds.json", files), sdk.Fix{ID: sdk.FixOptimizer8bit})
	if !isUnsupported(err, "ds.json defines the optimizer (AdamW)") {
		t.Errorf("err %v", err)
	}
}

func TestLowMemoryOptimizer(t *testing.T) {
	for name, want := range map[string]bool{
		"adafactor": true, "adamw_bnb_8bit": true, "adamw_8bit": true, "paged_adamw_32bit": true, "paged_lion_8bit": true,
		"galore_adamw_layerwise": true, "apollo_adamw": true, "adamw_torch_4bit": true, "lomo": true, "ademamix_8bit": true,
		"adamw_torch": false, "adamw_torch_fused": false, "sgd": false, "lion_32bit": false, "ADAFACTOR": true,
	} {
		if got := LowMemoryOptimizer(name); got != want {
			t.Errorf("LowMemoryOptimizer(%q) = %v, want %v", name, got, want)
		}
	}
}
