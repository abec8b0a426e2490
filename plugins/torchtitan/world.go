package torchtitan

import (
	"path/filepath"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// defaultNGPU is run_train.sh's NGPU=${NGPU:-"8"}: the processes it starts
// whatever the GPUs the job sees.
const defaultNGPU = "8"

// world is what trains: run_train.sh's `torchrun --nproc_per_node=${NGPU}
// ... -m torchtitan.train`, as the command's wrappers run it (NGPU as the
// job gets it, 8 when unset or empty, as the shell's :- has it); else the
// command's own launcher.
func (c *command) world() (cmdline.Invocation, []string) {
	own := c.s.Inv
	if filepath.Base(own.Script) != "run_train.sh" {
		return own, c.s.LauncherNotes()
	}
	ngpu := cmdline.JobEnv(c.s.Cmd, own)["NGPU"]
	if ngpu == "" {
		ngpu = defaultNGPU
	}
	inv, err := cmdline.Launched(c.s.Cmd, own, "torchrun", "--nproc_per_node="+ngpu, "-m", "torchtitan.train")
	if err != nil {
		return own, c.s.LauncherNotes()
	}
	return inv, pyscript.LaunchedNotes(c.s.Cmd, inv, "run_train.sh's torchrun")
}
