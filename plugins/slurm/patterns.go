package slurm

import "github.com/vramrun/vramrun/sdk"

// slurmstepd is the log prefix of slurmstepd's messages in a job's output:
// "slurmstepd:" before 21.08 and for steps with no node name,
// "slurmstepd-<node>:" since (22.05 prints "slurmstepd-node01: error: ...").
// A node name holds no space or colon.
const slurmstepd = `slurmstepd(?:-[^\s:]+)?: error: `

// Patterns are the host-memory kill notices a Slurm job's output log can
// hold: slurmstepd's report of the step's cgroup OOM events (task/cgroup),
// srun's report of a task that the OOM handler ended, slurmstepd's kill of
// a step over its memory limit (JobAcctGatherParams=OverMemoryKill), and
// the kernel's OOM-killer line when a job copies the kernel log into its
// output. All mean host RAM ran out, whatever the framework.
//
// The texts are Slurm 22.05's (src/plugins/task/cgroup/task_cgroup_memory.c,
// src/srun/launch.c, src/common/slurm_jobacct_gather.c), with the older
// spellings they replaced.
func Patterns() []sdk.OOMPattern {
	return []sdk.OOMPattern{
		{
			// "Detected 1 oom-kill event(s) in StepId=16.0. Some of your
			// processes may have been killed by the cgroup out-of-memory
			// handler." (18.08-20.11: "in step 16.0 cgroup").
			ID: "slurm.oom_kill", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: slurmstepd + `Detected \d+ oom[-_]kill event\(s\)`,
		},
		{
			// srun's line for tasks whose exit status is SIG_OOM:
			// "srun: error: node01: task 0: Out Of Memory", "srun: error:
			// node[01-02]: tasks 0-3,5: Out Of Memory". It is all a job sees
			// when the tasks' stderr goes to a file (srun -e).
			ID: "slurm.srun_task_oom", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: `srun: error: [^\s:]+: tasks? [0-9][0-9,-]*: Out Of Memory`,
		},
		{
			// "StepId=16.0 exceeded memory limit (2621440 > 2097152), being
			// killed" (before 20.11: "Step 16.0 ..." or "Job 16 ...").
			ID: "slurm.memory_limit_kill", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: slurmstepd + `(?:StepId=|JobId=|Step |Job )\S+ exceeded memory limit \(\d+ > \d+\), being killed`,
		},
		{
			// mm/oom_kill.c: "<reason>: Killed process <pid> (<comm>) ...",
			// the reason being "Out of memory" or "Memory cgroup out of memory".
			ID: "slurm.kernel_oom_kill", Framework: "slurm", Kind: sdk.KindHost,
			Regexp: `(?:Out of memory|Memory cgroup out of memory): Killed process \d+`,
		},
	}
}
