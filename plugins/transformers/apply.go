package transformers

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

// apply rewrites the command for one fix. The user's files are never
// touched: a changed JSON comes back as a copy's content.
func (j *job) apply(ctx context.Context, fix sdk.Fix, copyDir string) (sdk.ApplyResponse, error) {
	if fix.ID == sdk.FixAllocator {
		if reason := pytorch.AllocatorUnsupported(j.cmd.Env); reason != "" {
			return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
		}
		env, summary, err := pytorch.AllocatorEnv(j.cmd.Env)
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		return sdk.ApplyResponse{Argv: append([]string(nil), j.cmd.Argv...), Env: env, Summary: summary}, nil
	}
	// A file vramrun has to rewrite but cannot read is the user's to fix:
	// an error, not a fix to skip.
	if j.jsonMode && j.argsJSON.err != nil {
		return sdk.ApplyResponse{}, j.argsJSON.err
	}
	if fix.ID == sdk.FixResume {
		return j.resume(ctx, fix, copyDir)
	}
	if j.ds != nil && j.ds.err != nil && needsDeepSpeedJSON(fix.ID) {
		return sdk.ApplyResponse{}, j.ds.err
	}
	a := j.analyze()
	if reason, no := a.Unsupported[fix.ID]; no {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
	}
	if !j.jsonMode {
		if args, summary, ok := j.s.ApplyTemplate(fix); ok {
			return sdk.ApplyResponse{Argv: j.s.Inv.WithArgs(args), Summary: summary}, nil
		}
	}
	r := &rewrite{j: j, args: append([]string{}, j.s.Inv.Args...)}
	var err error
	switch fix.ID {
	case sdk.FixBatchSize:
		err = r.batch(fix, a)
	case sdk.FixEvalBatchSize:
		err = r.evalBatch(fix)
	case sdk.FixMixedPrecision:
		err = r.precision(fix)
	case sdk.FixGradCheckpointing:
		r.checkpointing()
	case sdk.FixOptimizer8bit:
		r.optimizer(ctx)
	case sdk.FixCPUOffload:
		err = r.offload()
	case sdk.FixFusedLoss:
		err = r.fusedLoss(ctx)
	case sdk.FixEvalAccumulation:
		r.evalAccumulationOne()
	case sdk.FixTrial:
		err = r.trial(fix)
	default:
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "no %s setting for this script", fix.ID)
	}
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	return r.finish(copyDir)
}

// needsDeepSpeedJSON says which fixes read or rewrite the DeepSpeed JSON.
func needsDeepSpeedJSON(id sdk.FixID) bool {
	switch id {
	case sdk.FixBatchSize, sdk.FixMixedPrecision, sdk.FixOptimizer8bit, sdk.FixCPUOffload:
		return true
	}
	return false
}

// rewrite is one fix's changes to a command, built up then turned into an
// sdk.ApplyResponse by finish.
type rewrite struct {
	j *job
	// args are the script's own arguments as they will be typed.
	args []string
	// launcher are accelerate launch options to set, in order.
	launcher [][2]string
	env      map[string]string
	// parts and notes make the summary: what changed on the command line,
	// then why (in parentheses).
	parts []string
	notes []string
	// ds and argsJSON collect edits to the DeepSpeed JSON and the single
	// JSON args file (nil until one is edited).
	ds       *jsonEdit
	argsJSON *jsonEdit
	// argsRef says the args file changed only in where it points (its
	// DeepSpeed path).
	argsRef bool
}

func (r *rewrite) dsEditor() *jsonEdit {
	if r.ds == nil {
		r.ds = &jsonEdit{doc: r.j.ds.doc}
	}
	return r.ds
}

func (r *rewrite) argsEditor() *jsonEdit {
	if r.argsJSON == nil {
		r.argsJSON = &jsonEdit{doc: r.j.argsJSON.doc}
	}
	return r.argsJSON
}

// argsSet sets a key of the single JSON args file.
func (r *rewrite) argsSet(field string, v any) {
	e := r.argsEditor()
	e.set("", e.doc, field, v)
}

// setLauncher sets one of accelerate launch's options.
func (r *rewrite) setLauncher(name, from, to string) {
	r.launcher = append(r.launcher, [2]string{name, to})
	r.parts = append(r.parts, launcherChange(name, from, to))
}

