package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vramrun": func() { os.Exit(newApp(os.Stdin, os.Stdout, os.Stderr, os.Environ()).main(os.Args[1:])) },
	})
}

// repoRoot is the repository's top folder, found from this file.
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestScripts runs the CLI scripts in testdata/script: each shows a command,
// its output and its exit status. $SIMTRAIN is the simulated training jobs'
// folder; its fake launchers (torchrun, accelerate, deepspeed) are on PATH.
func TestScripts(t *testing.T) {
	root := repoRoot(t)
	plugins := newScriptPlugins(t, root)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			sim := filepath.Join(root, "examples", "simtrain")
			env.Setenv("SIMTRAIN", sim)
			env.Setenv("PATH", filepath.Join(sim, "bin")+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, ".data"))
			// No real driver is consulted: a missing library forces the
			// no-NVML path even on a machine with a GPU.
			env.Setenv("VRAMRUN_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
			env.Setenv("PYTHONDONTWRITEBYTECODE", "1")
			return plugins.setup(env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"status": cmdStatus},
	})
}

// cmdStatus is `status N command args...`: it runs the command like exec,
// keeping its output for stdout/stderr, and checks that it exits with
// status N — testscript's own exec only tells zero from non-zero.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("status: %v", err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
