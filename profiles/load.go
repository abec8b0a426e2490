package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Source says where a setting's value came from: "default", "user",
// "project", "env", "flag" or "profile:NAME".
type Source string

// The sources of a setting, lowest precedence first.
const (
	SourceDefault Source = "default"
	SourceUser    Source = "user"
	SourceProject Source = "project"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// ProfileSource is the source of a value from the named profile.
func ProfileSource(name string) Source { return Source("profile:" + name) }

// ProjectFileName is the project profile vramrun looks for.
const ProjectFileName = "vramrun.yaml"

// Loaded is the merged settings of one run and where each came from.
type Loaded struct {
	Settings Settings
	// Sources maps each key of Keys() to the layer its value came from.
	// For flags, env and plugins, whose entries merge across layers, it is
	// the highest layer that declared the key.
	Sources map[string]Source
	// ProjectFile is the vramrun.yaml found ("" if none).
	ProjectFile string
	// UserFile is the user config file read ("" if none).
	UserFile string
	// ProjectRoot is the folder of vramrun.yaml, else the working directory.
	ProjectRoot string
	// Untrusted is what an untrusted project file asked for and did not
	// get (its plugins and env); nil when nothing was withheld.
	Untrusted *Untrusted
	// Notes are lines to show once: a project file ignored, and why.
	Notes []string
}

// LoadOptions says where to look for settings.
type LoadOptions struct {
	// Dir is the working directory to walk up from ("" for the process's).
	Dir string
	// Env is the process environment. XDG_CONFIG_HOME, HOME and VRAMRUN_*
	// are read from it, never from the process itself; nil means empty.
	Env map[string]string
	// Flags are the main command's flags; only those Changed count. May be
	// nil.
	Flags *pflag.FlagSet
	// Profile is the --profile NAME; "" takes it from Flags when --profile
	// was given there.
	Profile string
}

// Load merges defaults < user file < project vramrun.yaml < named profile <
// VRAMRUN_* environment < flags. Every file is validated in full first; a
// bad value anywhere is a *ConfigError.
func Load(opts LoadOptions) (Loaded, error) {
	dir, err := workingDir(opts.Dir)
	if err != nil {
		return Loaded{}, err
	}
	out := Loaded{ProjectRoot: dir}
	var fileLayers []*layer
	var user, project *profileFile

	if p := UserConfigPath(opts.Env); p != "" && exists(p) {
		if user, err = readProfileFile(p, dir, SourceUser); err != nil {
			return Loaded{}, err
		}
		out.UserFile = p
		fileLayers = append(fileLayers, user.top)
	}
	if p := FindProjectFile(dir); p != "" {
		if uid, other := ownedByOther(p); other {
			out.Notes = append(out.Notes, fmt.Sprintf("%s belongs to uid %d, neither you nor root: ignored", p, uid))
		} else {
			if project, err = readProfileFile(p, dir, SourceProject); err != nil {
				return Loaded{}, err
			}
			if !trusts(opts) && !IsTrusted(opts.Env, p) {
				out.Untrusted = withhold(project)
			}
			out.ProjectFile = p
			out.ProjectRoot = filepath.Dir(p)
			fileLayers = append(fileLayers, project.top)
		}
	}
	profile := opts.Profile
	if f := flagNamed(opts.Flags, ProfileFlag); profile == "" && f != nil && f.Changed {
		profile = f.Value.String()
	}
	if profile != "" {
		named, err := pickProfile(profile, project, user)
		if err != nil {
			return Loaded{}, err
		}
		fileLayers = append(fileLayers, named)
	}
	env, err := envLayer(opts.Env)
	if err != nil {
		return Loaded{}, err
	}
	flags, err := flagLayer(opts.Flags)
	if err != nil {
		return Loaded{}, err
	}
	out.Settings, out.Sources, err = merge(append(fileLayers, env), flags)
	if err != nil {
		return Loaded{}, err
	}
	return out, nil
}

// trusts says this run trusts the project file without a record: --trust
// or VRAMRUN_TRUST.
func trusts(opts LoadOptions) bool {
	if f := flagNamed(opts.Flags, TrustFlag); f != nil && f.Changed && f.Value.String() == "true" {
		return true
	}
	switch strings.ToLower(opts.Env["VRAMRUN_TRUST"]) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func workingDir(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("cannot find the working directory: %w", err)
		}
		dir = wd
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("working directory %s: %w", dir, err)
	}
	return abs, nil
}

// UserConfigPath is $XDG_CONFIG_HOME/vramrun/config.yaml, XDG_CONFIG_HOME
// defaulting to $HOME/.config ("" when neither is set). A relative
// XDG_CONFIG_HOME is ignored, as the XDG specification asks.
func UserConfigPath(env map[string]string) string {
	base := env["XDG_CONFIG_HOME"]
	if !filepath.IsAbs(base) {
		if env["HOME"] == "" {
			return ""
		}
		base = filepath.Join(env["HOME"], ".config")
	}
	return filepath.Join(base, "vramrun", "config.yaml")
}

