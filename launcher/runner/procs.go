package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/vramrun/vramrun/launcher/kernelfile"
	"golang.org/x/sys/unix"
)

// EnableSubreaper makes the calling process a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER): descendants orphaned by a job, such as a
// worker that double-forked out of the job's process group, are reparented
// to this process instead of init, so Wait can still find, end and reap
// them. The setting holds for the whole process; call it once, early.
func EnableSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	return nil
}

// isSubreaper reports whether this process is a child subreaper. Without
// it, no job descendant can become our child, so our new children are all
// processes we started ourselves and must not be treated as strays.
func isSubreaper() bool {
	var v int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return false
	}
	return v != 0
}

// procInfo is what supervision needs from /proc/<pid>/stat.
type procInfo struct {
	pid, ppid, pgrp int
	state           byte   // R, S, D, Z, T, X, ...
	start           uint64 // start time in clock ticks since boot
}

func (p procInfo) dead() bool { return p.state == 'Z' || p.state == 'X' }

// readProcStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted from the last ')'.
func readProcStat(pid int) (procInfo, error) {
	b, err := kernelfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+2:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || len(f[0]) == 0 {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return procInfo{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], start: start}, nil
}

// listProcs reads every process of the system. Processes that vanish
// while being read are skipped.
func listProcs() []procInfo {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	_ = d.Close()
	procs := make([]procInfo, 0, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		if p, err := readProcStat(pid); err == nil {
			procs = append(procs, p)
		}
	}
	return procs
}

// childrenOf returns the pids whose parent is pid, from the kernel's
// children lists, or by scanning every process without them.
func childrenOf(pid int) map[int]bool {
	kids := map[int]bool{}
	list, ok := taskChildren(pid)
	if !ok {
		for _, p := range listProcs() {
			if p.ppid == pid {
				kids[p.pid] = true
			}
		}
		return kids
	}
	for _, kid := range list {
		kids[kid] = true
	}
	return kids
}

// taskChildren lists pid's children from the kernel's per-thread children
// lists (any thread may have forked); ok is false when the kernel keeps no
// such lists (CONFIG_PROC_CHILDREN off). A process that is gone has none.
func taskChildren(pid int) (kids []int, ok bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, true
	}
	// One stat says whether the lists exist; a glob would stat each.
	if _, err := os.Stat(dir + strconv.Itoa(pid) + "/children"); err != nil {
		return nil, false
	}
	for _, t := range tasks {
		b, err := kernelfile.Read(dir + t.Name() + "/children")
		if err != nil {
			continue // the thread ended
		}
		for _, field := range bytes.Fields(b) {
			if kid, err := strconv.Atoi(string(field)); err == nil {
				kids = append(kids, kid)
			}
		}
	}
	return kids, true
}

// ProcessTree is root and its descendants. It follows the kernel's
// children lists down from root, so it costs a few reads per process of the
// tree, whatever else the machine runs; without those lists it reads every
// process once.
func ProcessTree(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		kids, ok := taskChildren(out[i])
		if !ok {
			return treeOf(root, listProcs())
		}
		out = append(out, kids...)
	}
	return out
}

