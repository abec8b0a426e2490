package cmdline

import (
	"regexp"
	"strings"
	"sync"
)

// FlagForm is how a flag and its value were typed.
type FlagForm int

const (
	// Space is `--f N`: the value is the next token.
	Space FlagForm = iota + 1
	// Equals is `--f=N`.
	Equals
	// Bare is `--flag` with no value (a boolean switch).
	Bare
	// ShortAttached is `-b32`: a single-letter flag with its value.
	ShortAttached
)

func (f FlagForm) String() string {
	switch f {
	case Space:
		return "space"
	case Equals:
		return "equals"
	case Bare:
		return "bare"
	case ShortAttached:
		return "short-attached"
	}
	return "unknown"
}

// Style is the form SetFlag writes a flag in when it has to add it: Space
// or Equals (ShortAttached for a single-letter name; Bare adds the name
// alone when the value is empty).
type Style = FlagForm

// Flag is one occurrence of a flag in a script's arguments.
type Flag struct {
	// Name is the name as typed ("-b", "--batch-size").
	Name string
	// Value is the flag's value when HasValue.
	Value    string
	HasValue bool
	// Index is the index in args of the flag's token.
	Index int
	Form  FlagForm
}

// FindFlag finds the last occurrence of any of names in args (argparse
// keeps the last), reading no further than a bare "--". Names are matched
// exactly as given: pass every spelling the script accepts (HFNames gives
// a Hugging Face field's two). Without the script's parser at hand, a flag
// has a value when the next token is not itself a flag; a token that
// looks like a negative number is a value.
func FindFlag(args []string, names ...string) (Flag, bool) {
	var found Flag
	ok := false
	end := optionsEnd(args)
	for i := 0; i < end; i++ {
		f, matched := matchFlag(args, end, i, names)
		if !matched {
			continue
		}
		found, ok = f, true
		if f.Form == Space {
			i++
		}
	}
	return found, ok
}

// optionsEnd is the index of the first bare "--" in args, or len(args).
func optionsEnd(args []string) int {
	for i, a := range args {
		if a == "--" {
			return i
		}
	}
	return len(args)
}

// negativeNumber matches a token such as -1, -.5 or -1e-5: a value, not a
// flag.
var negativeNumber = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-(\d+|\d*\.\d+)([eE][-+]?\d+)?$`) })

// isValue says whether tok can be a flag's value: anything but another
// flag or "--"; negative numbers and a lone "-" are values.
func isValue(tok string) bool {
	return tok != "--" && (!strings.HasPrefix(tok, "-") || tok == "-" || negativeNumber().MatchString(tok))
}

// isShortName says whether name is a single-letter flag such as -b.
func isShortName(name string) bool {
	return len(name) == 2 && name[0] == '-' && name[1] != '-'
}

// matchFlag reads args[i] as one of names.
func matchFlag(args []string, end, i int, names []string) (Flag, bool) {
	tok := args[i]
	if !strings.HasPrefix(tok, "-") {
		return Flag{}, false
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		switch {
		case tok == name:
			if i+1 < end && isValue(args[i+1]) {
				return Flag{Name: name, Value: args[i+1], HasValue: true, Index: i, Form: Space}, true
			}
			return Flag{Name: name, Index: i, Form: Bare}, true
		case strings.HasPrefix(tok, name+"="):
			return Flag{Name: name, Value: tok[len(name)+1:], HasValue: true, Index: i, Form: Equals}, true
		case isShortName(name) && len(tok) > 2 && strings.HasPrefix(tok, name):
			return Flag{Name: name, Value: tok[2:], HasValue: true, Index: i, Form: ShortAttached}, true
		}
	}
	return Flag{}, false
}

// SetFlag returns args with the flag set to value. The last occurrence of
// any of names keeps its spelling and form and gets the new value (a bare
// occurrence gets the value after it, or `=value` in Equals style); when
// none is there, names[0] is added at the end (before a bare "--") in
// style. Every other token is kept byte for byte.
func SetFlag(args []string, names []string, value string, style Style) []string {
	out := append([]string{}, args...)
	if len(names) == 0 {
		return out
	}
	if f, ok := FindFlag(args, names...); ok {
		switch f.Form {
		case Space:
			out[f.Index+1] = value
		case Equals:
			out[f.Index] = f.Name + "=" + value
		case ShortAttached:
			out[f.Index] = f.Name + value
		default:
			if style == Equals {
				out[f.Index] = f.Name + "=" + value
				return out
			}
			return insertAt(out, f.Index+1, value)
		}
		return out
	}
	return insertAt(out, optionsEnd(out), flagTokens(names[0], value, style)...)
}

// AddSwitch returns args with a value-less flag turned on: unchanged when
// any of names is there already, else names[0] added at the end (before a
// bare "--", after which tokens are not the script's options).
func AddSwitch(args []string, names ...string) []string {
	out := append([]string{}, args...)
	if len(names) == 0 {
		return out
	}
	if _, ok := FindFlag(args, names...); ok {
		return out
	}
	return insertAt(out, optionsEnd(out), names[0])
}

// flagTokens spells a new flag in style.
func flagTokens(name, value string, style Style) []string {
	switch {
	case style == Equals:
		return []string{name + "=" + value}
	case style == ShortAttached && isShortName(name):
		return []string{name + value}
	case style == Bare && value == "":
		return []string{name}
	}
	return []string{name, value}
}

// insertAt returns s with vals inserted before index i.
func insertAt(s []string, i int, vals ...string) []string {
	out := make([]string, 0, len(s)+len(vals))
	out = append(out, s[:i]...)
	out = append(out, vals...)
	return append(out, s[i:]...)
}

// RemoveFlag returns args without any occurrence of names (before a bare
// "--"), each with its value.
func RemoveFlag(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	end := optionsEnd(args)
	for i := 0; i < len(args); i++ {
		if i < end {
			if f, ok := matchFlag(args, end, i, names); ok {
				if f.Form == Space {
					i++
				}
				continue
			}
		}
		out = append(out, args[i])
	}
	return out
}
