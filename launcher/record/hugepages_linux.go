package record

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms vramrun
// runs on (x86-64, arm64 with 4 KiB pages); where it is another, the advice
// covers whatever huge pages fit, or none.
const hugePage = 2 << 20

// adviseHugePages asks the kernel to back b's room, past its first huge
// page, with transparent huge pages (madvise MADV_HUGEPAGE; on by default
// where THP is "madvise", as on Ubuntu): a chatty job fills an attempt
// log's whole tail ring, and 4 KiB pages make that 2048 page faults, the
// most costly part of copying its output on a virtual machine whose faults
// are slow. The advice starts at the first huge page boundary past b's
// start, so that a quiet job, which writes the ring's first bytes only,
// holds no more memory than it wrote. The advice is a hint: a refusal
// changes nothing.
func adviseHugePages(b []byte) {
	b = b[:cap(b)]
	if len(b) < 2*hugePage {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + hugePage) &^ (hugePage - 1)
	hi := (start + uintptr(len(b))) &^ (hugePage - 1)
	if hi > lo {
		_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_HUGEPAGE)
	}
}
