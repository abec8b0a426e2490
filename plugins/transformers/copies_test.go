package transformers

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestDeepSpeedBatchCopy(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "ds_config.json": dsNumbers}
	cmd := command("deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json --per_device_train_batch_size 16 --gradient_accumulation_steps 2 --do_train", files)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4})
	wantArgv := "deepspeed --num_gpus=2 run_clm.py --deepspeed /copies/ds_config.json --per_device_train_batch_size 8 --gradient_accumulation_steps 4 --do_train"
	if plugintab.ArgvText(got.Argv) != wantArgv {
		t.Errorf("argv\n got %s\nwant %s", plugintab.ArgvText(got.Argv), wantArgv)
	}
	wantSummary := "--per_device_train_batch_size 16 -> 8, --gradient_accumulation_steps 2 -> 4; " +
		"ds_config.json (copy): train_micro_batch_size_per_gpu 16 -> 8, gradient_accumulation_steps 2 -> 4, train_batch_size 64 -> 64"
	if got.Summary != wantSummary {
		t.Errorf("summary\n got %s\nwant %s", got.Summary, wantSummary)
	}
	if len(got.Copies) != 1 || got.Copies[0].Original != "ds_config.json" || got.Copies[0].Path != "/copies/ds_config.json" {
		t.Fatalf("copies %+v", got.Copies)
	}
	// The copy keeps the user's key order and indentation.
	wantContent := `{
    "train_batch_size": 64,
    "train_micro_batch_size_per_gpu": 8,
    "gradient_accumulation_steps": 4,
    "bf16": {
        "enabled": false
    },
    "zero_optimization": {
        "stage": 1
    }
}
`
	if string(got.Copies[0].Content) != wantContent {
		t.Errorf("copy content\n%s\nwant\n%s", got.Copies[0].Content, wantContent)
	}
}

func TestDeepSpeedBatchSizes(t *testing.T) {
	tests := []struct {
		name      string
		launch    string
		ds        string
		fix       sdk.Fix
		wantCopy  bool
		wantTotal any // train_batch_size in the copy; nil when removed
	}{
		{"effective batch not kept: total follows", "deepspeed --num_gpus=2", dsNumbers, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 3}, true, 48.0},
		{"auto everywhere: no copy", "deepspeed --num_gpus=2", dsAuto, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4}, false, nil},
		{"auto micro, numeric total, world from the total", "deepspeed",
			`{"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto", "train_batch_size": 64}`,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 3}, true, 48.0},
		{"auto micro, numeric total, kept effective batch: nothing to copy", "deepspeed",
			`{"train_micro_batch_size_per_gpu": "auto", "train_batch_size": 64}`,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4}, false, nil},
		{"world unknown and not derivable: total removed", "deepspeed",
			`{"train_micro_batch_size_per_gpu": 16, "train_batch_size": 60}`,
			sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"run_clm.py": runCLM, "ds.json": tt.ds}
			cmd := command(tt.launch+" run_clm.py --deepspeed ds.json --per_device_train_batch_size 16 --gradient_accumulation_steps 2", files)
			got := plugintab.MustApply(t, New(), cmd, tt.fix)
			if !tt.wantCopy {
				if len(got.Copies) != 0 || !strings.Contains(plugintab.ArgvText(got.Argv), "--deepspeed ds.json") {
					t.Errorf("want no copy; got copies %+v argv %q", got.Copies, got.Argv)
				}
				return
			}
			m := copyJSON(t, got, "ds.json")
			if m["train_batch_size"] != tt.wantTotal {
				t.Errorf("train_batch_size %v, want %v (copy %v)", m["train_batch_size"], tt.wantTotal, m)
			}
			if tt.wantTotal == nil && !strings.Contains(got.Summary, "removed") {
				t.Errorf("summary %q does not say train_batch_size was removed", got.Summary)
			}
			if m["train_micro_batch_size_per_gpu"] != "auto" && m["train_micro_batch_size_per_gpu"] != float64(tt.fix.BatchSize) {
				t.Errorf("micro-batch %v", m["train_micro_batch_size_per_gpu"])
			}
		})
	}
}

