package lightning

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// cliKnobs are a LightningCLI command's memory settings and where each
// one's value comes from.
type cliKnobs struct {
	batchSet, accumSet, evalSet setting
	batch, accum, eval          source
	// evalKnown says an evaluation batch setting exists: found in the
	// command, or named by the profile.
	evalKnown                  bool
	precision, strategy, optim source
}

// The Trainer settings the fixes set as flags.
func precisionSetting() setting { return dotted("trainer.precision") }
func strategySetting() setting  { return dotted("trainer.strategy") }

// knobSetting is the setting for a numeric knob: the profile's flag when
// its flags: mapping names one (a --section.key flag is also looked for in
// the config files), else def.
func (c *cliCommand) knobSetting(key string, def setting) (setting, bool) {
	name := strings.TrimSpace(c.s.Cmd.Flags[key])
	switch {
	case name == "":
		return def, false
	case strings.HasPrefix(name, "--") && strings.Contains(name, "."):
		return dotted(strings.TrimPrefix(name, "--")), true
	}
	return setting{names: []string{name}}, true
}

// evalCandidates are the DataModule arguments that usually hold the
// evaluation batch, those of the subcommand's own loader first. A
// validate, test or predict run trains nothing, so its data.batch_size is
// an evaluation batch too.
func evalCandidates(sub string) []setting {
	var keys []string
	switch sub {
	case "test":
		keys = []string{"test_batch_size", "eval_batch_size", "val_batch_size"}
	case "predict":
		keys = []string{"predict_batch_size", "eval_batch_size"}
	default:
		keys = []string{"val_batch_size", "eval_batch_size"}
	}
	if sub == "validate" || sub == "test" || sub == "predict" {
		keys = append(keys, "batch_size")
	}
	out := make([]setting, len(keys))
	for i, k := range keys {
		out[i] = dotted("data." + k)
	}
	return out
}

func (c *cliCommand) knobs() cliKnobs {
	var k cliKnobs
	k.batchSet, _ = c.knobSetting("batch_size", dotted("data.batch_size"))
	k.accumSet, _ = c.knobSetting("grad_accumulation", dotted("trainer.accumulate_grad_batches"))
	k.batch, k.accum = c.lookup(k.batchSet), c.lookup(k.accumSet)
	if st, named := c.knobSetting("eval_batch_size", setting{}); named {
		k.evalSet, k.eval, k.evalKnown = st, c.lookup(st), true
	} else {
		for _, st := range evalCandidates(c.sub) {
			if src := c.lookup(st); src.kind != fromNone {
				k.evalSet, k.eval, k.evalKnown = st, src, true
				break
			}
		}
	}
	k.precision, k.strategy = c.lookup(precisionSetting()), c.lookup(strategySetting())
	k.optim = c.lookup(dotted("optimizer"))
	return k
}

func atoi(v string) (int, bool) {
	n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"'`))
	return n, err == nil
}

func intPtr(v string) *int {
	if n, ok := atoi(v); ok {
		return sdk.Int(n)
	}
	return nil
}

// strategyClass is the class_path of a strategy a config file gives as a
// class, or "".
func strategyClass(src source) string {
	if src.kind != fromConfig || resolve(src.node) == nil || resolve(src.node).Kind != yaml.MappingNode {
		return ""
	}
	if cls := scalarText(child(src.node, "class_path")); cls != "" {
		return cls
	}
	return "a strategy class"
}

