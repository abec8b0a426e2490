// Package cfgcli reads the settings of config-driven training CLIs
// (llamafactory-cli, axolotl, ...): a YAML or JSON file the command names,
// with the command line's overrides on top, as flat dotted keys. It knows
// no tool: each plugin says which file and which overrides are its own.
package cfgcli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/sdk"
)

// Values are settings by dotted key ("training.batch_size"), each as the
// text of its YAML scalar; a list or an empty mapping is kept as "[...]"
// so that its key is known to be set.
type Values map[string]string

// Read parses the YAML (or JSON) file path that cmd names into Values.
// The error names the file.
func Read(cmd sdk.Command, path string) (Values, error) {
	raw, err := cmd.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := Values{}
	if len(doc.Content) > 0 {
		flatten(out, "", doc.Content[0])
	}
	return out, nil
}

func flatten(out Values, prefix string, n *yaml.Node) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 && prefix != "" {
			out[prefix] = "{}"
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			flatten(out, key, n.Content[i+1])
		}
	case yaml.SequenceNode:
		out[prefix] = "[...]"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			out[prefix] = ""
			return
		}
		out[prefix] = n.Value
	}
}

// Scalar reads an override's value as YAML would: quotes removed.
func Scalar(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// Bool reads a YAML boolean; known is false for anything else ("auto").
func Bool(v string) (on, known bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1", "y":
		return true, true
	case "false", "no", "off", "0", "n":
		return false, true
	}
	return false, false
}

// Int reads a whole number; nil when v is not one.
func Int(v string) *int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return nil
	}
	return &n
}

// IntOr is the key's whole number, def when unset; nil when it is set to
// something that is not a number (an interpolation, "auto"): unknown.
func (v Values) IntOr(key string, def int) *int {
	if s, ok := v[key]; ok && s != "" {
		return Int(s)
	}
	return sdk.Int(def)
}

// Count is a count key's value (devices, nodes, responses per prompt): 1
// when unset, not a whole number or below 1.
func (v Values) Count(key string) int {
	if n := Int(v[key]); n != nil && *n > 1 {
		return *n
	}
	return 1
}

// On says a boolean key is true (false when unset or not a boolean).
func (v Values) On(key string) bool {
	on, _ := Bool(v[key])
	return on
}

// IsConfig says a word names a config file by its extension.
func IsConfig(word string) bool {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(strings.ToLower(word), ext) {
			return true
		}
	}
	return false
}

// ReadTOML parses the TOML file path that cmd names into Values: tables
// become dotted prefixes ("training.local_batch_size").
func ReadTOML(cmd sdk.Command, path string) (Values, error) {
	raw, err := cmd.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := Values{}
	flattenMap(out, "", doc)
	return out, nil
}

func flattenMap(out Values, prefix string, m map[string]any) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			flattenMap(out, key, x)
		case []any:
			out[key] = "[...]"
		default:
			out[key] = fmt.Sprint(x)
		}
	}
}

// SetOverride returns args with the dotlist override key=value: the last
// override of key after index after edited in place (keeping a Hydra "+"
// or "++" in front of it), else key=value added at the end. Options
// ("-..." words) are never overrides.
func SetOverride(args []string, after int, key, value string) []string {
	out := append([]string(nil), args...)
	for i := len(out) - 1; i > after; i-- {
		k, _, ok := strings.Cut(out[i], "=")
		if !ok || strings.HasPrefix(out[i], "-") {
			continue
		}
		if name := strings.TrimLeft(k, "+"); name == key {
			out[i] = k[:len(k)-len(name)] + key + "=" + value
			return out
		}
	}
	return append(out, key+"="+value)
}