func (r *rewrite) batch(fix sdk.Fix, a pyscript.Analysis) error {
	if fix.BatchSize < 1 {
		return fmt.Errorf("batch_size: the new micro-batch %d is not a positive number", fix.BatchSize)
	}
	j := r.j
	oldMicro, oldAccum := valueOr(a.Knobs.BatchSize, 0), valueOr(a.Knobs.GradAccumulation, 1)
	if j.jsonMode {
		r.argsSet(fieldBatch, fix.BatchSize)
		if fix.GradAccumulation > 0 {
			r.argsSet(fieldAccum, fix.GradAccumulation)
		}
	} else {
		batch := j.numField("batch_size", fieldBatch, defaultBatch)
		r.args = batch.opt.SetInt(r.args, fix.BatchSize)
		r.parts = append(r.parts, pyscript.Change(j.spelled(batch.opt), batch.text(), fmt.Sprint(fix.BatchSize)))
		if accum := j.numField("grad_accumulation", fieldAccum, defaultAccum); fix.GradAccumulation > 0 && accum.available {
			r.args = accum.opt.SetInt(r.args, fix.GradAccumulation)
			r.parts = append(r.parts, pyscript.Change(j.spelled(accum.opt), accum.text(), fmt.Sprint(fix.GradAccumulation)))
		}
	}
	if fix.GradAccumulation > 0 && j.acc.accumTyped {
		// Only meaningful with DeepSpeed, but when typed it must agree.
		r.setLauncher(accAccum, j.acc.accum, fmt.Sprint(fix.GradAccumulation))
	}
	if j.ds.usable() != nil {
		r.dsEditor().resizeBatch(fix.BatchSize, fix.GradAccumulation, oldMicro, oldAccum, j.world())
	}
	return nil
}

func (r *rewrite) evalBatch(fix sdk.Fix) error {
	if fix.BatchSize < 1 {
		return fmt.Errorf("eval_batch_size: the new evaluation batch %d is not a positive number", fix.BatchSize)
	}
	if r.j.jsonMode {
		r.argsSet(fieldEvalBatch, fix.BatchSize)
		return nil
	}
	eval := r.j.numField("eval_batch_size", fieldEvalBatch, defaultEvalBatch)
	r.args = eval.opt.SetInt(r.args, fix.BatchSize)
	r.parts = append(r.parts, pyscript.Change(r.j.spelled(eval.opt), eval.text(), fmt.Sprint(fix.BatchSize)))
	return nil
}

var mixedPrecisionFlags = []string{"--mixed_precision", "--mixed-precision"}

// precision turns on bf16 or fp16 where the command takes it: HF's
// --bf16/--fp16 (never both on) for Trainer scripts, else the script's own
// --mixed_precision, accelerate launch's, or the variable Accelerator()
// reads.
func (r *rewrite) precision(fix sdk.Fix) error {
	p := fix.Precision
	switch p {
	case "":
		p = "fp16"
	case "bf16", "fp16":
	default:
		return fmt.Errorf("mixed_precision: unknown precision %q (want bf16 or fp16)", fix.Precision)
	}
	// The other half precision is not on here (the command would be in it
	// already, and the fix is turned down), so setting one never makes both.
	j := r.j
	switch {
	case j.trainer && j.jsonMode:
		r.argsSet(p, true)
	case j.trainer:
		r.args = cmdline.SetHFBool(r.args, p, true)
		r.parts = append(r.parts, "--"+p)
	default:
		if o := j.view.Find(mixedPrecisionFlags); o.Exists() {
			r.args = o.Set(r.args, p)
			r.parts = append(r.parts, pyscript.Change(o.DisplayName(), o.Value, p))
		} else if j.acc.on {
			r.setLauncher(accMixedPrecision, j.acc.mixedPrecision, p)
		} else {
			r.env = map[string]string{"ACCELERATE_MIXED_PRECISION": p}
			r.parts = append(r.parts, "ACCELERATE_MIXED_PRECISION="+p)
		}
	}
	if j.trainer && j.acc.mpTyped && precisionWord(j.acc.mixedPrecision) != p {
		// The launcher's own setting would contradict the script's flag.
		r.setLauncher(accMixedPrecision, j.acc.mixedPrecision, p)
	}
	if j.ds.usable() != nil {
		r.dsEditor().enablePrecision(p)
	}
	return nil
}

func (r *rewrite) checkpointing() {
	j := r.j
	switch {
	case j.jsonMode:
		r.argsSet(fieldCkpt, true)
	case j.trainer:
		r.args = cmdline.SetHFBool(r.args, fieldCkpt, true)
		r.parts = append(r.parts, "--"+fieldCkpt)
	default:
		o := j.view.Find(cmdline.HFNames(fieldCkpt))
		r.args = o.TurnOn(r.args)
		r.parts = append(r.parts, o.LongName())
	}
}

func (r *rewrite) optimizer(ctx context.Context) {
	j := r.j
	c := j.pickOptimizer(ctx)
	from, _ := j.stringField(fieldOptim)
	if from == "" {
		from = defaultOptim
	}
	if j.jsonMode {
		r.argsSet(fieldOptim, c.optim)
	} else {
		r.args = cmdline.SetFlag(r.args, cmdline.HFNames(fieldOptim), c.optim, cmdline.Space)
		r.parts = append(r.parts, pyscript.Change("--"+fieldOptim, from, c.optim))
	}
	r.notes = append(r.notes, c.why)
}

