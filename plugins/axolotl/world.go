package axolotl

import (
	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// The launchers `axolotl train --launcher` takes besides the default
// accelerate (src/axolotl/cli/launchers): torchrun; python and ray train
// without one.
const (
	launcherAccelerate = "accelerate"
	launcherTorchrun   = "torchrun"
)

// legacyProcesses is the CLI's old --num-processes option, which it turns
// into the launcher's own (cli/launchers/resolve.py).
var legacyProcesses = map[string]string{launcherAccelerate: "--num_processes", launcherTorchrun: "--nproc_per_node"}

// world is what trains: for the axolotl CLI, the launcher it execs in its
// own place (cli/utils/train.py: `accelerate launch ARGS -m
// axolotl.cli.train CFG`, or torchrun's), ARGS being the legacy
// --num-processes as the launcher's option and every argument after a
// bare "--"; with no such launcher, and for the module run by a launcher
// of the user's, the command's own. Its Launcher names what starts the
// processes, its WorldSize how many (0: a process per GPU uncounted).
func (c *command) world() (launched cmdline.Invocation, notes []string) {
	own := c.s.Inv
	name := c.launcher()
	if c.legacy || legacyProcesses[name] == "" {
		return own, c.s.LauncherNotes()
	}
	launch := []string{name}
	if name == launcherAccelerate {
		launch = append(launch, "launch")
	}
	for _, o := range c.options() {
		if o.key == "num_processes" {
			launch = append(launch, legacyProcesses[name]+"="+o.value)
		}
	}
	args := own.Args
	for i, a := range args {
		if a == "--" {
			launch = append(launch, args[i+1:]...)
			break
		}
	}
	cfg := c.cfg
	if cfg == "" {
		cfg = "config.yml" // a command that names none fails in axolotl; the world is moot
	}
	inv, err := cmdline.Launched(c.s.Cmd, own, append(launch, "-m", "axolotl.cli.train", cfg)...)
	if err != nil {
		return own, c.s.LauncherNotes()
	}
	return inv, pyscript.LaunchedNotes(c.s.Cmd, inv, "axolotl train's "+name)
}

// launcher is the launcher the axolotl CLI runs (cli/utils/train.py):
// ray when --use-ray is given, else --launcher, else ray when the config
// has use_ray on and no --no-use-ray turns it off, else accelerate.
func (c *command) launcher() string {
	useRay := ""
	for _, o := range c.options() {
		if o.key == "use_ray" {
			useRay = o.value
		}
	}
	if on, _ := cfgcli.Bool(useRay); on {
		return "ray"
	}
	if f, ok := cmdline.FindFlag(c.s.Inv.Args, "--launcher"); ok && f.HasValue {
		return f.Value
	}
	if on, _ := cfgcli.Bool(c.vals["use_ray"]); on {
		return "ray"
	}
	return launcherAccelerate
}
