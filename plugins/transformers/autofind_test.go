package transformers

import (
	"slices"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestAutoFindIsNoted: the Trainer's own batch search hides the OOMs
// vramrun would fix and shrinks the effective batch, so a command with it
// on is told so; off, or a script's own flag of that name, says nothing.
func TestAutoFindIsNoted(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	json := map[string]string{"run_clm.py": runCLM, "args.json": `{"output_dir": "o", "auto_find_batch_size": true}`}
	glue := map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer}
	for _, tc := range []struct {
		argv  string
		files map[string]string
		want  string
	}{
		{"python run_clm.py --auto_find_batch_size --per_device_train_batch_size 64", clm, "--auto_find_batch_size is on: "},
		{"python run_clm.py --auto-find-batch-size true", clm, "--auto_find_batch_size is on: "},
		{"python run_clm.py args.json", json, "auto_find_batch_size (args.json) is on: "},
		{"python run_clm.py --auto_find_batch_size False", clm, ""},
		{"python run_clm.py", clm, ""},
		{"python run_glue_no_trainer.py --auto_find_batch_size", glue, ""},
	} {
		a := plugintab.Analyze(t, New(), command(tc.argv, tc.files))
		i := slices.IndexFunc(a.Notes, func(n string) bool { return strings.Contains(n, "is on: after an OOM the Trainer retries") })
		switch {
		case tc.want == "" && i >= 0:
			t.Errorf("%s: noted %q", tc.argv, a.Notes[i])
		case tc.want != "" && (i < 0 || !strings.HasPrefix(a.Notes[i], tc.want)):
			t.Errorf("%s: notes %q, want one starting %q", tc.argv, a.Notes, tc.want)
		}
	}
}

// TestTrialTurnsAutoFindOff: a trial measures the micro-batch vramrun
// set, not one the Trainer's silent retries chose.
func TestTrialTurnsAutoFindOff(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	got := plugintab.MustApply(t, New(), command("python run_clm.py --auto_find_batch_size --output_dir o", clm), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"})
	if text := plugintab.ArgvText(got.Argv); !strings.Contains(text, "--auto_find_batch_size False") {
		t.Errorf("trial argv %s keeps the Trainer's batch search on", text)
	}
	files := map[string]string{"run_clm.py": runCLM, "args.json": `{"output_dir": "o", "auto_find_batch_size": true}`}
	got = plugintab.MustApply(t, New(), command("python run_clm.py args.json", files), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"})
	if m := copyJSON(t, got, "args.json"); m[AutoFindField] != false {
		t.Errorf("trial's args.json %s = %v, want false", AutoFindField, m[AutoFindField])
	}
}
