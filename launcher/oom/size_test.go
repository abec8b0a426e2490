package oom_test

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"2.30 GiB", 2469606195}, // 2.30 * 2^30 = 2469606195.2
		{"1.25GiB", 1342177280},
		{"16.00GiB", 17179869184},
		{"0 bytes", 0},
		{"1 byte", 1},
		{"512 B", 512},
		{"1342177280", 1342177280},
		{"1342177280B", 1342177280},
		{"1.5 GB", 1610612736}, // MPS's GB is 2^30
		{"3.5 KiB", 3584},
		{"1024.00 KB", 1048576},
		{"13.64 MB", 14302577},    // 13.64 * 2^20 = 14302576.64 -> up
		{"121.81 MiB", 127727043}, // 121.81 * 2^20 = 127727042.56 -> up
		{"47.06 MiB", 49345987},   // 47.06 * 2^20 = 49345986.56 -> up
		{"0.5 B", 1},              // halves round up
		{"0.49 B", 0},
		{"2 TiB", 2 << 40},
		{"1 EiB", 1 << 60},
		{"  7.00 GiB  ", 7 << 30},
		{"7.5  MiB", 7864320},
	}
	for _, tc := range tests {
		got, err := oom.ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"", "no number"},
		{"GiB", "no number"},
		{"abc", "no number"},
		{"-1 GiB", "no number"},
		{".5 GiB", "malformed"},
		{"5. GiB", "malformed"},
		{"1.2.3 GiB", "malformed"},
		{"1e9", "unknown unit"},
		{"2 XB", "unknown unit"},
		{"2 gib", "unknown unit"},
		{"2 GiB of memory", "unknown unit"},
		{"17179869184.00 GiB", "too large"}, // 2^64: cudaMallocAsync's "no limit"
		{"9223372036854775808", "too large"},
		{strings.Repeat("9", 41), "too long"},
	}
	for _, tc := range tests {
		got, err := oom.ParseSize(tc.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "size ") {
			t.Errorf("ParseSize(%q) error %q, want one naming the size and saying %q", tc.in, err, tc.wantErr)
		}
	}
	if n, err := oom.ParseSize("9223372036854775807"); err != nil || n != 9223372036854775807 {
		t.Errorf("largest int64: %d, %v", n, err)
	}
}
