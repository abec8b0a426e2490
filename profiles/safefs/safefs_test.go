package safefs

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "created"), dangling); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		path string
		flag int
		want string
	}{
		// Neither open waits for the other end of the pipe.
		{fifo, os.O_RDONLY, "is a named pipe, not a regular file"},
		{fifo, os.O_WRONLY, "is a named pipe, not a regular file"},
		{link, os.O_RDONLY, "is a symlink"},
		{dangling, os.O_WRONLY | os.O_CREATE, "is a symlink"},
		{sock, os.O_RDONLY, "is a socket, not a regular file"},
		{dir, os.O_RDONLY, "is a folder, not a regular file"},
	}
	for _, c := range cases {
		f, err := Open(c.path, c.flag, 0o644)
		var refused *Error
		if !errors.As(err, &refused) || !strings.HasPrefix(err.Error(), c.path+" "+c.want) {
			t.Errorf("Open(%s): %v, want %q", filepath.Base(c.path), err, c.want)
		}
		if f != nil {
			f.Close()
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "created")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dangling link's target was created: %v", err)
	}
	if data, err := ReadFileFollow(link, 10); err != nil || string(data) != "x" {
		t.Errorf("ReadFileFollow(link) = %q, %v", data, err)
	}
	if _, err := ReadFile(regular, 0); err == nil || !strings.Contains(err.Error(), "is 1 bytes, more than the 0 bytes") {
		t.Errorf("ReadFile over its limit: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 bytes", 2048: "2 KiB", 3 << 20: "3 MiB", 27_300_000: "26 MiB", 1536 << 20: "1.5 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
