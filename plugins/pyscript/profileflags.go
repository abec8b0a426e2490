package pyscript

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// The profile's flags: mapping (the flags: key of a profile in vramrun.yaml)
// names a project's own flags for what vramrun cannot find itself. The
// numeric ones take a number; the others are what to add to the command to
// apply a fix. Where the mapping names a flag, it wins over what a plugin
// would have guessed.

// Knob is the option for a numeric knob (batch_size, grad_accumulation,
// eval_batch_size): the profile's flag when the mapping names one, else the
// first of the plugin's candidate groups the command types or the script
// defines.
func (s *Script) Knob(key string, groups ...[]string) Option {
	name := strings.TrimSpace(s.Cmd.Flags[key])
	if name == "" {
		return s.Find(groups...)
	}
	o, found := s.find([]string{name})
	if !found {
		// Neither typed nor found in the script's argparse: the flag is
		// still the project's word for it; its value is unknown.
		o = Option{Names: []string{name}}
	}
	o.Defined = true
	return o
}

// Template is a fix the profile spells out as flags to add
// ("--amp --amp-dtype {dtype}"), split into its flags and their values.
type Template struct {
	Key   string
	Pairs []TemplatePair
}

// TemplatePair is one flag of a template, with its value when it takes one.
type TemplatePair struct {
	Name  string
	Value string
}

// ProfileTemplate is the profile's template for a fix key, or ok false.
func (s *Script) ProfileTemplate(key string) (Template, bool) {
	text := strings.TrimSpace(s.Cmd.Flags[key])
	if text == "" {
		return Template{}, false
	}
	t := Template{Key: key}
	words := strings.Fields(text)
	for i := 0; i < len(words); i++ {
		p := TemplatePair{Name: words[i]}
		if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
			p.Value = words[i+1]
			i++
		}
		t.Pairs = append(t.Pairs, p)
	}
	return t, true
}

// Present says whether the command already carries the template's first
// flag with the template's value (the fix is on): `--optim adamw` is not
// `--optim adamw8bit`. A {dtype} matches either precision.
func (t Template) Present(args []string) bool {
	if len(t.Pairs) == 0 {
		return false
	}
	first := t.Pairs[0]
	for _, dtype := range []string{"bf16", "fp16"} {
		name, value := fillDtype(first.Name, dtype), fillDtype(first.Value, dtype)
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value = k, v
		}
		f, ok := cmdline.FindFlag(args, name)
		if ok && (value == "" || f.HasValue && f.Value == value) {
			return true
		}
	}
	return false
}

func fillDtype(s, dtype string) string { return strings.ReplaceAll(s, "{dtype}", dtype) }

// Apply adds the template's flags to args: a flag already there gets the
// template's value, a missing one is appended. dtype fills {dtype}.
func (t Template) Apply(args []string, dtype string) ([]string, string) {
	var words []string
	for _, p := range t.Pairs {
		name, v := fillDtype(p.Name, dtype), fillDtype(p.Value, dtype)
		if k, val, ok := strings.Cut(name, "="); ok {
			// Written as --flag=value: keep that form.
			args = cmdline.SetFlag(args, []string{k}, val, cmdline.Equals)
			words = append(words, name)
			continue
		}
		if v == "" {
			args = cmdline.AddSwitch(args, name)
			words = append(words, name)
			continue
		}
		args = cmdline.SetFlag(args, []string{name}, v, cmdline.Space)
		words = append(words, name+" "+v)
	}
	return args, strings.Join(words, " ")
}

// fixTemplateKeys maps the fixes a profile spells as templates to their key.
var fixTemplateKeys = map[sdk.FixID]string{
	sdk.FixGradCheckpointing: "grad_checkpointing",
	sdk.FixMixedPrecision:    "mixed_precision",
	sdk.FixOptimizer8bit:     "optimizer_8bit",
	sdk.FixCPUOffload:        "cpu_offload",
	sdk.FixFusedLoss:         "fused_loss",
	sdk.FixActivationOffload: "activation_offload",
	sdk.FixEvalAccumulation:  "eval_accumulation",
}

// ProfileTemplates overlays the profile's templates on a plugin's
// analysis: a fix the mapping spells out is available, or already on when
// its first flag is in the command.
func (s *Script) ProfileTemplates(a *Analysis) {
	if a.Unsupported == nil {
		a.Unsupported = map[sdk.FixID]string{}
	}
	for fix, key := range fixTemplateKeys {
		t, ok := s.ProfileTemplate(key)
		if !ok {
			continue
		}
		if t.Present(s.Inv.Args) {
			a.Unsupported[fix] = fmt.Sprintf("already on (%s is in the command)", t.Pairs[0].Name)
			continue
		}
		delete(a.Unsupported, fix)
	}
}

// IntPtr is the option's numeric value as a knob value (nil when unknown).
func (o Option) IntPtr() *int {
	if n, ok := o.Int(); ok {
		return sdk.Int(n)
	}
	return nil
}

// ApplyBatch sets the micro-batch, and the accumulation when the fix has
// one, and says what changed: "--batch-size 64 -> 32, --grad-accum-steps 1 -> 2".
func ApplyBatch(args []string, batch, accum Option, fix sdk.Fix) ([]string, string) {
	args = batch.SetInt(args, fix.BatchSize)
	parts := []string{Change(batch.DisplayName(), batch.Value, fmt.Sprint(fix.BatchSize))}
	if fix.GradAccumulation > 0 && accum.Exists() {
		from := accum.Value
		if !accum.Known {
			from = "1"
		}
		args = accum.SetInt(args, fix.GradAccumulation)
		parts = append(parts, Change(accum.DisplayName(), from, fmt.Sprint(fix.GradAccumulation)))
	}
	return args, strings.Join(parts, ", ")
}

// ApplyTemplate applies fix through the profile's template for it.
// handled is false when the mapping has none.
func (s *Script) ApplyTemplate(fix sdk.Fix) (args []string, summary string, handled bool) {
	key, ok := fixTemplateKeys[fix.ID]
	if !ok {
		return nil, "", false
	}
	t, ok := s.ProfileTemplate(key)
	if !ok {
		return nil, "", false
	}
	args, words := t.Apply(append([]string(nil), s.Inv.Args...), fix.Precision)
	return args, words, true
}
