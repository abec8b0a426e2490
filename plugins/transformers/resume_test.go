package transformers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// runCLMResumes is run_clm.py with its resume: the example passes
// training_args.resume_from_checkpoint to trainer.train().
const runCLMResumes = runCLM + `    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
`

// versionPython writes a python3 that prints version for the version probe.
func versionPython(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nprintf '%s' '" + version + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stateAt is a trainer_state.json saved at step with micro-batch batch.
func stateAt(step, batch string) string {
	return `{"global_step": ` + step + `, "max_steps": 40, "train_batch_size": ` + batch + `, "log_history": []}`
}

func TestCheckpointsOfATrainerScript(t *testing.T) {
	for argv, want := range map[string]*sdk.Checkpoints{
		"python3 run_clm.py --output_dir out --do_train": {Globs: []string{"out/checkpoint-*"}, Marker: "trainer_state.json",
			Step: `^checkpoint-(?P<step>[0-9]+)$`},
		"python3 run_clm.py --do_train":                                     {Globs: []string{"trainer_output/checkpoint-*"}, Marker: "trainer_state.json", Step: `^checkpoint-(?P<step>[0-9]+)$`},
		"python3 run_clm.py --output_dir out --save_strategy no --do_train": nil,
	} {
		a := plugintab.Analyze(t, New(), command(argv, map[string]string{"run_clm.py": runCLMResumes}))
		if (a.Checkpoints == nil) != (want == nil) || a.Checkpoints != nil &&
			(strings.Join(a.Checkpoints.Globs, ",") != strings.Join(want.Globs, ",") || a.Checkpoints.Marker != want.Marker || a.Checkpoints.Step != want.Step) {
			t.Errorf("%s: checkpoints %+v, want %+v", argv, a.Checkpoints, want)
		}
	}
	if a := plugintab.Analyze(t, New(), command("python3 glue.py --output_dir out", map[string]string{"glue.py": runGlueNoTrainer})); a.Checkpoints != nil {
		t.Errorf("a script without the Trainer: checkpoints %+v, want none", a.Checkpoints)
	}
}

func TestResumeSameMicroBatch(t *testing.T) {
	cmd := command("python3 run_clm.py --output_dir out --per_device_train_batch_size 8 --gradient_accumulation_steps 2",
		map[string]string{"run_clm.py": runCLMResumes, "out/checkpoint-10/trainer_state.json": stateAt("10", "8")})
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-10"})
	want := "python3 run_clm.py --output_dir out --per_device_train_batch_size 8 --gradient_accumulation_steps 2 --resume_from_checkpoint out/checkpoint-10"
	if plugintab.ArgvText(got.Argv) != want || got.Summary != "--resume_from_checkpoint out/checkpoint-10" {
		t.Errorf("argv %q summary %q, want %q", plugintab.ArgvText(got.Argv), got.Summary, want)
	}
	notes := strings.Join(got.Notes, "\n")
	if !strings.Contains(notes, "skips 20 batches of data to get back to step 10") || !strings.Contains(notes, "#22143") {
		t.Errorf("notes %q, want the data skip (10 steps x 2) and the accumulated gradients", notes)
	}
	// A resume already there is replaced, not doubled.
	cmd.Argv = append(cmd.Argv, "--resume_from_checkpoint", "out/checkpoint-5")
	got = plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-10"})
	if n := strings.Count(plugintab.ArgvText(got.Argv), "--resume_from_checkpoint"); n != 1 || !strings.HasSuffix(plugintab.ArgvText(got.Argv), "out/checkpoint-10") {
		t.Errorf("argv %q, want one --resume_from_checkpoint, the new one", plugintab.ArgvText(got.Argv))
	}
}

func TestResumeIgnoreDataSkipSaysNoSkip(t *testing.T) {
	cmd := command("python3 run_clm.py --output_dir out --ignore_data_skip",
		map[string]string{"run_clm.py": runCLMResumes, "out/checkpoint-10/trainer_state.json": stateAt("10", "8")})
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-10"})
	if len(got.Notes) != 0 {
		t.Errorf("notes %q, want none (no skip, no accumulation)", got.Notes)
	}
}

// TestResumeWithAnotherMicroBatch is the version-gated trap: transformers
// before 5.2.0 restores the checkpoint's train_batch_size (#43708).
func TestResumeWithAnotherMicroBatch(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLMResumes, "out/checkpoint-10/trainer_state.json": stateAt("10", "16")}
	argv := "python3 run_clm.py --output_dir out --per_device_train_batch_size 8 --gradient_accumulation_steps 2"
	for version, refused := range map[string]bool{"4.57.1": true, "5.1.0": true, "5.2.0": false, "5.10.0.dev0": false, "6.0.0": false} {
		cmd := command(argv, files)
		cmd.Env["PATH"] = versionPython(t, version)
		got, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-10"})
		if !refused {
			if err != nil || !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--resume_from_checkpoint out/checkpoint-10") {
				t.Errorf("transformers %s: %q, %v; want the resume", version, plugintab.ArgvText(got.Argv), err)
			}
			continue
		}
		plugintab.WantUnsupported(t, err, sdk.FixResume, "transformers "+version+
			" restores the checkpoint's micro-batch (16, the command now runs 8) on resume and miscounts the steps (transformers #43708, fixed in 5.2.0): the job starts fresh")
	}
	// No Python to ask: the version is unknown, and the job starts fresh.
	_, err := plugintab.Apply(t, New(), command(argv, files), sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-10"})
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "version is unknown") {
		t.Errorf("unknown version: %v, want a fresh start that says the version is unknown", err)
	}
}

func TestResumeSingleJSONGoesInACopy(t *testing.T) {
	args := `{"output_dir": "out", "per_device_train_batch_size": 8, "do_train": true}`
	cmd := command("python3 run_clm.py args.json", map[string]string{"run_clm.py": runCLMResumes, "args.json": args,
		"out/checkpoint-4/trainer_state.json": stateAt("4", "8")})
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-4"})
	doc := copyJSON(t, got, "args.json")
	if doc["resume_from_checkpoint"] != "out/checkpoint-4" || plugintab.ArgvText(got.Argv) != "python3 run_clm.py "+filepath.Join(plugintab.CopyDir, "args.json") {
		t.Errorf("copy %v, argv %q", doc, plugintab.ArgvText(got.Argv))
	}
}

func TestResumeNeedsTheScriptToPassIt(t *testing.T) {
	cmd := command("python3 run_clm.py --output_dir out", map[string]string{"run_clm.py": runCLM})
	_, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/checkpoint-4"})
	plugintab.WantUnsupported(t, err, sdk.FixResume, "run_clm.py never passes resume_from_checkpoint to trainer.train()")
}

func TestParseVersion(t *testing.T) {
	for s, want := range map[string][3]int{"4.57.1": {4, 57, 1}, "5.2.0.dev0": {5, 2, 0}, "5.3.0rc1": {5, 3, 0}, "5": {5, 0, 0}} {
		if got, ok := parseVersion(s); !ok || got != want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if _, ok := parseVersion("dev"); ok {
		t.Error("parseVersion(dev) read a version")
	}
}
