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
		{"slurmstepd: error: *** JOB 4242 ON node12 CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***", ""},
		{"INFO: checking for out of memory conditions", ""},
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
