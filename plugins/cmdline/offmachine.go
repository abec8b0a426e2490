package cmdline

// OffMachine says the command's training processes run on machines whose
// GPUs vramrun does not see: srun's tasks (on the nodes Slurm gives the
// step, as launcher or as a wrapper of another launcher) and ray job
// submit's entrypoint (on the Ray cluster). The GPU count vramrun measured
// here says nothing of theirs. It reads the wrappers also of a command
// whose script it cannot find.
func OffMachine(argv []string) bool {
	inv := wrappersOf(argv)
	return inv.Launcher == "srun" || len(inv.Wrappers) > 0
}

// wrappersOf is argv read as Parse reads it, as far as it gets: the
// wrappers and launcher also of a command whose script cannot be found
// (the zero Invocation for an empty argv).
func wrappersOf(argv []string) Invocation {
	if len(argv) == 0 {
		return Invocation{}
	}
	p := &parser{argv: argv}
	_ = p.program(0, "command")
	return p.inv
}