// treeOf is root and its descendants among procs.
func treeOf(root int, procs []procInfo) []int {
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// hasEnvEntry reports whether /proc/<pid>/environ (the environment the
// process was started with) holds the exact entry kv.
func hasEnvEntry(pid int, kv []byte) bool {
	b, err := kernelfile.Read("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		entry := b
		if i := bytes.IndexByte(b, 0); i >= 0 {
			entry, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if bytes.Equal(entry, kv) {
			return true
		}
	}
	return false
}

// supervision is what a Job knows to tell its processes from others.
type supervision struct {
	self        int          // our pid
	pgid        int          // the job's process group (= the main pid)
	mainStart   uint64       // the main process's start time; descendants cannot be older
	markerEntry []byte       // VRAMRUN_ATTEMPT=<marker>
	preexisting map[int]bool // our children before Start: never touched
	subreaper   bool         // whether orphans of the job become our children
}

// jobProcesses returns every process that belongs to the job: members of
// its process group, processes started with its marker in their
// environment, (when we are a subreaper) our children that were not there
// before Start, and the descendants of all of these.
func (s *supervision) jobProcesses() []procInfo {
	procs := listProcs()
	inJob := map[int]bool{}
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
		if p.pid == s.self || s.preexisting[p.pid] || p.start < s.mainStart {
			continue
		}
		switch {
		case p.pgrp == s.pgid,
			s.subreaper && p.ppid == s.self,
			!p.dead() && hasEnvEntry(p.pid, s.markerEntry):
			inJob[p.pid] = true
		}
	}
	queue := make([]int, 0, len(inJob))
	for pid := range inJob {
		queue = append(queue, pid)
	}
	for len(queue) > 0 {
		pid := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, kid := range children[pid] {
			if !inJob[kid] && kid != s.self && !s.preexisting[kid] {
				inJob[kid] = true
				queue = append(queue, kid)
			}
		}
	}
	out := make([]procInfo, 0, len(inJob))
	for _, p := range procs {
		if inJob[p.pid] {
			out = append(out, p)
		}
	}
	return out
}

// Polling bounds for ending processes. Polling /proc for a state is the
// only portable way to learn that processes we are not the parent of are
// gone; the backoff keeps it cheap.
const (
	firstPoll = time.Millisecond
	maxPoll   = 32 * time.Millisecond
	// killWait bounds the wait after SIGKILL: a process stuck in the kernel
	// (uninterruptible I/O, a GPU driver tearing down) cannot be hurried,
	// and Wait must return eventually.
	killWait = 10 * time.Second
)

// sweepOutcome is what one round of ending processes did.
type sweepOutcome struct {
	ended     []int // pids signalled or reaped
	survivors []int // pids still present after SIGKILL and killWait
}

// endAll ends every process of the job, except mainPid's reaping, which
// belongs to os/exec: SIGTERM (with SIGCONT so a stopped process can act on
// it), up to grace for them to go, then SIGKILL. Processes that show up
// while this runs (forked during shutdown) get the same treatment. Our own
// zombie children among them are reaped by pid, never with wait4(-1), which
// would steal os/exec's children.
func (s *supervision) endAll(grace time.Duration, mainPid int) sweepOutcome {
	ended := map[int]bool{}
	termed := map[int]bool{}
	pause := firstPoll
	sleepUntil := func(deadline time.Time) {
		d := min(pause, time.Until(deadline))
		if d > 0 {
			time.Sleep(d)
		}
		pause = min(2*pause, maxPoll)
	}

	if s.nothingLeft() {
		return sweepOutcome{}
	}
	termDeadline := time.Now().Add(grace)
	for {
		live := s.reapAndFilter(mainPid, ended)
		if len(live) == 0 {
			return sweepOutcome{ended: sortedPids(ended, mainPid)}
		}
		for _, p := range live {
			if !termed[p.pid] {
				termed[p.pid] = true
				ended[p.pid] = true
				_ = unix.Kill(p.pid, unix.SIGTERM)
				_ = unix.Kill(p.pid, unix.SIGCONT)
			}
		}
		if !time.Now().Before(termDeadline) {
			break
		}
		sleepUntil(termDeadline)
	}

	pause = firstPoll
	killDeadline := time.Now().Add(killWait)
	for {
		live := s.reapAndFilter(mainPid, ended)
		if len(live) == 0 {
			return sweepOutcome{ended: sortedPids(ended, mainPid)}
		}
		if !time.Now().Before(killDeadline) {
			survivors := make([]int, 0, len(live))
			for _, p := range live {
				survivors = append(survivors, p.pid)
			}
			slices.Sort(survivors)
			return sweepOutcome{ended: sortedPids(ended, mainPid), survivors: survivors}
		}
		groupLive := false
		for _, p := range live {
			ended[p.pid] = true
			_ = unix.Kill(p.pid, unix.SIGKILL)
			groupLive = groupLive || p.pgrp == s.pgid
		}
		if groupLive {
			// Also catches a member forked after the scan. The group id
			// cannot have been reused while it has members.
			_ = unix.Kill(-s.pgid, unix.SIGKILL)
		}
		sleepUntil(killDeadline)
	}
}

// nothingLeft reports, at the cost of a few reads rather than one of every
// process on the machine, that the job has no process left: its group is
// empty and, vramrun being a subreaper, it has no child that it did not have
// before Start (its main process reaped). Then no process of the job is
// there: one still present would be in the group, or below a child of ours
// that left it (the kernel hands an orphan to the nearest live subreaper,
// and every ancestor between it and the job's main process is the job's),
// and a process that left the group and was forked after these reads had a
// parent that was one or the other. Without the subreaper, or when the
// kernel keeps no children lists, it says false and the sweep reads every
// process.
func (s *supervision) nothingLeft() bool {
	if !s.subreaper {
		return false
	}
	if err := unix.Kill(-s.pgid, 0); !errors.Is(err, unix.ESRCH) {
		return false
	}
	kids, ok := taskChildren(s.self)
	if !ok {
		return false
	}
	for _, kid := range kids {
		if !s.preexisting[kid] {
			return false
		}
	}
	return true
}

// reapAndFilter returns the job's live processes. Dead ones that are our
// children (other than mainPid) are reaped here and noted in ended.
func (s *supervision) reapAndFilter(mainPid int, ended map[int]bool) []procInfo {
	var live []procInfo
	for _, p := range s.jobProcesses() {
		if !p.dead() {
			live = append(live, p)
			continue
		}
		if p.ppid == s.self && p.pid != mainPid {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
			switch {
			case err == nil && pid == p.pid:
				ended[p.pid] = true
			case err == nil:
				// A multi-threaded process shows Z as soon as its main
				// thread exits, but cannot be reaped until its other
				// threads have: keep waiting for it.
				live = append(live, p)
			}
		}
	}
	return live
}

func sortedPids(set map[int]bool, except int) []int {
	out := make([]int, 0, len(set))
	for pid := range set {
		if pid != except {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}