func (r *rewrite) offload() error {
	j := r.j
	if j.ds.usable() != nil {
		return r.dsEditor().offloadToCPU(j.ds.label())
	}
	if j.acc.fsdp && !j.acc.deepspeed {
		// The launcher's flag wins over the config file's fsdp_config.
		r.setLauncher(accFSDPOffload, j.acc.fsdpOffload, "true")
		return nil
	}
	if !j.acc.deepspeed {
		return sdk.Unsupported(sdk.FixCPUOffload, "%s", reasonNoDeepSpeed)
	}
	r.setLauncher(accOffload, j.acc.offloadDevice, "cpu")
	if !j.acc.zeroKnown || j.acc.zeroStage < 2 {
		from := ""
		if j.acc.zeroKnown {
			from = fmt.Sprint(j.acc.zeroStage)
		}
		r.setLauncher(accZeroStage, from, "2")
	}
	return nil
}

// finish writes the edited JSON files as copies, points the command at
// them and builds the answer.
func (r *rewrite) finish(copyDir string) (sdk.ApplyResponse, error) {
	j := r.j
	var copies []sdk.FileCopy
	var copyParts []string
	used := map[string]bool{}
	if r.ds != nil && r.ds.changed {
		part, c, err := r.finishDeepSpeed(copyDir, used)
		if err != nil {
			return sdk.ApplyResponse{}, err
		}
		copies = append(copies, c...)
		copyParts = append(copyParts, part...)
	}
	if r.argsJSON != nil && (r.argsJSON.changed || r.argsRef) {
		content, err := r.argsJSON.doc.Indented(j.argsJSON.raw)
		if err != nil {
			return sdk.ApplyResponse{}, fmt.Errorf("%s: %w", j.argsJSON.named, err)
		}
		path := copyPath(copyDir, j.argsJSON.named, used)
		copies = append(copies, sdk.FileCopy{Original: j.argsJSON.named, Path: path, Content: content})
		r.args = []string{path}
		if len(r.argsJSON.changes) > 0 {
			copyParts = append([]string{copyLine(j.argsJSON.named, r.argsJSON.changes)}, copyParts...)
		}
	}
	argv, err := r.argv()
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	summary := strings.Join(r.parts, ", ")
	if len(copyParts) > 0 {
		if summary != "" {
			summary += "; "
		}
		summary += strings.Join(copyParts, "; ")
	}
	if len(r.notes) > 0 {
		summary += " (" + strings.Join(r.notes, "; ") + ")"
	}
	return sdk.ApplyResponse{Argv: argv, Env: r.env, Copies: copies, Summary: summary}, nil
}

// finishDeepSpeed turns the DeepSpeed edits into a copy (or a new inline
// value) and points the command at it.
func (r *rewrite) finishDeepSpeed(copyDir string, used map[string]bool) ([]string, []sdk.FileCopy, error) {
	d := r.j.ds
	if d.inline {
		if d.via == viaArgsJSON {
			// The dict lives inside the args file, already edited there.
			e := r.argsEditor()
			for _, c := range r.ds.changes {
				e.changes = append(e.changes, fieldDeepSpeed+"."+c)
			}
			e.changed = true
			return nil, nil, nil
		}
		value, err := d.doc.Compact()
		if err != nil {
			return nil, nil, err
		}
		r.args = cmdline.SetFlag(r.args, []string{"--" + fieldDeepSpeed}, value, cmdline.Space)
		return []string{"--deepspeed (inline): " + strings.Join(r.ds.changes, ", ")}, nil, nil
	}
	content, err := d.doc.Indented(d.raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.named, err)
	}
	path := copyPath(copyDir, d.named, used)
	switch d.via {
	case viaFlag:
		r.args = cmdline.SetFlag(r.args, []string{"--" + fieldDeepSpeed}, path, cmdline.Space)
	case viaArgsJSON:
		r.argsEditor().doc.Set(fieldDeepSpeed, path)
		r.argsRef = true
	case viaAccelerate:
		r.launcher = append(r.launcher, [2]string{accDSConfigFile, path})
	}
	copies := []sdk.FileCopy{{Original: d.named, Path: path, Content: content}}
	return []string{copyLine(d.named, r.ds.changes)}, copies, nil
}

func copyLine(named string, changes []string) string {
	return filepath.Base(named) + " (copy): " + strings.Join(changes, ", ")
}

// copyPath is where a copy of named goes: its base name in copyDir, made
// unique when two files of one fix share a name.
func copyPath(copyDir, named string, used map[string]bool) string {
	base := filepath.Base(named)
	for i := 2; used[base]; i++ {
		ext := filepath.Ext(named)
		base = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(filepath.Base(named), ext), i, ext)
	}
	used[base] = true
	return filepath.Join(copyDir, base)
}

// argv is the new command line: launcher options set one by one, then the
// script's arguments.
func (r *rewrite) argv() ([]string, error) {
	inv := r.j.s.Inv
	for _, o := range r.launcher {
		next, err := cmdline.Parse(inv.SetLauncherOption(o[0], o[1]))
		if err != nil {
			return nil, fmt.Errorf("setting accelerate launch %s %s: %w", o[0], o[1], err)
		}
		inv = next
	}
	return inv.WithArgs(r.args), nil
}

// spelled is a flag as the command types it (for summaries), else the
// spelling it is added with.
func (j *job) spelled(o pyscript.Option) string {
	if f, ok := cmdline.FindFlag(j.args(), o.Names...); ok {
		return f.Name
	}
	return o.LongName()
}

func valueOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
