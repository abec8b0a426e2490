package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/profiles/safefs"
	"github.com/vramrun/vramrun/sdk"
)

// layer is one source of settings after validation: a file, a named
// profile, the environment or the flags.
type layer struct {
	source Source
	// scalars holds the parsed values (int, time.Duration, bool, string,
	// []sdk.FixID) of the scalar keys this layer sets.
	scalars map[string]any
	env     map[string]string
	flags   map[string]string
	plugins []PluginRef
	// progress is the layer's progress: list, nil when it has none.
	progress []sdk.ProgressPattern
	// resumeFrom is the layer's resume: mapping, nil when it has none.
	resumeFrom *ResumeFrom
	// declares records which of flags, env and plugins the layer names.
	declares map[string]bool
}

func newLayer(source Source) *layer {
	return &layer{source: source, scalars: map[string]any{}, env: map[string]string{},
		flags: map[string]string{}, declares: map[string]bool{}}
}

// profileFile is one vramrun.yaml or user config file, validated.
type profileFile struct {
	path     string // absolute
	top      *layer
	profiles map[string]*layer
}

// fileReader validates one file; errors name the file as the user sees it.
type fileReader struct {
	display string // path shown in errors
	dir     string // folder of the file, for relative plugin paths
}

func (r fileReader) errf(line int, format string, args ...any) error {
	return &ConfigError{File: r.display, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// MaxProfileBytes bounds a vramrun.yaml or user config file: a profile is a
// page or two, and parsing a file of tens of megabytes takes minutes and
// gigabytes.
const MaxProfileBytes = 1 << 20

// readProfileFile reads and validates the file at path (absolute). A named
// pipe, socket, device or folder in its place, or a file over
// MaxProfileBytes, is refused with one line naming it. shownFrom
// is the folder error paths are made relative to.
func readProfileFile(path, shownFrom string, source Source) (*profileFile, error) {
	r := fileReader{display: displayPath(path, shownFrom), dir: filepath.Dir(path)}
	data, err := safefs.ReadFileFollow(path, MaxProfileBytes)
	var refused *safefs.Error
	if errors.As(err, &refused) {
		return nil, &ConfigError{Msg: r.display + " " + refused.Problem}
	}
	if err != nil {
		return nil, r.errf(0, "cannot read: %v", unwrapPathError(err))
	}
	out := &profileFile{path: path, top: newLayer(source), profiles: map[string]*layer{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return out, nil // empty, or comments only
		}
		return nil, r.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != nil && !errors.Is(err, io.EOF) {
		return nil, r.syntaxError(err)
	} else if err == nil && !isNull(document(&extra)) {
		return nil, r.errf(extra.Line, "a second YAML document (after ---): vramrun.yaml holds one")
	}
	root := document(&doc)
	if isNull(root) {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, r.errf(root.Line, "the file must be a mapping of settings (key: value), not %s", nodeWord(root))
	}
	if err := r.readSettings(root, "", out.top, out.profiles); err != nil {
		return nil, err
	}
	return out, nil
}

var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`) })

// yamlParserProblems are the problems yaml.v3's parser (rather than its
// scanner) reports. For these it prints a 0-based line: the line of the
// construct it was in, else of the token it stopped at.
func yamlParserProblems() []string {
	return []string{
		"did not find expected <stream-start>", "did not find expected <document start>",
		"found undefined tag handle", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"found duplicate %YAML directive", "found incompatible YAML document", "found duplicate %TAG directive",
	}
}

// syntaxError turns yaml.v3's "yaml: line 3: ..." into file:3: .... yaml.v3
// leaves the line out when the problem is on the first line.
func (r fileReader) syntaxError(err error) error {
	m := yamlLineRE().FindStringSubmatch(err.Error())
	if m == nil {
		return r.errf(1, "YAML syntax error: %v", err)
	}
	line := 1
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems(), m[2]) {
			line++
		}
	}
	return r.errf(line, "YAML syntax error: %s", m[2])
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// document returns the content of a document node, aliases followed.
func document(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return resolve(doc.Content[0])
	}
	return resolve(doc)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func nodeWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

type keyValue struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *base) expanded,
// explicit entries winning; a key written twice is an error.
func (r fileReader) pairs(m *yaml.Node, where string) ([]keyValue, error) {
	w := mergeWalk{r: r, where: where, done: map[*yaml.Node][]keyValue{}, active: map[*yaml.Node]bool{}}
	return w.expand(m)
}

// mergeWalk expands merge keys once per mapping (a file may merge the same
// anchor many times) and refuses a mapping that merges itself.
type mergeWalk struct {
	r      fileReader
	where  string
	done   map[*yaml.Node][]keyValue
	active map[*yaml.Node]bool
}

func (w mergeWalk) expand(m *yaml.Node) ([]keyValue, error) {
	if out, ok := w.done[m]; ok {
		return out, nil
	}
	w.active[m] = true
	defer delete(w.active, m)
	var explicit, merged []keyValue
	firstLine := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, w.r.errf(k.Line, "%sa key must be a plain word, not %s", w.where, nodeWord(k))
		}
		if k.ShortTag() == "!!merge" {
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				src = resolve(src)
				if src.Kind != yaml.MappingNode {
					return nil, w.r.errf(k.Line, "%s<< must name a mapping", w.where)
				}
				if w.active[src] {
					return nil, w.r.errf(k.Line, "%s<< merges the mapping that contains it", w.where)
				}
				ps, err := w.expand(src)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if first, dup := firstLine[k.Value]; dup {
			return nil, w.r.errf(k.Line, "%skey %q appears twice (first on line %d)", w.where, k.Value, first)
		}
		firstLine[k.Value] = k.Line
		explicit = append(explicit, keyValue{k, v})
	}
	for _, p := range merged {
		if _, ok := firstLine[p.key.Value]; !ok {
			firstLine[p.key.Value] = p.key.Line
			explicit = append(explicit, p)
		}
	}
	w.done[m] = explicit
	return explicit, nil
}

// readSettings validates one mapping of settings (the file's top level, or
// a profile when profiles is nil) into l. where prefixes key names in
// messages: "" at the top, "profiles.NAME." inside a profile.
func (r fileReader) readSettings(m *yaml.Node, where string, l *layer, profiles map[string]*layer) error {
	known := Keys()
	if profiles != nil {
		known = append(known, keyProfiles)
	}
	entries, err := r.pairs(m, where)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, v := e.key.Value, e.value
		if !slices.Contains(known, name) {
			if name == keyProfiles {
				return r.errf(e.key.Line, "%sprofiles cannot be nested inside a profile", where)
			}
			return r.errf(e.key.Line, "%s", unknownKeyMsg(strings.TrimSuffix(where, "."), name, known))
		}
		full := where + name
		switch name {
		case keyFlags:
			err = r.readFlags(v, full, l)
		case keyEnv:
			err = r.readEnv(v, full, l)
		case keyPlugins:
			err = r.readPlugins(v, full, l)
		case keyProgress:
			err = r.readProgress(v, full, l)
		case keyProfiles:
			err = r.readProfiles(v, profiles)
		case keyResume:
			err = r.readResume(v, full, l)
		default:
			err = r.readScalar(v, full, name, l)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r fileReader) readScalar(v *yaml.Node, full, name string, l *layer) error {
	k, _ := findScalarKey(name)
	if k.kind == kindLadder {
		return r.readLadder(v, full, l)
	}
	if isNull(v) {
		if k.kind == kindString {
			l.scalars[name] = ""
			return nil
		}
		return r.errf(v.Line, "%s: no value given", full)
	}
	if v.Kind != yaml.ScalarNode {
		return r.errf(v.Line, "%s: expected %s, not %s", full, kindWord(k), nodeWord(v))
	}
	if err := r.noDTypeIn(v, full); err != nil {
		return err
	}
	val, err := k.parse(v.Value)
	if err != nil {
		return r.errf(v.Line, "%s: %v", full, err)
	}
	l.scalars[name] = val
	return nil
}

func kindWord(k scalarKey) string {
	switch k.kind {
	case kindInt:
		return "a whole number"
	case kindDuration:
		return "a duration such as 10s"
	case kindBool:
		return "true or false"
	case kindEnum:
		return "one of " + strings.Join(k.enum, ", ")
	case kindLadder:
		return "a list of fix ids"
	}
	return "a string"
}

func (r fileReader) readLadder(v *yaml.Node, full string, l *layer) error {
	if v.Kind != yaml.SequenceNode {
		return r.errf(v.Line, "%s: expected a list of fix ids such as [allocator, batch_size], not %s", full, nodeWord(v))
	}
	ladder := []sdk.FixID{}
	for _, entry := range v.Content {
		entry = resolve(entry)
		if entry.Kind != yaml.ScalarNode || isNull(entry) {
			return r.errf(entry.Line, "%s: each entry must be a fix id, not %s", full, nodeWord(entry))
		}
		if err := r.noDTypeIn(entry, full); err != nil {
			return err
		}
		id, err := sdk.ParseFixID(entry.Value)
		if err != nil {
			return r.errf(entry.Line, "%s: %v", full, err)
		}
		ladder = append(ladder, id)
	}
	l.scalars["ladder"] = ladder
	return nil
}

// mappingOrNull accepts a mapping or nothing (a key whose entries are all
// commented out).
func (r fileReader) mappingOrNull(v *yaml.Node, full string) ([]keyValue, error) {
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, r.errf(v.Line, "%s: expected a mapping (name: value), not %s", full, nodeWord(v))
	}
	return r.pairs(v, full+".")
}

func (r fileReader) readFlags(v *yaml.Node, full string, l *layer) error {
	entries, err := r.mappingOrNull(v, full)
	if err != nil {
		return err
	}
	l.declares[keyFlags] = true
	known := sdk.ProfileFlagKeys()
	for _, e := range entries {
		name, val := e.key.Value, e.value
		if !slices.Contains(known, name) {
			return r.errf(e.key.Line, "%s", unknownKeyMsg(full, name, known))
		}
		if isNull(val) || (val.Kind == yaml.ScalarNode && strings.TrimSpace(val.Value) == "") {
			return r.errf(val.Line, "%s.%s: empty value (write the flag, e.g. --bsz)", full, name)
		}
		if val.Kind != yaml.ScalarNode {
			return r.errf(val.Line, "%s.%s: expected the flag as a string, not %s", full, name, nodeWord(val))
		}
		if name != string(sdk.FixMixedPrecision) {
			if err := r.noDTypeIn(val, full+"."+name); err != nil {
				return err
			}
		}
		l.flags[name] = val.Value
	}
	return nil
}

func (r fileReader) readEnv(v *yaml.Node, full string, l *layer) error {
	entries, err := r.mappingOrNull(v, full)
	if err != nil {
		return err
	}
	l.declares[keyEnv] = true
	for _, e := range entries {
		name, val := e.key.Value, e.value
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return r.errf(e.key.Line, "%s: %q is not a valid variable name", full, name)
		}
		if err := r.noDTypeIn(e.key, full); err != nil {
			return err
		}
		value := ""
		if !isNull(val) {
			if val.Kind != yaml.ScalarNode {
				return r.errf(val.Line, "%s.%s: expected a string value, not %s", full, name, nodeWord(val))
			}
			if err := r.noDTypeIn(val, full+"."+name); err != nil {
				return err
			}
			value = val.Value
		}
		l.env[name] = value
	}
	return nil
}

var sha256HexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{64}$`) })

