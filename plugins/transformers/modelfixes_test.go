package transformers

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestFusedLossWithLiger(t *testing.T) {
	dir := fakePython(t, "python3", 0)
	cmd := command(filepath.Join(dir, "python3")+" run_clm.py --do_train", map[string]string{"run_clm.py": runCLM})
	cmd.Dir = t.TempDir()
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixFusedLoss})
	if want := filepath.Join(dir, "python3") + " run_clm.py --do_train --use_liger_kernel"; plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv %s, want %s", plugintab.ArgvText(got.Argv), want)
	}
	if !strings.HasPrefix(got.Summary, "--use_liger_kernel (") {
		t.Errorf("summary %q", got.Summary)
	}
	if c := called(t, dir); !strings.Contains(c, "find_spec") || !strings.Contains(c, "liger_kernel") {
		t.Errorf("the probe ran as %q, want a find_spec of liger_kernel", c)
	}
}

func TestFusedLossWithoutLiger(t *testing.T) {
	dir := fakePython(t, "python3", 3)
	cmd := command("python3 run_clm.py --do_train", map[string]string{"run_clm.py": runCLM})
	cmd.Env["PATH"] = dir
	cmd.Dir = t.TempDir()
	plugintab.WantRefused(t, New(), cmd, sdk.Fix{ID: sdk.FixFusedLoss}, "liger_kernel is not installed in python3 (pip install liger-kernel)")
}

func TestModelFixes(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM}
	tests := []struct {
		name, argv string
		files      map[string]string
		fix        sdk.Fix
		want       string // the argv, or the refusal
		refused    bool
	}{
		{"eval accumulation added", "python run_clm.py --do_eval", files, sdk.Fix{ID: sdk.FixEvalAccumulation},
			"python run_clm.py --do_eval --eval_accumulation_steps 1", false},
		{"eval accumulation lowered to 1", "python run_clm.py --do_eval --eval_accumulation_steps 20", files,
			sdk.Fix{ID: sdk.FixEvalAccumulation}, "python run_clm.py --do_eval --eval_accumulation_steps 1", false},
		{"eval accumulation already 1", "python run_clm.py --do_eval --eval_accumulation_steps=1", files,
			sdk.Fix{ID: sdk.FixEvalAccumulation}, "already on (eval_accumulation_steps 1)", true},
		{"liger already on", "python run_clm.py --use_liger_kernel", files, sdk.Fix{ID: sdk.FixFusedLoss},
			"already on (use_liger_kernel)", true},
		{"no activation offload in the Trainer", "python run_clm.py", files, sdk.Fix{ID: sdk.FixActivationOffload},
			noActivationOffload, true},
		{"a script with its own flags has neither", "accelerate launch run_glue_no_trainer.py", map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer},
			sdk.Fix{ID: sdk.FixEvalAccumulation}, "no evaluation-accumulation flag in run_glue_no_trainer.py", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			if tt.refused {
				plugintab.WantRefused(t, New(), cmd, tt.fix, tt.want)
				return
			}
			got := plugintab.MustApply(t, New(), cmd, tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want {
				t.Errorf("argv %s, want %s", plugintab.ArgvText(got.Argv), tt.want)
			}
		})
	}
}

// TestModelFixesInTheJSONArgsFile: a single-JSON command gets the keys in
// its copy.
func TestModelFixesInTheJSONArgsFile(t *testing.T) {
	cmd := command("python run_clm.py args.json", map[string]string{"run_clm.py": runCLM,
		"args.json": `{"output_dir": "o", "eval_accumulation_steps": 8}`})
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixEvalAccumulation})
	if v := copyJSON(t, got, "args.json")["eval_accumulation_steps"]; v != float64(1) {
		t.Errorf("eval_accumulation_steps in the copy = %v, want 1", v)
	}
	got = plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixFusedLoss})
	if v := copyJSON(t, got, "args.json")["use_liger_kernel"]; v != true {
		t.Errorf("use_liger_kernel in the copy = %v, want true", v)
	}
}
