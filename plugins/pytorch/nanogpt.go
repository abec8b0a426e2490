package pytorch

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// nanoGPT's train.py runs configurator.py, which execs every argument
// without "=" as a Python config file and takes the others only as
// --key=value for keys train.py already defines (the space form is
// rejected). Its knobs are the globals batch_size,
// gradient_accumulation_steps and dtype.

func isNanoGPT(s *pyscript.Script) bool {
	return bytes.Contains(s.Source, []byte("configurator.py")) && bytes.Contains(s.Source, []byte("exec("))
}

// nanoGlobals are train.py's globals after its config files and overrides,
// the way configurator.py would leave them.
func nanoGlobals(s *pyscript.Script) (map[string]string, []string) {
	vals := cmdline.PythonGlobals(s.Source)
	var configs []string
	for _, arg := range s.Inv.Args {
		if strings.HasPrefix(arg, "--") {
			if k, v, ok := strings.Cut(arg[2:], "="); ok {
				vals[k] = v
			}
			continue
		}
		if !strings.Contains(arg, "=") {
			configs = append(configs, arg)
			if src, err := s.Cmd.ReadFile(arg); err == nil {
				for k, v := range cmdline.PythonGlobals(src) {
					vals[k] = v
				}
			}
		}
	}
	return vals, configs
}

func nanoInt(vals map[string]string, key string) *int {
	if n, err := strconv.Atoi(strings.TrimSpace(vals[key])); err == nil {
		return sdk.Int(n)
	}
	return nil
}

// nanoAccumulation is the accumulation per process. nanoGPT's
// gradient_accumulation_steps is the total over all processes: train.py
// asserts it divides by the world size and divides it. nil when it does not
// divide (the job fails that assertion on its own).
func nanoAccumulation(vals map[string]string, world int) *int {
	total := nanoInt(vals, "gradient_accumulation_steps")
	if total == nil || world <= 1 {
		return total
	}
	if *total%world != 0 {
		return nil
	}
	return sdk.Int(*total / world)
}

func nanoDtype(vals map[string]string) string {
	return strings.Trim(strings.TrimSpace(vals["dtype"]), `'"`)
}

