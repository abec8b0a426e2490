package lightning

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// LightningCLI's -c/--config files are YAML or JSON (JSON is read as YAML).
// A fix that lives in one of them is written to a copy that differs from
// the user's file only in the values changed: the edits are made in the
// text at the positions yaml.v3 reports, then checked by parsing the copy
// again. Only when a text edit cannot be made safely (an alias, a tagged
// or empty value, an unusual layout) is the copy re-encoded from yaml.v3's
// node tree, which keeps the comments yaml.v3 keeps but not the layout.

// configDoc is one parsed config file.
type configDoc struct {
	src  []byte
	root *yaml.Node // the top-level mapping; nil for an empty document
}

// parseConfig reads a config file's text.
func parseConfig(src []byte) (*configDoc, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	d := &configDoc{src: src}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return d, nil
	}
	root := resolve(doc.Content[0])
	switch {
	case root.Kind == yaml.MappingNode:
		d.root = root
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
	default:
		return nil, errors.New("the file is not a mapping of settings")
	}
	return d, nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// child is the value of key in mapping m, or nil.
func child(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// lookup finds the node at a key path ("data", "batch_size").
func (d *configDoc) lookup(keys []string) *yaml.Node {
	if d == nil || d.root == nil {
		return nil
	}
	n := d.root
	for _, k := range keys {
		if n = resolve(child(n, k)); n == nil {
			return nil
		}
	}
	return n
}

// scalarText is a node's value as a flag would carry it: a scalar's text,
// "" for null or a collection.
func scalarText(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// configEdit sets one key path of a config file to a scalar, adding the
// keys that are missing.
type configEdit struct {
	Keys  []string
	Value string // YAML scalar text: a number or a plain word
}

// editConfig returns src with the edits made, every other byte kept when
// the text allows it.
func editConfig(src []byte, edits []configEdit) ([]byte, error) {
	d, err := parseConfig(src)
	if err != nil {
		return nil, err
	}
	if out, ok := editText(d, edits); ok && holds(out, edits) {
		return out, nil
	}
	out, err := editTree(src, edits)
	if err != nil {
		return nil, err
	}
	if !holds(out, edits) {
		return nil, errors.New("the rewritten copy does not read back with the new values")
	}
	return out, nil
}

// holds checks that the copy reads back with every edit's value.
func holds(out []byte, edits []configEdit) bool {
	d, err := parseConfig(out)
	if err != nil {
		return false
	}
	for _, e := range edits {
		if scalarText(d.lookup(e.Keys)) != e.Value {
			return false
		}
	}
	return true
}

// textPatch replaces src[off:end] with text.
type textPatch struct {
	off, end int
	text     string
	order    int
}

// editText makes the edits in the text; ok is false when one of them
// needs the node tree.
func editText(d *configDoc, edits []configEdit) ([]byte, bool) {
	if d.root == nil {
		return nil, false
	}
	lines := lineOffsets(d.src)
	step := indentStep(d.root)
	var patches []textPatch
	for i, e := range edits {
		p, ok := patchFor(d, lines, step, e)
		if !ok {
			return nil, false
		}
		p.order = i
		patches = append(patches, p)
	}
	// From the end of the file backwards, so offsets stay valid; of two
	// insertions at one place the earlier edit ends up first.
	sort.SliceStable(patches, func(a, b int) bool {
		if patches[a].off != patches[b].off {
			return patches[a].off > patches[b].off
		}
		return patches[a].order > patches[b].order
	})
	out := append([]byte(nil), d.src...)
	for i, p := range patches {
		if i > 0 && p.end > patches[i-1].off {
			return nil, false // two edits of one value
		}
		out = append(out[:p.off], append([]byte(p.text), out[p.end:]...)...)
	}
	return out, true
}

// patchFor finds the text change for one edit: the value replaced in place
// when the key is there, else the missing keys inserted into the deepest
// mapping that exists.
func patchFor(d *configDoc, lines []int, step int, e configEdit) (textPatch, bool) {
	m := d.root
	for i, k := range e.Keys {
		v := child(m, k)
		if v == nil {
			return insertPatch(d.src, lines, step, m, e.Keys[i:], e.Value)
		}
		if v.Kind == yaml.AliasNode {
			return textPatch{}, false // editing the anchor would change its other uses
		}
		if i == len(e.Keys)-1 {
			return replacePatch(d.src, lines, v, e.Value)
		}
		if v.Kind != yaml.MappingNode {
			return textPatch{}, false
		}
		m = v
	}
	return textPatch{}, false
}

// replacePatch replaces a scalar's text, quotes included.
func replacePatch(src []byte, lines []int, n *yaml.Node, value string) (textPatch, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return textPatch{}, false
	}
	off, ok := offsetOf(src, lines, n.Line, n.Column)
	if !ok {
		return textPatch{}, false
	}
	var raw string
	switch n.Style {
	case 0:
		raw = n.Value
	case yaml.DoubleQuotedStyle:
		raw = `"` + n.Value + `"`
	case yaml.SingleQuotedStyle:
		raw = `'` + n.Value + `'`
	default:
		return textPatch{}, false
	}
	end := off + len(raw)
	if !bytes.HasPrefix(src[off:], []byte(raw)) || (end < len(src) && !strings.ContainsRune(" \t\r\n,}]#", rune(src[end]))) {
		return textPatch{}, false
	}
	return textPatch{off: off, end: end, text: value}, true
}

// insertPatch adds keys (nested, the last one set to value) to mapping m:
// as lines before its first key in a block mapping, or right after the
// brace of a flow mapping (JSON included).
func insertPatch(src []byte, lines []int, step int, m *yaml.Node, keys []string, value string) (textPatch, bool) {
	if m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		return textPatch{}, false
	}
	if m.Style&yaml.FlowStyle != 0 {
		off, ok := offsetOf(src, lines, m.Line, m.Column)
		if !ok || src[off] != '{' {
			return textPatch{}, false
		}
		text := value
		for i := len(keys) - 1; i >= 0; i-- {
			if i < len(keys)-1 {
				text = "{" + text + "}"
			}
			text = fmt.Sprintf("%q: %s", keys[i], text)
		}
		return textPatch{off: off + 1, end: off + 1, text: text + ", "}, true
	}
	first := m.Content[0]
	if first.Line < 1 || first.Line > len(lines) {
		return textPatch{}, false
	}
	lineStart := lines[first.Line-1]
	off, ok := offsetOf(src, lines, first.Line, first.Column)
	if !ok || strings.TrimLeft(string(src[lineStart:off]), " ") != "" {
		return textPatch{}, false
	}
	indent := off - lineStart
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(strings.Repeat(" ", indent+i*step) + k + ":")
		if i == len(keys)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return textPatch{off: lineStart, end: lineStart, text: b.String()}, true
}

