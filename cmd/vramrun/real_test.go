package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The tests of vramrun against real third-party parts from Debian, which
// .ci/run installs with apt-get: the real torchrun and DataLoader
// (python3-torch, used through /usr/bin/python3), a real one-node Slurm
// (slurm-wlm, munge), and a real Python plugin (python3-grpcio,
// python3-protobuf, protobuf-compiler). Each lives in a TestReal*
// function of its own with its scripts in testdata/real-<part>. A test
// whose part is missing fails and says which package to install: it is
// never skipped. Only a part that cannot run on this machine at all (say,
// no cgroup controller for Slurm's task/cgroup) may skip one case, by name.

// DebianPython is the interpreter the real parts are installed for.
const DebianPython = "/usr/bin/python3"

// requirePart fails the test unless check (a command line) succeeds,
// naming the Debian packages that provide it.
func requirePart(t *testing.T, packages string, check ...string) {
	t.Helper()
	cmd := exec.Command(check[0], check[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("this test needs %s (apt-get install %s; .ci/run does this): %s: %v\n%s",
			packages, packages, strings.Join(check, " "), err, out)
	}
}

// requirePythonModules fails unless /usr/bin/python3 imports every module.
func requirePythonModules(t *testing.T, packages string, modules ...string) {
	t.Helper()
	if _, err := os.Stat(DebianPython); err != nil {
		t.Fatalf("this test needs %s: %v", DebianPython, err)
	}
	requirePart(t, packages, DebianPython, "-c", "import "+strings.Join(modules, ", "))
}