// FindProjectFile walks up from dir (absolute) to the filesystem root and
// returns the first vramrun.yaml found, or "". A folder of that name is
// passed over; anything else that is not a regular file (a named pipe, a
// socket) is found too, and reading it refuses it.
func FindProjectFile(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if p := filepath.Join(d, ProjectFileName); exists(p) {
			return p
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// exists is false for a missing path, a folder, a symlink that leads
// nowhere, and one that cannot be looked at (a folder above it not
// searchable): none holds settings.
func exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// pickProfile finds profiles: NAME in the project file, else in the user
// file.
func pickProfile(name string, project, user *profileFile) (*layer, error) {
	known := map[string]bool{}
	for _, f := range []*profileFile{project, user} {
		if f == nil {
			continue
		}
		if l, ok := f.profiles[name]; ok {
			return l, nil
		}
		for n := range f.profiles {
			known[n] = true
		}
	}
	if len(known) == 0 {
		return nil, &ConfigError{Msg: fmt.Sprintf("--profile %s: no profiles are defined (add a profiles: section to %s)", name, ProjectFileName)}
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, &ConfigError{Msg: fmt.Sprintf("--profile %s: no such profile (known: %s)", name, strings.Join(names, ", "))}
}

// envLayer reads VRAMRUN_<KEY> for every scalar key. An empty variable
// counts as unset.
func envLayer(env map[string]string) (*layer, error) {
	l := newLayer(SourceEnv)
	for _, k := range scalarKeys() {
		name := EnvVar(k.name)
		text, ok := env[name]
		if !ok || text == "" {
			continue
		}
		v, err := k.parse(text)
		if err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("%s: %v", name, err)}
		}
		l.scalars[k.name] = v
	}
	return l, nil
}

// flagLayer reads the flags the user gave. Values are read back as text, so
// a flag defined with another type by the caller still works.
func flagLayer(fs *pflag.FlagSet) (*layer, error) {
	l := newLayer(SourceFlag)
	if fs == nil {
		return l, nil
	}
	for _, k := range scalarKeys() {
		if k.flag == "" {
			continue
		}
		f := flagNamed(fs, k.flag)
		if f == nil || !f.Changed {
			continue
		}
		v, err := k.parse(f.Value.String())
		if err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("--%s: %v", k.flag, err)}
		}
		if k.name == "learn" || k.name == "resume" {
			v = !v.(bool) // the flags are --no-learn and --no-resume
		}
		l.scalars[k.name] = v
	}
	return l, nil
}

func flagNamed(fs *pflag.FlagSet, name string) *pflag.Flag {
	if fs == nil {
		return nil
	}
	return fs.Lookup(name)
}

// changedFlag hands one parsed flag value to viper.
type changedFlag struct{ name, value string }

func (f changedFlag) HasChanged() bool    { return true }
func (f changedFlag) Name() string        { return f.name }
func (f changedFlag) ValueString() string { return f.value }
func (f changedFlag) ValueType() string   { return "string" }

// merge layers the scalar keys with one viper instance (defaults, then each
// layer's values as a config map, flags bound on top) and merges the
// env:, flags: and plugins: maps itself, because viper would lower-case
// their names.
func merge(lower []*layer, flags *layer) (Settings, map[string]Source, error) {
	defaults := Defaults()
	v := viper.New()
	sources := map[string]Source{}
	for _, k := range scalarKeys() {
		v.SetDefault(k.name, format(k.get(&defaults)))
	}
	for _, key := range Keys() {
		sources[key] = SourceDefault
	}
	for _, l := range lower {
		m := make(map[string]any, len(l.scalars))
		for name, val := range l.scalars {
			m[name] = format(val)
			sources[name] = l.source
		}
		if err := v.MergeConfigMap(m); err != nil {
			return Settings{}, nil, fmt.Errorf("merging %s settings: %w", l.source, err)
		}
	}
	for name, val := range flags.scalars {
		if err := v.BindFlagValue(name, changedFlag{name: name, value: format(val)}); err != nil {
			return Settings{}, nil, fmt.Errorf("binding flag for %s: %w", name, err)
		}
		sources[name] = SourceFlag
	}

	s := defaults
	for _, k := range scalarKeys() {
		val, err := k.parse(v.GetString(k.name))
		if err != nil {
			// Every layer was validated; this is a bug, not bad input.
			return Settings{}, nil, fmt.Errorf("merged %s: %w", k.name, err)
		}
		k.set(&s, val)
	}
	for _, l := range lower {
		for name, val := range l.env {
			s.Env[name] = val
		}
		for name, val := range l.flags {
			s.Flags[name] = val
		}
		s.Plugins = mergePlugins(s.Plugins, l.plugins)
		if l.progress != nil {
			s.Progress = l.progress
		}
		if l.resumeFrom != nil {
			s.ResumeFrom = l.resumeFrom
		}
		for key := range l.declares {
			sources[key] = l.source
		}
	}
	return s, sources, nil
}

// mergePlugins adds a layer's plugins; one with the name of an earlier
// entry replaces it in place.
func mergePlugins(have, add []PluginRef) []PluginRef {
	out := slices.Clone(have)
	for _, p := range add {
		i := slices.IndexFunc(out, func(q PluginRef) bool { return q.Name == p.Name })
		if i >= 0 {
			out[i] = p
		} else {
			out = append(out, p)
		}
	}
	return out
}