func analyzeNanoGPT(s *pyscript.Script) pyscript.Analysis {
	a := baseAnalysis(s)
	vals, configs := nanoGlobals(s)
	a.ConfigFiles = configs
	a.Knobs.BatchSize = nanoInt(vals, "batch_size")
	a.Knobs.GradAccumulation = nanoAccumulation(vals, a.WorldSize)
	switch d := nanoDtype(vals); d {
	case "float32":
		a.Knobs.Precision = sdk.Str("fp32")
	case "bfloat16":
		a.Knobs.Precision = sdk.Str("bf16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in bf16 (dtype='bfloat16')"
	case "float16":
		a.Knobs.Precision = sdk.Str("fp16")
		a.Unsupported[sdk.FixMixedPrecision] = "already in fp16 (dtype='float16')"
	}
	if a.Knobs.BatchSize == nil {
		a.Unsupported[sdk.FixBatchSize] = "no batch_size global found in " + scriptName(s)
	}
	a.Unsupported[sdk.FixGradCheckpointing] = "nanoGPT has no gradient-checkpointing option (name it under flags.grad_checkpointing in vramrun.yaml)"
	a.Unsupported[sdk.FixEvalBatchSize] = "nanoGPT evaluates at the training batch size"
	a.Unsupported[sdk.FixOptimizer8bit] = "nanoGPT has no 8-bit optimizer option"
	a.Unsupported[sdk.FixCPUOffload] = "nanoGPT has no CPU offload option"
	a.Lacks(func(id sdk.FixID) string {
		return fmt.Sprintf("nanoGPT has no %s option (name it under flags.%s in vramrun.yaml)", pyscript.FixWords(id), id)
	}, pyscript.ModelFixes()...)
	// train.py saves out_dir/ckpt.pt after an evaluation (when the loss
	// improved, or always with always_save_checkpoint) and resumes from it
	// with init_from='resume'.
	a.Checkpoints = &sdk.Checkpoints{Globs: []string{nanoCheckpoint(vals)}}
	s.ProfileTemplates(&a)
	return a
}

// nanoCheckpoint is where train.py saves: out_dir/ckpt.pt.
func nanoCheckpoint(vals map[string]string) string {
	dir := strings.Trim(strings.TrimSpace(vals["out_dir"]), `'"`)
	if dir == "" {
		dir = "out"
	}
	return filepath.Join(dir, "ckpt.pt")
}

// setKeyValue sets --key=value, the only form configurator.py accepts. The
// configurator applies arguments in order: the last override is edited in
// place, unless a config file comes after it (that file would undo it); then
// the overrides of the key go and the new one comes last.
func setKeyValue(args []string, key, value string) []string {
	prefix := "--" + key + "="
	last := -1
	for i, a := range args {
		if strings.HasPrefix(a, prefix) {
			last = i
		}
	}
	if last >= 0 && !configAfter(args, last) {
		out := append([]string(nil), args...)
		out[last] = prefix + value
		return out
	}
	out := make([]string, 0, len(args)+1)
	for _, a := range args {
		if !strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return append(out, prefix+value)
}

// configAfter says whether a config file (an argument without "=") comes
// after index i.
func configAfter(args []string, i int) bool {
	for _, a := range args[i+1:] {
		if !strings.HasPrefix(a, "--") && !strings.Contains(a, "=") {
			return true
		}
	}
	return false
}

func applyNanoGPT(s *pyscript.Script, fix sdk.Fix) ([]string, string, error) {
	a := analyzeNanoGPT(s)
	if reason, no := a.Unsupported[fix.ID]; no {
		return nil, "", sdk.Unsupported(fix.ID, "%s", reason)
	}
	vals, _ := nanoGlobals(s)
	args := append([]string(nil), s.Inv.Args...)
	switch fix.ID {
	case sdk.FixBatchSize:
		args = setKeyValue(args, "batch_size", strconv.Itoa(fix.BatchSize))
		parts := []string{pyscript.Change("--batch_size", vals["batch_size"], strconv.Itoa(fix.BatchSize))}
		if fix.GradAccumulation > 0 {
			// The fix is per process; nanoGPT takes the total.
			total := strconv.Itoa(fix.GradAccumulation * max(a.WorldSize, 1))
			args = setKeyValue(args, "gradient_accumulation_steps", total)
			parts = append(parts, pyscript.Change("--gradient_accumulation_steps", vals["gradient_accumulation_steps"], total))
		}
		return args, strings.Join(parts, ", "), nil
	case sdk.FixMixedPrecision:
		dtype := map[string]string{"bf16": "bfloat16", "fp16": "float16"}[fix.Precision]
		if dtype == "" {
			dtype = "float16"
		}
		return setKeyValue(args, "dtype", dtype), "--dtype=" + dtype, nil
	case sdk.FixTrial:
		return nanoTrial(args, vals, fix.Scratch)
	case sdk.FixResume:
		// init_from='resume' reads out_dir/ckpt.pt, the one file the
		// checkpoints are: the flag takes no path.
		if want := nanoCheckpoint(vals); filepath.Clean(fix.Checkpoint) != want {
			return nil, "", sdk.Unsupported(fix.ID, "nanoGPT resumes only from %s, not %s", want, fix.Checkpoint)
		}
		return setKeyValue(args, "init_from", "resume"), "--init_from=resume (" + fix.Checkpoint + ")", nil
	}
	return nil, "", sdk.Unsupported(fix.ID, "not supported for nanoGPT-style scripts")
}

// nanoTrial makes a nanoGPT-style run one of `vramrun tune`'s trials: its
// checkpoint goes to the scratch folder, only when the validation loss
// improves (nanoGPT saves after every evaluation otherwise), and nothing
// goes to Weights & Biases. Only the globals the script defines are set:
// its configurator rejects any other key.
func nanoTrial(args []string, vals map[string]string, scratch string) ([]string, string, error) {
	if _, ok := vals["out_dir"]; !ok {
		return nil, "", sdk.Unsupported(sdk.FixTrial, "the script defines no out_dir, so where it writes is its own: pass --trust-trials if a short run may write where the job writes")
	}
	set := [][2]string{{"out_dir", scratch}, {"always_save_checkpoint", "False"}, {"wandb_log", "False"}}
	var parts []string
	for _, kv := range set {
		if _, ok := vals[kv[0]]; !ok {
			continue
		}
		args = setKeyValue(args, kv[0], kv[1])
		parts = append(parts, "--"+kv[0]+"="+kv[1])
	}
	return args, strings.Join(parts, " "), nil
}
