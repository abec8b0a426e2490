package runner

import (
	"bytes"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// endMarker tells the reader of a pty master that it has read everything
// the job wrote. Once the job's processes are gone, vramrun writes a random
// marker into the slave it kept open, behind all of the job's output, and
// the output ends where the marker comes out.
//
// Reading until EIO (the slave's last close) instead is what most tools do,
// and it loses output: the hangup can be reported while the tail still sits
// in the kernel's buffers (a CI run lost 4 KiB of 1 MiB this way), and a
// flush worker that stopped for lack of room is only restarted by a reader
// that still has something to read. Writing the marker queues the flush
// again, and with the slave held open EIO never cuts the output short.
type endMarker struct {
	text  []byte
	armed atomic.Bool // set before the marker is written
}

// newEndMarker makes a marker that the slave's output processing leaves
// alone: ESC and printable ASCII only, upper case (OLCUC would change lower
// case), no CR, NL or TAB. It reads as an APC sequence, which terminals
// ignore, should any of it ever be shown.
func newEndMarker() *endMarker {
	return &endMarker{text: []byte("\x1b_VRAMRUN-END-" + strings.ToUpper(randomMarker()) + "\x1b\\")}
}

// write arms the marker and writes it into the slave, giving up at
// deadline (a job can leave its output stopped with ^S).
func (m *endMarker) write(slave *os.File, deadline time.Time) error {
	m.armed.Store(true)
	return writeAll(slave, m.text, -1, deadline)
}

// endScanner finds an armed marker in the chunks a copier reads. Chunks read
// before the marker was armed cannot hold it and pass untouched; after, a
// tail that may be the start of the marker is held back until the next
// chunk says.
type endScanner struct {
	marker *endMarker
	held   []byte
}

// scan returns what of chunk is output and whether the marker was found.
// Output that follows the marker in the same chunk (a process vramrun could
// not find, writing late) is kept.
func (s *endScanner) scan(chunk []byte) (out []byte, found bool) {
	if s.marker == nil || !s.marker.armed.Load() {
		return chunk, false
	}
	data := append(s.held, chunk...)
	s.held = nil
	if i := bytes.Index(data, s.marker.text); i >= 0 {
		return append(data[:i:i], data[i+len(s.marker.text):]...), true
	}
	keep := partialSuffix(data, s.marker.text)
	s.held = append([]byte(nil), data[len(data)-keep:]...)
	return data[:len(data)-keep], false
}

// flush returns what scan held back, when the stream ends without the
// marker.
func (s *endScanner) flush() []byte {
	out := s.held
	s.held = nil
	return out
}

// partialSuffix is the length of the longest proper prefix of marker that
// data ends with.
func partialSuffix(data, marker []byte) int {
	n := min(len(data), len(marker)-1)
	for ; n > 0; n-- {
		if bytes.HasSuffix(data, marker[:n]) {
			return n
		}
	}
	return 0
}
