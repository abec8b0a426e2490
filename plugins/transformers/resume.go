package transformers

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// The Trainer saves <output_dir>/checkpoint-<global step>/ every save_steps
// optimizer steps, writing trainer_state.json last, and resumes from one
// with --resume_from_checkpoint PATH (the example scripts pass
// training_args.resume_from_checkpoint to trainer.train()).

const (
	fieldOutputDir    = "output_dir"
	fieldSaveStrategy = "save_strategy"
	fieldResume       = "resume_from_checkpoint"
	fieldIgnoreSkip   = "ignore_data_skip"
	// trainerState is the file a complete checkpoint folder holds.
	trainerState = "trainer_state.json"
	// defaultOutputDir is TrainingArguments' output_dir when none is given
	// (transformers 4.50 and later; before, it was required).
	defaultOutputDir = "trainer_output"
)

// batchRestoreFixed is the first transformers release that keeps the
// command's micro-batch on resume. Before it the Trainer restored the
// checkpoint's train_batch_size and recomputed max_steps from it, so a
// resume with another micro-batch (and the same effective batch) ran a
// wrong schedule (transformers #43708; the fix, PR #43770, merged on
// 2026-02-05 — 5.2.0 is the first minor release after it).
var batchRestoreFixed = [3]int{5, 2, 0}

// checkpoints is where the command's checkpoints go; nil when the script is
// not a Trainer script or saves none.
func (j *job) checkpoints() *sdk.Checkpoints {
	if !j.trainer {
		return nil
	}
	if s, _ := j.stringField(fieldSaveStrategy); strings.EqualFold(s, "no") {
		return nil
	}
	dir, _ := j.stringField(fieldOutputDir)
	if dir == "" {
		dir = defaultOutputDir
	}
	return TrainerCheckpoints(dir)
}

// TrainerCheckpoints are the Trainer's checkpoints under outputDir.
func TrainerCheckpoints(outputDir string) *sdk.Checkpoints {
	return &sdk.Checkpoints{Globs: []string{filepath.Join(outputDir, "checkpoint-*")}, Marker: trainerState,
		Step: `^checkpoint-(?P<step>[0-9]+)$`}
}

// resume points the command at checkpoint fix.Checkpoint, unless the
// installed transformers would resume it with a wrong schedule.
func (j *job) resume(ctx context.Context, fix sdk.Fix, copyDir string) (sdk.ApplyResponse, error) {
	if j.checkpoints() == nil {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "the script is not a Trainer script that saves checkpoints")
	}
	if !strings.Contains(pythonCode(j.s.Source), fieldResume) {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s never passes resume_from_checkpoint to trainer.train()", j.s.Inv.Script)
	}
	micro := valueOr(j.numField("batch_size", fieldBatch, defaultBatch).value, 0)
	accum := valueOr(j.numField("grad_accumulation", fieldAccum, defaultAccum).value, 1)
	if reason := BatchRestoreRefusal(ctx, j.probes, j.s, fix.Checkpoint, micro); reason != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "%s", reason)
	}
	r := &rewrite{j: j, args: append([]string{}, j.s.Inv.Args...)}
	if j.jsonMode {
		r.argsSet(fieldResume, fix.Checkpoint)
	} else {
		r.args = cmdline.SetFlag(r.args, cmdline.HFNames(fieldResume), fix.Checkpoint, cmdline.Space)
		r.parts = append(r.parts, "--"+fieldResume+" "+fix.Checkpoint)
	}
	resp, err := r.finish(copyDir)
	if err != nil {
		return resp, err
	}
	skip, _, _ := j.boolField(fieldIgnoreSkip)
	resp.Notes = ResumeNotes(j.cmd, fix.Checkpoint, accum, skip, "--ignore_data_skip")
	return resp, nil
}

