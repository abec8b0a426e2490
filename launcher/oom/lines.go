package oom

import "bytes"

// MaxLine is the most bytes of one output line that the Scanner and Diagnose
// hold at a time. A longer line is looked at through windows of MaxLine
// bytes that overlap by lineOverlap (see lineSplitter), so an OOM text is
// found however much the job printed before it on the same line, and memory
// stays bounded whatever the job prints.
const MaxLine = 64 << 10

// lineOverlap is how many bytes consecutive windows of an over-long line
// share: any text up to this long lies whole inside one window.
const lineOverlap = MaxLine / 2

// lineSplitter cuts a byte stream into lines at "\n", "\r" and "\r\n". A
// lone "\r" ends a line because progress bars redraw with it; "\r\n" is one
// break because a pseudo-terminal turns every "\n" into it.
//
// A line of up to MaxLine bytes is emitted once, whole, when it ends. A
// longer one is emitted as windows: its first MaxLine bytes as soon as more
// follow (cont false), then, each time the buffer fills again and when the
// line ends, the bytes since the last lineOverlap of the previous window
// (cont true). The buffer never holds more than MaxLine bytes.
type lineSplitter struct {
	line []byte
	// long is set once the current line outgrew MaxLine: line then holds
	// its latest window.
	long bool
	// afterCR is set when the last byte seen was "\r", so that a "\n"
	// arriving in the next write ends nothing.
	afterCR bool
	// emit gets each line, or window of a long line (cont: not the first
	// one of its line); the slice is only valid during the call.
	emit func(line []byte, cont bool)
	// start is the stream offset of line[0] (during emit: of the line or
	// window emitted); pos counts the bytes written so far.
	start, pos int64
}

func (s *lineSplitter) write(p []byte) {
	// nl and cr are where the next "\n" and "\r" are in p, len(p) when
	// there is none: each is found once for all the lines before it (a
	// progress bar redraws hundreds of times per line, and most logs have
	// no "\r" at all). Taking k bytes off p keeps them right (x-k), and
	// makes one negative once its byte is taken.
	nl, cr := nextByte(p, '\n'), nextByte(p, '\r')
	for len(p) > 0 {
		if s.afterCR {
			s.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				s.pos++
				s.start = s.pos
				nl, cr = nextByte(p, '\n'), cr-1
				continue
			}
		}
		end := min(nl, cr)
		if end == len(p) {
			s.keep(p)
			s.pos += int64(len(p))
			return
		}
		if len(s.line) == 0 && !s.long && end <= MaxLine {
			// A whole line inside p: emitted where it lies, not copied.
			s.emit(p[:end], false)
		} else {
			s.keep(p[:end])
			s.emitLine()
		}
		s.afterCR = p[end] == '\r'
		s.pos += int64(end) + 1
		s.start = s.pos
		p = p[end+1:]
		if nl -= end + 1; nl < 0 {
			nl = nextByte(p, '\n')
		}
		if cr -= end + 1; cr < 0 {
			cr = nextByte(p, '\r')
		}
	}
}

// nextByte is the index of the first b in p, len(p) if none.
func nextByte(p []byte, b byte) int {
	if i := bytes.IndexByte(p, b); i >= 0 {
		return i
	}
	return len(p)
}

// flush emits a final line that has no line break.
func (s *lineSplitter) flush() {
	if len(s.line) > 0 || s.long {
		s.emitLine()
	}
	s.afterCR = false
}

func (s *lineSplitter) emitLine() {
	s.emit(s.line, s.long)
	s.line = s.line[:0]
	s.long = false
}

// keep appends b to the current line. When the buffer is full and more of
// the line comes, the full window is emitted and the buffer slides on,
// keeping its last lineOverlap bytes. The buffer grows by doubling but never
// past MaxLine.
func (s *lineSplitter) keep(b []byte) {
	for len(b) > 0 {
		if len(s.line) == MaxLine {
			s.emit(s.line, s.long)
			s.long = true
			s.line = s.line[:copy(s.line, s.line[MaxLine-lineOverlap:])]
			s.start += MaxLine - lineOverlap
		}
		take := b[:min(len(b), MaxLine-len(s.line))]
		if need := len(s.line) + len(take); need > cap(s.line) {
			grown := make([]byte, len(s.line), min(max(need, 2*cap(s.line), 256), MaxLine))
			copy(grown, s.line)
			s.line = grown
		}
		s.line = append(s.line, take...)
		b = b[len(take):]
	}
}
