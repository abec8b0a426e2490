package cmdline

import (
	"maps"

	"github.com/vramrun/vramrun/sdk"
)

// Launched reads the launcher command a tool builds and runs in its own
// place (axolotl train's `accelerate launch OPTS -m axolotl.cli.train CFG`,
// tune run's `torchrun OPTS RECIPE`, run_train.sh's torchrun), as
// ParseCommand reads one typed: launcher is that command, from the
// launcher's name on, with a script for it to run. It runs behind the
// command's own wrappers and environment (env NAME=VALUE, uv run, ray job
// submit, and srun with its options when srun starts the tool), so that
// its world counts as a typed one does: srun's tasks times the launcher's
// processes, a process per GPU from cmd.GPUs (not behind srun or ray job
// submit), the accelerate config the job's environment names.
func Launched(cmd sdk.Command, inv Invocation, launcher ...string) (Invocation, error) {
	prefix := inv.Prefix
	if inv.Launcher == "srun" {
		prefix = inv.argv[:inv.optsEnd]
	}
	launched := cmd
	// The env assignments srun's program carries are not in the prefix.
	launched.Env = JobEnv(cmd, inv)
	launched.Argv = inv.guarded(append(append([]string{}, prefix...), launcher...))
	return ParseCommand(launched)
}

// JobEnv is the command's environment with its own `env NAME=VALUE`
// assignments on top: what the launcher sees.
func JobEnv(cmd sdk.Command, inv Invocation) map[string]string {
	if len(inv.Env) == 0 {
		return cmd.Env
	}
	env := maps.Clone(cmd.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, inv.Env)
	return env
}
