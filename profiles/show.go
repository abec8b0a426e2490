package profiles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

// Show writes the merged settings as a table of key, value and source, for
// `vramrun profile show`.
func (l Loaded) Show(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "project file:\t%s\n", orNone(l.ProjectFile))
	fmt.Fprintf(tw, "user file:\t%s\n", orNone(l.UserFile))
	fmt.Fprintf(tw, "project root:\t%s\n\n", l.ProjectRoot)
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, key := range Keys() {
		lines := l.textValue(key)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", key, lines[0], l.source(key))
		for _, more := range lines[1:] {
			fmt.Fprintf(tw, "\t%s\t\n", more)
		}
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (l Loaded) source(key string) Source {
	if s, ok := l.Sources[key]; ok {
		return s
	}
	return SourceDefault
}

// textValue is a key's value as table rows: one row, or one per entry of a
// map or list.
func (l Loaded) textValue(key string) []string {
	switch key {
	case keyFlags, keyEnv:
		m := l.Settings.Flags
		if key == keyEnv {
			m = l.Settings.Env
		}
		if len(m) == 0 {
			return []string{"(none)"}
		}
		var rows []string
		for _, name := range sortedKeys(m) {
			rows = append(rows, name+"="+m[name])
		}
		return rows
	case keyPlugins:
		if len(l.Settings.Plugins) == 0 {
			return []string{"(none)"}
		}
		var rows []string
		for _, p := range l.Settings.Plugins {
			row := p.Name + " " + p.Path
			if p.SHA256 != "" {
				row += " sha256:" + p.SHA256
			}
			rows = append(rows, row)
		}
		return rows
	case keyProgress:
		if len(l.Settings.Progress) == 0 {
			return []string{"(none)"}
		}
		var rows []string
		for _, p := range l.Settings.Progress {
			row := string(p.Unit) + " " + p.Regexp
			if p.PerProcess {
				row += " (per process)"
			}
			rows = append(rows, row)
		}
		return rows
	case keyResume:
		if f := l.Settings.ResumeFrom; f != nil && l.Settings.Resume {
			return []string{"true", "checkpoints=" + strings.Join(f.Checkpoints, ", "), "flag=" + f.Flag}
		}
	}
	k, _ := findScalarKey(key)
	switch v := k.get(&l.Settings).(type) {
	case []sdk.FixID:
		if len(v) == 0 {
			return []string{"(empty)"}
		}
		return []string{strings.ReplaceAll(format(v), ",", ", ")}
	case string:
		if v == "" {
			return []string{`""`}
		}
		return []string{v}
	default:
		return []string{format(v)}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ShowJSON writes {"key": {"value": ..., "source": "..."}} for every key of
// vramrun.yaml, in profile init's order. Durations are strings such as
// "10s", the ladder a list, flags and env objects, plugins a list.
func (l Loaded) ShowJSON(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, key := range Keys() {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(key)
		entry, err := json.Marshal(struct {
			Value  any    `json:"value"`
			Source Source `json:"source"`
		}{l.jsonValue(key), l.source(key)})
		if err != nil {
			return fmt.Errorf("encoding %s: %w", key, err)
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(entry)
	}
	buf.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

func (l Loaded) jsonValue(key string) any {
	switch key {
	case keyFlags:
		return nonNilMap(l.Settings.Flags)
	case keyEnv:
		return nonNilMap(l.Settings.Env)
	case keyPlugins:
		if l.Settings.Plugins == nil {
			return []PluginRef{}
		}
		return l.Settings.Plugins
	case keyResume:
		if f := l.Settings.ResumeFrom; f != nil && l.Settings.Resume {
			return f
		}
	case keyProgress:
		if l.Settings.Progress == nil {
			return []sdk.ProgressPattern{}
		}
		return l.Settings.Progress
	}
	k, _ := findScalarKey(key)
	switch v := k.get(&l.Settings).(type) {
	case time.Duration:
		return formatDuration(v)
	case []sdk.FixID:
		if v == nil {
			return []sdk.FixID{}
		}
		return v
	default:
		return v
	}
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
