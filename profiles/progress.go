package profiles

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/sdk"
)

// keyProgress is the project's own progress lines: a list of {regexp,
// unit, per_process}, tried before the plugin's (see sdk.ProgressPattern).
// A layer that names it replaces the list of the layers under it.
const keyProgress = "progress"

// progressFields are the keys of one progress entry.
var progressFields = []string{"regexp", "unit", "per_process"}

func (r fileReader) readProgress(v *yaml.Node, full string, l *layer) error {
	l.declares[keyProgress] = true
	l.progress = []sdk.ProgressPattern{}
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return r.errf(v.Line, "%s: expected a list of {regexp, unit} entries, not %s", full, nodeWord(v))
	}
	for i, item := range v.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return r.errf(item.Line, "%s: each entry must be a mapping with regexp and unit, not %s", full, nodeWord(item))
		}
		entries, err := r.pairs(item, full+".")
		if err != nil {
			return err
		}
		p := sdk.ProgressPattern{ID: fmt.Sprintf("profile.progress_%d", i+1)}
		for _, e := range entries {
			name, val := e.key.Value, e.value
			if !slices.Contains(progressFields, name) {
				return r.errf(e.key.Line, "%s", unknownKeyMsg(full, name, progressFields))
			}
			if val.Kind != yaml.ScalarNode || isNull(val) {
				return r.errf(val.Line, "%s: %s must be a string", full, name)
			}
			if err := r.noDTypeIn(val, full+"."+name); err != nil {
				return err
			}
			switch name {
			case "regexp":
				p.Regexp = val.Value
			case "unit":
				p.Unit = sdk.ProgressUnit(strings.TrimSpace(val.Value))
			case "per_process":
				b, err := scalarKey{kind: kindBool}.parse(val.Value)
				if err != nil {
					return r.errf(val.Line, "%s: per_process: %v", full, err)
				}
				p.PerProcess = b.(bool)
			}
		}
		if p.Regexp == "" || p.Unit == "" {
			return r.errf(item.Line, "%s: an entry needs both regexp and unit", full)
		}
		if err := p.Validate(); err != nil {
			// The id is vramrun's: say which entry instead.
			msg := strings.TrimPrefix(err.Error(), "progress pattern "+p.ID+": ")
			return r.errf(item.Line, "%s: entry %d: %s", full, i+1, msg)
		}
		l.progress = append(l.progress, p)
	}
	return nil
}
