package transformers

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

// reasonNoDeepSpeed is why cpu_offload needs a DeepSpeed setup first.
const reasonNoDeepSpeed = "needs DeepSpeed: run with --deepspeed ds_config.json or accelerate launch --use_deepspeed"

// analyze finds the command's knobs and the fixes it cannot take.
func (j *job) analyze() pyscript.Analysis {
	inv := j.s.Inv
	a := pyscript.Analysis{AnalyzeResponse: sdk.AnalyzeResponse{Framework: Name, Launcher: inv.Launcher, Script: inv.Script,
		WorldSize: inv.WorldSize, ConfigFiles: j.configFiles(), Notes: j.s.LauncherNotes()}, Unsupported: map[sdk.FixID]string{}}
	if a.WorldSize <= 0 {
		a.WorldSize = 1
	}
	if reason := pytorch.AllocatorUnsupported(j.cmd.Env); reason != "" {
		a.Unsupported[sdk.FixAllocator] = reason
	}
	j.analyzeBatch(&a)
	j.analyzePrecision(&a)
	j.analyzeCheckpointing(&a)
	j.analyzeOptimizer(&a)
	j.analyzeOffload(&a)
	j.analyzeModelFixes(&a)
	j.analyzeAutoFind(&a)
	a.Checkpoints = j.checkpoints()
	if j.jsonMode && j.argsJSON.err != nil {
		// Nothing is known of what the file sets, and every fix but the
		// allocator edits it.
		a.Knobs = sdk.Knobs{}
		for _, f := range sdk.AllFixes() {
			if f != sdk.FixAllocator {
				a.Unsupported[f] = j.argsJSON.err.Error()
			}
		}
	}
	if !j.jsonMode {
		// Flags added to a single-JSON command would switch HF's JSON mode
		// off, so the profile's flag templates apply in flag mode only.
		j.s.ProfileTemplates(&a)
	}
	return a
}

// analyzeAutoFind notes the Trainer's own batch search (AutoFindField),
// which hides the OOMs vramrun would fix.
func (j *job) analyzeAutoFind(a *pyscript.Analysis) {
	if !j.trainer && !j.jsonMode {
		return
	}
	if on, _, _ := j.boolField(AutoFindField); on {
		named := "--" + AutoFindField
		if j.jsonMode {
			named = AutoFindField + " (" + j.argsJSON.named + ")"
		}
		a.Notes = append(a.Notes, AutoFindNote(named))
	}
}

func (j *job) analyzeBatch(a *pyscript.Analysis) {
	batch := j.numField("batch_size", fieldBatch, defaultBatch)
	accum := j.numField("grad_accumulation", fieldAccum, defaultAccum)
	eval := j.numField("eval_batch_size", fieldEvalBatch, defaultEvalBatch)
	a.Knobs.BatchSize, a.Knobs.EvalBatchSize = batch.value, eval.value
	if accum.available {
		a.Knobs.GradAccumulation = accum.value
		if accum.value == nil {
			a.Knobs.GradAccumulation = sdk.Int(1)
		}
	} else if j.acc.deepspeed && j.acc.accumTyped {
		a.Knobs.GradAccumulation = intOrNil(j.acc.accum)
	}
	if doc := j.ds.usable(); doc != nil {
		// Numbers in the DeepSpeed JSON are what DeepSpeed runs with; "auto"
		// takes the training arguments' values.
		if n, num, _ := dsNumber(doc, dsMicro); num {
			a.Knobs.BatchSize = sdk.Int(n)
		}
		if n, num, _ := dsNumber(doc, dsAccum); num {
			a.Knobs.GradAccumulation = sdk.Int(n)
		}
	}
	if !batch.available {
		a.Unsupported[sdk.FixBatchSize] = j.s.NoFlag("batch-size", "batch_size")
	}
	if !eval.available {
		a.Unsupported[sdk.FixEvalBatchSize] = j.s.NoFlag("evaluation batch-size", "eval_batch_size")
	}
}

