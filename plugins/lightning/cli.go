package lightning

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// LightningCLI reads its arguments in order: `[before] [subcommand]
// [after]`, where a -c/--config file is applied where it stands and a
// later argument (another file, or a --section.key flag) overrides an
// earlier one. A config given before the subcommand holds its settings
// under the subcommand's name (fit: {trainer: ...}).

// isSubcommand says whether word is one of LightningCLI's subcommands
// (tune is Lightning 1.x's).
func isSubcommand(word string) bool {
	switch word {
	case "fit", "validate", "test", "predict", "tune":
		return true
	}
	return false
}

// configNames are the spellings of LightningCLI's config option.
func configNames() []string { return []string{"-c", "--config"} }

// cliCommand is a LightningCLI command line.
type cliCommand struct {
	s    *pyscript.Script
	args []string // the script's arguments before a bare "--"
	// sub is the subcommand ("" when the CLI runs without one), at
	// args[subAt].
	sub     string
	subAt   int
	configs []*configFile
	// defaults are the literal entries of the script's
	// LightningCLI(trainer_defaults=...), the Trainer's defaults below
	// every config file and flag; defaultsUnread says why some of them
	// cannot be read ("" when all can, or there are none).
	defaults       map[string]cmdline.PyValue
	defaultsUnread string
}

// configFile is one -c/--config argument and what could be read of it.
type configFile struct {
	flag cmdline.Flag // the flag's occurrence; Value is the path as typed
	// prefix are the keys the file's settings sit under: the subcommand
	// for a file given before it.
	prefix []string
	doc    *configDoc
	err    error
}

// path is the config's path as the command names it.
func (c *configFile) path() string { return c.flag.Value }

// flagAt reads args[i] as one of names, or reports false.
func flagAt(args []string, i int, names []string) (cmdline.Flag, bool) {
	end := i + 2
	if end > len(args) {
		end = len(args)
	}
	f, ok := cmdline.FindFlag(args[i:end], names...)
	if !ok || f.Index != 0 {
		return cmdline.Flag{}, false
	}
	f.Index = i
	return f, true
}

// optionsEnd is where a bare "--" ends the script's options.
func optionsEnd(args []string) int {
	for i, a := range args {
		if a == "--" {
			return i
		}
	}
	return len(args)
}

// parseCLI finds the subcommand and the config files, and reads them.
func parseCLI(s *pyscript.Script) *cliCommand {
	c := &cliCommand{s: s, args: s.Inv.Args[:optionsEnd(s.Inv.Args)], subAt: -1}
	for i := 0; i < len(c.args); i++ {
		tok := c.args[i]
		if f, ok := flagAt(c.args, i, configNames()); ok {
			if f.HasValue {
				c.configs = append(c.configs, &configFile{flag: f})
			}
			if f.Form == cmdline.Space {
				i++
			}
			continue
		}
		if strings.HasPrefix(tok, "-") {
			// A flag's value, unless it is the subcommand that follows a
			// valueless top-level flag (--print_config fit).
			if !strings.Contains(tok, "=") && i+1 < len(c.args) && !strings.HasPrefix(c.args[i+1], "-") &&
				!(c.subAt < 0 && isSubcommand(c.args[i+1])) {
				i++
			}
			continue
		}
		if c.subAt < 0 && isSubcommand(tok) {
			c.sub, c.subAt = tok, i
		}
	}
	c.defaults, c.defaultsUnread = trainerDefaults(s)
	for _, cf := range c.configs {
		if c.subAt >= 0 && cf.flag.Index < c.subAt {
			cf.prefix = []string{c.sub}
		}
		src, err := s.Cmd.ReadFile(cf.path())
		if err != nil {
			cf.err = err
			continue
		}
		cf.doc, cf.err = parseConfig(src)
	}
	return c
}

// looksLikeCLI says whether the command is a LightningCLI one: the script
// builds a LightningCLI, or the command has its subcommand or its
// --section.key flags.
func looksLikeCLI(s *pyscript.Script, c *cliCommand) bool {
	return bytesContain(s.Source, "LightningCLI") || c.sub != "" || dottedFlag(c.args) != ""
}

// dottedFlag is the first --trainer./--data./--model. flag typed, or "".
func dottedFlag(args []string) string {
	for _, a := range args {
		for _, p := range []string{"--trainer.", "--data.", "--model."} {
			if strings.HasPrefix(a, p) {
				name, _, _ := strings.Cut(a, "=")
				return name
			}
		}
	}
	return ""
}

func bytesContain(src []byte, word string) bool {
	return src != nil && strings.Contains(string(src), word)
}

// setting is one LightningCLI setting: its flag spellings and its key
// paths in a config file.
type setting struct {
	key   string // "data.batch_size"
	names []string
	paths [][]string
}

// dotted makes the setting for a key such as "data.batch_size". A data or
// model section may be a class_path/init_args block, so its keys are also
// looked for under init_args.
func dotted(key string) setting {
	parts := strings.Split(key, ".")
	st := setting{key: key, names: []string{"--" + key}, paths: [][]string{parts}}
	if len(parts) > 1 && (parts[0] == "data" || parts[0] == "model") {
		alt := append([]string{parts[0], "init_args"}, parts[1:]...)
		st.names = append(st.names, "--"+strings.Join(alt, "."))
		st.paths = append(st.paths, alt)
	}
	return st
}

// sourceKind says where a setting's value comes from.
type sourceKind int

const (
	fromNone     sourceKind = iota
	fromCLI                 // a flag on the command line
	fromConfig              // a config file
	fromScript              // the default in the script's own class
	fromDefaults            // the script's LightningCLI(trainer_defaults=...)
)