func analyzeCLI(c *cliCommand) pyscript.Analysis {
	a := baseAnalysis(c.s)
	for _, cf := range c.configs {
		a.ConfigFiles = append(a.ConfigFiles, cf.path())
	}
	a.Checkpoints = cliCheckpoints(c)
	k := c.knobs()

	a.Knobs.BatchSize = intPtr(k.batch.value)
	a.Knobs.GradAccumulation = sdk.Int(1)
	if k.accum.kind != fromNone {
		a.Knobs.GradAccumulation = intPtr(k.accum.value)
	}
	if k.evalKnown {
		a.Knobs.EvalBatchSize = intPtr(k.eval.value)
	}
	if dtype, _, known := precisionOf(k.precision.value); known && dtype != "fp64" && dtype != "fp8" {
		a.Knobs.Precision = sdk.Str(dtype)
	}
	if cls := strategyClass(k.strategy); cls != "" {
		init := child(k.strategy.node, "init_args")
		on, _ := cmdline.ParseBool(scalarText(child(init, "offload_optimizer")))
		a.Knobs.Offload = sdk.Bool(on)
		a.Unsupported[sdk.FixCPUOffload] = "the strategy is configured as " + cls + " in " + k.strategy.where() +
			"; set its offload there (or name a flag under flags.cpu_offload in vramrun.yaml)"
	} else {
		a.Knobs.Offload = sdk.Bool(offloadOn(k.strategy.value))
		if _, reason := offloadStrategy(k.strategy.value); reason != "" {
			a.Unsupported[sdk.FixCPUOffload] = reason
		}
	}
	if v := k.optim.value; v != "" {
		a.Knobs.Optimizer = sdk.Str(v)
	} else if cls := scalarText(child(k.optim.node, "class_path")); cls != "" {
		a.Knobs.Optimizer = sdk.Str(cls)
	}

	switch {
	case a.Knobs.BatchSize != nil:
	case k.batch.kind == fromNone:
		a.Unsupported[sdk.FixBatchSize] = joinReasons(c.configError(), "no batch size in the command, its config files or the script's DataModule (name its flag under flags.batch_size in vramrun.yaml)")
	default:
		a.Unsupported[sdk.FixBatchSize] = fmt.Sprintf("the batch size %q (%s) is not a whole number", k.batch.value, k.batch.where())
	}
	if !k.evalKnown {
		a.Unsupported[sdk.FixEvalBatchSize] = "no evaluation batch size (--data.val_batch_size or --data.eval_batch_size) in the command or its config files; the DataModule's batch_size may set it (name its flag under flags.eval_batch_size in vramrun.yaml)"
	}
	if reason := precisionUnsupported(k.precision.value, precisionWhere(k.precision)); k.precision.kind != fromNone && reason != "" {
		a.Unsupported[sdk.FixMixedPrecision] = reason
	}
	a.Unsupported[sdk.FixGradCheckpointing] = noCheckpointing
	a.Unsupported[sdk.FixOptimizer8bit] = noOptimizer8bit
	if at := c.lastUnread(); at >= 0 {
		distrustUnread(&a, k, at, c.configError())
	}
	c.s.ProfileTemplates(&a)
	return a
}

func precisionWhere(src source) string {
	if src.kind == fromConfig {
		return "trainer.precision in " + src.cfg.path()
	}
	return src.where()
}

func joinReasons(first, second string) string {
	if first == "" {
		return second
	}
	return first + "; " + second
}

func valueOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// devicesCount is the number of processes Trainer(devices=...) starts on
// one node: a count, or the length of a list of device ids; for "auto" and
// -1 (every device) the GPUs the job sees (gpus, 1 when unknown); 1 for
// anything else it cannot tell. An unset devices is Lightning's default
// (defaultDevices).
func devicesCount(src source, gpus int) int {
	if n := resolve(src.node); n != nil && n.Kind == yaml.SequenceNode {
		return max(1, len(n.Content))
	}
	v := strings.Trim(strings.TrimSpace(src.value), `"'[]`)
	if strings.Contains(v, ",") {
		count := 0
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) != "" {
				count++
			}
		}
		return max(1, count)
	}
	if n, ok := atoi(v); ok && n > 0 {
		return n
	}
	if n, every := cmdline.EveryGPU(v, gpus); every {
		return n
	}
	return 1
}

// cliEdit collects a fix's changes to a LightningCLI command: flags to set
// and config copies to write.
type cliEdit struct {
	c     *cliCommand
	flags []flagEdit
	files map[*configFile][]configEdit
	order []*configFile
	cli   []string                 // summary parts for flags
	notes map[*configFile][]string // summary parts per copy
}

