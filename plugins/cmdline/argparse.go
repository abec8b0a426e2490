package cmdline

import (
	"regexp"
	"strings"
	"sync"
)

// ArgDef is one add_argument call of a script's argparse parser.
type ArgDef struct {
	// Names are the option strings ("-b", "--batch-size"), or the
	// positional argument's name.
	Names []string
	// Dest is the attribute the value lands in: dest= when given, else
	// derived as argparse does (--batch-size -> batch_size).
	Dest string
	// Default is default='s value: a string literal's text, else the
	// expression as written ("32", "None", "1e-3", "os.cpu_count()").
	Default    string
	HasDefault bool
	// Type is type= as written ("int", "float", "str2bool").
	Type string
	// Action is action= ("store_true", "argparse.BooleanOptionalAction").
	Action string
	// Line is the 1-based line of the call.
	Line int
}

// ArgparseDefs reads the add_argument calls of a Python source statically:
// parser.add_argument, group.add_argument,
// parser.add_argument_group(...).add_argument and a bare add_argument(...),
// over several lines, with keywords in any order. Calls whose arguments
// are built at run time (*names, **kwargs) give what can be read. It never
// fails; text that is not Python gives few or no definitions.
func ArgparseDefs(src []byte) []ArgDef {
	toks := tokenize(src)
	var defs []ArgDef
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.kind != tkName || t.text != "add_argument" || !isOp(toks[i+1], "(") {
			continue
		}
		if i > 0 && toks[i-1].kind == tkName && toks[i-1].text == "def" {
			continue
		}
		args, _ := callArgs(toks, i+2)
		if d, ok := argDef(src, args, t.line); ok {
			defs = append(defs, d)
		}
	}
	return defs
}

func isOp(t pyToken, op string) bool { return t.kind == tkOp && t.text == op }

// callArgs splits the arguments of a call whose first argument token is at
// toks[i] into one token slice each, up to the closing parenthesis. It
// returns the index after that parenthesis.
func callArgs(toks []pyToken, i int) ([][]pyToken, int) {
	var args [][]pyToken
	depth, begin := 0, i
	for ; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tkNewline {
			// The tokenizer ends no line inside brackets: the call was
			// never closed.
			break
		}
		if t.kind != tkOp {
			continue
		}
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			if depth == 0 {
				if i > begin {
					args = append(args, toks[begin:i])
				}
				return args, i + 1
			}
			depth--
		case ",":
			if depth == 0 {
				if i > begin {
					args = append(args, toks[begin:i])
				}
				begin = i + 1
			}
		}
	}
	if i > begin {
		args = append(args, toks[begin:i])
	}
	return args, i
}

// argDef builds an ArgDef from one call's arguments.
func argDef(src []byte, args [][]pyToken, line int) (ArgDef, bool) {
	d := ArgDef{Line: line}
	for _, a := range args {
		if len(a) >= 2 && a[0].kind == tkName && isOp(a[1], "=") {
			expr := a[2:]
			if len(expr) == 0 {
				continue
			}
			text, _ := exprText(src, expr)
			switch a[0].text {
			case "dest":
				d.Dest = text
			case "default":
				d.Default, d.HasDefault = text, true
			case "type":
				d.Type = text
			case "action":
				d.Action = text
			}
			continue
		}
		if s, ok := stringLiteral(a); ok {
			d.Names = append(d.Names, s)
		}
	}
	if d.Dest == "" {
		d.Dest = argparseDest(d.Names)
	}
	return d, len(d.Names) > 0 || d.Dest != ""
}

// exprText is an argument's value: the text of a string literal (adjacent
// literals joined), else the expression's source with line breaks folded.
func exprText(src []byte, expr []pyToken) (string, bool) {
	if s, ok := stringLiteral(expr); ok {
		return s, true
	}
	if len(expr) == 0 {
		return "", false
	}
	text := string(src[expr[0].start:expr[len(expr)-1].end])
	return foldLines(text), false
}

var lineBreakRun = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\s*\\?\r?\n\s*`) })

// foldLines joins an expression written over several lines into one.
func foldLines(s string) string {
	return lineBreakRun().ReplaceAllString(s, " ")
}

// stringLiteral reads tokens that are only (non-formatted) string
// literals, concatenated as Python does; parentheses around them are
// allowed.
func stringLiteral(toks []pyToken) (string, bool) {
	for len(toks) >= 2 && isOp(toks[0], "(") && isOp(toks[len(toks)-1], ")") {
		toks = toks[1 : len(toks)-1]
	}
	if len(toks) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, t := range toks {
		if t.kind != tkString || t.formatted {
			return "", false
		}
		b.WriteString(t.str)
	}
	return b.String(), true
}

// argparseDest derives dest as argparse does: a positional's name, else
// the first long option, else the first short one, without its dashes and
// with inner dashes as underscores.
func argparseDest(names []string) string {
	if len(names) == 0 {
		return ""
	}
	if !strings.HasPrefix(names[0], "-") {
		return names[0]
	}
	pick := names[0]
	for _, n := range names {
		if strings.HasPrefix(n, "--") {
			pick = n
			break
		}
	}
	return strings.ReplaceAll(strings.TrimLeft(pick, "-"), "-", "_")
}
