package transformers

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// TrainingArguments defaults (transformers' training_args.py) for the
// fields vramrun changes.
const (
	defaultBatch     = 8
	defaultEvalBatch = 8
	defaultAccum     = 1
	defaultOptim     = "adamw_torch"
)

// HF field names of the knobs.
const (
	fieldBatch     = "per_device_train_batch_size"
	fieldEvalBatch = "per_device_eval_batch_size"
	fieldAccum     = "gradient_accumulation_steps"
	fieldCkpt      = "gradient_checkpointing"
	fieldOptim     = "optim"
	fieldDeepSpeed = "deepspeed"
)

// job is a command as this plugin reads it: the parsed invocation and
// script, and every place its training arguments come from (flags, the
// <script>.args file, a single JSON args file, a DeepSpeed JSON, accelerate
// launch's options and config).
type job struct {
	s   *pyscript.Script
	cmd sdk.Command
	// probes asks the job's Python what it has (nil: no cache).
	probes *pyscript.Probes
	// trainer says the script takes TrainingArguments through
	// HfArgumentParser (Trainer style), so every TrainingArguments field is
	// a flag it accepts; false for scripts with their own argparse flags
	// (the no_trainer examples), which accept only what they define.
	trainer bool
	// usesAccelerator says the script builds accelerate's Accelerator.
	usesAccelerator bool

	// Flag mode: HfArgumentParser reads <script>.args before the command
	// line's own flags. view is the script with both, as the parser sees
	// them; edits go to the command line only (its flags win).
	argsFile string
	fileArgs []string
	view     *pyscript.Script

	// Single-JSON mode (`script.py args.json`).
	jsonMode bool
	argsJSON *configFile

	ds  *dsConfig
	acc accel
}

// configFile is a JSON file the command names, as read.
type configFile struct {
	// named is the path as the command names it.
	named string
	raw   []byte
	doc   *jsonObject
	// err says why it could not be read or parsed, naming the file.
	err error
}

func readJSONFile(cmd sdk.Command, named string) *configFile {
	f := &configFile{named: named}
	raw, err := cmd.ReadFile(named)
	if err != nil {
		f.err = fmt.Errorf("%s: %w", named, unwrapPathError(err))
		return f
	}
	f.raw = raw
	if f.doc, err = parseJSONObject(raw); err != nil {
		f.err = fmt.Errorf("%s: %w", named, err)
	}
	return f
}

