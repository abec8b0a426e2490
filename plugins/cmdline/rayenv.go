package cmdline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// Ray's runtime env options: a JSON object on the command line, or a YAML
// file. Ray reads one of them (parse_runtime_env_args), never both.
const (
	RuntimeEnvJSON = "--runtime-env-json"
	RuntimeEnvFile = "--runtime-env"
)

// RuntimeEnv is where the command's `ray job submit` takes its runtime env
// from: Option is RuntimeEnvJSON (Value the JSON), RuntimeEnvFile (Value
// the YAML file as typed) or "" when the command gives none. Ray refuses a
// command that gives both, with "Only one of --runtime_env and
// --runtime-env-json can be provided.": so does RuntimeEnv.
func (r RaySubmit) RuntimeEnv() (option, value string, err error) {
	js, hasJSON := r.Option(RuntimeEnvJSON)
	file, hasFile := r.Option(RuntimeEnvFile)
	switch {
	case hasJSON && hasFile:
		return "", "", errors.New("ray job submit: both --runtime-env and --runtime-env-json: Ray takes only one of them")
	case hasJSON:
		return RuntimeEnvJSON, js, nil
	case hasFile:
		return RuntimeEnvFile, file, nil
	}
	return "", "", nil
}

// member is one member of a JSON object, its value as typed.
type member struct {
	key string
	raw json.RawMessage
}

// jsonObject reads a JSON object's members in their order, each value as
// typed; a null is an object without members.
func jsonObject(data []byte) ([]member, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{key: tok.(string), raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more after the JSON object")
	}
	return out, nil
}

// lastMember is the index of the last member named key (the one Python's
// json keeps), -1 when there is none.
func lastMember(ms []member, key string) int {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return i
		}
	}
	return -1
}

// setMember sets key's value: the last member of that name, else a new one
// at the end.
func setMember(ms []member, key string, raw json.RawMessage) []member {
	if i := lastMember(ms, key); i >= 0 {
		ms[i].raw = raw
		return ms
	}
	return append(ms, member{key: key, raw: raw})
}

// encodeObject writes members as json.dumps does by default: ", " and ": ".
func encodeObject(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		b.Write(jsonString(m.key))
		b.WriteString(": ")
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// EnvVarsJSON are the env_vars a runtime env JSON sets (the string ones:
// Ray takes no other).
func EnvVarsJSON(runtimeEnv string) (map[string]string, error) {
	ms, err := jsonObject([]byte(runtimeEnv))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if i := lastMember(ms, "env_vars"); i >= 0 {
		vars, err := jsonObject(ms[i].raw)
		if err != nil {
			return nil, errors.New("its env_vars is not a JSON object")
		}
		for _, v := range vars {
			var s string
			if json.Unmarshal(v.raw, &s) == nil {
				out[v.key] = s
			}
		}
	}
	return out, nil
}

// SetEnvVarsJSON is a runtime env JSON ("" for none) with vars set in its
// env_vars: the other variables and fields stay as typed, in their order.
func SetEnvVarsJSON(runtimeEnv string, vars map[string]string) (string, error) {
	var ms []member
	if runtimeEnv != "" {
		var err error
		if ms, err = jsonObject([]byte(runtimeEnv)); err != nil {
			return "", err
		}
	}
	var env []member
	if i := lastMember(ms, "env_vars"); i >= 0 {
		var err error
		if env, err = jsonObject(ms[i].raw); err != nil {
			return "", errors.New("its env_vars is not a JSON object")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = setMember(env, k, jsonString(vars[k]))
	}
	return string(encodeObject(setMember(ms, "env_vars", encodeObject(env)))), nil
}

// yamlEnvVars is the env_vars mapping of a runtime env YAML document (nil
// when it has none) and its root mapping.
func yamlEnvVars(content []byte) (doc, root, env *yaml.Node, err error) {
	doc = &yaml.Node{}
	if err := yaml.Unmarshal(content, doc); err != nil {
		return nil, nil, nil, fmt.Errorf("it does not read as YAML: %v", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		// An empty file: no runtime env yet.
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil, nil, errors.New("it is not a YAML mapping")
	}
	for i := len(root.Content) - 2; i >= 0; i -= 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "env_vars" {
			v := root.Content[i+1]
			switch {
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			case v.Kind != yaml.MappingNode:
				return nil, nil, nil, errors.New("its env_vars is not a plain mapping")
			}
			return doc, root, v, nil
		}
	}
	return doc, root, nil, nil
}

// EnvVarsYAML are the env_vars a runtime env YAML file sets, each as its
// text.
func EnvVarsYAML(content []byte) (map[string]string, error) {
	_, _, env, err := yamlEnvVars(content)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if env != nil {
		for i := 0; i+1 < len(env.Content); i += 2 {
			if v := env.Content[i+1]; v.Kind == yaml.ScalarNode {
				out[env.Content[i].Value] = v.Value
			}
		}
	}
	return out, nil
}

// SetEnvVarsYAML is a runtime env YAML file with vars set in its env_vars,
// each a quoted string (Ray takes only strings; YAML would read a bare
// true as a boolean); the rest of the file stays as it means. A file whose
// env_vars is an alias or no mapping is not edited.
func SetEnvVarsYAML(content []byte, vars map[string]string) ([]byte, error) {
	doc, root, env, err := yamlEnvVars(content)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "env_vars"}, env)
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: vars[k], Style: yaml.DoubleQuotedStyle}
		set := false
		for i := len(env.Content) - 2; i >= 0 && !set; i -= 2 {
			if env.Content[i].Value == k {
				env.Content[i+1], set = value, true
			}
		}
		if !set {
			env.Content = append(env.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, value)
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
