package transformers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
)

// jsonObject is a JSON object that keeps its keys in the file's order, so
// that a rewritten copy reads like the user's file with only the changed
// values different. Nested objects are *jsonObject; every other value is
// kept as the raw text the file had (numbers keep their spelling), or is a
// Go value set by the plugin.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func newJSONObject() *jsonObject { return &jsonObject{vals: map[string]any{}} }

// parseJSONObject reads a JSON document whose top level is an object. The
// error says where the text stops being JSON (line and column).
func parseJSONObject(data []byte) (*jsonObject, error) {
	var raw json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("line %d: text after the JSON value", lineAt(data, int(dec.InputOffset())))
	}
	if !startsWith(raw, '{') {
		return nil, errors.New("the top level is not a JSON object")
	}
	return parseObjectRaw(raw)
}

// parseObjectRaw reads an object already known to be valid JSON. A key
// given twice keeps its first place and its last value, as Python's json
// module does.
func parseObjectRaw(raw json.RawMessage) (*jsonObject, error) {
	o := newJSONObject()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		var v any = val
		if startsWith(val, '{') {
			child, err := parseObjectRaw(val)
			if err != nil {
				return nil, err
			}
			v = child
		}
		o.Set(key, v)
	}
	return o, nil
}

func startsWith(raw []byte, c byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == c
}

// describeJSONError turns a decoding error into "line L, column C: ...".
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the offending one included.
		line, col := lineCol(data, int(syn.Offset)-1)
		return fmt.Errorf("line %d, column %d: %s", line, col, syn.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the file is empty or ends in the middle of a JSON value")
	}
	return err
}

func lineAt(data []byte, offset int) int {
	line, _ := lineCol(data, offset)
	return line
}

// lineCol gives the 1-based line and column of the byte at offset.
func lineCol(data []byte, offset int) (int, int) {
	offset = max(0, min(offset, len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := offset - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Get returns a key's value.
func (o *jsonObject) Get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// Has says whether the object has key.
func (o *jsonObject) Has(key string) bool {
	_, ok := o.vals[key]
	return ok
}

// Set gives key a value, keeping its place when it exists, else adding it
// at the end.
func (o *jsonObject) Set(key string, v any) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// Delete removes key.
func (o *jsonObject) Delete(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// Child returns the nested object under key, or nil when there is none.
func (o *jsonObject) Child(key string) *jsonObject {
	c, _ := o.vals[key].(*jsonObject)
	return c
}

// MarshalJSON writes the object compactly, keys in order.
func (o *jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshalNoEscape(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshalNoEscape(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalNoEscape is json.Marshal without HTML escaping (a path with & in
// it stays readable).
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Indented is the object as a file's content, indented like original (two
// spaces when original gives no clue), ending in a newline.
func (o *jsonObject) Indented(original []byte) ([]byte, error) {
	compact, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", indentOf(original)); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Compact is the object on one line, for a value typed on the command line.
func (o *jsonObject) Compact() (string, error) {
	b, err := o.MarshalJSON()
	return string(b), err
}

// indentOf finds the indentation of the first indented line of a JSON
// file: what the user's editor wrote.
func indentOf(original []byte) string {
	for _, line := range strings.Split(string(original), "\n")[1:] {
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || trimmed == line {
			continue
		}
		return line[:len(line)-len(trimmed)]
	}
	return "  "
}

// Value readers. A raw value is read as Python's json module would give it.

// jsonInt reads a whole number (also one written as a string, "16").
func jsonInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case json.RawMessage:
		s := strings.TrimSpace(string(x))
		if unq, err := strconv.Unquote(s); err == nil {
			s = strings.TrimSpace(unq)
		}
		n, err := strconv.Atoi(s)
		if err == nil {
			return n, true
		}
		// 16.0 is a whole number too.
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int(f)) {
			return int(f), true
		}
	}
	return 0, false
}

// jsonString reads a string value.
func jsonString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.RawMessage:
		var s string
		if err := json.Unmarshal(x, &s); err == nil {
			return s, true
		}
	}
	return "", false
}

// isAuto says whether a value is HF's "auto" placeholder.
func isAuto(v any) bool {
	s, ok := jsonString(v)
	return ok && s == "auto"
}

// jsonBool reads a truth value: true/false, or a string HfArgumentParser's
// string_to_bool accepts. ok is false for anything else ("auto", null).
func jsonBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case json.RawMessage:
		switch strings.TrimSpace(string(x)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		if s, ok := jsonString(x); ok && s != "auto" {
			if b, err := cmdline.ParseBool(s); err == nil {
				return b, true
			}
		}
	}
	return false, false
}

// jsonText is a value as it would read in a summary: "16", "auto", "true".
func jsonText(v any) string {
	if s, ok := jsonString(v); ok {
		return s
	}
	b, err := marshalNoEscape(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