// precisionNow is what the command computes in, and where that is set;
// "" when nothing tells and the command has no way to change it.
func (j *job) precisionNow() (precision, source string) {
	if doc := j.ds.usable(); doc != nil {
		if p := dsPrecision(doc); p != "" {
			return p, j.ds.label()
		}
	}
	if j.trainer {
		for _, p := range []string{"bf16", "fp16"} {
			if on, _, _ := j.boolField(p); on {
				return p, "--" + p
			}
		}
	} else if o := j.view.Find([]string{"--mixed_precision", "--mixed-precision"}); o.Known {
		return precisionWord(o.Value), o.LongName()
	}
	// TrainingArguments and Accelerator() both take the launcher's setting
	// (ACCELERATE_MIXED_PRECISION) when the script does not override it.
	if j.acc.on && j.acc.mixedPrecision != "" {
		return precisionWord(j.acc.mixedPrecision), "accelerate launch"
	}
	if v := j.cmd.Env["ACCELERATE_MIXED_PRECISION"]; v != "" && (j.trainer || j.usesAccelerator) {
		return precisionWord(v), "ACCELERATE_MIXED_PRECISION"
	}
	if j.canSetPrecision() {
		return "fp32", ""
	}
	return "", ""
}

// canSetPrecision says whether the command has a place for mixed
// precision.
func (j *job) canSetPrecision() bool {
	if j.trainer || j.acc.on || j.usesAccelerator {
		return true
	}
	return j.view.Find([]string{"--mixed_precision", "--mixed-precision"}).Exists()
}

func (j *job) analyzePrecision(a *pyscript.Analysis) {
	p, _ := j.precisionNow()
	switch p {
	case "":
		a.Unsupported[sdk.FixMixedPrecision] = j.s.NoFlag("mixed-precision", "mixed_precision")
	case "fp32":
		a.Knobs.Precision = sdk.Str(p)
	case "bf16", "fp16":
		a.Knobs.Precision = sdk.Str(p)
		a.Unsupported[sdk.FixMixedPrecision] = "already in " + p
	default:
		a.Unsupported[sdk.FixMixedPrecision] = "already in " + p
	}
}

func (j *job) analyzeCheckpointing(a *pyscript.Analysis) {
	on, _, available := j.boolField(fieldCkpt)
	switch {
	case !available:
		a.Unsupported[sdk.FixGradCheckpointing] = j.s.NoFlag("gradient-checkpointing", "grad_checkpointing")
	case on:
		a.Knobs.GradCheckpointing = sdk.Bool(true)
		a.Unsupported[sdk.FixGradCheckpointing] = "already on"
	default:
		a.Knobs.GradCheckpointing = sdk.Bool(false)
	}
}

func (j *job) analyzeOptimizer(a *pyscript.Analysis) {
	if !j.trainer {
		a.Unsupported[sdk.FixOptimizer8bit] = j.s.NoFlag("optimizer", "optimizer_8bit")
		return
	}
	if doc := j.ds.usable(); doc != nil {
		if name, ok := dsOptimizer(doc); ok {
			a.Knobs.Optimizer = sdk.Str(name)
			a.Unsupported[sdk.FixOptimizer8bit] = fmt.Sprintf("%s defines the optimizer (%s), so --optim does not apply", j.ds.label(), name)
			return
		}
	}
	name, _ := j.stringField(fieldOptim)
	if name == "" {
		name = defaultOptim
	}
	a.Knobs.Optimizer = sdk.Str(name)
	if LowMemoryOptimizer(name) {
		a.Unsupported[sdk.FixOptimizer8bit] = "already " + name + " (a low-memory optimizer)"
	}
}

func (j *job) analyzeOffload(a *pyscript.Analysis) {
	switch {
	case j.ds != nil:
		doc := j.ds.usable()
		if doc == nil {
			return // Apply reports the file's problem.
		}
		dev := dsOffloadDevice(doc)
		on := dev == "cpu" || dev == "nvme"
		a.Knobs.Offload = sdk.Bool(on)
		if on {
			a.Unsupported[sdk.FixCPUOffload] = fmt.Sprintf("already on (offload_optimizer.device %s in %s)", dev, j.ds.label())
		}
	case j.acc.fsdp && !j.acc.deepspeed:
		on, _ := cmdline.ParseBool(j.acc.fsdpOffload)
		a.Knobs.Offload = sdk.Bool(on)
		if on {
			a.Unsupported[sdk.FixCPUOffload] = "already on (accelerate launch " + accFSDPOffload + ")"
		}
	case j.acc.deepspeed:
		dev := strings.ToLower(j.acc.offloadDevice)
		on := dev == "cpu" || dev == "nvme"
		a.Knobs.Offload = sdk.Bool(on)
		if on {
			a.Unsupported[sdk.FixCPUOffload] = fmt.Sprintf("already on (accelerate launch %s %s)", accOffload, dev)
		}
	default:
		a.Unsupported[sdk.FixCPUOffload] = reasonNoDeepSpeed
	}
}

func intOrNil(s string) *int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	return sdk.Int(n)
}
