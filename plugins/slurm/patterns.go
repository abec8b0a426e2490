package slurm

import "github.com/vramrun/vramrun/sdk"

// Patterns are the host-memory kill notices a Slurm job's output log can
// hold: slurmstepd's report of the step's cgroup OOM events, and the
// kernel's OOM-killer line when a job copies the kernel log into its output.
// Both mean host RAM ran out, whatever the framework.
func Patterns() []sdk.OOMPattern {
	return []sdk.OOMPattern{
		{
			ID: "slurm.oom_kill", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: `slurmstepd: error: Detected \d+ oom[-_]kill event\(s\)`,
		},
		{
			// mm/oom_kill.c: "<reason>: Killed process <pid> (<comm>) ...",
			// the reason being "Out of memory" or "Memory cgroup out of memory".
			ID: "slurm.kernel_oom_kill", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: `(?:Out of memory|Memory cgroup out of memory): Killed process \d+`,
		},
	}
}
