package torchtune

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"path/filepath"

	"github.com/vramrun/vramrun/plugins/cfgcli"
)

// recipesPackage is the package torchtune installs next to torchtune
// (pyproject.toml: packages torchtune* and recipes*, package data
// recipes/configs/*.yaml): `tune run` reads a registry config from
// ROOT/recipes/configs, ROOT being torchtune's parent folder
// (torchtune/_cli/run.py: ROOT = Path(torchtune.__file__).parent.parent;
// _run_cmd: config_path = ROOT / "recipes" / "configs" / config.file_path).
// Its __init__.py raises, so the probe finds it without importing it.
const recipesPackage = "recipes"

// registryFiles are the registry's configs whose file is not NAME.yaml
// under recipes/configs; every other config's is
// (torchtune/_recipe_registry.py, pytorch/torchtune commit
// 045a13f66357b3f4ae38d29b98be56e4ff91b186).
var registryFiles = map[string]string{
	"dev/3B_lora_grpo_sft":      "dev/3B_lora_sft_for_grpo.yaml",
	"llama2/7B_full_early_exit": "dev/7B_full_early_exit.yaml",
}

// registryFile is the file under recipes/configs of a registry name.
func registryFile(name string) string {
	if f, ok := registryFiles[name]; ok {
		return f
	}
	return name + ".yaml"
}

// readRegistry reads a config given by its registry name from where the
// job's Python has torchtune's recipes installed, as a config file is
// read. torchtune takes a name its registry lacks for a path: a name
// with no installed file is left unread, and why is kept for the note.
// The probe bounds itself (pyscript.ProbeTimeout).
func (c *command) readRegistry(ctx context.Context) {
	found := c.probes.Locate(ctx, c.s, recipesPackage)
	switch {
	case !found.Known:
		c.unread = found.Why
		return
	case !found.There:
		c.unread = found.Why + ", where torchtune installs its configs"
		return
	}
	path := filepath.Join(found.Location, "configs", filepath.FromSlash(registryFile(c.config)))
	vals, err := cfgcli.Read(c.s.Cmd, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.unread = "the installed torchtune has no " + path
		return
	case err != nil:
		c.unread = err.Error()
		return
	}
	c.installed, c.vals, c.file = path, vals, maps.Clone(vals)
}

// unreadRegistry says the config is a registry name whose file was not
// read: its values are known only where the command overrides them.
func (c *command) unreadRegistry() bool { return c.registry && c.installed == "" }
