package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files of the testscripts")

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
			setupScriptEnv(env, root)
			return plugins.setup(env)
		},
		Cmds: scriptCmds(),
		// go test ./cmd/vramrun -run TestScripts -update rewrites the golden
		// files that `cmp` compares against, in the .txtar files themselves.
		UpdateScripts: *update,
	})
}

// setupScriptEnv is the environment every script runs in: $SIMTRAIN is the
// simulated training jobs' folder, and its fake launchers (torchrun,
// accelerate, deepspeed) are on PATH; home and XDG folders are the
// script's own; no real NVML is consulted.
func setupScriptEnv(env *testscript.Env, root string) {
	sim := filepath.Join(root, "examples", "simtrain")
	env.Setenv("SIMTRAIN", sim)
	env.Setenv("PATH", filepath.Join(sim, "bin")+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("HOME", env.WorkDir)
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
	env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
	env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, ".data"))
	// No real driver is consulted: a missing library forces the no-NVML
	// path even on a machine with a GPU.
	env.Setenv("VRAMRUN_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
	env.Setenv("PYTHONDONTWRITEBYTECODE", "1")
	// The scripts' own vramrun.yaml files are trusted; trust.txtar unsets
	// this to see an untrusted one.
	env.Setenv("VRAMRUN_TRUST", "1")
	// The kernel log is the script's own, empty until a simulated job dies
	// as the OOM killer kills (--sim-sigkill-self): what vramrun makes of a
	// SIGKILL must not depend on this machine's log.
	kmsg := filepath.Join(env.WorkDir, ".kmsg")
	if err := os.WriteFile(kmsg, nil, 0o644); err != nil {
		env.T().Fatal(err)
	}
	env.Setenv("VRAMRUN_KERNEL_LOG", kmsg)
}

// scriptCmds are the scripts' own commands.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"status": cmdStatus, "dead": cmdDead, "gone": cmdGone, "waitfor": cmdWaitFor, "show": cmdShow,
	}
}

// cmdStatus is `status N command args...`: it runs the command like exec,
// keeping its output for stdout/stderr, and checks that it exits with
// status N — testscript's own exec only tells zero from non-zero. N may be
// a signal's name (SIGINT): the command must have died of that signal.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N|SIGNAME command [args...]")
	}
	got := "0"
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("status: %v", err)
		}
		got = strconv.Itoa(exit.ExitCode())
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			got = unix.SignalName(ws.Signal())
		}
	}
	if got != args[0] {
		ts.Fatalf("exit status %s, want %s", got, args[0])
	}
}

// cmdShow is `show FILE [PREFIX]`: it prints FILE (stdout or stderr of the
// last command, or a file), only the lines that start with PREFIX when one
// is given, with the script's folder and the simulated jobs' folder written
// as $WORK and $SIMTRAIN, so that `cmp stdout golden.txt` can compare output
// that names them and -update can rewrite the golden file.
func cmdShow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: show FILE [PREFIX]")
	}
	text := ts.ReadFile(args[0])
	text = strings.ReplaceAll(text, ts.Getenv("SIMTRAIN"), "$SIMTRAIN")
	text = strings.ReplaceAll(text, ts.Getenv("WORK"), "$WORK")
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if line != "" && (len(args) == 1 || strings.HasPrefix(line, args[1])) {
			b.WriteString(line)
		}
	}
	_, _ = io.WriteString(ts.Stdout(), b.String())
}

// cmdDead is `dead PIDFILE`: every pid listed in the file (one a line) is
// gone — no process left holding GPU memory. A zombie counts as gone: it
// holds nothing and only waits for its parent to read its status.
// `! dead PIDFILE`: one of them still runs.
func cmdDead(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: dead PIDFILE")
	}
	for _, pid := range pidsIn(ts, args[0]) {
		if running(pid) {
			if neg {
				return
			}
			ts.Fatalf("process %d is still running", pid)
		}
	}
	if neg {
		ts.Fatalf("every process in %s is gone", args[0])
	}
}

// cmdGone is `gone PIDFILE`: it waits (up to a minute) until every pid in
// the file is dead, as `dead` means it — for a death the kernel delivers
// after the event the script saw (a parent-death signal). It waits on that
// state, not for a fixed time.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: gone PIDFILE")
	}
	deadline := time.Now().Add(time.Minute)
	for _, pid := range pidsIn(ts, args[0]) {
		for delay := time.Millisecond; running(pid); delay = min(delay*2, 100*time.Millisecond) {
			if time.Now().After(deadline) {
				ts.Fatalf("process %d is still running", pid)
			}
			time.Sleep(delay)
		}
	}
}

func pidsIn(ts *testscript.TestScript, file string) []int {
	var pids []int
	for _, line := range strings.Fields(ts.ReadFile(file)) {
		pid, err := strconv.Atoi(line)
		if err != nil {
			ts.Fatalf("%q in %s is not a pid", line, file)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		ts.Fatalf("no pid in %s", file)
	}
	return pids
}

// running says whether pid is a live process (a zombie is not).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(string(stat[i+1:]), " Z")
}

// cmdWaitFor is `waitfor FILE`: it waits (up to a minute) until FILE exists
// and is not empty — how a script knows a background job has started. It
// waits on that state, not for a fixed time.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(time.Minute)
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		if info, err := os.Stat(path); err == nil && info.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %s did not appear", args[0])
		}
		time.Sleep(delay)
	}
}
