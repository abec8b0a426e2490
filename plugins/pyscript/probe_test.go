package pyscript

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// probeScript is a command whose Python is found on path, with PYTHONPATH
// pythonPath, run from dir.
func probeScript(t *testing.T, path, pythonPath, dir string) *Script {
	t.Helper()
	cmd := sdk.Command{Argv: []string{"tune", "run"}, Dir: dir, Env: map[string]string{"PATH": path, "PYTHONPATH": pythonPath}}
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &Script{Cmd: cmd, Inv: inv}
}

// writeFile writes text at dir/rel, making its folders.
func writeFile(t *testing.T, dir, rel, text string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLocateFindsWithoutImporting: the job's own python3 says where a
// package's folder or a module's file is without running it (a package
// that raises on import, as torchtune's recipes does, is still found, and
// leaves no mark), and that a module is not there; a package in the
// job's working folder is not the job's (the probe runs elsewhere).
func TestLocateFindsWithoutImporting(t *testing.T) {
	python := realPython3(t)
	site, work := t.TempDir(), t.TempDir()
	mark := filepath.Join(site, "imported")
	writeFile(t, site, "recipes/__init__.py", "open("+strconv.Quote(mark)+", 'w').close()\nraise ModuleNotFoundError('not a package')\n")
	writeFile(t, site, "single.py", "raise SystemExit(1)\n")
	writeFile(t, work, "shadow/__init__.py", "")
	s := probeScript(t, filepath.Dir(python), site, work)
	probes := NewProbes()
	got := probes.Locate(context.Background(), s, "recipes")
	if !got.Known || !got.There || got.Location != filepath.Join(site, "recipes") {
		t.Errorf("recipes: %+v, want %s", got, filepath.Join(site, "recipes"))
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("locating recipes imported it")
	}
	if got := probes.Locate(context.Background(), s, "single"); got.Location != filepath.Join(site, "single.py") {
		t.Errorf("single: %+v, want its file", got)
	}
	for _, module := range []string{"no_such_module_vramrun", "shadow"} {
		if got := probes.Locate(context.Background(), s, module); !got.Known || got.There || got.Why != module+" is not installed in python3" {
			t.Errorf("%s: %+v, want not installed", module, got)
		}
	}
}

// TestInstalledReadsMetadataWithoutImporting: the job's own python3 reads
// a distribution's version from its metadata, without importing the
// package (one that raises on import leaves no mark), and says when no
// such distribution is installed.
func TestInstalledReadsMetadataWithoutImporting(t *testing.T) {
	python := realPython3(t)
	site := t.TempDir()
	mark := filepath.Join(site, "imported")
	writeFile(t, site, "pytorch_lightning/__init__.py", "open("+strconv.Quote(mark)+", 'w').close()\nraise ImportError('no torch')\n")
	writeFile(t, site, "pytorch_lightning-1.9.5.dist-info/METADATA", "Metadata-Version: 2.1\nName: pytorch-lightning\nVersion: 1.9.5\n")
	s := probeScript(t, filepath.Dir(python), site, t.TempDir())
	probes := NewProbes()
	got := probes.Installed(context.Background(), s, "pytorch_lightning")
	if !got.Known || !got.There || got.Version != "1.9.5" || got.Why != "pytorch_lightning 1.9.5 is installed in python3" {
		t.Errorf("pytorch_lightning: %+v, want 1.9.5", got)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("reading the version imported the package")
	}
	if got := probes.Installed(context.Background(), s, "no_such_dist_vramrun"); !got.Known || got.There || got.Version != "" {
		t.Errorf("a distribution not installed: %+v", got)
	}
}

// TestLocateTrustsOnlyAbsolutePaths: an answer that is no absolute path
// (a relative one, from a folder the probe has already removed) tells
// nothing; no Python tells nothing; an answer is kept for the next ask.
func TestLocateTrustsOnlyAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	answer := writeFile(t, dir, "answer", "relative/recipes")
	writeFile(t, dir, "python3", "#!/bin/sh\necho x >> \"${0%/*}/calls\"\nread -r line < \"${0%/*}/answer\"\nprintf '%s' \"$line\"\n")
	s := probeScript(t, dir, "", dir)
	probes := NewProbes()
	if got := probes.Locate(context.Background(), s, "recipes"); got.Known || !strings.Contains(got.Why, "gives no place on disk") {
		t.Errorf("relative answer: %+v", got)
	}
	if err := os.WriteFile(answer, []byte("/site/recipes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := probes.Locate(context.Background(), s, "recipes"); !got.Known || got.Location != "/site/recipes" {
			t.Errorf("absolute answer: %+v", got)
		}
	}
	if calls, _ := os.ReadFile(filepath.Join(dir, "calls")); strings.Count(string(calls), "x") != 2 {
		t.Errorf("python3 ran %d times, want 2 (the known answer kept)", strings.Count(string(calls), "x"))
	}
	if got := probes.Locate(context.Background(), probeScript(t, "/nonexistent-vramrun-test", "", dir), "recipes"); got.Known {
		t.Errorf("no python: %+v", got)
	}
}

// realPython3 is the path of a python3 that is the interpreter itself,
// not a shim that needs more of PATH: the job's python3 is what the
// probes run.
func realPython3(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; sys.stdout.write(sys.executable)").Output()
	if err != nil {
		t.Fatalf("the probe's test needs a python3 on PATH: %v", err)
	}
	python := string(out)
	if filepath.Base(python) != "python3" {
		link := filepath.Join(t.TempDir(), "python3")
		if err := os.Symlink(python, link); err != nil {
			t.Fatal(err)
		}
		python = link
	}
	return python
}
