package transformers

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestApplyFlags(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	noTrainer := map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer,
		"cfg.yaml": "distributed_type: MULTI_GPU\nmixed_precision: 'no'\n"}
	tests := []struct {
		name    string
		argv    string
		files   map[string]string
		flags   map[string]string
		fix     sdk.Fix
		want    string
		env     map[string]string
		summary string
	}{
		{
			name: "run_clm batch: micro-batch edited in place, accumulation added", argv: "python run_clm.py " + clmArgs, files: clm,
			fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 2},
			want:    "python run_clm.py " + strings.Replace(clmArgs, "--per_device_train_batch_size 8", "--per_device_train_batch_size 4", 1) + " --gradient_accumulation_steps 2",
			summary: "--per_device_train_batch_size 8 -> 4, --gradient_accumulation_steps 1 -> 2",
		},
		{
			name: "run_glue batch keeps the = form and the hyphenated spelling", argv: "python run_glue.py --per-device-train-batch-size=32 --gradient-accumulation-steps=1 --output_dir o",
			fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			want:    "python run_glue.py --per-device-train-batch-size=16 --gradient-accumulation-steps=2 --output_dir o",
			summary: "--per-device-train-batch-size 32 -> 16, --gradient-accumulation-steps 1 -> 2",
		},
		{
			name: "batch without accumulation knob use", argv: "python run_clm.py --per_device_train_batch_size 8", files: clm,
			fix:  sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4},
			want: "python run_clm.py --per_device_train_batch_size 4", summary: "--per_device_train_batch_size 8 -> 4",
		},
		{
			name: "torchrun: only the script's arguments change", argv: "torchrun --nproc_per_node 4 run_clm.py --per_device_train_batch_size 8 --gradient_accumulation_steps 2", files: clm,
			fix:  sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 8},
			want: "torchrun --nproc_per_node 4 run_clm.py --per_device_train_batch_size 2 --gradient_accumulation_steps 8",
		},
		{
			name: "eval batch", argv: "python run_clm.py " + clmArgs, files: clm,
			fix:     sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 2},
			want:    "python run_clm.py " + strings.Replace(clmArgs, "--per_device_eval_batch_size 8", "--per_device_eval_batch_size 2", 1),
			summary: "--per_device_eval_batch_size 8 -> 2",
		},
		{
			name: "eval batch added at the TrainingArguments default", argv: "python run_clm.py --do_eval", files: clm,
			fix:  sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4},
			want: "python run_clm.py --do_eval --per_device_eval_batch_size 4", summary: "--per_device_eval_batch_size 8 -> 4",
		},
		{
			name: "bf16 added", argv: "python run_clm.py --do_train", files: clm,
			fix:  sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			want: "python run_clm.py --do_train --bf16", summary: "--bf16",
		},
		{
			name: "bf16 False becomes True in the user's form", argv: "python run_clm.py --bf16 False --fp16 false", files: clm,
			fix:  sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			want: "python run_clm.py --bf16 True --fp16 false",
		},
		{
			name: "fp16 when the GPU has no bf16; --no_bf16 left as it is", argv: "python run_clm.py --no_bf16", files: clm,
			fix:  sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			want: "python run_clm.py --no_bf16 --fp16", summary: "--fp16",
		},
		{
			name: "Trainer under accelerate launch: --bf16, and the launcher agrees", argv: "accelerate launch --mixed_precision no run_clm.py --do_train", files: clm,
			fix:     sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			want:    "accelerate launch --mixed_precision bf16 run_clm.py --do_train --bf16",
			summary: "--bf16, accelerate launch --mixed_precision no -> bf16",
		},
		{
			name: "no_trainer script: the launcher's --mixed_precision", argv: "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --task_name mrpc --per_device_train_batch_size 32",
			files: noTrainer, fix: sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
			want:    "accelerate launch --config_file cfg.yaml --mixed_precision bf16 run_glue_no_trainer.py --task_name mrpc --per_device_train_batch_size 32",
			summary: "accelerate launch --mixed_precision no -> bf16",
		},
		{
			name: "no_trainer script under python: the variable Accelerator() reads", argv: "python run_glue_no_trainer.py --task_name mrpc",
			files: noTrainer, fix: sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
			want: "python run_glue_no_trainer.py --task_name mrpc", env: map[string]string{"ACCELERATE_MIXED_PRECISION": "fp16"},
			summary: "ACCELERATE_MIXED_PRECISION=fp16",
		},
		{
			name: "no_trainer batch: the script's argparse flags and defaults", argv: "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --task_name mrpc --per_device_train_batch_size 32",
			files: noTrainer, fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
			want:    "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --task_name mrpc --per_device_train_batch_size 16 --gradient_accumulation_steps 2",
			summary: "--per_device_train_batch_size 32 -> 16, --gradient_accumulation_steps 1 -> 2",
		},
		{
			name: "accelerate's own --gradient_accumulation_steps kept in agreement", argv: "accelerate launch --use_deepspeed --gradient_accumulation_steps 2 run_clm.py --per_device_train_batch_size 8 --gradient_accumulation_steps 2",
			files: clm, fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 4},
			want: "accelerate launch --use_deepspeed --gradient_accumulation_steps 4 run_clm.py --per_device_train_batch_size 4 --gradient_accumulation_steps 4",
		},
		{
			name: "gradient checkpointing added", argv: "python run_clm.py --do_train", files: clm,
			fix:  sdk.Fix{ID: sdk.FixGradCheckpointing},
			want: "python run_clm.py --do_train --gradient_checkpointing", summary: "--gradient_checkpointing",
		},
		{
			name: "gradient checkpointing False becomes True", argv: "python run_clm.py --gradient_checkpointing False --do_train", files: clm,
			fix:  sdk.Fix{ID: sdk.FixGradCheckpointing},
			want: "python run_clm.py --gradient_checkpointing True --do_train",
		},
		{
			name: "accelerate DeepSpeed offload: stage raised, device set", argv: "accelerate launch --use_deepspeed --zero_stage 1 run_clm.py --do_train", files: clm,
			fix:     sdk.Fix{ID: sdk.FixCPUOffload},
			want:    "accelerate launch --use_deepspeed --zero_stage 2 --offload_optimizer_device cpu run_clm.py --do_train",
			summary: "accelerate launch --offload_optimizer_device cpu, accelerate launch --zero_stage 1 -> 2",
		},
		{
			name: "accelerate DeepSpeed offload at stage 3 keeps the stage", argv: "accelerate launch --use_deepspeed --zero_stage=3 run_clm.py", files: clm,
			fix:  sdk.Fix{ID: sdk.FixCPUOffload},
			want: "accelerate launch --use_deepspeed --zero_stage=3 --offload_optimizer_device cpu run_clm.py",
		},
		{
			name: "the profile's template wins", argv: "python run_clm.py --do_train", files: clm,
			flags: map[string]string{"grad_checkpointing": "--activation_ckpt"},
			fix:   sdk.Fix{ID: sdk.FixGradCheckpointing},
			want:  "python run_clm.py --do_train --activation_ckpt", summary: "--activation_ckpt",
		},
		{
			name: "the .args file's value is overridden on the command line", argv: "python run_clm.py --do_train",
			files: map[string]string{"run_clm.py": runCLM, "run_clm.args": "--per_device_train_batch_size 16"},
			fix:   sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
			want:  "python run_clm.py --do_train --per_device_train_batch_size 8 --gradient_accumulation_steps 2", summary: "--per_device_train_batch_size 16 -> 8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			cmd.Flags = tt.flags
			got := plugintab.MustApply(t, New(), cmd, tt.fix)
			if plugintab.ArgvText(got.Argv) != tt.want {
				t.Errorf("argv\n got %s\nwant %s", plugintab.ArgvText(got.Argv), tt.want)
			}
			if !reflect.DeepEqual(got.Env, tt.env) {
				t.Errorf("env %v, want %v", got.Env, tt.env)
			}
			if tt.summary != "" && !strings.HasPrefix(got.Summary, tt.summary) {
				t.Errorf("summary %q, want it to start with %q", got.Summary, tt.summary)
			}
			if len(got.Copies) != 0 {
				t.Errorf("unexpected copies %+v", got.Copies)
			}
		})
	}
}

