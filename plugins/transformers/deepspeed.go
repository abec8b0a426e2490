package transformers

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
)

// DeepSpeed JSON keys (DeepSpeed's config-json docs).
const (
	dsMicro   = "train_micro_batch_size_per_gpu"
	dsAccum   = "gradient_accumulation_steps"
	dsTotal   = "train_batch_size"
	dsZero    = "zero_optimization"
	dsOffload = "offload_optimizer"
)

// dsVia says where the command names its DeepSpeed JSON, which is where a
// copy's path has to go.
type dsVia int

const (
	// viaFlag: the script's --deepspeed flag (command line or .args file).
	viaFlag dsVia = iota + 1
	// viaArgsJSON: the "deepspeed" key of the single JSON args file.
	viaArgsJSON
	// viaAccelerate: accelerate launch's --deepspeed_config_file, or the
	// deepspeed_config_file of its config.
	viaAccelerate
)

// dsConfig is the DeepSpeed JSON a command uses.
type dsConfig struct {
	configFile
	// inline says the JSON is the value itself (TrainingArguments accepts a
	// dict for deepspeed), not a path.
	inline bool
	via    dsVia
}

// label names the DeepSpeed JSON in summaries and messages.
func (d *dsConfig) label() string {
	if d.inline {
		return "the inline --deepspeed JSON"
	}
	return filepath.Base(d.named)
}

// findDeepSpeed finds the DeepSpeed JSON: the script's own setting first
// (HF's Trainer builds DeepSpeed from it), then accelerate launch's.
func (j *job) findDeepSpeed() *dsConfig {
	switch {
	case j.jsonMode && j.argsJSON.err == nil:
		if v, ok := j.argsJSON.doc.Get(fieldDeepSpeed); ok {
			if obj, ok := v.(*jsonObject); ok {
				return &dsConfig{configFile: configFile{named: "deepspeed", doc: obj}, inline: true, via: viaArgsJSON}
			}
			if path, ok := jsonString(v); ok && path != "" {
				return &dsConfig{configFile: *readJSONFile(j.cmd, path), via: viaArgsJSON}
			}
		}
	case !j.jsonMode && j.trainer:
		if f, ok := cmdline.FindFlag(j.args(), "--"+fieldDeepSpeed); ok && f.HasValue && f.Value != "" {
			if strings.HasPrefix(strings.TrimSpace(f.Value), "{") {
				d := &dsConfig{configFile: configFile{named: "--deepspeed", raw: []byte(f.Value)}, inline: true, via: viaFlag}
				if doc, err := parseJSONObject(d.raw); err != nil {
					d.err = fmt.Errorf("the inline --deepspeed JSON: %w", err)
				} else {
					d.doc = doc
				}
				return d
			}
			return &dsConfig{configFile: *readJSONFile(j.cmd, f.Value), via: viaFlag}
		}
	}
	if j.acc.dsConfigFile != "" {
		return &dsConfig{configFile: *readJSONFile(j.cmd, j.acc.dsConfigFile), via: viaAccelerate}
	}
	return nil
}

// usable is the parsed DeepSpeed JSON, or nil when the command has none.
func (d *dsConfig) usable() *jsonObject {
	if d == nil || d.err != nil {
		return nil
	}
	return d.doc
}

// dsNumber reads a DeepSpeed batch key: its number, whether it is one
// ("auto" and absent keys are not), and whether the key is there.
func dsNumber(doc *jsonObject, key string) (n int, isNumber, present bool) {
	v, ok := doc.Get(key)
	if !ok {
		return 0, false, false
	}
	if isAuto(v) {
		return 0, false, true
	}
	n, isNumber = jsonInt(v)
	return n, isNumber, true
}

// dsPrecision is what the DeepSpeed JSON turns on: "bf16" or "fp16" when a
// section says enabled: true; "" when it leaves precision to the training
// arguments ("auto") or says nothing.
func dsPrecision(doc *jsonObject) string {
	for _, p := range []string{"bf16", "fp16"} {
		if sec := doc.Child(p); sec != nil {
			if v, ok := sec.Get("enabled"); ok {
				if on, ok := jsonBool(v); ok && on {
					return p
				}
			}
		}
	}
	return ""
}

// dsOffloadDevice is zero_optimization.offload_optimizer.device ("" when
// unset).
func dsOffloadDevice(doc *jsonObject) string {
	zo := doc.Child(dsZero)
	if zo == nil {
		return ""
	}
	oo := zo.Child(dsOffload)
	if oo == nil {
		return ""
	}
	v, _ := oo.Get("device")
	s, _ := jsonString(v)
	return s
}

