package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// learnedStart is the state of learning in one run.
type learnedStart struct {
	fp  profiles.Fingerprint
	gpu profiles.GPUKey
	// recorded is how many fixes the recorded entry holds, so that an
	// attempt that needed more fixes after one that fit for learn_after
	// (and then ran out of memory later on) updates the record; -1 before
	// anything was recorded.
	recorded int
}

// fingerprint identifies the command as typed (contract section 6).
func (r *run) fingerprint() profiles.Fingerprint {
	a := r.analysis
	fp := profiles.Fingerprint{Launcher: a.Launcher, WorldSize: a.WorldSize, Script: a.Script,
		Knobs: knobStrings(a.Knobs), ConfigHashes: map[string]string{}}
	if fp.Script == "" {
		fp.Script = strings.Join(r.o.Argv, " ")
	}
	cmd := sdk.Command{Dir: r.o.Dir}
	for _, f := range a.ConfigFiles {
		data, err := cmd.ReadFile(f)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(data)
		fp.ConfigHashes[f] = hex.EncodeToString(sum[:])
	}
	return fp
}

func knobStrings(k sdk.Knobs) map[string]string {
	out := map[string]string{}
	if k.BatchSize != nil {
		out["batch_size"] = strconv.Itoa(*k.BatchSize)
	}
	if k.GradAccumulation != nil {
		out["grad_accumulation"] = strconv.Itoa(*k.GradAccumulation)
	}
	if k.EvalBatchSize != nil {
		out["eval_batch_size"] = strconv.Itoa(*k.EvalBatchSize)
	}
	if k.Precision != nil {
		out["precision"] = *k.Precision
	}
	if k.GradCheckpointing != nil {
		out["grad_checkpointing"] = strconv.FormatBool(*k.GradCheckpointing)
	}
	if k.Optimizer != nil {
		out["optimizer"] = *k.Optimizer
	}
	if k.Offload != nil {
		out["offload"] = strconv.FormatBool(*k.Offload)
	}
	return out
}

// startFromLearned applies what fit last time on this GPU model, when the
// profile allows learning.
func (r *run) startFromLearned() error {
	if r.plugin == nil {
		return nil
	}
	r.learned.fp = r.fingerprint()
	r.learned.gpu = r.gpu.key()
	if !r.o.Settings.Learn {
		return nil
	}
	l, ok, err := r.o.Store.Lookup(r.learned.fp, r.learned.gpu)
	if err != nil {
		r.msg.warn("%v", err)
	}
	if !ok || len(l.Fixes) == 0 {
		return nil
	}
	var fixes []sdk.Fix
	for _, f := range l.Fixes {
		fr, unsupported, err := r.apply(1, f, "what fit last time", true)
		if err != nil {
			return err
		}
		if unsupported != "" {
			r.msg.warn("could not re-apply %s from learned state: %s", f.ID, unsupported)
			continue
		}
		fixes = append(fixes, f)
		if f.ID == sdk.FixMixedPrecision || f.ID == sdk.FixOptimizer8bit || f.ID == sdk.FixCPUOffload {
			// A change of numerics is always announced.
			r.msg.always("re-applying %s from learned state: %s", f.ID, fr.Summary)
		} else {
			r.msg.verbose("re-applying %s from learned state: %s", f.ID, fr.Summary)
		}
	}
	r.planner.Resume(fixes)
	r.rec.Learned = l.Summary
	r.msg.always("starting from what fit on %s last time: %s; --no-learn to start fresh", r.learned.gpu.Model, l.Summary)
	return nil
}

// learn records what fit. It runs when an attempt exits 0, or has run for
// learn_after without an OOM.
func (r *run) learn(attempt int) {
	if !r.o.Settings.Learn || r.plugin == nil || len(r.applied) == 0 || len(r.applied) == r.learned.recorded {
		return
	}
	r.learned.recorded = len(r.applied)
	l := profiles.Learned{
		Fixes:    append([]sdk.Fix(nil), r.applied...),
		Argv:     append([]string(nil), r.argv...),
		Env:      copyMap(r.setEnv),
		Summary:  fitSummary(r.applied),
		Recorded: r.o.Now(),
		RunID:    r.rec.ID,
	}
	if err := r.o.Store.Record(r.learned.fp, r.learned.gpu, l); err != nil {
		r.msg.warn("could not record what fit: %v", err)
		return
	}
	r.msg.verbose("recorded what fit at attempt %d for %s: %s", attempt, r.learned.gpu.Model, l.Summary)
}

// fitSummary says in a few words what the fixes add up to:
// "batch 24 x accumulation 4, bf16, allocator".
func fitSummary(fixes []sdk.Fix) string {
	var batch, eval string
	var others []string
	seen := map[sdk.FixID]bool{}
	for _, f := range fixes {
		switch f.ID {
		case sdk.FixBatchSize:
			batch = fmt.Sprintf("batch %d", f.BatchSize)
			if f.GradAccumulation > 0 {
				batch += fmt.Sprintf(" x accumulation %d", f.GradAccumulation)
			}
		case sdk.FixEvalBatchSize:
			eval = fmt.Sprintf("eval batch %d", f.BatchSize)
		case sdk.FixMixedPrecision:
			if !seen[f.ID] {
				others = append(others, f.Precision)
			}
		default:
			if !seen[f.ID] {
				others = append(others, string(f.ID))
			}
		}
		seen[f.ID] = true
	}
	var parts []string
	for _, p := range []string{batch, eval} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(append(parts, others...), ", ")
}

// planConfig is the planner's configuration for these settings.
func planConfig(s profiles.Settings, bf16 *bool) plan.Config {
	return plan.Config{Ladder: s.Ladder, KeepEffectiveBatch: s.KeepEffectiveBatch,
		MinBatchSize: s.MinBatchSize, Precision: s.Precision, BF16: bf16}
}