func TestApplyAllocator(t *testing.T) {
	cmd := command("python run_clm.py --do_train", map[string]string{"run_clm.py": runCLM})
	cmd.Env["PYTORCH_CUDA_ALLOC_CONF"] = "max_split_size_mb:128"
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixAllocator})
	want := map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True",
		"PYTORCH_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"}
	if !reflect.DeepEqual(got.Env, want) || !reflect.DeepEqual(got.Argv, cmd.Argv) {
		t.Errorf("got env %v argv %q", got.Env, got.Argv)
	}
	cmd.Env["PYTORCH_ALLOC_CONF"] = "expandable_segments:True"
	if _, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixAllocator}); !isUnsupported(err, "already on") {
		t.Errorf("second allocator fix: err %v, want unsupported already on", err)
	}
}

func isUnsupported(err error, reason string) bool {
	var u *sdk.UnsupportedError
	return errors.As(err, &u) && strings.Contains(u.Reason, reason)
}

func TestApplyUnsupported(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	tests := []struct {
		name   string
		argv   string
		files  map[string]string
		fix    sdk.Fix
		reason string
	}{
		{"already in bf16", "python run_clm.py --bf16", clm, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16"},
		{"already in fp16 when asked for bf16", "python run_clm.py --fp16 1", clm, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in fp16"},
		{"checkpointing on", "python run_clm.py --gradient-checkpointing", clm, sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on"},
		{"offload without DeepSpeed", "python run_clm.py", clm, sdk.Fix{ID: sdk.FixCPUOffload}, "needs DeepSpeed: run with --deepspeed ds_config.json or accelerate launch --use_deepspeed"},
		{"already adafactor", "python run_clm.py --optim adafactor", clm, sdk.Fix{ID: sdk.FixOptimizer8bit}, "already adafactor"},
		{"no_trainer has no checkpointing flag", "python run_glue_no_trainer.py", map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer},
			sdk.Fix{ID: sdk.FixGradCheckpointing}, "no gradient-checkpointing flag in run_glue_no_trainer.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugintab.Apply(t, New(), command(tt.argv, tt.files), tt.fix)
			if !isUnsupported(err, tt.reason) {
				t.Errorf("err %v, want unsupported %q", err, tt.reason)
			}
		})
	}
}

func TestApplyRejectsBadSizes(t *testing.T) {
	cmd := command("python run_clm.py", map[string]string{"run_clm.py": runCLM})
	for _, fix := range []sdk.Fix{{ID: sdk.FixBatchSize}, {ID: sdk.FixEvalBatchSize, BatchSize: -1}, {ID: sdk.FixMixedPrecision, Precision: "fp8"}} {
		if _, err := plugintab.Apply(t, New(), cmd, fix); err == nil || isUnsupported(err, "") {
			t.Errorf("%+v: err %v, want a plain error", fix, err)
		}
	}
}

// TestApplyLeavesItsInputAlone applies every fix to commands whose
// settings come from files and checks (in apply) that the command given,
// its environment and file contents included, is unchanged afterwards.
func TestApplyLeavesItsInputAlone(t *testing.T) {
	commands := []sdk.Command{
		command("deepspeed --num_gpus=2 run_clm.py --deepspeed ds.json --per_device_train_batch_size 16 --gradient_accumulation_steps 2",
			map[string]string{"run_clm.py": runCLM, "ds.json": dsNumbers, "run_clm.args": "--per_device_eval_batch_size 4"}),
		command("python run_clm.py args.json", map[string]string{"run_clm.py": runCLM, "ds.json": dsNumbers,
			"args.json": `{"output_dir": "o", "deepspeed": "ds.json", "per_device_train_batch_size": 16}`}),
		command("accelerate launch --use_deepspeed --config_file cfg.yaml run_glue_no_trainer.py --per_device_train_batch_size 32",
			map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer, "cfg.yaml": "mixed_precision: 'no'\n"}),
	}
	for _, cmd := range commands {
		cmd.Flags = map[string]string{"eval_batch_size": "--per_device_eval_batch_size"}
		for _, id := range sdk.AllFixes() {
			fix := sdk.Fix{ID: id, BatchSize: 4, GradAccumulation: 8, Precision: "bf16"}
			if id == sdk.FixOptimizer8bit {
				continue // runs a Python; covered in optim_test.go
			}
			if _, err := plugintab.Apply(t, New(), cmd, fix); err != nil && !isUnsupported(err, "") {
				t.Errorf("%q %s: %v", cmd.Argv, id, err)
			}
		}
	}
}
