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
