package trl

import (
	"context"
	"path/filepath"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// trlPackage is the package whose accelerate_configs folder holds the
// configs --accelerate_config names (trl/cli/accelerate_config.py:
// resources.files("trl.accelerate_configs") / f"{NAME}.yaml").
const trlPackage = "trl"

// readWorld works out how many processes the accelerate launch that trl
// runs in-process starts (trl/cli/commands/training.py: the arguments its
// script parser does not know, from the command line and the --config
// file, are accelerate launch's): --num_processes, else --cpu's one, else
// the --config_file, or the --accelerate_config file or NAME it resolves
// to, else accelerate's default config, else a process per GPU the job
// sees. A bundled NAME is read from where the job's Python has trl
// installed, asked without importing it; where that cannot be told, the
// world is unknown (taken as one) and a note says why.
func (c *command) readWorld(ctx context.Context) {
	c.procs = 1
	launch := []string{"accelerate", "launch"}
	if v, ok := c.value("num_processes"); ok {
		launch = append(launch, "--num_processes", v)
	}
	if _, ok := cmdline.FindFlag(c.args(), "--cpu"); ok {
		launch = append(launch, "--cpu")
	}
	config, ok := c.value("config_file")
	if !ok && len(launch) == 2 {
		if config, ok = c.acceleratePath(ctx); !ok {
			return
		}
	}
	if config != "" {
		launch = append(launch, "--config_file", config)
	}
	inv, err := cmdline.Launched(c.s.Cmd, c.s.Inv, append(launch, "trl/scripts/"+c.sub+".py")...)
	if err != nil {
		return
	}
	c.procs = max(inv.WorldSize, 1)
	c.notes = append(c.notes, pyscript.LaunchedNotes(c.s.Cmd, inv, "trl "+c.sub+"'s accelerate launch")...)
}

// acceleratePath is the config file --accelerate_config names: a file
// (relative to the job's folder), else TRL's bundled NAME.yaml; "" when
// none is named. ok is false when a bundled one cannot be found, with a
// note saying why.
func (c *command) acceleratePath(ctx context.Context) (path string, ok bool) {
	name, named := c.acceleratorConfig()
	if !named {
		return "", true
	}
	if _, err := c.s.Cmd.ReadFile(name); err == nil {
		return name, true
	}
	found := c.probes.Locate(ctx, c.s, trlPackage)
	if !found.Known || !found.There {
		c.notes = append(c.notes, "--accelerate_config "+name+" is one of TRL's bundled configs, which vramrun could not read ("+
			found.Why+"): the processes it starts are not known, and are taken as one")
		return "", false
	}
	return filepath.Join(found.Location, "accelerate_configs", name+".yaml"), true
}

// acceleratorConfig is --accelerate_config's value (TRL's own flag, in
// that spelling only): TRL takes the first among the --config file's
// leftover keys, then the command line's.
func (c *command) acceleratorConfig() (string, bool) {
	if v := c.vals["accelerate_config"]; v != "" {
		return v, true
	}
	if f, ok := cmdline.FindFlag(c.args(), "--accelerate_config"); ok && f.HasValue && f.Value != "" {
		return f.Value, true
	}
	return "", false
}
