package slurm

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestPatternsValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Patterns() {
		if err := p.Validate(); err != nil {
			t.Errorf("%v", err)
		}
		if seen[p.ID] {
			t.Errorf("pattern %s declared twice", p.ID)
		}
		seen[p.ID] = true
		if p.Kind != sdk.KindHost {
			t.Errorf("pattern %s: kind %q, want host", p.ID, p.Kind)
		}
		if p.Framework != "slurm" || !strings.HasPrefix(p.ID, "slurm.") {
			t.Errorf("pattern %s: framework %q, want slurm and an id prefixed slurm.", p.ID, p.Framework)
		}
	}
}

func TestPatternsMatchTheirTexts(t *testing.T) {
	tests := []struct{ line, id string }{
		{"slurmstepd: error: Detected 1 oom-kill event(s) in StepId=4242.batch. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		{"slurmstepd: error: Detected 3 oom-kill event(s) in step 4242.0 cgroup. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		{"[1234567.890123] Out of memory: Killed process 4242 (python) total-vm:98765432kB, anon-rss:65432100kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:130000kB oom_score_adj:0", "slurm.kernel_oom_kill"},
		{"[1234567.890123] Memory cgroup out of memory: Killed process 4242 (python) total-vm:98765432kB, anon-rss:65432100kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:130000kB oom_score_adj:0", "slurm.kernel_oom_kill"},
		// Slurm 22.05 names the node in slurmstepd's prefix (what srun and
		// a batch job's output file show, as the real Slurm test proves).
		{"slurmstepd-node01: error: Detected 1 oom-kill event(s) in StepId=16.0. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		{"slurmstepd-localhost: error: Detected 2 oom-kill event(s) in StepId=7.batch. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		{"slurmstepd-gpu-a100.cluster.example: error: Detected 1 oom-kill event(s) in StepId=16.0. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		{"1: slurmstepd-node01: error: Detected 1 oom-kill event(s) in StepId=16.0. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"}, // srun -l
		{"slurmstepd-node01: error: Detected 1 oom_kill event(s) in step 16.0 cgroup. Some of your processes may have been killed by the cgroup out-of-memory handler.", "slurm.oom_kill"},
		// srun's own line about the tasks the OOM handler ended.
		{"srun: error: node01: task 0: Out Of Memory", "slurm.srun_task_oom"},
		{"srun: error: node[01-02]: tasks 0-3,5: Out Of Memory", "slurm.srun_task_oom"},
		{"srun: error: localhost: task 1: Out Of Memory", "slurm.srun_task_oom"},
		// slurmstepd's kill of a step over its accounted memory limit.
		{"slurmstepd-node01: error: StepId=16.0 exceeded memory limit (2621440 > 2097152), being killed", "slurm.memory_limit_kill"},
		{"slurmstepd: error: Step 16.0 exceeded memory limit (2621440 > 2097152), being killed", "slurm.memory_limit_kill"},
		{"slurmstepd: error: Job 16 exceeded memory limit (2621440 > 2097152), being killed", "slurm.memory_limit_kill"},
		// Lookalikes that are not an OOM.
		{"slurmstepd: error: *** JOB 4242 ON node12 CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***", ""},
		{"slurmstepd-node12: error: *** STEP 4242.0 ON node12 CANCELLED AT 2024-01-01T00:00:00 ***", ""},
		{"srun: error: node01: task 1: Exited with exit code 1", ""},
		{"srun: error: node01: task 0: Killed", ""},
		{"slurmstepd-node01: error: StepId=16.0 exceeded virtual memory limit (2621440 > 2097152), being killed", ""},
		{"slurmstepd: Exceeded job memory limit at some point.", ""},
		{"my-slurmstepd-wrapper says: error: Detected nothing", ""},
		{"slurmstepd node01: error: Detected 1 oom-kill event(s) in StepId=16.0.", ""},
		{"INFO: checking for out of memory conditions", ""},
		{"print('srun: error: Out Of Memory')", ""},
	}
	for _, tc := range tests {
		got := ""
		for _, p := range Patterns() {
			if regexp.MustCompile(p.Regexp).MatchString(tc.line) {
				got = p.ID
				break
			}
		}
		if got != tc.id {
			t.Errorf("%q: matched %q, want %q", tc.line, got, tc.id)
		}
	}
}
