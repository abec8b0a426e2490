package oom

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxKmsgRecords bounds the /dev/kmsg read, in case the kernel logs faster
// than it is read.
const maxKmsgRecords = 1 << 20

// kmsgShowsKill reads /dev/kmsg from its oldest record to the end without
// blocking. It uses the raw descriptor: an os.File would park on the poller
// at the end of the log instead of reporting EAGAIN.
func kmsgShowsKill(pid int, since Since) (killed bool, ok bool) {
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false, false
	}
	defer syscall.Close(fd)
	needle := killLine(pid)
	buf := make([]byte, 8192) // one record per read; records are at most ~1 KiB
	for range maxKmsgRecords {
		n, err := syscall.Read(fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return false, true
		case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EINTR):
			continue // a record was overwritten while we read; go on
		case err != nil:
			return false, false
		case n <= 0:
			return false, true
		}
		// A record is "prefix;message\n" plus continuation lines.
		if recordShowsKill(buf[:n], needle, since) {
			return true, true
		}
	}
	return false, true
}

func monotonicNow() Since {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return Since(time.Duration(ts.Nano()))
}