// lineOffsets are the byte offsets where each line starts.
func lineOffsets(src []byte) []int {
	out := []int{0}
	for i, c := range src {
		if c == '\n' {
			out = append(out, i+1)
		}
	}
	return out
}

// offsetOf turns yaml.v3's 1-based line and column (counted in
// characters) into a byte offset.
func offsetOf(src []byte, lines []int, line, col int) (int, bool) {
	if line < 1 || line > len(lines) || col < 1 {
		return 0, false
	}
	off := lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(src) || src[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(src[off:])
		off += size
	}
	return off, off < len(src)
}

// indentStep is how far the file indents a nested block mapping; 2 when
// it has none.
func indentStep(root *yaml.Node) int {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Column > k.Column {
			return v.Content[0].Column - k.Column
		}
	}
	return 2
}

// editTree makes the edits on yaml.v3's node tree and encodes it again.
func editTree(src []byte, edits []configEdit) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if r := doc.Content[0]; r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		doc.Content[0] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	for _, e := range edits {
		if err := setTree(doc.Content[0], e); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setTree sets one key path in a node tree, creating mappings on the way
// and unsharing aliased ones so that an anchor's other uses stay as they
// were.
func setTree(m *yaml.Node, e configEdit) error {
	for i, k := range e.Keys {
		if m.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(e.Keys[:i], "."))
		}
		idx := -1
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == k {
				idx = j + 1
			}
		}
		last := i == len(e.Keys)-1
		if idx < 0 {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, nil)
			idx = len(m.Content) - 1
			if !last {
				m.Content[idx] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
		}
		old := m.Content[idx]
		if last {
			n := &yaml.Node{Kind: yaml.ScalarNode, Tag: scalarTag(e.Value), Value: e.Value}
			if old != nil {
				n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
			}
			m.Content[idx] = n
			return nil
		}
		switch {
		case old.Kind == yaml.AliasNode:
			m.Content[idx] = unshare(resolve(old))
		case old.Kind == yaml.ScalarNode && old.Tag == "!!null":
			m.Content[idx] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", LineComment: old.LineComment}
		}
		m = m.Content[idx]
	}
	return nil
}

// unshare deep-copies a node without its anchor.
func unshare(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, unshare(resolve(k)))
	}
	return &c
}

func scalarTag(v string) string {
	var n yaml.Node
	if yaml.Unmarshal([]byte(v), &n) == nil && len(n.Content) == 1 {
		return n.Content[0].Tag
	}
	return "!!str"
}