// BatchRestoreRefusal is why resuming the job (script s, now at micro-batch
// micro) from a Trainer checkpoint would run a wrong schedule with the
// job's transformers (#43708): the checkpoint was saved at another
// micro-batch and the version is before the fix, or unknown. "" when the
// resume is safe. Plugins of tools built on the Trainer share it.
func BatchRestoreRefusal(ctx context.Context, probes *pyscript.Probes, s *pyscript.Script, checkpoint string, micro int) string {
	state := readTrainerState(s.Cmd, checkpoint)
	if state.batch <= 0 || micro <= 0 || state.batch == micro {
		return ""
	}
	return batchRestoreBug(ctx, probes, s, state.batch, micro)
}

// ResumeNotes are what resuming from a Trainer checkpoint costs, in words:
// the data the Trainer skips (unless ignoreSkip; skipFlag is how the
// command turns the skip off) and the gradients accumulated after it.
func ResumeNotes(cmd sdk.Command, checkpoint string, accum int, ignoreSkip bool, skipFlag string) []string {
	var notes []string
	if state := readTrainerState(cmd, checkpoint); state.step > 0 && !ignoreSkip {
		how := "transformers #11284"
		if skipFlag != "" {
			how = skipFlag + " avoids it, " + how
		}
		notes = append(notes, fmt.Sprintf("the Trainer first skips %d batches of data to get back to step %d; on a large dataset that can take a while (%s)",
			state.step*accum, state.step, how))
	}
	if accum > 1 {
		notes = append(notes, "gradients accumulated after the checkpoint's step are not in it: those micro-batches are trained again (transformers #22143)")
	}
	return notes
}

// batchRestoreBug is why resuming with micro-batch micro from a checkpoint
// saved at saved would run a wrong schedule with the job's transformers;
// "" when its version has the fix.
func batchRestoreBug(ctx context.Context, probes *pyscript.Probes, s *pyscript.Script, saved, micro int) string {
	found := probes.Version(ctx, s, "transformers")
	if !found.Known || !found.There || found.Version == "" {
		return fmt.Sprintf("the checkpoint was saved at micro-batch %d and the command now runs %d, and the job's transformers version is unknown (%s): releases before 5.2.0 restore the old batch size on resume and miscount the steps (transformers #43708), so the job starts fresh",
			saved, micro, found.Why)
	}
	v, ok := parseVersion(found.Version)
	if ok && !versionBefore(v, batchRestoreFixed) {
		return ""
	}
	return fmt.Sprintf("transformers %s restores the checkpoint's micro-batch (%d, the command now runs %d) on resume and miscounts the steps (transformers #43708, fixed in 5.2.0): the job starts fresh",
		found.Version, saved, micro)
}

// trainerStateFile is what resume reads of a checkpoint's trainer_state.json.
type trainerStateFile struct {
	step, batch int
}

func readTrainerState(cmd sdk.Command, checkpoint string) trainerStateFile {
	raw, err := cmd.ReadFile(filepath.Join(checkpoint, trainerState))
	if err != nil {
		return trainerStateFile{}
	}
	doc, err := parseJSONObject(raw)
	if err != nil {
		return trainerStateFile{}
	}
	var st trainerStateFile
	if v, ok := doc.Get("global_step"); ok {
		st.step, _ = jsonInt(v)
	}
	if v, ok := doc.Get("train_batch_size"); ok {
		st.batch, _ = jsonInt(v)
	}
	return st
}

// parseVersion reads the release numbers of a version such as "4.57.1",
// "5.2.0.dev0" or "5.3.0rc1".
func parseVersion(s string) ([3]int, bool) {
	var v [3]int
	parts := strings.Split(strings.TrimSpace(s), ".")
	for i := 0; i < 3 && i < len(parts); i++ {
		digits := parts[i]
		for k, r := range digits {
			if r < '0' || r > '9' {
				digits = digits[:k]
				break
			}
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return v, i > 0
		}
		v[i] = n
	}
	return v, true
}

func versionBefore(v, w [3]int) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}
