package launcher

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopyPipeReadsAFIFOToItsEnd(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "cfg.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write([]byte("data:\n  batch_size: 4\n"))
		w.Close()
	}()
	dst := filepath.Join(dir, "inputs", "0-cfg.fifo")
	n, err := copyPipe(context.Background(), fifo, dst)
	if err != nil || n != 22 {
		t.Fatalf("copyPipe = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "data:\n  batch_size: 4\n" {
		t.Errorf("copy = %q", got)
	}
}

func TestCopyPipeEndsWithTheContext(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "cfg.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// No writer ever opens the FIFO: only the context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(dir, "inputs", "0-cfg.fifo")
	n, err := copyPipe(ctx, fifo, dst)
	if err == nil || n != 0 {
		t.Fatalf("copyPipe = %d, %v; want an error and nothing read", n, err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a copy of nothing was left behind: %v", err)
	}
	// The goroutine blocked in open is released by opening the writer end.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
}

func TestCopyPipeReplacesAnEarlierCopyWithoutFollowingALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "users-file")
	os.WriteFile(target, []byte("mine"), 0o644)
	os.MkdirAll(filepath.Join(dir, "inputs"), 0o755)
	dst := filepath.Join(dir, "inputs", "0-63")
	os.Symlink(target, dst)
	fifo := filepath.Join(dir, "cfg.fifo")
	syscall.Mkfifo(fifo, 0o600)
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Write([]byte("new"))
			w.Close()
		}
	}()
	if _, err := copyPipe(context.Background(), fifo, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "mine" {
		t.Errorf("the file a link pointed at was written: %q", got)
	}
	if info, err := os.Lstat(dst); err != nil || !info.Mode().IsRegular() {
		t.Errorf("copy is not a regular file: %v %v", info, err)
	}
}