// dsOptimizer is the type of the optimizer the DeepSpeed JSON defines
// ("" when none): DeepSpeed then builds it and --optim does not apply.
func dsOptimizer(doc *jsonObject) (string, bool) {
	opt := doc.Child("optimizer")
	if opt == nil {
		return "", false
	}
	v, _ := opt.Get("type")
	s, _ := jsonString(v)
	if s == "" {
		s = "its own"
	}
	return s, true
}

// jsonEdit collects the changes made to a JSON copy (a DeepSpeed config or
// a single JSON args file), for the summary.
type jsonEdit struct {
	doc     *jsonObject
	changes []string
	// changed says a value is different now (a summary may list a value
	// kept, "train_batch_size 64 -> 64"; that alone needs no copy).
	changed bool
}

// set gives obj's key the value v; path is obj's place in the file for the
// summary ("zero_optimization.").
func (e *jsonEdit) set(path string, obj *jsonObject, key string, v any) {
	old, had := obj.Get(key)
	from := "(unset)"
	if had {
		from = jsonText(old)
	}
	obj.Set(key, v)
	if !had || from != jsonText(v) {
		e.changed = true
	}
	e.changes = append(e.changes, fmt.Sprintf("%s%s %s -> %s", path, key, from, jsonText(v)))
}

// resizeBatch rewrites the batch keys that are numbers: the micro-batch,
// the accumulation (when accum > 0) and train_batch_size = micro x accum x
// world. Keys set to "auto" stay "auto" (HF fills them from the training
// arguments). oldMicro and oldAccum are the values in force before, for
// working out the world size when the launcher does not tell it.
func (e *jsonEdit) resizeBatch(micro, accum, oldMicro, oldAccum, world int) {
	if _, num, _ := dsNumber(e.doc, dsMicro); num {
		e.set("", e.doc, dsMicro, micro)
	}
	if accum > 0 {
		if _, num, _ := dsNumber(e.doc, dsAccum); num {
			e.set("", e.doc, dsAccum, accum)
		}
	} else {
		accum = oldAccum
	}
	total, num, _ := dsNumber(e.doc, dsTotal)
	if !num {
		return
	}
	if world <= 0 && oldMicro > 0 && oldAccum > 0 && total%(oldMicro*oldAccum) == 0 {
		world = total / (oldMicro * oldAccum)
	}
	if world <= 0 {
		// Neither the launcher nor the old figures tell the world size:
		// DeepSpeed infers train_batch_size from the other two.
		e.doc.Delete(dsTotal)
		e.changed = true
		e.changes = append(e.changes, fmt.Sprintf("%s %d removed (the world size is unknown; DeepSpeed infers it)", dsTotal, total))
		return
	}
	e.set("", e.doc, dsTotal, micro*accum*world)
}

// enablePrecision turns on a precision section that says enabled: false.
// A missing section or "auto" is left alone: HF and accelerate fill those
// from --bf16/--fp16.
func (e *jsonEdit) enablePrecision(p string) {
	sec := e.doc.Child(p)
	if sec == nil {
		return
	}
	v, ok := sec.Get("enabled")
	if !ok || isAuto(v) {
		return
	}
	if on, ok := jsonBool(v); ok && !on {
		e.set(p+".", sec, "enabled", true)
	}
}

// offloadToCPU puts the optimizer state in host memory: ZeRO stage at
// least 2 (3 is kept) and offload_optimizer.device cpu, pinned unless the
// file says otherwise.
func (e *jsonEdit) offloadToCPU(label string) error {
	zo := e.doc.Child(dsZero)
	if zo == nil {
		if e.doc.Has(dsZero) {
			return fmt.Errorf("%s: %s is not an object", label, dsZero)
		}
		zo = newJSONObject()
		e.doc.Set(dsZero, zo)
	}
	v, had := zo.Get("stage")
	if stage, num := jsonInt(v); !had || num && stage < 2 {
		e.set(dsZero+".", zo, "stage", 2)
	}
	oo := zo.Child(dsOffload)
	if oo == nil {
		if zo.Has(dsOffload) {
			return fmt.Errorf("%s: %s.%s is not an object", label, dsZero, dsOffload)
		}
		oo = newJSONObject()
		zo.Set(dsOffload, oo)
	}
	e.set(dsZero+"."+dsOffload+".", oo, "device", "cpu")
	if !oo.Has("pin_memory") {
		oo.Set("pin_memory", true)
		e.changed = true
	}
	return nil
}