func TestDeepSpeedPrecisionCopy(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "ds_config.json": dsNumbers}
	cmd := command("deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json", files)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	if want := "deepspeed --num_gpus=2 run_clm.py --deepspeed /copies/ds_config.json --bf16"; plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv %s, want %s", plugintab.ArgvText(got.Argv), want)
	}
	if m := copyJSON(t, got, "ds_config.json"); at(m, "bf16", "enabled") != true {
		t.Errorf("bf16 not enabled in the copy: %v", m)
	}
	if !strings.Contains(got.Summary, "bf16.enabled false -> true") {
		t.Errorf("summary %q", got.Summary)
	}

	// "auto" is HF's to fill: no copy.
	files["ds_config.json"] = dsAuto
	got = plugintab.MustApply(t, New(), command("deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json", files), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	if len(got.Copies) != 0 || plugintab.ArgvText(got.Argv) != "deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json --bf16" {
		t.Errorf("auto: copies %+v argv %q", got.Copies, got.Argv)
	}

	// A DeepSpeed JSON that enables bf16 is already in bf16.
	files["ds_config.json"] = `{"bf16": {"enabled": true}}`
	if _, err := plugintab.Apply(t, New(), command("python run_clm.py --deepspeed ds_config.json", files), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}); !isUnsupported(err, "already in bf16") {
		t.Errorf("err %v", err)
	}
}

func TestDeepSpeedOffloadCopy(t *testing.T) {
	tests := []struct {
		name      string
		ds        string
		wantStage float64
		wantPin   any
	}{
		{"stage 1 raised to 2", dsNumbers, 2, true},
		{"stage 3 kept, pin_memory false kept", `{"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "none", "pin_memory": false}}}`, 3, false},
		{"no zero_optimization block", `{"train_micro_batch_size_per_gpu": "auto"}`, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"run_clm.py": runCLM, "ds.json": tt.ds}
			got := plugintab.MustApply(t, New(), command("python run_clm.py --deepspeed ds.json", files), sdk.Fix{ID: sdk.FixCPUOffload})
			m := copyJSON(t, got, "ds.json")
			if s := at(m, "zero_optimization", "stage"); s != tt.wantStage {
				t.Errorf("stage %v, want %v", s, tt.wantStage)
			}
			if d := at(m, "zero_optimization", "offload_optimizer", "device"); d != "cpu" {
				t.Errorf("device %v", d)
			}
			if p := at(m, "zero_optimization", "offload_optimizer", "pin_memory"); p != tt.wantPin {
				t.Errorf("pin_memory %v, want %v", p, tt.wantPin)
			}
			if plugintab.ArgvText(got.Argv) != "python run_clm.py --deepspeed /copies/ds.json" {
				t.Errorf("argv %q", got.Argv)
			}
			// The copy is what the next attempt reads: offload is on there.
			next := command(plugintab.ArgvText(got.Argv), files)
			next.Files["/copies/ds.json"] = got.Copies[0].Content
			if reason := outcomes(t, next)[sdk.FixCPUOffload]; strings.HasPrefix(reason, failed) || !strings.Contains(reason, "already on") {
				t.Errorf("after the fix: cpu_offload reason %q", reason)
			}
		})
	}
}

func TestInlineDeepSpeed(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM}
	argv := []string{"python", "run_clm.py", "--deepspeed", `{"train_micro_batch_size_per_gpu": 16, "gradient_accumulation_steps": "auto"}`, "--per_device_train_batch_size", "16"}
	cmd := command("", files)
	cmd.Argv = argv
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2})
	want := []string{"python", "run_clm.py", "--deepspeed", `{"train_micro_batch_size_per_gpu":8,"gradient_accumulation_steps":"auto"}`,
		"--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2"}
	if !reflect.DeepEqual(got.Argv, want) || len(got.Copies) != 0 {
		t.Errorf("argv %q copies %d, want %q", got.Argv, len(got.Copies), want)
	}
}

func TestAcceleratorDeepSpeedConfigFile(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "zero.json": `{"zero_optimization": {"stage": 2}}`}
	cmd := command("accelerate launch --use_deepspeed --deepspeed_config_file zero.json run_clm.py --do_train", files)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixCPUOffload})
	if want := "accelerate launch --use_deepspeed --deepspeed_config_file /copies/zero.json run_clm.py --do_train"; plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv %s, want %s", plugintab.ArgvText(got.Argv), want)
	}
	if d := at(copyJSON(t, got, "zero.json"), "zero_optimization", "offload_optimizer", "device"); d != "cpu" {
		t.Errorf("device %v", d)
	}
}

