package pyscript

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ProbeTimeout bounds one probe: importing a package such as bitsandbytes
// loads CUDA libraries, which can take a while on a cold disk.
const ProbeTimeout = 20 * time.Second

// Probes asks the job's own Python whether a package is there, before a
// fix that needs it is applied, and remembers the answer per interpreter
// (its path and modification time, and the environment that decides what
// it finds), so that a run or plan asks each question once. A nil *Probes
// asks every time. Probes run in an empty folder: `python -c` puts its
// working folder first on sys.path, and a repository's own deepspeed.py
// must not run just because vramrun looked.
type Probes struct {
	mu   sync.Mutex
	seen map[probeKey]Probe
}

// NewProbes returns an empty cache.
func NewProbes() *Probes { return &Probes{seen: map[probeKey]Probe{}} }

// Probe is what one probe found.
type Probe struct {
	// Known is false when the probe could not tell (no Python found, a
	// timeout, an interpreter that would not run): the fix goes ahead, and
	// the job's own rejection is what tells.
	Known bool
	// There says the package is there (when Known).
	There bool
	// Why says what was found, in words ("deepspeed is not installed in
	// python3").
	Why string
	// Version is the package's __version__ (Version probes), or the
	// installed distribution's version (Installed probes).
	Version string
	// Location is where the module is (Locate probes only): a package's
	// folder, a module's file.
	Location string
}

// probeMode is what a probe asks of a module.
type probeMode int

const (
	probeFind probeMode = iota
	probeImport
	probeVersion
	probeLocate
	probeInstalled
)

type probeKey struct {
	python, modified, env, module string
	mode                          probeMode
}

// probeEnv are the variables that change what an interpreter finds.
var probeEnv = []string{"PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX", "HOME"}

// Find says whether module can be found by the job's Python without
// importing it (importlib.util.find_spec, as Lightning's own requirement
// checks do): cheap, and it runs none of the package's code.
func (p *Probes) Find(ctx context.Context, s *Script, module string) Probe {
	return p.probe(ctx, s, module, probeFind)
}

// Import says whether module imports in the job's Python: for a package
// that may be installed and still fail to load (bitsandbytes without its
// CUDA libraries).
func (p *Probes) Import(ctx context.Context, s *Script, module string) Probe {
	return p.probe(ctx, s, module, probeImport)
}

// Version imports module in the job's Python and reads its __version__:
// for a fix whose safety depends on the release the job runs.
func (p *Probes) Version(ctx context.Context, s *Script, module string) Probe {
	return p.probe(ctx, s, module, probeVersion)
}

// Locate says where the job's Python finds a top-level module, without
// importing it (importlib.util.find_spec): a package's folder (the first
// of its search locations), else the module's file. A dotted name would
// import its parents, so it is for top-level names only.
func (p *Probes) Locate(ctx context.Context, s *Script, module string) Probe {
	return p.probe(ctx, s, module, probeLocate)
}

// Installed reads the version of the distribution dist that the job's
// Python has installed, from its metadata (importlib.metadata.version):
// it imports nothing of the package, so it is cheap and runs none of its
// code. Version is the release ("2.4.0"); There is false when no such
// distribution is installed.
func (p *Probes) Installed(ctx context.Context, s *Script, dist string) Probe {
	return p.probe(ctx, s, dist, probeInstalled)
}

// installedScript prints sys.argv[1]'s installed version, and exits 3
// when it is not installed.
const installedScript = `import sys
from importlib import metadata
try:
    v = metadata.version(sys.argv[1])
except metadata.PackageNotFoundError:
    sys.exit(3)
sys.stdout.write(v or "")`

// locateScript prints where find_spec finds sys.argv[1], and exits 3 when
// it finds nothing.
const locateScript = `import importlib.util, sys
s = importlib.util.find_spec(sys.argv[1])
if s is None:
    sys.exit(3)
where = list(s.submodule_search_locations or []) or [s.origin or ""]
sys.stdout.write(where[0])`

func (p *Probes) probe(ctx context.Context, s *Script, module string, mode probeMode) Probe {
	env := JobEnv(s)
	python, shown := FindPython(s, env)
	if python == "" {
		return Probe{Why: fmt.Sprintf("no %s found on the job's PATH to check for %s", shown, module)}
	}
	key := probeKey{python: python, env: envKey(env), module: module, mode: mode}
	if fi, err := os.Stat(python); err == nil {
		key.modified = fi.ModTime().String()
	}
	if p != nil {
		p.mu.Lock()
		found, ok := p.seen[key]
		p.mu.Unlock()
		if ok {
			return found
		}
	}
	found := runProbe(ctx, python, shown, env, module, mode)
	if p != nil && found.Known {
		p.mu.Lock()
		p.seen[key] = found
		p.mu.Unlock()
	}
	return found
}

