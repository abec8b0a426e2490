package cmdline

import (
	"math/big"
	"strings"
)

// pythonKeywords are names that cannot be assigned to.
var pythonKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
	"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// PythonGlobals returns the module-level `name = literal` assignments of a
// Python source, as nanoGPT's train.py and config files write them: ints,
// floats, strings, True/False/None, and constant integer arithmetic
// (`gradient_accumulation_steps = 5 * 8` gives "40"). A string's value is
// its text; a lone number is kept as written ("6e-4"); a later assignment
// wins, and a later one that is not a literal removes the name.
func PythonGlobals(src []byte) map[string]string {
	out := map[string]string{}
	for _, st := range statements(tokenize(src)) {
		stmt := st.toks
		if len(stmt) < 3 || st.indent != 0 || stmt[0].kind != tkName || pythonKeywords[stmt[0].text] {
			continue
		}
		name := stmt[0].text
		var expr []pyToken
		switch {
		case isOp(stmt[1], "="):
			expr = stmt[2:]
		case isOp(stmt[1], ":"): // name: annotation = value
			for k := 2; k < len(stmt); k++ {
				if isOp(stmt[k], "=") {
					expr = stmt[k+1:]
					break
				}
			}
			if expr == nil {
				continue
			}
		case stmt[1].kind == tkOp && strings.HasSuffix(stmt[1].text, "=") && len(stmt[1].text) > 1 &&
			stmt[1].text != "==" && stmt[1].text != "!=" && stmt[1].text != "<=" && stmt[1].text != ">=":
			delete(out, name) // x += 1: no longer a literal
			continue
		default:
			continue
		}
		if v, ok := literalValue(expr); ok {
			out[name] = v
		} else {
			delete(out, name)
		}
	}
	return out
}

// statement is one simple statement with the indentation of the logical
// line it is on.
type statement struct {
	toks   []pyToken
	indent int
}

// statements splits tokens into simple statements: logical lines, split
// again at top-level semicolons.
func statements(toks []pyToken) []statement {
	var out []statement
	begin, depth, indent := 0, 0, 0
	for i, t := range toks {
		if t.first {
			indent = t.col
		}
		switch {
		case t.kind == tkNewline, t.kind == tkOp && t.text == ";" && depth == 0:
			if i > begin {
				out = append(out, statement{toks: toks[begin:i], indent: indent})
			}
			begin = i + 1
			if t.kind == tkNewline {
				depth = 0
			}
		case t.kind == tkOp && strings.Contains("([{", t.text):
			depth++
		case t.kind == tkOp && strings.Contains(")]}", t.text) && depth > 0:
			depth--
		}
	}
	return out
}

// literalValue evaluates a constant expression: see PythonGlobals.
func literalValue(expr []pyToken) (string, bool) {
	if len(expr) == 1 && expr[0].kind == tkNumber {
		return expr[0].text, validNumber(expr[0].text)
	}
	if len(expr) == 2 && expr[0].kind == tkOp && (expr[0].text == "-" || expr[0].text == "+") && expr[1].kind == tkNumber {
		sign := expr[0].text
		if sign == "+" {
			sign = ""
		}
		return sign + expr[1].text, validNumber(expr[1].text)
	}
	if len(expr) == 1 && expr[0].kind == tkName && (expr[0].text == "True" || expr[0].text == "False" || expr[0].text == "None") {
		return expr[0].text, true
	}
	if s, ok := stringLiteral(expr); ok {
		return s, true
	}
	e := &evaluator{toks: expr}
	v, ok := e.sum()
	if !ok || e.pos != len(expr) {
		return "", false
	}
	return v.String(), true
}

// validNumber says whether a number token is a Python number literal.
func validNumber(s string) bool {
	_, ok := parseInt(s)
	if ok {
		return true
	}
	s = strings.ReplaceAll(s, "_", "")
	s = strings.TrimSuffix(strings.TrimSuffix(s, "j"), "J")
	_, _, err := big.ParseFloat(s, 10, 64, big.ToNearestEven)
	return err == nil
}

// parseInt reads a Python integer literal (0x.., 0o.., 0b.., 1_000).
func parseInt(s string) (*big.Int, bool) {
	s = strings.ReplaceAll(strings.ToLower(s), "_", "")
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"):
		base, s = 16, s[2:]
	case strings.HasPrefix(s, "0o"):
		base, s = 8, s[2:]
	case strings.HasPrefix(s, "0b"):
		base, s = 2, s[2:]
	case len(s) > 1 && s[0] == '0' && strings.Trim(s, "0") != "":
		return nil, false // 012 is not Python 3
	}
	if s == "" || strings.ContainsAny(s, "+-") {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, base)
	return n, ok
}

// evaluator folds constant integer arithmetic: + - * // % ** and
// parentheses, with Python's floor division and modulo.
type evaluator struct {
	toks []pyToken
	pos  int
}

// maxBits bounds intermediate results, so that 10**10**10 stays cheap.
const maxBits = 4096

func (e *evaluator) peekOp(ops ...string) (string, bool) {
	if e.pos >= len(e.toks) || e.toks[e.pos].kind != tkOp {
		return "", false
	}
	for _, op := range ops {
		if e.toks[e.pos].text == op {
			return op, true
		}
	}
	return "", false
}

