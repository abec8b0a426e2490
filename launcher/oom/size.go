package oom

import (
	"fmt"
	"math/big"
	"strings"
)

// maxSizeDigits bounds the number in a size, so that garbage cannot make
// ParseSize do big-number work.
const maxSizeDigits = 40

// ParseSize reads a size as runtimes print it and returns exact bytes: the
// value times its unit, rounded to the nearest byte (halves up). A bare
// number is bytes; "B", "byte" and "bytes" are bytes; KiB, MiB, GiB, TiB,
// PiB, EiB and the KB, MB, GB, TB, PB, EB that some runtimes print all mean
// powers of 1024. The space before the unit is optional ("1.25GiB").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || t[end] == '.') {
		end++
	}
	number, unit := t[:end], strings.TrimSpace(t[end:])
	if number == "" {
		return 0, fmt.Errorf("size %q: no number", s)
	}
	if len(number) > maxSizeDigits {
		return 0, fmt.Errorf("size %q: number too long", s)
	}
	whole, frac, hasPoint := strings.Cut(number, ".")
	if whole == "" || strings.Contains(frac, ".") || hasPoint && frac == "" {
		return 0, fmt.Errorf("size %q: malformed number", s)
	}
	shift, ok := unitShift(unit)
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	// value = whole.frac * 2^shift, computed exactly as
	// (digits * 2^shift) / 10^len(frac), rounded half up.
	digits, _ := new(big.Int).SetString(whole+frac, 10)
	num := digits.Lsh(digits, shift)
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return q.Int64(), nil
}

// unitShift is the power of two a unit stands for.
func unitShift(unit string) (uint, bool) {
	switch unit {
	case "", "B", "byte", "bytes":
		return 0, true
	case "KiB", "KB":
		return 10, true
	case "MiB", "MB":
		return 20, true
	case "GiB", "GB":
		return 30, true
	case "TiB", "TB":
		return 40, true
	case "PiB", "PB":
		return 50, true
	case "EiB", "EB":
		return 60, true
	}
	return 0, false
}