// trainerWords are the names that show a script parses TrainingArguments
// (or a subclass: Seq2SeqTrainingArguments, TRL's SFTConfig) with
// HfArgumentParser or hands them to a Trainer.
var trainerWords = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(HfArgumentParser|\w*TrainingArguments|\w*Trainer|(SFT|DPO|GRPO|KTO|ORPO|CPO|PPO|Reward)Config)\b`)
})

// loadJob reads cmd. It fails only when the command has no script.
func loadJob(cmd sdk.Command) (*job, error) {
	s, ok := pyscript.Load(cmd)
	if !ok {
		return nil, fmt.Errorf("cannot find the training script in %q", strings.Join(cmd.Argv, " "))
	}
	j := &job{s: s, cmd: cmd}
	// A script vramrun cannot read is taken as Trainer style: that is what
	// the HF flags that made it claim the command mean.
	code := pythonCode(s.Source)
	j.trainer = s.Source == nil || trainerWords().MatchString(code)
	j.usesAccelerator = s.ImportsAny("accelerate") && strings.Contains(code, "Accelerator")
	args := s.Inv.Args
	j.jsonMode = j.trainer && len(args) == 1 && strings.HasSuffix(args[0], ".json")
	if j.jsonMode {
		j.argsJSON = readJSONFile(cmd, args[0])
	}
	j.readArgsFile()
	view := *s
	view.Inv.Args = append(append([]string{}, j.fileArgs...), args...)
	j.view = &view
	j.acc = readAccelerate(cmd, s.Inv)
	j.ds = j.findDeepSpeed()
	return j, nil
}

// readArgsFile reads <script>.args, which HfArgumentParser puts before the
// command line's arguments when it exists (look_for_args_file).
func (j *job) readArgsFile() {
	inv := j.s.Inv
	if !j.trainer || j.jsonMode || inv.Module || inv.Script == "" {
		return
	}
	name := strings.TrimSuffix(inv.Script, filepath.Ext(inv.Script)) + ".args"
	raw, err := j.cmd.ReadFile(name)
	if err != nil {
		return
	}
	j.argsFile, j.fileArgs = name, strings.Fields(string(raw))
}

// args are the arguments HfArgumentParser reads (args file, then command
// line).
func (j *job) args() []string { return j.view.Inv.Args }

// profileNamed says whether the profile's flags: mapping names key.
func (j *job) profileNamed(key string) bool {
	return key != "" && strings.TrimSpace(j.cmd.Flags[key]) != ""
}

// intField is a numeric TrainingArguments field: its option (flag mode),
// its value (nil when unknown) and whether the command can take it.
type intField struct {
	opt       pyscript.Option
	value     *int
	available bool
}

// text is the value for a summary.
func (f intField) text() string {
	if f.value != nil {
		return fmt.Sprint(*f.value)
	}
	return f.opt.Value
}

// numField reads field; key is its profile flags: key ("" for none) and def
// its TrainingArguments default.
func (j *job) numField(key, field string, def int) intField {
	if j.jsonMode {
		f := intField{available: true}
		if j.argsJSON.err != nil {
			return f
		}
		if v, ok := j.argsJSON.doc.Get(field); ok {
			if n, ok := jsonInt(v); ok {
				f.value = sdk.Int(n)
			}
			return f
		}
		f.value = sdk.Int(def)
		return f
	}
	var o pyscript.Option
	if key != "" {
		o = j.view.Knob(key, cmdline.HFNames(field))
	} else {
		o = j.view.Find(cmdline.HFNames(field))
	}
	if len(o.Names) == 0 {
		o.Names = cmdline.HFNames(field)
	}
	f := intField{opt: o, available: o.Exists() || j.trainer, value: o.IntPtr()}
	if !o.Known && j.trainer && !j.profileNamed(key) {
		f.value = sdk.Int(def)
	}
	return f
}

// boolField reads a boolean field: its value, whether the command sets it,
// and whether the command can take it.
func (j *job) boolField(field string) (value, present, available bool) {
	switch {
	case j.jsonMode:
		if j.argsJSON.err != nil {
			return false, false, true
		}
		v, ok := j.argsJSON.doc.Get(field)
		b, _ := jsonBool(v)
		return b, ok, true
	case j.trainer:
		value, present = cmdline.HFBool(j.args(), field)
		return value, present, true
	}
	o := j.view.Find(cmdline.HFNames(field))
	return isOn(o), o.Typed, o.Exists()
}

// stringField reads a string field; present says the command sets it.
func (j *job) stringField(field string) (value string, present bool) {
	if j.jsonMode {
		if j.argsJSON.err != nil {
			return "", false
		}
		v, ok := j.argsJSON.doc.Get(field)
		if !ok {
			return "", false
		}
		s, _ := jsonString(v)
		return s, true
	}
	f, ok := cmdline.FindFlag(j.args(), cmdline.HFNames(field)...)
	if !ok || !f.HasValue {
		return "", false
	}
	return f.Value, true
}

func isOn(o pyscript.Option) bool {
	if !o.Known {
		return false
	}
	b, err := cmdline.ParseBool(o.Value)
	return err == nil && b
}

// world is the number of processes the launcher starts (0 when the
// command line does not tell).
func (j *job) world() int {
	return j.s.Inv.WorldSize
}

// configFiles are the files the command's settings come from.
func (j *job) configFiles() []string {
	var out []string
	if j.argsJSON != nil {
		out = append(out, j.argsJSON.named)
	}
	if j.argsFile != "" {
		out = append(out, j.argsFile)
	}
	if j.ds != nil && !j.ds.inline {
		out = append(out, j.ds.named)
	}
	if j.acc.configFile != "" {
		out = append(out, j.acc.configFile)
	}
	return out
}

// unwrapPathError drops the resolved path from a file error: messages name
// the file as the command does.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