// flagEdit sets one flag: in place when the flag is what sets the value
// now, else added at the end, where it overrides every config file.
type flagEdit struct {
	names   []string
	value   string
	inPlace bool
}

func newCLIEdit(c *cliCommand) *cliEdit {
	return &cliEdit{c: c, files: map[*configFile][]configEdit{}, notes: map[*configFile][]string{}}
}

// set gives a setting a new value where its current value comes from: the
// flag that sets it, or a copy of the config file that does. A setting
// nothing sets is added to addTo's copy when given, else as a flag.
func (e *cliEdit) set(src source, st setting, value, defaultFrom string, addTo *configFile) {
	from := src.value
	if src.kind == fromNone || src.kind == fromScript || src.kind == fromDefaults {
		if from == "" {
			from = defaultFrom
		}
	}
	switch {
	case src.kind == fromConfig:
		e.addFileEdit(src.cfg, configEdit{Keys: src.keys, Value: value}, strings.Join(src.keys, "."), from)
	case src.kind != fromCLI && addTo != nil && len(st.paths) > 0:
		keys := append(append([]string(nil), addTo.prefix...), st.paths[0]...)
		e.addFileEdit(addTo, configEdit{Keys: keys, Value: value}, strings.Join(keys, "."), from)
	default:
		name := st.names[0]
		if src.kind == fromCLI {
			name = src.flag.Name
		}
		e.flags = append(e.flags, flagEdit{names: st.names, value: value, inPlace: src.kind == fromCLI})
		e.cli = append(e.cli, changeText(name, from, value))
	}
}

func (e *cliEdit) addFileEdit(cf *configFile, ed configEdit, key, from string) {
	if _, seen := e.files[cf]; !seen {
		e.order = append(e.order, cf)
	}
	e.files[cf] = append(e.files[cf], ed)
	e.notes[cf] = append(e.notes[cf], changeText(key, from, ed.Value))
}

func changeText(name, from, to string) string {
	if from == "" {
		return name + " " + to
	}
	return name + " " + from + " -> " + to
}

// applied writes the copies' contents, points each --config at its copy,
// then sets the flags.
func (e *cliEdit) applied(copyDir, note string) (sdk.ApplyResponse, error) {
	inv := e.c.s.Inv
	args := append([]string(nil), inv.Args...)
	var out sdk.ApplyResponse
	used := map[string]bool{}
	var parts []string
	if len(e.cli) > 0 {
		parts = append(parts, strings.Join(e.cli, ", "))
	}
	for _, cf := range e.order {
		content, err := editConfig(cf.doc.src, e.files[cf])
		if err != nil {
			return sdk.ApplyResponse{}, fmt.Errorf("config %s: %v", cf.path(), err)
		}
		base := filepath.Base(cf.path())
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%d-%s", i, base)
		}
		used[name] = true
		p := filepath.Join(copyDir, name)
		out.Copies = append(out.Copies, sdk.FileCopy{Original: cf.path(), Path: p, Content: content})
		switch f := cf.flag; f.Form {
		case cmdline.Space:
			args[f.Index+1] = p
		case cmdline.Equals:
			args[f.Index] = f.Name + "=" + p
		default:
			args[f.Index] = f.Name + p
		}
		parts = append(parts, base+" (copy): "+strings.Join(e.notes[cf], ", "))
	}
	style := flagStyle(e.c.args)
	for _, f := range e.flags {
		if f.inPlace {
			args = cmdline.SetFlag(args, f.names, f.value, style)
			continue
		}
		end := optionsEnd(args)
		add := []string{f.names[0], f.value}
		if style == cmdline.Equals {
			add = []string{f.names[0] + "=" + f.value}
		}
		args = append(args[:end:end], append(add, args[end:]...)...)
	}
	out.Argv = inv.WithArgs(args)
	out.Summary = strings.Join(parts, "; ")
	if note != "" {
		out.Summary += " (" + note + ")"
	}
	return out, nil
}

