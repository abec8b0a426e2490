// Package gpu_test checks the real-GPU acceptance kit in examples/gpu on a
// machine without a GPU, so that `go test ./...` covers it: the training
// scripts compile, the result checking, the VRAM holder and acceptance.sh's
// own logic pass their Python tests (standard library only, with stand-ins
// for torch and vramrun), the shell scripts parse, and the folder's
// vramrun.yaml is a valid profile.
package gpu_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/profiles"
)

// scripts are the Python files of the kit; each must compile.
var scripts = []string{
	"torch_lm.py", "hf_trainer.py", "lightning_train.py", "jax_train.py",
	"hold_vram.py", "check_results.py", "fakes.py",
	"test_check_results.py", "test_hold_vram.py", "test_acceptance_sh.py",
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check examples/gpu: %v", err)
	}
	return p
}

// pythonEnv keeps bytecode out of the source tree.
func pythonEnv(t *testing.T) []string {
	return append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir(), "PYTHONDONTWRITEBYTECODE=1")
}

func TestEveryPythonFileIsListed(t *testing.T) {
	found, err := filepath.Glob("*.py")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range scripts {
		listed[s] = true
	}
	for _, f := range found {
		if !listed[f] {
			t.Errorf("%s is not in this test's list of scripts to compile", f)
		}
	}
	if len(found) != len(scripts) {
		t.Errorf("found %d Python files, the list has %d: %v", len(found), len(scripts), found)
	}
}

func TestScriptsCompile(t *testing.T) {
	py := python(t)
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			cmd := exec.Command(py, "-m", "py_compile", s)
			cmd.Env = pythonEnv(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("python3 -m py_compile %s: %v\n%s", s, err, out)
			}
		})
	}
}

var ranTests = regexp.MustCompile(`(?m)^Ran (\d+) tests? in `)

func TestPythonUnitTests(t *testing.T) {
	cmd := exec.Command(python(t), "-m", "unittest", "discover", "-s", ".", "-p", "test_*.py", "-v")
	cmd.Env = pythonEnv(t)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("python3 -m unittest discover: %v\n%s", err, text)
	}
	m := ranTests.FindStringSubmatch(text)
	if m == nil || m[1] == "0" {
		t.Fatalf("the Python tests ran no test:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if last := lines[len(lines)-1]; last != "OK" {
		t.Fatalf("the Python tests ended with %q, not OK (a skipped test does not count):\n%s", last, text)
	}
	t.Logf("%s Python tests passed", m[1])
}

func TestShellScripts(t *testing.T) {
	for _, s := range []string{"acceptance.sh", "build.sh"} {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck is not installed: syntax checked with bash -n only")
		return
	}
	if out, err := exec.Command(shellcheck, "acceptance.sh", "build.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// The lightning profile names lightning_train.py's argparse flags; vramrun
// refuses a profile with an unknown key or fix, so it must load.
func TestLightningProfileLoads(t *testing.T) {
	loaded, err := profiles.Load(profiles.LoadOptions{Dir: ".", Env: map[string]string{"HOME": t.TempDir()}, Profile: "lightning"})
	if err != nil {
		t.Fatalf("vramrun.yaml: %v", err)
	}
	if filepath.Base(loaded.ProjectFile) != "vramrun.yaml" {
		t.Fatalf("project file is %q, not this folder's vramrun.yaml", loaded.ProjectFile)
	}
	want := map[string]string{
		"batch_size":         "--batch_size",
		"grad_accumulation":  "--accumulate_grad_batches",
		"mixed_precision":    "--precision {dtype}-mixed",
		"grad_checkpointing": "--grad_checkpointing",
	}
	for k, v := range want {
		if got := loaded.Settings.Flags[k]; got != v {
			t.Errorf("flags.%s = %q, want %q", k, got, v)
		}
	}
	if len(loaded.Settings.Flags) != len(want) {
		t.Errorf("flags = %v, want only %v", loaded.Settings.Flags, want)
	}
	// Without --profile lightning the other scripts get no flags mapping.
	plain, err := profiles.Load(profiles.LoadOptions{Dir: ".", Env: map[string]string{"HOME": t.TempDir()}})
	if err != nil {
		t.Fatalf("vramrun.yaml: %v", err)
	}
	if len(plain.Settings.Flags) != 0 {
		t.Errorf("flags without a profile = %v, want none", plain.Settings.Flags)
	}
}
