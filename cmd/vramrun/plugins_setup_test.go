package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptPlugins builds the example external plugin once per TestScripts,
// into the test's own temporary folder, for the plugins_*.txtar scripts:
// $MYTRAINER_PLUGIN is the executable and $MYTRAINER_SHA256 its hash.
// $FAULTY_PLUGIN is the host's deliberately faulty plugin, whose mode is
// the name it is installed under (plugins/host/testdata/faulty).
type scriptPlugins struct {
	build, faulty func() (builtPlugin, error)
}

// builtPlugin is a plugin executable and its sha256.
type builtPlugin struct{ path, sum string }

func newScriptPlugins(t *testing.T, root string) *scriptPlugins {
	dir := t.TempDir()
	return &scriptPlugins{
		build: sync.OnceValues(func() (builtPlugin, error) {
			return buildPlugin(root, dir, "./examples/plugin-mytrainer", "vramrun-plugin-mytrainer")
		}),
		faulty: sync.OnceValues(func() (builtPlugin, error) { return buildPlugin(root, dir, "./plugins/host/testdata/faulty", "faulty") }),
	}
}

// buildPlugin builds the package pkg of the repository at root into
// dir/name.
func buildPlugin(root, dir, pkg, name string) (builtPlugin, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return builtPlugin{}, err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return builtPlugin{}, errors.New("build " + pkg + ": " + string(msg))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return builtPlugin{}, err
	}
	sum := sha256.Sum256(b)
	return builtPlugin{out, hex.EncodeToString(sum[:])}, nil
}

func (p *scriptPlugins) setup(env *testscript.Env) error {
	built, err := p.build()
	if err != nil {
		return err
	}
	env.Setenv("MYTRAINER_PLUGIN", built.path)
	env.Setenv("MYTRAINER_SHA256", built.sum)
	faulty, err := p.faulty()
	if err != nil {
		return err
	}
	env.Setenv("FAULTY_PLUGIN", faulty.path)
	return nil
}
