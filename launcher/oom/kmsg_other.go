//go:build !linux

package oom

// kmsgShowsKill has no /dev/kmsg to read outside Linux.
func kmsgShowsKill(int) (killed bool, ok bool) { return false, false }