func runProbe(ctx context.Context, python, shown string, env map[string]string, module string, mode probeMode) Probe {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	clean, err := os.MkdirTemp("", "vramrun-probe-")
	if err != nil {
		return Probe{Why: fmt.Sprintf("no folder to check for %s in (%v)", module, err)}
	}
	defer os.RemoveAll(clean)
	args := []string{"-c", "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 3)", module}
	switch mode {
	case probeImport:
		args = []string{"-c", "import " + module}
	case probeVersion:
		args = []string{"-c", "import sys, " + module + " as m; sys.stdout.write(str(getattr(m, '__version__', '')))"}
	case probeLocate:
		args = []string{"-c", locateScript, module}
	case probeInstalled:
		args = []string{"-c", installedScript, module}
	}
	c := exec.CommandContext(ctx, python, args...)
	c.Dir = clean
	if env != nil {
		c.Env = envList(env)
	}
	var out strings.Builder
	switch mode {
	case probeVersion, probeInstalled:
		c.Stdout = &limited{w: &out, left: 256}
	case probeLocate:
		c.Stdout = &limited{w: &out, left: 4096}
	}
	err = c.Run()
	var exit *exec.ExitError
	switch {
	case err == nil && mode == probeVersion:
		v := strings.TrimSpace(out.String())
		if v == "" {
			return Probe{Known: true, There: true, Why: module + " imports in " + shown + " but has no __version__"}
		}
		return Probe{Known: true, There: true, Version: v, Why: module + " " + v + " in " + shown}
	case err == nil && mode == probeInstalled:
		v := strings.TrimSpace(out.String())
		if v == "" {
			return Probe{Known: true, There: true, Why: module + " is installed in " + shown + " without a version"}
		}
		return Probe{Known: true, There: true, Version: v, Why: module + " " + v + " is installed in " + shown}
	case err == nil && mode == probeLocate:
		return located(module, shown, out.String())
	case err == nil && mode == probeImport:
		return Probe{Known: true, There: true, Why: module + " imports in " + shown}
	case err == nil:
		return Probe{Known: true, There: true, Why: module + " is installed in " + shown}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Probe{Why: fmt.Sprintf("checking for %s in %s took over %s", module, shown, ProbeTimeout)}
	case ctx.Err() != nil:
		return Probe{Why: fmt.Sprintf("checking for %s in %s was cut short", module, shown)}
	case !errors.As(err, &exit):
		return Probe{Why: fmt.Sprintf("%s could not be run to check for %s (%v)", shown, module, err)}
	}
	return Probe{Known: true, Why: module + " is not installed in " + shown}
}

// located is a Locate probe's answer: an absolute path, or nothing known
// (a module without a file, a relative path whose folder is gone, an
// answer cut short).
func located(module, shown, where string) Probe {
	if !filepath.IsAbs(where) || len(where) >= 4096 {
		return Probe{Why: fmt.Sprintf("%s finds %s but gives no place on disk for it (%q)", shown, module, where)}
	}
	return Probe{Known: true, There: true, Location: where, Why: module + " is at " + where + " in " + shown}
}

func envKey(env map[string]string) string {
	var b strings.Builder
	for _, k := range probeEnv {
		v, ok := env[k]
		if env == nil {
			v, ok = os.LookupEnv(k)
		}
		if ok {
			b.WriteString(k + "=" + v + "\x00")
		}
	}
	return b.String()
}

// JobEnv is the job's environment with the command's own `env NAME=VALUE`
// assignments; nil when the command carries none (the current
// environment is the job's then).
func JobEnv(s *Script) map[string]string {
	if s.Cmd.Env == nil && s.Inv.Env == nil {
		return nil
	}
	env := make(map[string]string, len(s.Cmd.Env)+len(s.Inv.Env))
	for k, v := range s.Cmd.Env {
		env[k] = v
	}
	for k, v := range s.Inv.Env {
		env[k] = v
	}
	return env
}

// FindPython resolves the job's interpreter: the one the command names,
// else python3 then python on the job's PATH (torchrun, accelerate,
// deepspeed and a script run directly start the PATH's Python). It
// returns the absolute path to run and the name to show; path is "" when
// none is found.
func FindPython(s *Script, env map[string]string) (path, shown string) {
	names := []string{"python3", "python"}
	if s.Inv.Interpreter != "" {
		names = []string{s.Inv.Interpreter}
	}
	pathVar := os.Getenv("PATH")
	if env != nil {
		pathVar = env["PATH"]
	}
	for _, name := range names {
		if p := lookPath(name, pathVar, s.Cmd.Dir); p != "" {
			return p, name
		}
	}
	return "", strings.Join(names, " or ")
}

// lookPath finds an executable as a shell with PATH=pathVar in dir would.
func lookPath(name, pathVar, dir string) string {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if executable(p) {
			return absolute(p)
		}
		return ""
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) && dir != "" {
			d = filepath.Join(dir, d)
		}
		if p := filepath.Join(d, name); executable(p) {
			return absolute(p)
		}
	}
	return ""
}

// executable says whether p is a file that can be run.
func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// absolute makes p absolute, so that running it does not depend on the
// working directory the probe runs in.
func absolute(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// limited keeps the first left bytes written to it and drops the rest
// (a probe's answer is one short line).
type limited struct {
	w    *strings.Builder
	left int
}

func (l *limited) Write(b []byte) (int, error) {
	n := len(b)
	if len(b) > l.left {
		b = b[:l.left]
	}
	l.left -= len(b)
	l.w.Write(b)
	return n, nil
}
