package kernelfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestReadsWholeFiles: a file longer than the first buffer is read whole,
// byte for byte, as os.ReadFile reads it; a /proc file too.
func TestReadsWholeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	want := bytes.Repeat([]byte("0123456789abcdef"), 700)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Read = %d bytes, %v; want %d", len(got), err, len(want))
	}
	if got, err := Read("/proc/self/stat"); err != nil || len(got) == 0 {
		t.Fatalf("Read(/proc/self/stat) = %q, %v", got, err)
	}
}

func TestMissingFileIsNotExist(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "missing"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("err = %v, want a PathError that is ErrNotExist", err)
	}
}

// TestReadIsOSReadFile: the plain-syscall read gives what os.ReadFile gives,
// also of a file longer than its first buffer, and fails as it does.
func TestReadIsOSReadFile(t *testing.T) {
	for _, path := range []string{"/proc/self/environ", "/proc/self/maps", "/proc/self/cmdline"} {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%s: %v", path, err)
		}
		got, err := Read(path)
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
	if _, err := Read("/proc/self/no-such-file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
