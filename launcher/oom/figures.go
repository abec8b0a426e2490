package oom

import (
	"math"
	"strconv"
	"strings"
)

// figures are the sizes one match (or several, merged) gives; nil is
// unknown.
type figures struct {
	tried, capacity, free, allocated, reservedUnallocated, allowed *int64
	device                                                         *int
}

// figuresOf turns a match's named groups into figures. A tensor shape and
// dtype give the request size when the dtype's size is declared; otherwise
// the tried group does. An allocator's "reserved in total" gives the unused
// reservation when that is not printed itself.
func figuresOf(groups map[string]string, dtypeSizes map[string]int) figures {
	size := func(name string) *int64 {
		v, ok := groups[name]
		if !ok {
			return nil
		}
		n, err := ParseSize(v)
		if err != nil {
			return nil
		}
		return &n
	}
	f := figures{
		tried:               size("tried"),
		capacity:            size("capacity"),
		free:                size("free"),
		allocated:           size("allocated"),
		reservedUnallocated: size("reserved_unallocated"),
		allowed:             size("allowed"),
	}
	if shape, ok := groups["shape"]; ok {
		if n, ok := tensorBytes(shape, groups["dtype"], dtypeSizes); ok {
			f.tried = &n
		}
	}
	if f.reservedUnallocated == nil && f.allocated != nil {
		if total := size("reserved_total"); total != nil && *total >= *f.allocated {
			unused := *total - *f.allocated
			f.reservedUnallocated = &unused
		}
	}
	if d, ok := groups["device"]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(d)); err == nil && n >= 0 {
			f.device = &n
		}
	}
	return f
}

// tensorBytes is the product of a comma-separated shape times the dtype's
// size; ok is false for an unknown dtype, a malformed shape or an overflow.
// An empty shape is a scalar.
func tensorBytes(shape, dtype string, dtypeSizes map[string]int) (int64, bool) {
	elem, ok := dtypeSizes[dtype]
	if !ok || elem <= 0 {
		return 0, false
	}
	n := int64(elem)
	if strings.TrimSpace(shape) == "" {
		return n, true
	}
	for _, dim := range strings.Split(shape, ",") {
		d, err := strconv.ParseInt(strings.TrimSpace(dim), 10, 64)
		if err != nil || d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// fillFrom sets each unknown figure that o knows.
func (f *figures) fillFrom(o figures) {
	fill := func(dst **int64, src *int64) {
		if *dst == nil && src != nil {
			v := *src
			*dst = &v
		}
	}
	fill(&f.tried, o.tried)
	fill(&f.capacity, o.capacity)
	fill(&f.free, o.free)
	fill(&f.allocated, o.allocated)
	fill(&f.reservedUnallocated, o.reservedUnallocated)
	fill(&f.allowed, o.allowed)
	if f.device == nil && o.device != nil {
		d := *o.device
		f.device = &d
	}
}

// fragmented is the README's rule: the allocator holds unused at least
// the request, or at least a tenth of the GPU; false when unknown.
func (f figures) fragmented() bool {
	if f.reservedUnallocated == nil {
		return false
	}
	ru := *f.reservedUnallocated
	return f.tried != nil && ru >= *f.tried || f.capacity != nil && ru >= (*f.capacity+9)/10
}
