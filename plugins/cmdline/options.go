package cmdline

import (
	"fmt"
	"strings"
)

// arity says whether a program's own option takes a value.
type arity uint8

const (
	noValue       arity = iota // --standalone
	needsValue                 // --nproc-per-node 8, --nproc-per-node=8, -n8
	optionalValue              // getopt's optional_argument: only attached (--exclusive=user, -I5)
)

// optionTable describes the options of one program that runs another
// (torchrun, srun, env, ...): which take a value, and how the program's
// option parser reads them. Tables are built once at package level and
// never modified.
type optionTable struct {
	program string
	// long holds the long names, without "--", spelled canonically (see fold).
	long map[string]arity
	// short holds single-letter options.
	short map[byte]arity
	// alias maps a short option ("-n") to the long name it stands for
	// ("--ntasks"), so that a lookup by either finds both.
	alias map[string]string
	// fold: '_' and '-' are the same in long names (torchrun has both
	// spellings of every option, accelerate adds the dashed ones).
	fold bool
	// abbrev: a unique prefix of a long name is that option (getopt_long,
	// argparse's allow_abbrev).
	abbrev bool
	// unknownLong and unknownShort are what an option missing from the
	// table takes.
	unknownLong, unknownShort arity
}

// scannedOption is one option a program's own parser would read.
type scannedOption struct {
	key      string   // canonical name: "--nproc-per-node", "--ntasks" for -n, "-x" when no alias
	typed    string   // the name as typed, "--nproc_per_node", or "-n" inside a cluster
	tok      int      // index of the option's token
	valueTok int      // index of the value's token; -1 when there is none
	valueOff int      // where the value starts in argv[valueTok] when attached (-n8, --x=8)
	value    string   // the value, when hasValue
	hasValue bool     //
	form     FlagForm // how it was typed
}

// scanResult is what scanning a program's options found.
type scanResult struct {
	opts []scannedOption
	// next is the index of the first token after the options: the program
	// or script they apply to.
	next int
	// dashdash is the index of a "--" that ended the options, or -1.
	dashdash int
}

// scan reads the options of t's program starting at argv[i] and stops at
// the first token that is not one of them. It fails only when an option
// that needs a value is the last token.
func (t *optionTable) scan(argv []string, i int) (scanResult, error) {
	res := scanResult{dashdash: -1}
	for i < len(argv) {
		tok := argv[i]
		if tok == "--" {
			res.dashdash = i
			i++
			break
		}
		if tok == "-" || !strings.HasPrefix(tok, "-") {
			break
		}
		var err error
		if strings.HasPrefix(tok, "--") {
			i, err = t.scanLong(argv, i, &res)
		} else {
			i, err = t.scanShort(argv, i, &res)
		}
		if err != nil {
			return res, err
		}
	}
	res.next = i
	return res, nil
}

func (t *optionTable) scanLong(argv []string, i int, res *scanResult) (int, error) {
	tok := argv[i]
	name, value, hasEq := strings.Cut(tok[2:], "=")
	key, ar := t.lookupLong(name)
	opt := scannedOption{key: key, typed: "--" + name, tok: i, valueTok: -1, form: Bare}
	switch {
	case hasEq:
		opt.valueTok, opt.valueOff, opt.value, opt.hasValue, opt.form = i, len(name)+3, value, true, Equals
	case ar == needsValue:
		if i+1 >= len(argv) {
			return i, fmt.Errorf("%s: option %s needs a value", t.program, tok)
		}
		opt.valueTok, opt.value, opt.hasValue, opt.form = i+1, argv[i+1], true, Space
		i++
	}
	res.opts = append(res.opts, opt)
	return i + 1, nil
}

// scanShort reads a token of single-letter options, possibly combined
// (-lN2 is -l and -N 2): a letter that takes a value ends the cluster.
func (t *optionTable) scanShort(argv []string, i int, res *scanResult) (int, error) {
	tok := argv[i]
	for j := 1; j < len(tok); j++ {
		c := tok[j]
		ar, ok := t.short[c]
		if !ok {
			ar = t.unknownShort
		}
		typed := "-" + string(c)
		opt := scannedOption{key: t.shortKey(typed), typed: typed, tok: i, valueTok: -1, form: Bare}
		rest := tok[j+1:]
		switch {
		case ar == noValue:
			res.opts = append(res.opts, opt)
			continue
		case strings.HasPrefix(rest, "="):
			opt.valueTok, opt.valueOff, opt.value, opt.hasValue, opt.form = i, j+2, rest[1:], true, Equals
		case rest != "":
			opt.valueTok, opt.valueOff, opt.value, opt.hasValue, opt.form = i, j+1, rest, true, ShortAttached
		case ar == needsValue:
			if i+1 >= len(argv) {
				return i, fmt.Errorf("%s: option %s needs a value", t.program, typed)
			}
			opt.valueTok, opt.value, opt.hasValue, opt.form = i+1, argv[i+1], true, Space
			i++
		}
		res.opts = append(res.opts, opt)
		break
	}
	return i + 1, nil
}

// canonical spells a long name the way the table's keys are spelled.
func (t *optionTable) canonical(name string) string {
	if t.fold {
		return strings.ReplaceAll(name, "_", "-")
	}
	return name
}

// lookupLong finds a long option by name (without "--"), by exact name
// first and then, where the program allows it, by unique prefix. It
// returns the option's key and arity; an unknown option gets the table's
// default arity.
func (t *optionTable) lookupLong(name string) (string, arity) {
	c := t.canonical(name)
	if ar, ok := t.long[c]; ok {
		return "--" + c, ar
	}
	if t.abbrev && c != "" {
		var match string
		var arities [3]bool
		n := 0
		for k, ar := range t.long {
			if strings.HasPrefix(k, c) {
				match = k
				arities[ar] = true
				n++
			}
		}
		switch {
		case n == 1:
			return "--" + match, t.long[match]
		case n > 1 && count(arities) == 1:
			// Ambiguous: the program itself refuses it, but every
			// candidate takes the same number of tokens, so the scan
			// can go on.
			for ar, seen := range arities {
				if seen {
					return "--" + c, arity(ar)
				}
			}
		}
	}
	return "--" + c, t.unknownLong
}

func count(bs [3]bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// shortKey is the key of a single-letter option: its long alias when it
// has one.
func (t *optionTable) shortKey(typed string) string {
	if long, ok := t.alias[typed]; ok {
		return long
	}
	return typed
}

// key is the canonical key for an option name as a caller spells it:
// "--mixed-precision" and "--mixed_precision" are one key for accelerate.
func (t *optionTable) key(name string) string {
	switch {
	case strings.HasPrefix(name, "--"):
		return "--" + t.canonical(name[2:])
	case len(name) == 2 && name[0] == '-':
		return t.shortKey(name)
	}
	return name
}

// arityOf says what the option with the given key takes.
func (t *optionTable) arityOf(key string) arity {
	if strings.HasPrefix(key, "--") {
		if ar, ok := t.long[key[2:]]; ok {
			return ar
		}
		return t.unknownLong
	}
	if len(key) == 2 {
		if ar, ok := t.short[key[1]]; ok {
			return ar
		}
	}
	return t.unknownShort
}

// last returns the last scanned option with the given key (the one the
// program's parser keeps).
func last(opts []scannedOption, key string) (scannedOption, bool) {
	for i := len(opts) - 1; i >= 0; i-- {
		if opts[i].key == key {
			return opts[i], true
		}
	}
	return scannedOption{}, false
}
