package llamafactory

import (
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// launcherModule is the file llamafactory-cli's torchrun runs (cli.py
// launch(): torchrun ... __file__), standing in for it here.
const launcherModule = "llamafactory/launcher.py"

// getenv is a variable as the job gets it: the command's own env prefix,
// else its environment.
func (c *command) getenv(name string) (string, bool) {
	v, ok := cmdline.JobEnv(c.s.Cmd, c.s.Inv)[name]
	return v, ok
}

// enabled is LLaMA-Factory's is_env_enabled (extras/misc.py): the
// variable, def when unset, is true, y or 1.
func (c *command) enabled(name, def string) bool {
	v, ok := c.getenv(name)
	if !ok {
		v = def
	}
	switch strings.ToLower(v) {
	case "true", "y", "1":
		return true
	}
	return false
}

// gpus is torch.cuda.device_count() in the job: the GPUs vramrun counts
// (not under srun, whose tasks run on nodes vramrun does not see), else
// as many as CUDA_VISIBLE_DEVICES lists; 0 when nothing tells.
func (c *command) gpus() int {
	underSrun := c.s.Inv.Launcher == "srun" || len(c.s.Inv.Wrappers) > 0
	if c.s.Cmd.GPUs > 0 && !underSrun {
		return c.s.Cmd.GPUs
	}
	if v, ok := c.getenv("CUDA_VISIBLE_DEVICES"); ok && strings.TrimSpace(v) != "" {
		return strings.Count(v, ",") + 1
	}
	return 0
}

// forced says llamafactory-cli train takes its torchrun path whatever the
// GPUs (cli.py launch(): FORCE_TORCHRUN, which USE_MCA and
// USE_MEGATRON_BRIDGE set).
func (c *command) forced() bool {
	return c.enabled("FORCE_TORCHRUN", "0") || c.enabled("USE_MCA", "0") || c.enabled("USE_MEGATRON_BRIDGE", "0")
}

// elsewhere says the GPUs are Ray's or KTransformers' to use, not torchrun's.
func (c *command) elsewhere() bool { return c.enabled("USE_RAY", "0") || c.enabled("USE_KT", "0") }

// torchrunPath says llamafactory-cli train relaunches itself under
// torchrun: forced, or with more than one GPU seen and neither Ray nor
// KTransformers on.
func (c *command) torchrunPath() bool {
	return c.cli && (c.forced() || c.gpus() > 1 && !c.elsewhere())
}

// world is what trains: on llamafactory-cli's torchrun path, `torchrun
// --nnodes NNODES --nproc_per_node NPROC_PER_NODE` (else the GPUs seen)
// as the command's wrappers run it; else the command as typed. The notes
// say where it starts a process per GPU that vramrun cannot count.
func (c *command) world() (cmdline.Invocation, []string) {
	if !c.torchrunPath() {
		notes := c.s.LauncherNotes()
		if c.cli && c.gpus() == 0 && !c.elsewhere() {
			notes = append(notes, pyscript.PerGPUNoteIn("llamafactory-cli train (under torchrun when it sees more than one GPU)", c.s.Inv))
		}
		return c.s.Inv, notes
	}
	nodes, ok := c.getenv("NNODES")
	if !ok {
		nodes = "1"
	}
	perNode, ok := c.getenv("NPROC_PER_NODE")
	if !ok {
		// The GPUs it sees; "gpu" is torchrun's word for that count when vramrun has none.
		perNode = "gpu"
		if n := c.gpus(); n > 0 {
			perNode = strconv.Itoa(n)
		}
	}
	inv, err := cmdline.Launched(c.s.Cmd, c.s.Inv, "torchrun", "--nnodes", nodes, "--nproc_per_node", perNode, launcherModule)
	if err != nil {
		return c.s.Inv, c.s.LauncherNotes()
	}
	return inv, pyscript.LaunchedNotes(c.s.Cmd, inv, "llamafactory-cli train's torchrun")
}
