package cmdline

// TorchrunRestarts is how many times torchrun (or python -m
// torch.distributed.run / .launch) restarts failed workers by itself: its
// --max-restarts option (any spelling torchrun's argparse accepts:
// --max_restarts, --max-restarts=3, a unique prefix), else PET_MAX_RESTARTS,
// which torchrun reads as the option's default, from the command's `env`
// wrappers or, below them, from env (the job's environment). source is where
// the value came from, as the user typed it ("--max_restarts 3",
// "PET_MAX_RESTARTS=3"). n is 0 for a command torchrun does not start, and
// for a value that is not a positive whole number (torchrun refuses those
// itself, or does not restart).
func (inv Invocation) TorchrunRestarts(env map[string]string) (n int, source string) {
	if inv.Launcher != "torchrun" {
		return 0, ""
	}
	if opts, ok := inv.launcherOptions(); ok {
		if o, found := last(opts, inv.table.key("--max-restarts")); found {
			sep := " "
			if o.form == Equals {
				sep = "="
			}
			return positive(o.value), o.typed + sep + o.value
		}
	}
	const name = "PET_MAX_RESTARTS"
	for _, vars := range []map[string]string{inv.Env, env} {
		if v, ok := vars[name]; ok {
			return positive(v), name + "=" + v
		}
	}
	return 0, ""
}
