package record_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vramrun/vramrun/launcher/record"
)

// FuzzCappedLog writes data in pieces of the sizes sizes gives to a log
// with small caps, and checks every way of reading the tail against the
// data itself, and the file against what Close promises: all of it when it
// fits, else the head, one line saying what was cut, and the tail.
func FuzzCappedLog(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 1, 4}, uint8(4), uint8(5))
	f.Add(bytes.Repeat([]byte("0123456789"), 20), []byte{7, 50, 1, 99}, uint8(16), uint8(33))
	f.Add(bytes.Repeat([]byte("ab"), 100), []byte{200}, uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data, sizes []byte, head, tail uint8) {
		if tail == 0 {
			tail = 1
		}
		path := filepath.Join(t.TempDir(), "attempt-1.log")
		c, err := record.NewCappedLog(path, int(head), int(tail))
		if err != nil {
			t.Fatal(err)
		}
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(sizes) > 0 {
				n = min(n, int(sizes[i%len(sizes)])+1)
			}
			_, _ = c.Write(rest[:n])
			rest = rest[n:]
		}
		want := data[max(0, len(data)-int(tail)):]
		if got, _ := io.ReadAll(c.TailReader()); !bytes.Equal(got, want) {
			t.Fatalf("TailReader = %q, want %q", got, want)
		}
		for _, n := range []int{0, 1, int(tail) / 2, int(tail), int(tail) + 7} {
			suffix := want[max(0, len(want)-n):]
			if got := c.LastBytes(n); !bytes.Equal(got, suffix) {
				t.Fatalf("LastBytes(%d) = %q, want %q", n, got, suffix)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wantFile := data
		if len(data) > int(head)+int(tail) {
			cut := len(data) - int(head) - int(tail)
			wantFile = fmt.Appendf(append([]byte(nil), data[:head]...),
				"\n[vramrun: %d bytes of output cut here; the log keeps the first %d and the last %d]\n", cut, head, tail)
			wantFile = append(wantFile, data[len(data)-int(tail):]...)
		}
		if !bytes.Equal(file, wantFile) {
			t.Fatalf("log file = %q, want %q", file, wantFile)
		}
	})
}
