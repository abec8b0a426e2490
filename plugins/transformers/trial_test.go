package transformers

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestTrialKeepsOffTheUsersWork(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	cmd := command("python run_clm.py --output_dir out --do_train --do_eval --evaluation_strategy steps --save_steps 5 --push_to_hub --load_best_model_at_end --logging_dir logs", clm)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"})
	want := "python run_clm.py --output_dir /s --do_train --do_eval False --evaluation_strategy no --save_steps 5 --push_to_hub False --load_best_model_at_end False --logging_dir /s/logs --save_strategy no --report_to none"
	if plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv\n got %s\nwant %s", plugintab.ArgvText(got.Argv), want)
	}

	files := map[string]string{"run_clm.py": runCLM, "args.json": `{"output_dir": "o", "per_device_train_batch_size": 16, "push_to_hub": true}`}
	got = plugintab.MustApply(t, New(), command("python run_clm.py args.json", files), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"})
	m := copyJSON(t, got, "args.json")
	for key, want := range map[string]any{"output_dir": "/s", "save_strategy": "no", "eval_strategy": "no", "report_to": "none", "push_to_hub": false} {
		if m[key] != want {
			t.Errorf("%s = %v, want %v", key, m[key], want)
		}
	}

	glue := map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer}
	if _, err := New().Apply(t.Context(), sdk.ApplyRequest{Command: command("python run_glue_no_trainer.py --output_dir o", glue), Fix: sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}}); err == nil {
		t.Error("a script without TrainingArguments takes the trial fix")
	}
}