func (r fileReader) readPlugins(v *yaml.Node, full string, l *layer) error {
	l.declares[keyPlugins] = true
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return r.errf(v.Line, "%s: expected a list of {name, path, sha256} entries, not %s", full, nodeWord(v))
	}
	seen := map[string]int{}
	for _, item := range v.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return r.errf(item.Line, "%s: each entry must be a mapping with name and path, not %s", full, nodeWord(item))
		}
		entries, err := r.pairs(item, full+".")
		if err != nil {
			return err
		}
		var ref PluginRef
		for _, e := range entries {
			name, val := e.key.Value, e.value
			if !slices.Contains([]string{"name", "path", "sha256"}, name) {
				return r.errf(e.key.Line, "%s", unknownKeyMsg(full, name, []string{"name", "path", "sha256"}))
			}
			if val.Kind != yaml.ScalarNode || isNull(val) {
				return r.errf(val.Line, "%s: %s must be a string", full, name)
			}
			if err := r.noDTypeIn(val, full+"."+name); err != nil {
				return err
			}
			switch name {
			case "name":
				ref.Name = strings.TrimSpace(val.Value)
			case "path":
				ref.Path = strings.TrimSpace(val.Value)
			case "sha256":
				if !sha256HexRE().MatchString(val.Value) {
					return r.errf(val.Line, "%s: sha256 %q is not 64 hexadecimal digits", full, val.Value)
				}
				ref.SHA256 = strings.ToLower(val.Value)
			}
		}
		if ref.Name == "" || ref.Path == "" {
			return r.errf(item.Line, "%s: an entry needs both name and path", full)
		}
		if first, dup := seen[ref.Name]; dup {
			return r.errf(item.Line, "%s: plugin %q is listed twice (first on line %d)", full, ref.Name, first)
		}
		seen[ref.Name] = item.Line
		if !filepath.IsAbs(ref.Path) {
			ref.Path = filepath.Join(r.dir, ref.Path)
		}
		l.plugins = append(l.plugins, ref)
	}
	return nil
}

