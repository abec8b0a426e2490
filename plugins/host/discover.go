package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExecutablePrefix starts the file name of every external plugin:
// vramrun-plugin-<name>.
const ExecutablePrefix = "vramrun-plugin-"

// candidate is an external plugin found on disk or named by the profile,
// not yet started.
type candidate struct {
	name string
	path string
	// pin is the profile's sha256 for it, lower-case hex; empty when none.
	pin string
	// sum is the executable's sha256, computed before it starts.
	sum string
}

// PluginDirs are the folders searched for plugin executables, in order:
// each folder of VRAMRUN_PLUGIN_PATH, then $XDG_DATA_HOME/vramrun/plugins
// (XDG_DATA_HOME defaults to $HOME/.local/share).
func PluginDirs(env map[string]string) []string {
	var dirs []string
	for _, d := range filepath.SplitList(env["VRAMRUN_PLUGIN_PATH"]) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	data := env["XDG_DATA_HOME"]
	// The XDG spec says a relative value is to be ignored.
	if !filepath.IsAbs(data) {
		data = ""
		if home := env["HOME"]; home != "" {
			data = filepath.Join(home, ".local", "share")
		}
	}
	if data != "" {
		dirs = append(dirs, filepath.Join(data, "vramrun", "plugins"))
	}
	return dirs
}

// discover lists the external plugins to start, in tie-break order: the
// profile's, then those found in PluginDirs. A name already taken by an
// earlier one is skipped with a note, so a project's plugin shadows a
// user-wide one of the same name.
func discover(env map[string]string, profile []PluginRef) ([]candidate, []string) {
	var out []candidate
	var notes []string
	byName := map[string]string{}
	add := func(c candidate) {
		if first, taken := byName[c.name]; taken {
			if first != c.path {
				notes = append(notes, fmt.Sprintf("plugin %s at %s ignored: %s comes first", c.name, c.path, first))
			}
			return
		}
		byName[c.name] = c.path
		out = append(out, c)
	}
	for _, ref := range profile {
		add(candidate{name: ref.Name, path: ref.Path, pin: strings.ToLower(strings.TrimSpace(ref.SHA256))})
	}
	for _, dir := range PluginDirs(env) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !os.IsNotExist(err) {
				notes = append(notes, fmt.Sprintf("plugin folder %s skipped: %v", dir, err))
			}
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), ExecutablePrefix)
			if !ok || name == "" {
				continue
			}
			path := filepath.Join(dir, e.Name())
			// Stat follows a symbolic link: a link to an executable is a plugin.
			info, err := os.Stat(path)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("plugin %s at %s skipped: %v", name, path, err))
			case info.IsDir():
			case info.Mode().Perm()&0o111 == 0:
				notes = append(notes, fmt.Sprintf("plugin %s at %s skipped: not executable", name, path))
			default:
				add(candidate{name: name, path: path})
			}
		}
	}
	return out, notes
}
