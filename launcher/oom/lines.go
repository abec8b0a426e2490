package oom

import "bytes"

// MaxLine is the most bytes of one output line that the Scanner and Diagnose
// keep. The rest of a longer line is discarded up to the next line break, so
// memory stays bounded whatever the job prints.
const MaxLine = 64 << 10

// lineSplitter cuts a byte stream into lines at "\n", "\r" and "\r\n". A
// lone "\r" ends a line because progress bars redraw with it; "\r\n" is one
// break because a pseudo-terminal turns every "\n" into it.
type lineSplitter struct {
	line []byte
	// cut is set when the current line outgrew MaxLine.
	cut bool
	// afterCR is set when the last byte seen was "\r", so that a "\n"
	// arriving in the next write ends nothing.
	afterCR bool
	// emit gets each line; the slice is only valid during the call.
	emit func(line []byte)
}

func (s *lineSplitter) write(p []byte) {
	for len(p) > 0 {
		if s.afterCR {
			s.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		end := bytes.IndexByte(p, '\n')
		seg := p
		if end >= 0 {
			seg = p[:end]
		}
		if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
			end = cr
		}
		if end < 0 {
			s.keep(p)
			return
		}
		s.keep(p[:end])
		s.afterCR = p[end] == '\r'
		s.emitLine()
		p = p[end+1:]
	}
}

// flush emits a final line that has no line break.
func (s *lineSplitter) flush() {
	if len(s.line) > 0 || s.cut {
		s.emitLine()
	}
	s.afterCR = false
}

func (s *lineSplitter) emitLine() {
	s.emit(s.line)
	s.line = s.line[:0]
	s.cut = false
}

// keep appends b to the current line, up to MaxLine bytes; the buffer grows
// by doubling but never past MaxLine.
func (s *lineSplitter) keep(b []byte) {
	room := MaxLine - len(s.line)
	if len(b) > room {
		b = b[:room]
		s.cut = true
	}
	if len(b) == 0 {
		return
	}
	if need := len(s.line) + len(b); need > cap(s.line) {
		grown := make([]byte, len(s.line), min(max(need, 2*cap(s.line), 256), MaxLine))
		copy(grown, s.line)
		s.line = grown
	}
	s.line = append(s.line, b...)
}
