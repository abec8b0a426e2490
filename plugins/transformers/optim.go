package transformers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The optimizer_8bit fix: HF's 8-bit AdamW needs bitsandbytes in the job's
// own Python; Adafactor (part of transformers) is the fallback.
const (
	optim8bit      = "adamw_bnb_8bit"
	optimAdafactor = "adafactor"
	// probeTimeout bounds `python -c "import bitsandbytes"`: importing it
	// loads CUDA libraries, which can take a while on a cold disk.
	probeTimeout = 20 * time.Second
)

// lowMemoryOptimizers are the OptimizerNames values whose state is small
// already (transformers' training_args.py OptimizerNames).
var lowMemoryOptimizers = map[string]bool{
	"adafactor": true, "adamw_bnb_8bit": true, "adamw_8bit": true, "ademamix_8bit": true,
	"lion_8bit": true, "rmsprop_bnb_8bit": true, "rmsprop_8bit": true, "adamw_torch_4bit": true,
	"adamw_torch_8bit": true, "lomo": true, "adalomo": true,
}

// lowMemoryOptimizer says whether an optim value already saves optimizer
// memory: the list above, paged optimizers (state in host memory), GaLore
// and APOLLO (low-rank state) and any other 8- or 4-bit variant.
func lowMemoryOptimizer(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	if lowMemoryOptimizers[name] {
		return true
	}
	for _, prefix := range []string{"paged_", "galore_", "apollo_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return strings.HasSuffix(name, "_8bit") || strings.HasSuffix(name, "_4bit")
}

// choice is the optimizer the fix picks and why.
type choice struct {
	optim string
	why   string
}

// pickOptimizer checks whether bitsandbytes imports in the job's Python,
// run with the job's environment in an empty folder.
func (j *job) pickOptimizer(ctx context.Context) choice {
	env := j.jobEnv()
	python, shown := j.findPython(env)
	if python == "" {
		return choice{optimAdafactor, fmt.Sprintf("no %s found on the job's PATH to check for bitsandbytes, so adafactor", shown)}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	// The probe runs in an empty folder: `python -c` puts its working
	// folder first on sys.path, and a repository's own bitsandbytes.py must
	// not run just because vramrun looked (vramrun plan runs no project
	// code).
	clean, err := os.MkdirTemp("", "vramrun-probe-")
	if err != nil {
		return choice{optimAdafactor, fmt.Sprintf("no folder to check for bitsandbytes in (%v), so adafactor", err)}
	}
	defer os.RemoveAll(clean)
	if !filepath.IsAbs(python) && strings.ContainsRune(python, '/') {
		python = j.cmd.Path(python)
	}
	c := exec.CommandContext(ctx, python, "-c", "import bitsandbytes")
	c.Dir = clean
	if env != nil {
		c.Env = envList(env)
	}
	err = c.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return choice{optim8bit, "bitsandbytes imports in " + shown}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return choice{optimAdafactor, fmt.Sprintf("importing bitsandbytes in %s took over %s, so adafactor", shown, probeTimeout)}
	case !errors.As(err, &exit):
		return choice{optimAdafactor, fmt.Sprintf("%s could not be run to check for bitsandbytes (%v), so adafactor", shown, err)}
	}
	return choice{optimAdafactor, "bitsandbytes is not installed in " + shown + ", so adafactor"}
}

// jobEnv is the job's environment with the command's own `env NAME=VALUE`
// assignments; nil when the command carries none (the current
// environment is the job's then).
func (j *job) jobEnv() map[string]string {
	if j.cmd.Env == nil && j.s.Inv.Env == nil {
		return nil
	}
	env := make(map[string]string, len(j.cmd.Env)+len(j.s.Inv.Env))
	for k, v := range j.cmd.Env {
		env[k] = v
	}
	for k, v := range j.s.Inv.Env {
		env[k] = v
	}
	return env
}

// findPython resolves the job's interpreter: the one the command names,
// else python3 then python on the job's PATH (torchrun, accelerate,
// deepspeed and a script run directly start the PATH's Python). It
// returns the path to run and the name to show; path is "" when none is
// found.
func (j *job) findPython(env map[string]string) (path, shown string) {
	names := []string{"python3", "python"}
	if j.s.Inv.Interpreter != "" {
		names = []string{j.s.Inv.Interpreter}
	}
	pathVar := os.Getenv("PATH")
	if env != nil {
		pathVar = env["PATH"]
	}
	for _, name := range names {
		if p := lookPath(name, pathVar, j.cmd.Dir); p != "" {
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
