package lightning

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// fakePython writes a python3 that exits with code and counts its runs in
// the file "runs" next to it.
func fakePython(t *testing.T, code int) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"$*\" >> \"${0%/*}/runs\"\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runs(t *testing.T, dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	return strings.Fields(strings.TrimSpace(string(b)))
}

func TestCPUOffloadRefusedWhenTheJobsPythonHasNoDeepSpeed(t *testing.T) {
	dir := fakePython(t, 3) // find_spec found nothing
	p := New()
	cmd := plugintab.Command("python3 main.py fit --trainer.strategy ddp", map[string]string{"main.py": mainPy},
		plugintab.Dir(t.TempDir()), plugintab.Env("PATH", dir))
	_, err := plugintab.Apply(t, p, cmd, sdk.Fix{ID: sdk.FixCPUOffload})
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "deepspeed is not installed in python3") {
		t.Fatalf("err = %v, want cpu_offload refused because deepspeed is not installed", err)
	}
	// The answer is kept per interpreter: asking again runs no Python.
	if _, err := plugintab.Apply(t, p, cmd, sdk.Fix{ID: sdk.FixCPUOffload}); err == nil {
		t.Fatal("second Apply took the fix")
	}
	if n := strings.Count(strings.Join(runs(t, dir), " "), "find_spec"); n != 1 {
		t.Errorf("the probe ran %d times, want 1", n)
	}
	// Other fixes need no probe.
	if _, err := plugintab.Apply(t, p, cmd, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}); err != nil {
		t.Fatal(err)
	}
}

func TestCPUOffloadTakenWhenDeepSpeedIsThere(t *testing.T) {
	dir := fakePython(t, 0)
	cmd := plugintab.Command("python3 main.py fit --trainer.strategy ddp", map[string]string{"main.py": mainPy},
		plugintab.Dir(t.TempDir()), plugintab.Env("PATH", dir))
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixCPUOffload})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--trainer.strategy deepspeed_stage_2_offload") {
		t.Errorf("argv %s", plugintab.ArgvText(got.Argv))
	}
	if n := strings.Count(strings.Join(runs(t, dir), " "), "find_spec"); n != 1 {
		t.Errorf("the probe ran %d times, want 1", n)
	}
}
