// Package safefs opens the files vramrun keeps for itself (learned state,
// run records, logs, copies) and the profiles it reads so that a file
// planted in their place cannot misdirect or stall it: a symbolic link is
// not followed (where vramrun owns the folder), a named pipe, socket or
// device is refused without being waited on, and a file too large to be
// one of vramrun's is refused before it is read.
//
// Every refusal is an *Error whose text is one line naming the path.
package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Error says that path is not what vramrun expects there.
type Error struct {
	Path string
	// Problem is the rest of the line: "is a named pipe, not a regular file".
	Problem string
	// TooLarge is set when the file is only too large.
	TooLarge bool
}

func (e *Error) Error() string { return e.Path + " " + e.Problem }

// KindOf names what a file of this mode is, for messages: "a symlink",
// "a named pipe", "a folder".
func KindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode.IsDir():
		return "a folder"
	case mode.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// notRegular is the refusal of a file that is not a regular one.
func notRegular(path string, mode fs.FileMode) *Error {
	if mode&fs.ModeSymlink != 0 {
		return &Error{Path: path, Problem: "is a symlink; vramrun does not follow links in its own folders (remove it)"}
	}
	return &Error{Path: path, Problem: fmt.Sprintf("is %s, not a regular file (remove it)", KindOf(mode))}
}

// Open opens the regular file at path. A symlink as its last part is not
// followed, and anything but a regular file (named pipe, socket, device,
// folder) is refused without blocking: a *Error.
func Open(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return open(path, flag|syscall.O_NOFOLLOW, perm, true)
}

// OpenFollow is Open for a file that may be a symlink to a regular file (a
// profile the user keeps elsewhere).
func OpenFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return open(path, flag, perm, false)
}

func open(path string, flag int, perm fs.FileMode, noFollow bool) (*os.File, error) {
	// Looked at first, so that a device is never opened at all.
	stat := os.Stat
	if noFollow {
		stat = os.Lstat
	}
	if fi, err := stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) && noFollow {
			return nil, notRegular(path, fs.ModeSymlink)
		}
		if fi, serr := stat(path); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(path, fi.Mode())
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	return f, nil
}

// ReadFile reads the regular file at path as Open opens it, refusing one
// larger than limit bytes (a *Error with TooLarge).
func ReadFile(path string, limit int64) ([]byte, error) {
	return readFile(path, limit, Open)
}

// ReadFileFollow is ReadFile for a file that may be a symlink.
func ReadFileFollow(path string, limit int64) ([]byte, error) {
	return readFile(path, limit, OpenFollow)
}

func readFile(path string, limit int64, opener func(string, int, fs.FileMode) (*os.File, error)) ([]byte, error) {
	f, err := opener(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, tooLarge(path, fi.Size(), limit)
	}
	// The size can grow while it is read: never more than limit+1.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(path, int64(len(data)), limit)
	}
	return data, nil
}

func tooLarge(path string, size, limit int64) *Error {
	shown := Size(size)
	if shown == Size(limit) {
		shown = fmt.Sprintf("%d bytes", size)
	}
	return &Error{Path: path, TooLarge: true,
		Problem: fmt.Sprintf("is %s, more than the %s vramrun reads", shown, Size(limit))}
}

// Size writes a byte count as people read it: 512 bytes, 27.3 MiB.
func Size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	case n >= 1<<10:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// Check says whether path, when it exists, is what vramrun expects there
// without following a symlink: a real folder (dir) or a regular file. A
// missing path is fine.
func Check(path string, dir bool) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case dir && fi.Mode()&fs.ModeSymlink != 0:
		return notRegular(path, fi.Mode())
	case dir && !fi.IsDir():
		return &Error{Path: path, Problem: fmt.Sprintf("is %s, not a folder (remove it)", KindOf(fi.Mode()))}
	case !dir && !fi.Mode().IsRegular():
		return notRegular(path, fi.Mode())
	}
	return nil
}

// Mkdir makes the folder path, or takes it as it is when it is already a
// real folder; a symlink or anything else in its place is refused (a
// *Error). Its parent must exist.
func Mkdir(path string, perm fs.FileMode) error {
	err := os.Mkdir(path, perm)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	return Check(path, true)
}

// CheckTree refuses a folder that holds anything but folders and regular
// files, at any depth: a symlink in it would send what vramrun writes
// there elsewhere. root itself must be a real folder; a missing one is
// fine.
func CheckTree(root string) error {
	if err := Check(root, true); err != nil {
		return err
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return notRegular(path, d.Type())
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