func TestSingleJSONArgsCopy(t *testing.T) {
	args := `{
	"model_name_or_path": "gpt2",
	"per_device_train_batch_size": 16,
	"output_dir": "/tmp/o",
	"do_train": true
}
`
	files := map[string]string{"run_clm.py": runCLM, "args.json": args}
	got := plugintab.MustApply(t, New(), command("python run_clm.py args.json", files), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2})
	if plugintab.ArgvText(got.Argv) != "python run_clm.py /copies/args.json" {
		t.Errorf("argv %q: the copy's path must replace the file, with no flag added", got.Argv)
	}
	want := "{\n\t\"model_name_or_path\": \"gpt2\",\n\t\"per_device_train_batch_size\": 8,\n\t\"output_dir\": \"/tmp/o\",\n\t\"do_train\": true,\n\t\"gradient_accumulation_steps\": 2\n}\n"
	if len(got.Copies) != 1 || string(got.Copies[0].Content) != want {
		t.Errorf("copies %+v\nwant content\n%s", got.Copies, want)
	}
	if got.Summary != "args.json (copy): per_device_train_batch_size 16 -> 8, gradient_accumulation_steps (unset) -> 2" {
		t.Errorf("summary %q", got.Summary)
	}

	for _, tt := range []struct {
		fix      sdk.Fix
		key      string
		want     any
		summary  string
		launcher string
	}{
		{sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 2}, "per_device_eval_batch_size", 2.0, "per_device_eval_batch_size (unset) -> 2", ""},
		{sdk.Fix{ID: sdk.FixGradCheckpointing}, "gradient_checkpointing", true, "gradient_checkpointing (unset) -> true", ""},
		{sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"}, "fp16", true, "fp16 (unset) -> true", ""},
	} {
		got := plugintab.MustApply(t, New(), command("python run_clm.py args.json", files), tt.fix)
		if m := copyJSON(t, got, "args.json"); m[tt.key] != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.fix.ID, tt.key, m[tt.key], tt.want)
		}
		if !strings.Contains(got.Summary, tt.summary) {
			t.Errorf("%s: summary %q", tt.fix.ID, got.Summary)
		}
	}
}

func TestSingleJSONArgsWithDeepSpeedPath(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "ds.json": dsNumbers,
		"args.json": `{"output_dir": "o", "deepspeed": "ds.json", "per_device_train_batch_size": 16, "gradient_accumulation_steps": 2}`}
	cmd := command("deepspeed --num_gpus 2 --no_local_rank run_clm.py args.json", files)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 8})
	if plugintab.ArgvText(got.Argv) != "deepspeed --num_gpus 2 --no_local_rank run_clm.py /copies/args.json" {
		t.Errorf("argv %q", got.Argv)
	}
	a := copyJSON(t, got, "args.json")
	d := copyJSON(t, got, "ds.json")
	if a["deepspeed"] != "/copies/ds.json" || a["per_device_train_batch_size"] != 4.0 || a["gradient_accumulation_steps"] != 8.0 {
		t.Errorf("args copy %v", a)
	}
	if d["train_micro_batch_size_per_gpu"] != 4.0 || d["gradient_accumulation_steps"] != 8.0 || d["train_batch_size"] != 64.0 {
		t.Errorf("ds copy %v", d)
	}
}

func TestBrokenJSONIsAnErrorNamingTheFile(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "ds.json": "{\n  \"train_batch_size\": 64,\n}\n"}
	cmd := command("python run_clm.py --deepspeed ds.json --per_device_eval_batch_size 8", files)
	_, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 2})
	if err == nil || isUnsupported(err, "") || !strings.HasPrefix(err.Error(), "ds.json: line 3, column 1") {
		t.Errorf("err %v, want a plain error naming ds.json and its line", err)
	}
	// Fixes that do not touch the file still work.
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--per_device_eval_batch_size 4") {
		t.Errorf("argv %q", got.Argv)
	}
	// A missing file too names it.
	delete(files, "ds.json")
	_, err = plugintab.Apply(t, New(), command("python run_clm.py --deepspeed ds.json", files), sdk.Fix{ID: sdk.FixCPUOffload})
	if err == nil || !strings.HasPrefix(err.Error(), "ds.json: ") {
		t.Errorf("missing file: err %v", err)
	}
}

func TestReadsConfigRelativeToDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ds.json"), []byte(dsNumbers), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := command("python run_clm.py --deepspeed ds.json", map[string]string{"run_clm.py": runCLM})
	cmd.Dir = dir
	if a := plugintab.Analyze(t, New(), cmd); a.Knobs.BatchSize == nil || *a.Knobs.BatchSize != 16 {
		t.Errorf("knobs %s: the micro-batch of %s/ds.json not read", plugintab.KnobsText(a.Knobs), dir)
	}
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4})
	if m := copyJSON(t, got, "ds.json"); m["train_micro_batch_size_per_gpu"] != 8.0 {
		t.Errorf("copy %v", m)
	}
	after, err := os.ReadFile(filepath.Join(dir, "ds.json"))
	if err != nil || string(after) != dsNumbers {
		t.Errorf("the user's file changed: %q, %v", after, err)
	}
}
