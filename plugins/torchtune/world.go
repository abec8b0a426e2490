package torchtune

import (
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// launch is what tune run starts: the processes that train (1 when that
// cannot be told), and notes on what vramrun could not count.
type launch struct {
	world int
	notes []string
}

// readWorld: tune run given torchrun options before the recipe runs it
// under torchrun with them (torchtune/_cli/run.py: _is_distributed_args,
// then _run_distributed's torch.distributed.run.run(args)), so the world
// is that torchrun's as the command's wrappers run it, a process per GPU
// the job sees for --nproc_per_node auto or gpu; without any, the recipe
// runs in tune's own process.
func (c *command) readWorld() {
	c.launch.world = 1
	opts := c.s.Inv.Args[1:c.recipeAt]
	if len(opts) == 0 {
		return
	}
	inv, err := cmdline.Launched(c.s.Cmd, c.s.Inv, append(append([]string{"torchrun"}, opts...), c.recipe)...)
	if err != nil {
		return
	}
	c.launch.world = max(inv.WorldSize, 1)
	c.launch.notes = pyscript.LaunchedNotes(c.s.Cmd, inv, "tune run's torchrun")
}
