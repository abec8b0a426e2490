package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/vramrun/vramrun/profiles/safefs"
)

// Project trust. A project's vramrun.yaml comes with the repository it sits
// in, and a cloned repository is somebody else's: its plugins: would run
// code and its env: (PATH, LD_PRELOAD) would steer the job. Those two keys
// take effect only once the user has trusted the file as it is now
// (`vramrun trust`, recorded by path and content hash in the user's state;
// a changed file needs trusting again), or for this run with --trust or
// VRAMRUN_TRUST=1. The rest of the file applies either way. A vramrun.yaml
// owned by another user (a shared /tmp) is not read at all.

// TrustFlag is the flag that trusts the project file for one run.
const TrustFlag = "trust"

// Untrusted is what an untrusted project file asked for and did not get.
type Untrusted struct {
	// File is the project file.
	File string
	// Plugins are the names of the plugins it lists; Env the variables it
	// sets, in the file and its profiles.
	Plugins, Env []string
}

// Line says in one line what was left out and how to trust the file.
func (u Untrusted) Line() string {
	var what []string
	if len(u.Plugins) > 0 {
		what = append(what, "plugins ("+strings.Join(u.Plugins, ", ")+")")
	}
	if len(u.Env) > 0 {
		what = append(what, "env ("+strings.Join(u.Env, ", ")+")")
	}
	return fmt.Sprintf("%s sets %s, which vramrun does not use until you trust the file: vramrun trust (or --trust, VRAMRUN_TRUST=1)",
		u.File, strings.Join(what, " and "))
}

// trustedFiles is the user's record of trusted project files.
type trustedFiles struct {
	// Files maps a project file's absolute path to its sha256 (hex).
	Files map[string]string `json:"files"`
}

// TrustStorePath is where trusted project files are recorded:
// $XDG_STATE_HOME/vramrun/trusted.json (~/.local/state by default); "" when
// neither XDG_STATE_HOME nor HOME is set.
func TrustStorePath(env map[string]string) string {
	base := env["XDG_STATE_HOME"]
	if !filepath.IsAbs(base) {
		if env["HOME"] == "" {
			return ""
		}
		base = filepath.Join(env["HOME"], ".local", "state")
	}
	return filepath.Join(base, "vramrun", "trusted.json")
}

func readTrusted(env map[string]string) trustedFiles {
	out := trustedFiles{Files: map[string]string{}}
	path := TrustStorePath(env)
	if path == "" {
		return out
	}
	data, err := safefs.ReadFileFollow(path, 1<<20)
	if err != nil {
		return out
	}
	_ = json.Unmarshal(data, &out)
	if out.Files == nil {
		out.Files = map[string]string{}
	}
	return out
}

// fileSum is the sha256 of a file's contents.
func fileSum(path string) (string, error) {
	data, err := safefs.ReadFileFollow(path, MaxProfileBytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// IsTrusted says whether the project file at path is trusted as it is now.
func IsTrusted(env map[string]string, path string) bool {
	sum, err := fileSum(path)
	return err == nil && readTrusted(env).Files[path] == sum
}

// Trust records the project file at path, as it is now, as trusted (revoke
// false), or forgets it (revoke true).
func Trust(env map[string]string, path string, revoke bool) error {
	store := TrustStorePath(env)
	if store == "" {
		return errors.New("neither XDG_STATE_HOME nor HOME is set: nowhere to record trust")
	}
	t := readTrusted(env)
	if revoke {
		delete(t.Files, path)
	} else {
		sum, err := fileSum(path)
		if err != nil {
			return err
		}
		t.Files[path] = sum
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(store), 0o700); err != nil {
		return err
	}
	tmp := store + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, store)
}

// ownedByOther says the file belongs to neither this user nor root.
func ownedByOther(path string) (uid int, other bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	owner := int(st.Uid)
	return owner, owner != os.Getuid() && owner != 0
}

// withhold takes plugins: and env: out of an untrusted project file, in
// its top level and its profiles, and says what they were; nil when the
// file asks for neither.
func withhold(f *profileFile) *Untrusted {
	u := &Untrusted{File: f.path}
	seenEnv := map[string]bool{}
	for _, l := range append([]*layer{f.top}, profileLayers(f)...) {
		for _, p := range l.plugins {
			u.Plugins = append(u.Plugins, p.Name)
		}
		for k := range l.env {
			if !seenEnv[k] {
				seenEnv[k] = true
				u.Env = append(u.Env, k)
			}
		}
		l.plugins, l.env = nil, map[string]string{}
		delete(l.declares, "plugins")
		delete(l.declares, "env")
	}
	if len(u.Plugins) == 0 && len(u.Env) == 0 {
		return nil
	}
	sort.Strings(u.Env)
	return u
}

func profileLayers(f *profileFile) []*layer {
	names := make([]string, 0, len(f.profiles))
	for n := range f.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*layer, 0, len(names))
	for _, n := range names {
		out = append(out, f.profiles[n])
	}
	return out
}
