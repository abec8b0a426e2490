package oom

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestCgroupOOMKills(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	v2Events := "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
	v1Control := "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"
	tests := []struct {
		name string
		fsys fstest.MapFS
		want int
		ok   bool
	}{
		{"v2", fstest.MapFS{
			"proc/self/cgroup": file("0::/user.slice/user-1000.slice/session-3.scope\n"),
			"sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/memory.events": file(v2Events),
		}, 2, true},
		{"v2 in a container: the listed path is not mounted, the root is the container's", fstest.MapFS{
			"proc/self/cgroup":            file("0::/docker/4f1c\n"),
			"sys/fs/cgroup/memory.events": file(v2Events),
		}, 2, true},
		{"v1", fstest.MapFS{
			"proc/self/cgroup": file("12:cpu,cpuacct:/slurm/uid_1000/job_7\n4:memory:/slurm/uid_1000/job_7\n"),
			"sys/fs/cgroup/memory/slurm/uid_1000/job_7/memory.oom_control": file(v1Control),
		}, 5, true},
		{"hybrid: memory on v1", fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/job\n0::/job\n"),
			"sys/fs/cgroup/memory/job/memory.oom_control": file(v1Control),
			"sys/fs/cgroup/job/memory.events":             file(v2Events),
		}, 5, true},
		{"old kernel without the counter", fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/job\n"),
			"sys/fs/cgroup/memory/job/memory.oom_control": file("oom_kill_disable 0\nunder_oom 0\n"),
		}, 0, false},
		{"v2 root cgroup has no memory.events", fstest.MapFS{"proc/self/cgroup": file("0::/\n")}, 0, false},
		{"path escaping the mount", fstest.MapFS{
			"proc/self/cgroup":                file("0::/../../etc\n"),
			"sys/fs/cgroup/etc/memory.events": file(v2Events),
		}, 0, false},
		{"garbage counter", fstest.MapFS{
			"proc/self/cgroup":                file("0::/job\n"),
			"sys/fs/cgroup/job/memory.events": file("oom_kill lots\n"),
		}, 0, false},
		{"no /proc", fstest.MapFS{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupOOMKills(tc.fsys)
			if got != tc.want || ok != tc.ok {
				t.Errorf("cgroupOOMKills = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDmesgShowsKill(t *testing.T) {
	log := strings.Join([]string{
		"[1234567.880000] python invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
		"[1234567.890123] Out of memory: Killed process 42421 (python) total-vm:98765432kB, anon-rss:65432100kB, file-rss:0kB",
		"[1234568.000000] Memory cgroup out of memory: Killed process 777 (pt_data_worker) total-vm:1kB",
	}, "\n")
	for pid, want := range map[int]bool{42421: true, 777: true, 4242: false, 42: false, 1: false} {
		if got := dmesgShowsKill(strings.NewReader(log), pid, 0); got != want {
			t.Errorf("pid %d: %v, want %v", pid, got, want)
		}
	}
	// A kill logged before the attempt started is a recycled pid's.
	since := Since(1234567900 * time.Millisecond)
	if dmesgShowsKill(strings.NewReader(log), 42421, since) || !dmesgShowsKill(strings.NewReader(log), 777, since) {
		t.Error("only records at or after since count")
	}
}

func TestKmsgRecordsShowKill(t *testing.T) {
	log := strings.Join([]string{
		"6,1001,1234567880000,-;python invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)",
		"3,1002,1234567890123,-;Out of memory: Killed process 42421 (python) total-vm:98765432kB, anon-rss:65432100kB",
		" SUBSYSTEM=memory",
		"3,1003,1234568000000,-;Memory cgroup out of memory: Killed process 777 (pt_data_worker) total-vm:1kB",
		"garbage line Killed process 9 (x)",
	}, "\n")
	for pid, want := range map[int]bool{42421: true, 777: true, 4242: false, 9: false} {
		if got := recordsShowKill(strings.NewReader(log), pid, 0); got != want {
			t.Errorf("pid %d: %v, want %v", pid, got, want)
		}
	}
	since := Since(1234567900 * time.Millisecond)
	if recordsShowKill(strings.NewReader(log), 42421, since) || !recordsShowKill(strings.NewReader(log), 777, since) {
		t.Error("only records at or after since count")
	}
}

func TestKernelLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsg")
	if err := os.WriteFile(path, []byte("3,1,5000000,-;Out of memory: Killed process 4242 (python3) total-vm:1kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := KernelLog{Path: path}
	if killed, ok := k.OOMKilled(4242, Since(4*time.Second)); !killed || !ok {
		t.Errorf("OOMKilled = %v, %v; want the record", killed, ok)
	}
	if killed, ok := k.OOMKilled(4242, Since(6*time.Second)); killed || !ok {
		t.Errorf("OOMKilled after the record = %v, %v; want read and silent", killed, ok)
	}
	if _, ok := (KernelLog{Path: path + ".missing"}).OOMKilled(4242, 0); ok {
		t.Error("a missing file reads as a log")
	}
}

func TestKernelOOMKilledOnThisMachine(t *testing.T) {
	if _, ok := (KernelLog{}).OOMKilled(0, 0); ok {
		t.Error("pid 0 gave an answer")
	}
	// This test process is alive, so the OOM killer has not killed it;
	// whether the log is readable depends on the machine's privileges.
	if killed, ok := (KernelLog{}).OOMKilled(os.Getpid(), 0); ok && killed {
		t.Error("the kernel log says this running test was OOM-killed")
	}
	if n, ok := CgroupOOMKills(); ok && n < 0 {
		t.Errorf("cgroup oom_kill counter %d", n)
	}
	if Now() <= 0 {
		t.Error("the kernel log's clock reads nothing")
	}
}

// TestKernelFSReadsAsDirFS: the root view CgroupOOMKills reads through
// gives the files' bytes as os.DirFS does, and the same counter.
func TestKernelFSReadsAsDirFS(t *testing.T) {
	dir := os.DirFS("/")
	for _, name := range []string{"proc/self/cgroup", "proc/self/status", "proc/self/environ"} {
		want, err := fs.ReadFile(dir, name)
		if err != nil {
			t.Skipf("%s: %v", name, err)
		}
		got, err := fs.ReadFile(kernelFS{dir}, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// status changes as the process runs; its first line does not.
		if name == "proc/self/status" {
			want, got = want[:bytes.IndexByte(want, '\n')], got[:bytes.IndexByte(got, '\n')]
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: read %q, want %q", name, got, want)
		}
	}
	if _, err := fs.ReadFile(kernelFS{dir}, "proc/self/no-such-file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := fs.ReadFile(kernelFS{dir}, "/proc/self/cgroup"); err == nil {
		t.Error("a rooted name was read, want an error as from os.DirFS")
	}
	n1, ok1 := cgroupOOMKills(dir)
	n2, ok2 := CgroupOOMKills()
	if n1 != n2 || ok1 != ok2 {
		t.Errorf("CgroupOOMKills() = %d, %v; through os.DirFS %d, %v", n2, ok2, n1, ok1)
	}
}
