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
type scriptPlugins struct {
	build func() (builtPlugin, error)
}

// builtPlugin is a plugin executable and its sha256.
type builtPlugin struct{ path, sum string }

func newScriptPlugins(t *testing.T, root string) *scriptPlugins {
	dir := t.TempDir()
	return &scriptPlugins{build: sync.OnceValues(func() (builtPlugin, error) {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return builtPlugin{}, err
		}
		out := filepath.Join(dir, "vramrun-plugin-mytrainer")
		cmd := exec.Command(goTool, "build", "-o", out, "./examples/plugin-mytrainer")
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return builtPlugin{}, errors.New("build the example plugin: " + string(msg))
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return builtPlugin{}, err
		}
		sum := sha256.Sum256(b)
		return builtPlugin{out, hex.EncodeToString(sum[:])}, nil
	})}
}

func (p *scriptPlugins) setup(env *testscript.Env) error {
	built, err := p.build()
	if err != nil {
		return err
	}
	env.Setenv("MYTRAINER_PLUGIN", built.path)
	env.Setenv("MYTRAINER_SHA256", built.sum)
	return nil
}
