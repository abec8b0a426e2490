package oom

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/kernelfile"
)

// dmesgTimeout bounds the dmesg fallback of KernelOOMKilled.
const dmesgTimeout = 5 * time.Second

// CgroupOOMKills reads the oom_kill counter of this process's memory cgroup
// (cgroup v2 memory.events, or v1 memory.oom_control). A job started by this
// process is in the same cgroup, so the counter's rise over an attempt counts
// the attempt's OOM kills. ok is false when the counter cannot be read.
func CgroupOOMKills() (count int, ok bool) {
	return cgroupOOMKills(kernelFS{os.DirFS("/")})
}

// kernelFS is the root directory, whose files ReadFile reads with plain
// system calls: os.ReadFile would first try to add each file of /proc and
// /sys to the runtime's poller (and fail, and undo that), ten system calls
// a file where this makes four, and every attempt reads four of them.
type kernelFS struct{ fs.FS }

func (kernelFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return kernelfile.Read("/" + name)
}

// cgroupOOMKills reads the counter from fsys, a view of the root directory.
func cgroupOOMKills(fsys fs.FS) (int, bool) {
	data, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	// Lines are "hierarchy-id:controllers:path". A v1 memory controller
	// wins over the v2 line, since on hybrid systems memory is on v1.
	var v1, v2 string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			continue
		}
		for _, c := range strings.Split(fields[1], ",") {
			if c == "memory" {
				v1, haveV1 = fields[2], true
			}
		}
		if fields[0] == "0" && fields[1] == "" {
			v2, haveV2 = fields[2], true
		}
	}
	// Inside a container without its own cgroup namespace the listed path
	// does not exist under the container's mount, whose root is then the
	// container's cgroup: try the root as well.
	var tries []string
	switch {
	case haveV1:
		tries = []string{cgroupFile("sys/fs/cgroup/memory", v1, "memory.oom_control"), "sys/fs/cgroup/memory/memory.oom_control"}
	case haveV2:
		tries = []string{cgroupFile("sys/fs/cgroup", v2, "memory.events"), "sys/fs/cgroup/memory.events"}
	}
	for _, name := range tries {
		if name == "" {
			continue
		}
		if n, ok := readOOMKill(fsys, name); ok {
			return n, true
		}
	}
	return 0, false
}

// cgroupFile joins a cgroup path under root; "" when the path is not a
// clean one.
func cgroupFile(root, cgroup, file string) string {
	name := path.Join(root, strings.TrimPrefix(cgroup, "/"), file)
	if !fs.ValidPath(name) || strings.Contains(cgroup, "..") {
		return ""
	}
	return name
}

// readOOMKill finds the "oom_kill N" line of a memory.events or
// memory.oom_control file.
func readOOMKill(fsys fs.FS, name string) (int, bool) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || key != "oom_kill" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// KernelLog says where the kernel's OOM-kill records are read from: Path,
// a file of /dev/kmsg records ("prio,seq,usec,flags;message", one a line),
// when set — the simulated jobs write one there, and a system that keeps
// the kernel log elsewhere can point vramrun at it (VRAMRUN_KERNEL_LOG) —
// else /dev/kmsg, else the dmesg command.
type KernelLog struct{ Path string }

// Since is a moment on the kernel log's clock (CLOCK_MONOTONIC: time since
// boot, without suspend), for telling an attempt's records from older ones.
type Since time.Duration

// Now is the kernel log's clock now; 0 (every record counts) where it
// cannot be read.
func Now() Since { return monotonicNow() }

// OOMKilled says whether the kernel log holds the OOM killer's "Killed
// process <pid> (" line about pid, logged at since or later (a recycled pid
// may find an older kill). ok is false when the log cannot be read (it
// usually needs privileges). The kernel logs host pids, so inside a
// container without the host's pid namespace the answer is false.
func (k KernelLog) OOMKilled(pid int, since Since) (killed bool, ok bool) {
	if pid <= 0 {
		return false, false
	}
	if k.Path != "" {
		f, err := os.Open(k.Path)
		if err != nil {
			return false, false
		}
		defer f.Close()
		return recordsShowKill(f, pid, since), true
	}
	if killed, ok := kmsgShowsKill(pid, since); ok {
		return killed, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), dmesgTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dmesg").Output()
	if err != nil {
		return false, false
	}
	return dmesgShowsKill(bytes.NewReader(out), pid, since), true
}

// killLine is the OOM killer's line about pid.
func killLine(pid int) []byte { return []byte("Killed process " + strconv.Itoa(pid) + " (") }

// recordsShowKill reads /dev/kmsg-format records ("prio,seq,usec,flags;msg").
func recordsShowKill(r io.Reader, pid int, since Since) bool {
	needle := killLine(pid)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for sc.Scan() {
		if recordShowsKill(sc.Bytes(), needle, since) {
			return true
		}
	}
	return false
}

// recordShowsKill says one kmsg record is the kill line, logged at since or
// later.
func recordShowsKill(rec, needle []byte, since Since) bool {
	if !bytes.Contains(rec, needle) {
		return false
	}
	prefix, _, ok := bytes.Cut(rec, []byte(";"))
	if !ok {
		return false
	}
	fields := bytes.Split(prefix, []byte(","))
	if len(fields) < 3 {
		return false
	}
	usec, err := strconv.ParseInt(string(fields[2]), 10, 64)
	return err == nil && Since(time.Duration(usec)*time.Microsecond) >= since
}

// dmesgShowsKill reads dmesg's lines ("[ 1234.567890] msg").
func dmesgShowsKill(r io.Reader, pid int, since Since) bool {
	needle := killLine(pid)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, needle) {
			continue
		}
		stamp, _, ok := bytes.Cut(bytes.TrimPrefix(line, []byte("[")), []byte("]"))
		secs, err := strconv.ParseFloat(strings.TrimSpace(string(stamp)), 64)
		if ok && err == nil && Since(time.Duration(secs*float64(time.Second))) >= since {
			return true
		}
	}
	return false
}