// flagStyle is how the user writes --section.key flags: `=` when every
// one typed has it, else a space.
func flagStyle(args []string) cmdline.Style {
	equals, space := 0, 0
	for _, a := range args {
		if strings.HasPrefix(a, "--") && strings.Contains(a, ".") {
			if strings.Contains(a, "=") {
				equals++
			} else {
				space++
			}
		}
	}
	if equals > 0 && space == 0 {
		return cmdline.Equals
	}
	return cmdline.Space
}

func applyCLI(c *cliCommand, fix sdk.Fix, copyDir string) (sdk.ApplyResponse, error) {
	a := analyzeCLI(c)
	if reason, no := a.Unsupported[fix.ID]; no {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
	}
	k := c.knobs()
	e := newCLIEdit(c)
	note := ""
	switch fix.ID {
	case sdk.FixBatchSize:
		e.set(k.batch, k.batchSet, strconv.Itoa(fix.BatchSize), "", nil)
		if fix.GradAccumulation > 0 {
			var addTo *configFile
			if k.batch.kind == fromConfig && k.accum.kind == fromNone {
				// Keep the batch settings in one place: the copy.
				addTo = k.batch.cfg
			}
			e.set(k.accum, k.accumSet, strconv.Itoa(fix.GradAccumulation), "1", addTo)
		}
	case sdk.FixEvalBatchSize:
		e.set(k.eval, k.evalSet, strconv.Itoa(fix.BatchSize), "", nil)
	case sdk.FixMixedPrecision:
		dtype := fix.Precision
		if dtype != "bf16" {
			dtype = "fp16"
		}
		short := legacyAPI(c.s) != "" // Lightning 1.x
		e.setFlag(k.precision, precisionSetting(), mixedValue(dtype, short))
	case sdk.FixCPUOffload:
		target, _ := offloadStrategy(k.strategy.value)
		e.setFlag(k.strategy, strategySetting(), target)
		note = needsDeepSpeed
	case sdk.FixTrial:
		if err := c.trial(e, fix); err != nil {
			return sdk.ApplyResponse{}, err
		}
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "not supported for Lightning commands")
	}
	return e.applied(copyDir, note)
}

// setFlag sets a Trainer setting as a flag whatever sets it now: in place
// when a flag does, else added at the end.
func (e *cliEdit) setFlag(src source, st setting, value string) {
	if src.kind == fromCLI {
		e.set(src, st, value, "", nil)
		return
	}
	from := src.value
	e.flags = append(e.flags, flagEdit{names: st.names, value: value})
	e.cli = append(e.cli, changeText(st.names[0], from, value))
}

// lastUnread is the argv index of the last config file that could not be
// read (a pipe vramrun leaves to the job, a broken file), -1 when none.
func (c *cliCommand) lastUnread() int {
	at := -1
	for _, cf := range c.configs {
		if cf.err != nil {
			at = max(at, cf.flag.Index)
		}
	}
	return at
}

// distrustUnread: a config file vramrun could not read, at argv index at,
// may set the batch, the accumulation, the evaluation batch or the
// strategy, so only a flag typed after it says what the job runs; the fixes
// that would be sized from anything else are turned down with reason.
func distrustUnread(a *pyscript.Analysis, k cliKnobs, at int, reason string) {
	typedAfter := func(src source) bool { return src.kind == fromCLI && src.flag.Index > at }
	if !typedAfter(k.batch) {
		a.Knobs.BatchSize = nil
	}
	if !typedAfter(k.accum) {
		a.Knobs.GradAccumulation = nil
	}
	if a.Knobs.BatchSize == nil || a.Knobs.GradAccumulation == nil {
		a.Unsupported[sdk.FixBatchSize] = reason
	}
	if !typedAfter(k.eval) {
		a.Knobs.EvalBatchSize = nil
		a.Unsupported[sdk.FixEvalBatchSize] = reason
	}
	if !typedAfter(k.strategy) {
		a.Unsupported[sdk.FixCPUOffload] = reason
	}
}
