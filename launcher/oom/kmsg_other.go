//go:build !linux

package oom

// kmsgShowsKill has no /dev/kmsg to read outside Linux.
func kmsgShowsKill(int, Since) (killed bool, ok bool) { return false, false }

func monotonicNow() Since { return 0 }
