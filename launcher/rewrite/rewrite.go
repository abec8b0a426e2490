// Package rewrite holds a job's command as the fixes so far have rewritten
// it: the argv, the environment vramrun set, and the config copies that
// stand for the user's files. Only this package writes those copies, and
// only inside the folder a fix was given: the user's own files are never
// written.
package rewrite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// Command is the job's command, rewritten.
type Command struct {
	dir   string
	flags map[string]string
	// base is the job's environment before any fix; set what fixes set.
	base map[string]string
	set  map[string]string
	argv []string
	// files maps each user file a fix rewrote to its latest copy.
	files map[string]string
	// inputs maps each piped config of the command as typed to the copy
	// the job reads instead.
	inputs map[string]string
	fixes  []string
	// gpus is how many GPUs the job sees, 0 when unknown (sdk.Command.GPUs).
	gpus int
}

// New starts from the command as typed, run in dir with the environment
// base; flags is the profile's flags: mapping.
func New(argv []string, dir string, base, flags map[string]string) *Command {
	return &Command{dir: dir, flags: flags, base: base, set: map[string]string{},
		argv: append([]string(nil), argv...), files: map[string]string{}, fixes: []string{}}
}

// WithGPUs says how many GPUs the job sees (0: unknown), for the plugins.
func (c *Command) WithGPUs(n int) *Command {
	c.gpus = max(n, 0)
	return c
}

// Clone is a copy of the command as it is now, to go back to.
func (c *Command) Clone() *Command {
	out := *c
	out.set, out.files, out.inputs = copyMap(c.set), copyMap(c.files), copyMap(c.inputs)
	if out.set == nil {
		out.set = map[string]string{}
	}
	if out.files == nil {
		out.files = map[string]string{}
	}
	out.argv = append([]string(nil), c.argv...)
	out.fixes = append([]string(nil), c.fixes...)
	return &out
}

// Argv is the command line as it runs now, a copy of its own.
func (c *Command) Argv() []string { return append([]string(nil), c.argv...) }

// SDK is the command as a plugin sees it, a copy of its own.
func (c *Command) SDK() sdk.Command {
	return sdk.Command{Argv: append([]string(nil), c.argv...), Env: c.Env(), Dir: c.dir, Flags: c.flags, GPUs: c.gpus}
}

// Env is the job's whole environment.
func (c *Command) Env() map[string]string { return Merge(c.base, c.set) }

// Launch is what runs now: argv, what vramrun set, the copies.
func (c *Command) Launch() record.Launch {
	return record.Launch{Argv: append([]string(nil), c.argv...), Env: copyMap(c.set), Files: copyMap(c.files)}
}

// Substitute points the command at copyPath where it names original (a
// word of its own, or the value of a --flag=original word), and reports
// whether it did. The copy stands for original from here on: fixes that
// rewrite the config rewrite the copy.
func (c *Command) Substitute(original, copyPath string) bool {
	changed := false
	for i, w := range c.argv {
		switch {
		case w == original:
			c.argv[i] = copyPath
		case strings.HasPrefix(w, "-") && strings.HasSuffix(w, "="+original):
			c.argv[i] = strings.TrimSuffix(w, original) + copyPath
		default:
			continue
		}
		changed = true
	}
	if changed {
		if c.inputs == nil {
			c.inputs = map[string]string{}
		}
		c.inputs[original] = copyPath
		c.files[original] = copyPath
	}
	return changed
}

// Inputs maps each piped config of the command as typed to the copy the
// job reads instead.
func (c *Command) Inputs() map[string]string { return copyMap(c.inputs) }

// Fixes are the ids of the fixes taken, in order.
func (c *Command) Fixes() []string { return append([]string(nil), c.fixes...) }

// Take applies a plugin's answer to fix id: its copies are written in
// copyDir (a copy outside it is refused), and its argv and environment
// become the command's.
func (c *Command) Take(id sdk.FixID, resp sdk.ApplyResponse, copyDir string) error {
	if err := c.Resume(resp, copyDir); err != nil {
		return err
	}
	c.fixes = append(c.fixes, string(id))
	return nil
}

// Resume takes a plugin's answer to the fix resume as Take does, but
// records no fix: resuming is where an attempt starts, not what fits.
func (c *Command) Resume(resp sdk.ApplyResponse, copyDir string) error {
	if err := writeCopies(copyDir, resp.Copies); err != nil {
		return err
	}
	noteCopies(c.files, resp.Copies)
	c.argv = append([]string(nil), resp.Argv...)
	for k, v := range resp.Env {
		c.set[k] = v
	}
	return nil
}

// noteCopies records which of the user's files each copy stands for. A fix
// that rewrites an earlier copy (the command names the copy by then) still
// stands for the user's file, so the map keeps one entry per user file.
func noteCopies(files map[string]string, copies []sdk.FileCopy) {
	for _, cp := range copies {
		orig := cp.Original
		for user, copyPath := range files {
			if filepath.Clean(copyPath) == filepath.Clean(orig) {
				orig = user
				break
			}
		}
		files[orig] = cp.Path
	}
}

// writeCopies writes a plugin's config copies, refusing any path outside the
// folder the plugin was given.
func writeCopies(dir string, copies []sdk.FileCopy) error {
	for _, cp := range copies {
		p := filepath.Clean(cp.Path)
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("plugin wanted to write %s, outside its copy folder %s", cp.Path, dir)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, cp.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Merge layers environments, later ones winning.
func Merge(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