func (r fileReader) readProfiles(v *yaml.Node, profiles map[string]*layer) error {
	entries, err := r.mappingOrNull(v, keyProfiles)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, body := e.key.Value, e.value
		if strings.TrimSpace(name) == "" {
			return r.errf(e.key.Line, "profiles: a profile needs a name")
		}
		where := keyProfiles + "." + name + "."
		l := newLayer(Source("profile:" + name))
		if !isNull(body) {
			if body.Kind != yaml.MappingNode {
				return r.errf(body.Line, "%s: expected a mapping of settings, not %s", strings.TrimSuffix(where, "."), nodeWord(body))
			}
			if err := r.readSettings(body, where, l, nil); err != nil {
				return err
			}
		}
		profiles[name] = l
	}
	return nil
}

// noDTypeIn rejects the {dtype} placeholder outside flags.mixed_precision,
// where nothing would ever replace it.
func (r fileReader) noDTypeIn(n *yaml.Node, full string) error {
	if strings.Contains(n.Value, "{dtype}") {
		return r.errf(n.Line, "%s: the {dtype} placeholder only works in flags.mixed_precision", full)
	}
	return nil
}

// readResume reads resume: as true or false, or as the mapping of a
// project's own checkpoints (checkpoints: a glob or a list of globs) and
// resume flag (flag: with {checkpoint} where the path goes), which turns
// resuming on.
func (r fileReader) readResume(v *yaml.Node, full string, l *layer) error {
	if v.Kind != yaml.MappingNode {
		return r.readScalar(v, full, keyResume, l)
	}
	entries, err := r.pairs(v, full+".")
	if err != nil {
		return err
	}
	from := &ResumeFrom{}
	for _, e := range entries {
		name, val := e.key.Value, e.value
		switch name {
		case "checkpoints":
			globs, err := r.globs(val, full+"."+name)
			if err != nil {
				return err
			}
			from.Checkpoints = globs
		case "flag":
			if val.Kind != yaml.ScalarNode || isNull(val) {
				return r.errf(val.Line, "%s.flag: expected the flag as a string such as \"--resume {checkpoint}\", not %s", full, nodeWord(val))
			}
			if !strings.Contains(val.Value, "{checkpoint}") || len(strings.Fields(val.Value)) == 0 {
				return r.errf(val.Line, "%s.flag: %q has no {checkpoint} for the path", full, val.Value)
			}
			from.Flag = val.Value
		default:
			return r.errf(e.key.Line, "%s", unknownKeyMsg(full, name, []string{"checkpoints", "flag"}))
		}
	}
	switch {
	case len(from.Checkpoints) == 0:
		return r.errf(v.Line, "%s: no checkpoints: (where the checkpoints go, e.g. checkpoints: out/*.pt)", full)
	case from.Flag == "":
		return r.errf(v.Line, "%s: no flag: (how the command resumes, e.g. flag: \"--resume {checkpoint}\")", full)
	}
	l.scalars[keyResume] = true
	l.resumeFrom = from
	return nil
}

// globs reads a glob or a list of globs, each a valid pattern.
func (r fileReader) globs(v *yaml.Node, full string) ([]string, error) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	var out []string
	for _, item := range items {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) || strings.TrimSpace(item.Value) == "" {
			return nil, r.errf(item.Line, "%s: expected a glob such as out/*.pt, not %s", full, nodeWord(item))
		}
		if _, err := filepath.Match(item.Value, ""); err != nil {
			return nil, r.errf(item.Line, "%s: %q is not a valid glob", full, item.Value)
		}
		out = append(out, item.Value)
	}
	return out, nil
}
