package record

import (
	"bytes"
	"testing"
)

// TestAdviseHugePagesKeepsBytes: the advice is taken for rings of any size
// and start, filled or not, and changes none of their bytes.
func TestAdviseHugePagesKeepsBytes(t *testing.T) {
	for _, size := range []int{0, 1, hugePage - 1, 2 * hugePage, 8<<20 + 12345} {
		for _, skip := range []int{0, 1, 4096, hugePage / 2} {
			b := make([]byte, skip+size)
			for i := range b {
				b[i] = byte(i * 7)
			}
			want := bytes.Clone(b)
			adviseHugePages(b[skip:skip])
			adviseHugePages(b[skip:])
			if !bytes.Equal(b, want) {
				t.Fatalf("size %d at +%d: bytes changed", size, skip)
			}
		}
	}
}
