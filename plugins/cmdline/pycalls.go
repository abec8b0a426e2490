package cmdline

import "strings"

// PyValue is a call argument's value as a Python source writes it.
type PyValue struct {
	// Text is a literal's value as PythonGlobals gives it ("4", "auto",
	// "True", "None"), a list or tuple of literals as "[0, 1]"; else the
	// expression's source, with line breaks folded.
	Text string
	// Literal says Text is a literal's (or a list of literals').
	Literal bool
	// Dict holds the entries of a dict: a {"key": value} literal with
	// string keys, or dict(key=value); nil for anything else.
	Dict map[string]PyValue
	// Unpacked says the dict (or call) also takes entries it unpacks
	// (**other, *args) or keys that are not string literals: entries that
	// cannot be read.
	Unpacked bool
}

// PyCall is one call in a Python source.
type PyCall struct {
	// Callee is the called name as written, dotted parts and all
	// ("pl.Trainer", "Trainer.from_argparse_args").
	Callee string
	Line   int // 1-based line of the callee's name
	// Keywords are its name=value arguments.
	Keywords map[string]PyValue
	// Unpacked says it also passes *args or **kwargs, whose names cannot
	// be read.
	Unpacked bool
}

// PythonCalls reads the calls of name in a Python source statically:
// name(...) and x.name(...), in source order; name "" takes every call.
// A `def name(` or `class name(` is not a call. A keyword whose value is a
// bare name gets the value of the last `name = ...` assignment before the
// call, at any indentation (`defaults = {"devices": 2}` and then
// `LightningCLI(trainer_defaults=defaults)`). It never fails; text that is
// not Python gives few or no calls.
func PythonCalls(src []byte, name string) []PyCall {
	toks := tokenize(src)
	r := valueReader{src: src, assigned: assignments(toks)}
	var calls []PyCall
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.kind != tkName || (name != "" && t.text != name) || pythonKeywords[t.text] || !isOp(toks[i+1], "(") {
			continue
		}
		if i > 0 && toks[i-1].kind == tkName && (toks[i-1].text == "def" || toks[i-1].text == "class") {
			continue
		}
		args, _ := callArgs(toks, i+2)
		call := PyCall{Callee: calleeName(toks, i), Line: t.line, Keywords: map[string]PyValue{}}
		call.Unpacked = r.keywords(args, call.Keywords, t.line, 0)
		calls = append(calls, call)
	}
	return calls
}

// calleeName is the dotted name that ends at toks[i] (a.b.name).
func calleeName(toks []pyToken, i int) string {
	begin := i
	for begin >= 2 && isOp(toks[begin-1], ".") && toks[begin-2].kind == tkName {
		begin -= 2
	}
	var b strings.Builder
	for _, t := range toks[begin : i+1] {
		b.WriteString(t.text)
	}
	return b.String()
}

// assignment is one `name = expr` statement.
type assignment struct {
	line int
	expr []pyToken
}

// assignments are a source's `name = expr` statements by name, in order.
func assignments(toks []pyToken) map[string][]assignment {
	out := map[string][]assignment{}
	for _, st := range statements(toks) {
		s := st.toks
		if len(s) >= 3 && s[0].kind == tkName && !pythonKeywords[s[0].text] && isOp(s[1], "=") {
			out[s[0].text] = append(out[s[0].text], assignment{line: s[0].line, expr: s[2:]})
		}
	}
	return out
}

// valueReader reads argument values, names resolved through assignments.
type valueReader struct {
	src      []byte
	assigned map[string][]assignment
}

// keywords adds a call's name=value arguments to into and says whether it
// also unpacks some (* or **).
func (r valueReader) keywords(args [][]pyToken, into map[string]PyValue, line, depth int) bool {
	unpacked := false
	for _, a := range args {
		switch {
		case isOp(a[0], "*") || isOp(a[0], "**"):
			unpacked = true
		case len(a) >= 3 && a[0].kind == tkName && isOp(a[1], "="):
			into[a[0].text] = r.value(a[2:], line, depth)
		}
	}
	return unpacked
}

// value reads one expression; line is where it is used (a name resolves
// to an assignment before it), depth how many names were followed to get
// here.
func (r valueReader) value(expr []pyToken, line, depth int) PyValue {
	if v, ok := literalValue(expr); ok {
		return PyValue{Text: v, Literal: true}
	}
	text, _ := exprText(r.src, expr)
	v := PyValue{Text: text}
	last := len(expr) - 1
	switch {
	case len(expr) == 1 && expr[0].kind == tkName && depth < 4:
		var found []pyToken
		for _, as := range r.assigned[expr[0].text] {
			if as.line < line {
				found = as.expr
			}
		}
		if found != nil {
			return r.value(found, line, depth+1)
		}
	case last > 0 && (isOp(expr[0], "[") && isOp(expr[last], "]") || isOp(expr[0], "(") && isOp(expr[last], ")")):
		if items, end := callArgs(expr, 1); end == len(expr) {
			return listValue(items, v)
		}
	case last > 0 && isOp(expr[0], "{") && isOp(expr[last], "}"):
		if items, end := callArgs(expr, 1); end == len(expr) {
			v.Dict = map[string]PyValue{}
			v.Unpacked = r.dictItems(items, v.Dict, line, depth)
		}
	case last > 1 && expr[0].kind == tkName && expr[0].text == "dict" && isOp(expr[1], "(") && isOp(expr[last], ")"):
		if args, end := callArgs(expr, 2); end == len(expr) {
			v.Dict = map[string]PyValue{}
			v.Unpacked = r.keywords(args, v.Dict, line, depth)
			for _, a := range args {
				if !(len(a) >= 3 && a[0].kind == tkName && isOp(a[1], "=")) {
					v.Unpacked = true // dict(other, ...)
				}
			}
		}
	}
	return v
}

// listValue is a list or tuple whose items are all literals, as "[a, b]";
// else v as it is.
func listValue(items [][]pyToken, v PyValue) PyValue {
	texts := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := literalValue(it)
		if !ok {
			return v
		}
		texts = append(texts, s)
	}
	return PyValue{Text: "[" + strings.Join(texts, ", ") + "]", Literal: true}
}

// dictItems adds a dict literal's "key": value entries to into and says
// whether some entries cannot be read (**other, a key that is not a
// string literal).
func (r valueReader) dictItems(items [][]pyToken, into map[string]PyValue, line, depth int) bool {
	unreadable := false
	for _, it := range items {
		colon := -1
		level := 0
		for j, t := range it {
			if t.kind != tkOp {
				continue
			}
			switch {
			case strings.Contains("([{", t.text):
				level++
			case strings.Contains(")]}", t.text):
				level--
			case t.text == ":" && level == 0 && colon < 0:
				colon = j
			}
		}
		key, ok := "", false
		if colon > 0 {
			key, ok = stringLiteral(it[:colon])
		}
		if !ok || colon+1 >= len(it) {
			unreadable = true
			continue
		}
		into[key] = r.value(it[colon+1:], line, depth)
	}
	return unreadable
}
