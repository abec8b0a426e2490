package runner

import (
	"bufio"
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
