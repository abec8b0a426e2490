package runner

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

// TestProcessTreeFollowsChildrenLists: the tree read from the kernel's
// children lists is the one every process's parent gives, for a shell with
// two children of its own.
func TestProcessTreeFollowsChildrenLists(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60 & echo ready; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = exec.Command("pkill", "-P", strconv.Itoa(cmd.Process.Pid)).Run()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	// The shell has forked both sleeps before it echoes.
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("shell said %q, %v", line, err)
	}
	root := cmd.Process.Pid
	got, want := ProcessTree(root), treeOf(root, listProcs())
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("ProcessTree = %v, by scan %v; want the shell and its two sleeps in both", got, want)
	}
	if tree := ProcessTree(1 << 30); !slices.Equal(tree, []int{1 << 30}) {
		t.Errorf("tree of a pid that does not exist = %v, want just it", tree)
	}
}

// TestReadProcFile: the plain-syscall read gives what os.ReadFile gives,
// also of a file longer than its first buffer, and fails as it does.
func TestReadProcFile(t *testing.T) {
	for _, path := range []string{"/proc/self/environ", "/proc/self/maps", "/proc/self/cmdline"} {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%s: %v", path, err)
		}
		got, err := readProcFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// maps may change between the reads; its first line does not.
		if path == "/proc/self/maps" {
			want, got = want[:bytes.IndexByte(want, '\n')], got[:bytes.IndexByte(got, '\n')]
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d", path, len(got), len(want))
		}
	}
	if _, err := readProcFile("/proc/self/no-such-file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
