package cmdline

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A small Python tokenizer: enough to find calls, assignments and imports
// in a script without running Python. It never fails: bad input gives
// odd tokens, never a panic.

type tokKind uint8

const (
	tkName tokKind = iota
	tkNumber
	tkString
	tkOp
	tkNewline // end of a logical line
)

type pyToken struct {
	kind       tokKind
	text       string // source text
	start, end int    // byte offsets in the source
	line       int    // 1-based line of the first byte
	col        int    // byte column of the first byte
	first      bool   // first token of its logical line
	str        string // decoded value of a string literal
	formatted  bool   // an f-string (or t-string): str is its raw text
}

// threeCharOps and twoCharOps are Python's multi-character operators.
var threeCharOps = []string{"**=", "//=", ">>=", "<<=", "..."}
var twoCharOps = []string{"==", "!=", "<=", ">=", "**", "//", "->", ":=", "+=", "-=", "*=", "/=",
	"%=", "&=", "|=", "^=", "@=", "<<", ">>"}

type tokenizer struct {
	src       []byte
	pos       int
	line      int
	lineStart int
	depth     int
	atStart   bool
	toks      []pyToken
}

func tokenize(src []byte) []pyToken {
	t := &tokenizer{src: src, line: 1, atStart: true}
	for t.pos < len(src) {
		t.step()
	}
	if !t.atStart {
		t.emit(tkNewline, t.pos, t.pos, t.line, t.col(t.pos))
	}
	return t.toks
}

func (t *tokenizer) col(pos int) int { return pos - t.lineStart }

func (t *tokenizer) emit(kind tokKind, start, end, line, col int) *pyToken {
	tok := pyToken{kind: kind, text: string(t.src[start:end]), start: start, end: end, line: line, col: col}
	if kind != tkNewline {
		tok.first = t.atStart
		t.atStart = false
	} else {
		t.atStart = true
	}
	t.toks = append(t.toks, tok)
	return &t.toks[len(t.toks)-1]
}

func (t *tokenizer) newline() {
	t.line++
	t.lineStart = t.pos
}

func (t *tokenizer) step() {
	src, c := t.src, t.src[t.pos]
	switch {
	case c == '\n':
		if t.depth == 0 && !t.atStart {
			t.emit(tkNewline, t.pos, t.pos+1, t.line, t.col(t.pos))
		}
		t.pos++
		t.newline()
	case c == ' ' || c == '\t' || c == '\f' || c == '\r':
		t.pos++
	case c == '#':
		for t.pos < len(src) && src[t.pos] != '\n' {
			t.pos++
		}
	case c == '\\':
		t.pos++
		if t.pos < len(src) && src[t.pos] == '\r' {
			t.pos++
		}
		if t.pos < len(src) && src[t.pos] == '\n' {
			t.pos++
			t.newline()
		}
	case c == '"' || c == '\'':
		t.str(t.pos, t.pos, "")
	case c >= '0' && c <= '9' || c == '.' && t.pos+1 < len(src) && src[t.pos+1] >= '0' && src[t.pos+1] <= '9':
		t.number()
	case c == '_' || c >= 0x80 || unicode.IsLetter(rune(c)):
		t.name()
	default:
		t.op()
	}
}

func (t *tokenizer) name() {
	start := t.pos
	for t.pos < len(t.src) {
		r, size := utf8.DecodeRune(t.src[t.pos:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		t.pos += size
	}
	if t.pos == start { // a byte that starts nothing: skip it
		t.pos++
		return
	}
	// A string prefix (r, b, f, rb, ...) directly before a quote.
	if t.pos < len(t.src) && (t.src[t.pos] == '"' || t.src[t.pos] == '\'') && t.pos-start <= 2 &&
		strings.Trim(strings.ToLower(string(t.src[start:t.pos])), "rbuft") == "" {
		t.str(start, t.pos, strings.ToLower(string(t.src[start:t.pos])))
		return
	}
	t.emit(tkName, start, t.pos, t.line, t.col(start))
}

func (t *tokenizer) number() {
	start := t.pos
	hex := false
	for t.pos < len(t.src) {
		c := t.src[t.pos]
		switch {
		case c >= '0' && c <= '9' || c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if t.pos == start+1 && (c == 'x' || c == 'X') {
				hex = true
			}
			t.pos++
			continue
		case (c == '+' || c == '-') && !hex && (t.src[t.pos-1] == 'e' || t.src[t.pos-1] == 'E'):
			t.pos++
			continue
		}
		break
	}
	t.emit(tkNumber, start, t.pos, t.line, t.col(start))
}

func (t *tokenizer) op() {
	start := t.pos
	rest := t.src[t.pos:]
	size := 1
	for _, group := range [][]string{threeCharOps, twoCharOps} {
		for _, op := range group {
			if len(rest) >= len(op) && string(rest[:len(op)]) == op && size == 1 {
				size = len(op)
			}
		}
	}
	t.pos += size
	switch t.src[start] {
	case '(', '[', '{':
		t.depth++
	case ')', ']', '}':
		if t.depth > 0 {
			t.depth--
		}
	}
	t.emit(tkOp, start, t.pos, t.line, t.col(start))
}

// str reads a string literal whose prefix starts at start and whose quote
// is at t.pos. An unterminated one ends at the end of its line (or of the
// source, when triple-quoted).
func (t *tokenizer) str(start, quoteAt int, prefix string) {
	line, col := t.line, t.col(start)
	q := t.src[quoteAt]
	triple := quoteAt+2 < len(t.src) && t.src[quoteAt+1] == q && t.src[quoteAt+2] == q
	open := 1
	if triple {
		open = 3
	}
	t.pos = quoteAt + open
	bodyStart, bodyEnd := t.pos, -1
	for t.pos < len(t.src) {
		c := t.src[t.pos]
		if c == '\\' {
			t.pos++
			if t.pos < len(t.src) {
				if t.src[t.pos] == '\n' {
					t.pos++
					t.newline()
				} else {
					t.pos++
				}
			}
			continue
		}
		if c == '\n' {
			if !triple {
				break
			}
			t.pos++
			t.newline()
			continue
		}
		if c == q && (!triple || t.pos+2 < len(t.src) && t.src[t.pos+1] == q && t.src[t.pos+2] == q) {
			bodyEnd = t.pos
			t.pos += open
			break
		}
		t.pos++
	}
	if bodyEnd < 0 {
		bodyEnd = t.pos
	}
	tok := t.emit(tkString, start, t.pos, line, col)
	body := string(t.src[bodyStart:bodyEnd])
	switch {
	case strings.ContainsAny(prefix, "ft"):
		tok.str, tok.formatted = body, true
	case strings.Contains(prefix, "r"):
		tok.str = body
	default:
		tok.str = unescape(body)
	}
}

// unescape decodes the backslash escapes of a non-raw Python string.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case '\n':
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"':
			b.WriteByte(c)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if r, err := strconv.ParseUint(s[i+1:min(i+1+n, len(s))], 16, 32); err == nil && i+n < len(s) && utf8.ValidRune(rune(r)) {
				b.WriteRune(rune(r))
				i += n
			} else {
				b.WriteByte('\\')
				b.WriteByte(c)
			}
		default:
			if c >= '0' && c <= '7' {
				j := i
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					j++
				}
				r, _ := strconv.ParseUint(s[i:j], 8, 32)
				b.WriteRune(rune(r))
				i = j - 1
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
