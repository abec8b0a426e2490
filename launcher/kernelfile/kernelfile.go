// Package kernelfile reads the kernel's files (/proc, /sys, cgroups) with
// plain system calls. os.ReadFile would first try to add each to the
// runtime's poller (and fail, and undo that): ten system calls a file where
// this makes four, and a sweep for leftover processes reads a file of every
// process on the machine.
package kernelfile

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// Read reads the file at path whole. Errors are *fs.PathError, so
// errors.Is(err, fs.ErrNotExist) works as with os.ReadFile.
func Read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 1024)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