// source is where a setting's current value comes from.
type source struct {
	kind  sourceKind
	value string
	flag  cmdline.Flag // fromCLI
	cfg   *configFile  // fromConfig
	keys  []string     // fromConfig: the key path in the file
	node  *yaml.Node   // fromConfig: the value's node
}

// lookup finds the argument that sets st last, or the script's default.
func (c *cliCommand) lookup(st setting) source {
	var src source
	for i := 0; i < len(c.args); i++ {
		if cf := c.configAt(i); cf != nil {
			for _, p := range st.paths {
				keys := append(append([]string(nil), cf.prefix...), p...)
				if n := cf.doc.lookup(keys); n != nil {
					src = source{kind: fromConfig, value: scalarText(n), cfg: cf, keys: keys, node: n}
					break
				}
			}
			if cf.flag.Form == cmdline.Space {
				i++
			}
			continue
		}
		if f, ok := flagAt(c.args, i, st.names); ok {
			src = source{kind: fromCLI, value: f.Value, flag: f}
			if f.Form == cmdline.Space {
				i++
			}
		}
	}
	if src.kind == fromNone {
		if v, ok := initDefault(c.s.Source, st.key); ok {
			src = source{kind: fromScript, value: v}
		} else if v, ok := c.trainerDefault(st.key); ok {
			src = source{kind: fromDefaults, value: v}
		}
	}
	return src
}

// where names the argument a value comes from, for reasons and summaries.
func (src source) where() string {
	switch src.kind {
	case fromCLI:
		return src.flag.Name
	case fromConfig:
		return src.cfg.path()
	case fromScript:
		return "the script's default"
	case fromDefaults:
		return "the script's trainer_defaults"
	}
	return ""
}

func (c *cliCommand) configAt(i int) *configFile {
	for _, cf := range c.configs {
		if cf.flag.Index == i {
			return cf
		}
	}
	return nil
}

// configError is the first config file that could not be read, as a
// reason; "" when every one was read.
func (c *cliCommand) configError() string {
	for _, cf := range c.configs {
		if cf.err != nil {
			return "cannot read " + cf.path() + ": " + cf.err.Error()
		}
	}
	return ""
}

// classHeader matches a class statement and its bases.
var classHeader = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^class\s+\w+\s*\(([^)]*)\)\s*:`) })

// initDefault reads the default of a data.* or model.* key from the
// script's own DataModule or LightningModule: the literal default of the
// parameter in its __init__ (def __init__(self, batch_size: int = 32)).
func initDefault(src []byte, key string) (string, bool) {
	section, param, ok := strings.Cut(key, ".")
	if !ok || strings.Contains(param, ".") || src == nil {
		return "", false
	}
	base := map[string]string{"data": "DataModule", "model": "LightningModule"}[section]
	if base == "" {
		return "", false
	}
	text := string(src)
	headers := classHeader().FindAllStringSubmatchIndex(text, -1)
	for i, h := range headers {
		if !strings.Contains(text[h[2]:h[3]], base) {
			continue
		}
		body := text[h[1]:]
		if i+1 < len(headers) {
			body = text[h[1]:headers[i+1][0]]
		}
		if v, ok := paramDefault(body, param); ok {
			return v, true
		}
	}
	return "", false
}

var initDef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`def\s+__init__\s*\(`) })

// paramDefault finds param's literal default in the first __init__
// signature of a class body.
func paramDefault(body, param string) (string, bool) {
	loc := initDef().FindStringIndex(body)
	if loc == nil {
		return "", false
	}
	depth, end := 1, -1
	for i := loc[1]; i < len(body) && end < 0; i++ {
		switch body[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth--; depth == 0 {
				end = i
			}
		}
	}
	if end < 0 {
		return "", false
	}
	re := regexp.MustCompile(`(?:^|[,(\s])` + regexp.QuoteMeta(param) + `\s*(?::[^=,]*)?=\s*("[^"]*"|'[^']*'|[\w.+-]+)`)
	m := re.FindStringSubmatch(body[loc[1]:end])
	if m == nil || m[1] == "None" {
		return "", false
	}
	return strings.Trim(m[1], `"'`), true
}

// trainerDefaults reads the script's LightningCLI(trainer_defaults=...)
// (or a subclass's call with that keyword): a dict literal, dict(...), or
// a name assigned one. unread says why entries may be missing: a value
// that is not such a dict, or one that unpacks another (**base).
func trainerDefaults(s *pyscript.Script) (entries map[string]cmdline.PyValue, unread string) {
	if s.Source == nil {
		return nil, ""
	}
	for _, call := range cmdline.PythonCalls(s.Source, "") {
		v, ok := call.Keywords["trainer_defaults"]
		switch {
		case !ok || v.Literal && v.Text == "None":
			continue
		case v.Dict == nil:
			unread = fmt.Sprintf("trainer_defaults=%s (line %d) is not a dict vramrun can read", v.Text, call.Line)
			continue
		case v.Unpacked:
			unread = fmt.Sprintf("trainer_defaults (line %d) takes entries vramrun cannot read", call.Line)
		default:
			unread = ""
		}
		return v.Dict, unread
	}
	return nil, unread
}

// trainerDefault is a trainer.* key's literal value in the script's
// trainer_defaults.
func (c *cliCommand) trainerDefault(key string) (string, bool) {
	param, ok := strings.CutPrefix(key, "trainer.")
	if !ok || strings.Contains(param, ".") {
		return "", false
	}
	v, ok := c.defaults[param]
	if !ok || !v.Literal {
		return "", false
	}
	return v.Text, true
}