func (e *evaluator) sum() (*big.Int, bool) {
	v, ok := e.product()
	for ok {
		op, more := e.peekOp("+", "-")
		if !more {
			break
		}
		e.pos++
		var w *big.Int
		if w, ok = e.product(); ok {
			if op == "+" {
				v = new(big.Int).Add(v, w)
			} else {
				v = new(big.Int).Sub(v, w)
			}
			ok = v.BitLen() <= maxBits
		}
	}
	return v, ok
}

func (e *evaluator) product() (*big.Int, bool) {
	v, ok := e.unary()
	for ok {
		op, more := e.peekOp("*", "//", "%")
		if !more {
			break
		}
		e.pos++
		var w *big.Int
		if w, ok = e.unary(); !ok {
			break
		}
		switch op {
		case "*":
			v = new(big.Int).Mul(v, w)
		default:
			if w.Sign() == 0 {
				return nil, false
			}
			q, m := new(big.Int).DivMod(v, w, new(big.Int)) // Euclidean
			if m.Sign() != 0 && w.Sign() < 0 {
				// Python floors toward negative infinity: the remainder
				// takes the divisor's sign.
				q.Sub(q, big.NewInt(1))
				m.Add(m, w)
			}
			if op == "//" {
				v = q
			} else {
				v = m
			}
		}
		ok = v.BitLen() <= maxBits
	}
	return v, ok
}

func (e *evaluator) unary() (*big.Int, bool) {
	if op, ok := e.peekOp("-", "+"); ok {
		e.pos++
		v, ok := e.unary()
		if !ok {
			return nil, false
		}
		if op == "-" {
			return new(big.Int).Neg(v), true
		}
		return v, true
	}
	return e.power()
}

func (e *evaluator) power() (*big.Int, bool) {
	base, ok := e.atom()
	if !ok {
		return nil, false
	}
	if _, more := e.peekOp("**"); !more {
		return base, true
	}
	e.pos++
	exp, ok := e.unary() // ** binds right, and takes a signed exponent
	if !ok || exp.Sign() < 0 || exp.Cmp(big.NewInt(maxBits)) > 0 || exp.Int64()*int64(max(base.BitLen(), 1)) > maxBits {
		return nil, false
	}
	return new(big.Int).Exp(base, exp, nil), true
}

func (e *evaluator) atom() (*big.Int, bool) {
	if e.pos >= len(e.toks) {
		return nil, false
	}
	t := e.toks[e.pos]
	switch {
	case t.kind == tkNumber:
		e.pos++
		return parseInt(t.text)
	case isOp(t, "("):
		e.pos++
		v, ok := e.sum()
		if !ok || e.pos >= len(e.toks) || !isOp(e.toks[e.pos], ")") {
			return nil, false
		}
		e.pos++
		return v, true
	}
	return nil, false
}

// Imports returns the top-level package names a Python source imports
// (`import a.b as c` and `from a.b import c` give "a"), in the order first
// seen, each once: at module level, inside try:/if: blocks and inside
// functions alike. Relative imports and __future__ are left out. Comments
// and strings are not read.
func Imports(src []byte) []string {
	toks := tokenize(src)
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		root, _, _ := strings.Cut(name, ".")
		if root != "" && root != "__future__" && !seen[root] {
			seen[root] = true
			out = append(out, root)
		}
	}
	for i, t := range toks {
		if t.kind != tkName || (t.text != "import" && t.text != "from") || !statementStart(toks, i) {
			continue
		}
		if t.text == "from" {
			if i+1 < len(toks) && toks[i+1].kind == tkName {
				if name, end := dottedName(toks, i+1); end < len(toks) && toks[end].kind == tkName && toks[end].text == "import" {
					add(name)
				}
			}
			continue
		}
		// import a.b as c, d
		for j := i + 1; j < len(toks); {
			name, end := dottedName(toks, j)
			if name == "" {
				break
			}
			add(name)
			j = end
			if j+1 < len(toks) && toks[j].kind == tkName && toks[j].text == "as" {
				j += 2
			}
			if j >= len(toks) || !isOp(toks[j], ",") {
				break
			}
			j++
		}
	}
	return out
}

// statementStart says whether toks[i] begins a simple statement: first on
// its logical line, or after ";" or the ":" of a one-line compound
// statement (`try: import apex`).
func statementStart(toks []pyToken, i int) bool {
	if toks[i].first {
		return true
	}
	return i > 0 && (isOp(toks[i-1], ";") || isOp(toks[i-1], ":"))
}

// dottedName reads a.b.c starting at toks[i]; it returns "" when toks[i]
// is not a name, and the index after the name.
func dottedName(toks []pyToken, i int) (string, int) {
	var b strings.Builder
	for i < len(toks) && toks[i].kind == tkName {
		b.WriteString(toks[i].text)
		i++
		if i+1 < len(toks) && isOp(toks[i], ".") && toks[i+1].kind == tkName {
			b.WriteByte('.')
			i++
			continue
		}
		break
	}
	return b.String(), i
}
