// Package simtrain_test runs the simulated jobs' own Python tests, so that
// `go test ./...` covers them too. They need only python3's standard library.
package simtrain_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

func TestSimulatedJobs(t *testing.T) {
	cmd := exec.Command("python3", "-m", "unittest", "discover", "-s", ".", "-p", "test_*.py")
	cmd.Env = append(cmd.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Ran (\d+) tests? in`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no unittest summary in:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 50 {
		t.Fatalf("only %d Python tests ran:\n%s", n, out)
	}
	if regexp.MustCompile(`skipped=`).Match(out) {
		t.Fatalf("skipped Python tests do not count as passing:\n%s", out)
	}
}
