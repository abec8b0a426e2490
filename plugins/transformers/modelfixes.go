package transformers

import (
	"context"
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// The TrainingArguments fields of the fused_loss and eval_accumulation
// fixes. use_liger_kernel (transformers 4.45 and later) patches the model
// with Liger's kernels, among them the fused linear cross-entropy that
// never holds the whole logits tensor; eval_accumulation_steps moves the
// gathered predictions to the host every N evaluation steps instead of
// keeping all of them on the GPU until the evaluation ends.
const (
	fieldLiger     = "use_liger_kernel"
	fieldEvalAccum = "eval_accumulation_steps"
	ligerModule    = "liger_kernel"
)

// noActivationOffload is why the HF Trainer cannot take activation_offload.
const noActivationOffload = "the HF Trainer has no activation-offload option (TRL's SFT has activation_offloading)"

// LigerMissing says why the fused_loss fix through Liger cannot go on in
// the job's Python ("" when liger_kernel is there, or the probe could not
// tell: then the job's own error is what tells).
func LigerMissing(ctx context.Context, probes *pyscript.Probes, s *pyscript.Script) string {
	found := probes.Find(ctx, s, ligerModule)
	if found.Known && !found.There {
		return found.Why + " (pip install liger-kernel)"
	}
	return ""
}

// EvalAccumulationOn says whether an eval_accumulation_steps value already
// moves predictions off the GPU after every step: only 1 does; a larger
// value still holds that many steps' predictions.
func EvalAccumulationOn(v string) bool {
	return strings.TrimSpace(v) == "1"
}

func (j *job) analyzeModelFixes(a *pyscript.Analysis) {
	a.Unsupported[sdk.FixActivationOffload] = noActivationOffload
	if !j.trainer && !j.jsonMode {
		a.Unsupported[sdk.FixFusedLoss] = j.s.NoFlag("fused-loss", "fused_loss")
		a.Unsupported[sdk.FixEvalAccumulation] = j.s.NoFlag("evaluation-accumulation", "eval_accumulation")
		return
	}
	if on, _, _ := j.boolField(fieldLiger); on {
		a.Unsupported[sdk.FixFusedLoss] = "already on (" + fieldLiger + ")"
	}
	if v, _ := j.evalAccumulation(); EvalAccumulationOn(v) {
		a.Unsupported[sdk.FixEvalAccumulation] = "already on (" + fieldEvalAccum + " 1)"
	}
}

// evalAccumulation is the command's eval_accumulation_steps as typed ("" when
// unset).
func (j *job) evalAccumulation() (string, bool) {
	if j.jsonMode {
		if j.argsJSON.err != nil {
			return "", false
		}
		v, ok := j.argsJSON.doc.Get(fieldEvalAccum)
		if n, num := jsonInt(v); ok && num {
			return fmt.Sprint(n), true
		}
		return "", false
	}
	if !j.trainer {
		return "", false
	}
	return j.stringField(fieldEvalAccum)
}

// fusedLoss turns Liger's kernels on, when liger_kernel is in the job's
// Python (transformers raises an ImportError at start-up without it).
func (r *rewrite) fusedLoss(ctx context.Context) error {
	j := r.j
	if why := LigerMissing(ctx, j.probes, j.s); why != "" {
		return sdk.Unsupported(sdk.FixFusedLoss, "%s", why)
	}
	if j.jsonMode {
		r.argsSet(fieldLiger, true)
	} else {
		r.args = cmdline.SetHFBool(r.args, fieldLiger, true)
		r.parts = append(r.parts, "--"+fieldLiger)
	}
	r.notes = append(r.notes, "Liger's fused linear cross-entropy; models Liger does not know train as before")
	return nil
}

// evalAccumulationOne sets eval_accumulation_steps to 1.
func (r *rewrite) evalAccumulationOne() {
	if r.j.jsonMode {
		r.argsSet(fieldEvalAccum, 1)
		return
	}
	from, _ := r.j.evalAccumulation()
	r.args = cmdline.SetFlag(r.args, cmdline.HFNames(fieldEvalAccum), "1", cmdline.Space)
	r.parts = append(r.parts, pyscript.Change("--"+fieldEvalAccum, from, "1"))
}
