package transformers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const (
	dsAuto = `{
  "train_micro_batch_size_per_gpu": "auto",
  "gradient_accumulation_steps": "auto",
  "train_batch_size": "auto",
  "bf16": {"enabled": "auto"},
  "zero_optimization": {"stage": 2}
}`
	dsNumbers = `{
    "train_batch_size": 64,
    "train_micro_batch_size_per_gpu": 16,
    "gradient_accumulation_steps": 2,
    "bf16": {"enabled": false},
    "zero_optimization": {"stage": 1}
}`
	dsOffloaded = `{"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "nvme", "nvme_path": "/nvme"}}}`
)

// supported marks a fix that Apply must apply.
const supported = ""

func TestAnalyze(t *testing.T) {
	clm := map[string]string{"run_clm.py": runCLM}
	withFiles := func(extra map[string]string) map[string]string {
		m := map[string]string{"run_clm.py": runCLM}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		argv  string
		files map[string]string
		env   map[string]string
		flags map[string]string
		knobs sdk.Knobs
		// unsupported maps a fix to a part of the reason Apply turns it down
		// with, to failed and a part of the error Apply fails with, or to
		// supported.
		unsupported map[sdk.FixID]string
		launcher    string
		world       int
		configs     []string
	}{
		{
			name: "run_clm flags, TrainingArguments defaults for the rest", argv: "python run_clm.py " + clmArgs, files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixAllocator: supported, sdk.FixMixedPrecision: supported, sdk.FixBatchSize: supported,
				sdk.FixGradCheckpointing: supported, sdk.FixOptimizer8bit: supported, sdk.FixEvalBatchSize: supported,
				sdk.FixCPUOffload: "needs DeepSpeed: run with --deepspeed ds_config.json or accelerate launch --use_deepspeed"},
			launcher: "python", world: 1,
		},
		{
			name: "run_glue, script not readable", argv: "python run_glue.py " + glueArgs,
			knobs: sdk.Knobs{BatchSize: intp(32), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixBatchSize: supported},
			launcher:    "python", world: 1,
		},
		{
			name: "hyphenated aliases and = form", argv: "python run_clm.py --per-device-train-batch-size=4 --gradient-accumulation-steps 8 --per-device-eval-batch-size 2 --gradient-checkpointing",
			files: clm,
			knobs: sdk.Knobs{BatchSize: intp(4), GradAccumulation: intp(8), EvalBatchSize: intp(2), Precision: strp("fp32"),
				GradCheckpointing: boolp(true), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixGradCheckpointing: "already on"},
		},
		{
			name: "bare --bf16", argv: "python run_clm.py --bf16 --output_dir o", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("bf16"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in bf16"},
		},
		{
			name: "--bf16 True", argv: "python run_clm.py --bf16 True", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("bf16"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in bf16"},
		},
		{
			name: "--bf16 false --fp16 YES", argv: "python run_clm.py --bf16 false --fp16 YES", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp16"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in fp16"},
		},
		{
			name: "--fp16 false and --no_gradient_checkpointing", argv: "python run_clm.py --fp16 false --no_gradient_checkpointing", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: supported, sdk.FixGradCheckpointing: supported},
		},
		{
			name: "8-bit optimizer already", argv: "python run_clm.py --optim adamw_bnb_8bit", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_bnb_8bit")},
			unsupported: map[sdk.FixID]string{sdk.FixOptimizer8bit: "already adamw_bnb_8bit"},
		},
		{
			name: "paged optimizer already", argv: "python run_clm.py --optim=paged_adamw_32bit", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("paged_adamw_32bit")},
			unsupported: map[sdk.FixID]string{sdk.FixOptimizer8bit: "already paged_adamw_32bit"},
		},
		{
			name: "auto_find_batch_size changes nothing", argv: "python run_clm.py --auto_find_batch_size --per_device_train_batch_size 64", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(64), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixBatchSize: supported},
		},
		{
			name: "allocator already on", argv: "python run_clm.py", files: clm,
			env: map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"},
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixAllocator: "already on (PYTORCH_CUDA_ALLOC_CONF)"},
		},
		{
			name: "no_trainer script under accelerate launch with a config file",
			argv: "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --model_name_or_path bert-base-cased --task_name mrpc --per_device_train_batch_size 32 --output_dir /tmp/mrpc/",
			files: map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer,
				"cfg.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nmixed_precision: 'no'\nnum_processes: 2\n"},
			knobs: sdk.Knobs{BatchSize: intp(32), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: supported, sdk.FixBatchSize: supported,
				sdk.FixGradCheckpointing: "no gradient-checkpointing flag in run_glue_no_trainer.py",
				sdk.FixOptimizer8bit:     "no optimizer flag", sdk.FixCPUOffload: "needs DeepSpeed"},
			// The config's num_processes is the world, as accelerate starts it.
			launcher: "accelerate", world: 2, configs: []string{"cfg.yaml"},
		},
		{
			name:        "accelerate config already in bf16",
			argv:        "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --task_name mrpc",
			files:       map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer, "cfg.yaml": "mixed_precision: bf16\n"},
			knobs:       sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("bf16")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in bf16"},
		},
		{
			name:        "accelerate default config under an env HF_HOME= prefix",
			argv:        "env HF_HOME=/hf accelerate launch run_glue_no_trainer.py --task_name mrpc",
			files:       map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer, "/hf/accelerate/default_config.yaml": "mixed_precision: bf16\n"},
			knobs:       sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("bf16")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in bf16"},
		},
		{
			name: "accelerate's default config under HF_HOME", argv: "accelerate launch run_glue_no_trainer.py",
			files:       map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer, "/hf/accelerate/default_config.yaml": "mixed_precision: fp16\n"},
			env:         map[string]string{"HF_HOME": "/hf"},
			knobs:       sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp16")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in fp16"},
			configs:     []string{"/hf/accelerate/default_config.yaml"},
		},
		{
			name: "no_trainer under python: Accelerator() reads the environment", argv: "python run_glue_no_trainer.py --task_name mrpc",
			files: map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer}, env: map[string]string{"ACCELERATE_MIXED_PRECISION": "fp16"},
			knobs:       sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp16")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in fp16"},
		},
		{
			name: "accelerate launch with DeepSpeed ZeRO 1", argv: "accelerate launch --use_deepspeed --zero_stage 1 --num_processes 2 run_clm.py " + clmArgs,
			files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch"), Offload: boolp(false)},
			unsupported: map[sdk.FixID]string{sdk.FixCPUOffload: supported},
			launcher:    "accelerate", world: 2,
		},
		{
			name: "accelerate launch already offloading", argv: "accelerate launch --use_deepspeed --offload_optimizer_device cpu run_clm.py", files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch"), Offload: boolp(true)},
			unsupported: map[sdk.FixID]string{sdk.FixCPUOffload: "already on"},
		},
		{
			name: "deepspeed JSON with auto: the flags count", argv: "deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json --per_device_train_batch_size 16 --gradient_accumulation_steps 2",
			files: withFiles(map[string]string{"ds_config.json": dsAuto}),
			knobs: sdk.Knobs{BatchSize: intp(16), GradAccumulation: intp(2), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch"), Offload: boolp(false)},
			unsupported: map[sdk.FixID]string{sdk.FixCPUOffload: supported, sdk.FixMixedPrecision: supported},
			launcher:    "deepspeed", world: 2, configs: []string{"ds_config.json"},
		},
		{
			name: "deepspeed JSON with numbers: they count", argv: "deepspeed --num_gpus=2 run_clm.py --deepspeed=ds_config.json --do_train",
			files: withFiles(map[string]string{"ds_config.json": dsNumbers}),
			knobs: sdk.Knobs{BatchSize: intp(16), GradAccumulation: intp(2), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch"), Offload: boolp(false)},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: supported, sdk.FixCPUOffload: supported},
		},
		{
			name: "deepspeed JSON offloading to nvme, its own optimizer", argv: "python run_clm.py --deepspeed ds.json",
			files: withFiles(map[string]string{"ds.json": strings.Replace(dsOffloaded, "{\"zero", "{\"optimizer\": {\"type\": \"AdamW\"}, \"zero", 1)}),
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("AdamW"), Offload: boolp(true)},
			unsupported: map[sdk.FixID]string{sdk.FixCPUOffload: "already on (offload_optimizer.device nvme in ds.json)",
				sdk.FixOptimizer8bit: "ds.json defines the optimizer (AdamW)"},
		},
		{
			name: "deepspeed JSON that is not JSON: Analyze still reads the flags", argv: "python run_clm.py --deepspeed ds.json --per_device_train_batch_size 4",
			files: withFiles(map[string]string{"ds.json": "{\n  \"train_batch_size\": 64,\n}"}),
			knobs: sdk.Knobs{BatchSize: intp(4), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixBatchSize: failed + "ds.json: line 3, column 1", sdk.FixCPUOffload: failed + "ds.json: line 3, column 1"},
		},
		{
			name: "torchrun", argv: "torchrun --nproc_per_node 4 run_clm.py " + clmArgs, files: clm,
			knobs: sdk.Knobs{BatchSize: intp(8), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			launcher: "torchrun", world: 4,
		},
		{
			name: "single JSON args file", argv: "python run_clm.py args.json",
			files: withFiles(map[string]string{"args.json": `{"output_dir": "/tmp/o", "per_device_train_batch_size": 16, "gradient_accumulation_steps": 4, "bf16": false, "gradient_checkpointing": true, "optim": "adafactor"}`}),
			knobs: sdk.Knobs{BatchSize: intp(16), GradAccumulation: intp(4), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(true), Optimizer: strp("adafactor")},
			unsupported: map[sdk.FixID]string{sdk.FixGradCheckpointing: "already on", sdk.FixOptimizer8bit: "already adafactor",
				sdk.FixMixedPrecision: supported},
			configs: []string{"args.json"},
		},
		{
			name: "single JSON args file that is broken", argv: "python run_clm.py args.json",
			files: withFiles(map[string]string{"args.json": `{"per_device_train_batch_size": }`}),
			knobs: sdk.Knobs{},
			unsupported: map[sdk.FixID]string{sdk.FixBatchSize: failed + "args.json: line 1, column 33", sdk.FixAllocator: supported,
				sdk.FixMixedPrecision: failed + "args.json"},
		},
		{
			name: "the script's .args file comes before the command line", argv: "python run_clm.py --per_device_train_batch_size 2",
			files: withFiles(map[string]string{"run_clm.args": "--per_device_train_batch_size 4 --fp16\n--gradient_accumulation_steps 3"}),
			knobs: sdk.Knobs{BatchSize: intp(2), GradAccumulation: intp(3), EvalBatchSize: intp(8), Precision: strp("fp16"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixMixedPrecision: "already in fp16"},
			configs:     []string{"run_clm.args"},
		},
		{
			name: "the profile names the batch flag and a checkpointing template", argv: "python run_clm.py --bsz 12 --activation_ckpt",
			files: clm, flags: map[string]string{"batch_size": "--bsz", "grad_checkpointing": "--activation_ckpt"},
			knobs: sdk.Knobs{BatchSize: intp(12), GradAccumulation: intp(1), EvalBatchSize: intp(8), Precision: strp("fp32"),
				GradCheckpointing: boolp(false), Optimizer: strp("adamw_torch")},
			unsupported: map[sdk.FixID]string{sdk.FixGradCheckpointing: "already on (--activation_ckpt is in the command)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			for k, v := range tt.env {
				cmd.Env[k] = v
			}
			cmd.Flags = tt.flags
			a := plugintab.Analyze(t, New(), cmd)
			if a.Framework != "transformers" {
				t.Errorf("framework %q", a.Framework)
			}
			if !reflect.DeepEqual(a.Knobs, tt.knobs) {
				t.Errorf("knobs\n got %s\nwant %s", plugintab.KnobsText(a.Knobs), plugintab.KnobsText(tt.knobs))
			}
			answers := outcomes(t, cmd)
			for fix, want := range tt.unsupported {
				got, no := answers[fix]
				switch {
				case want == supported && no:
					t.Errorf("%s not applied (%q), want it applied", fix, got)
				case want != supported && strings.HasPrefix(got, failed) != strings.HasPrefix(want, failed),
					want != supported && !strings.Contains(got, want):
					t.Errorf("%s: reason %q, want one with %q", fix, got, want)
				}
			}
			if tt.launcher != "" && a.Launcher != tt.launcher {
				t.Errorf("launcher %q, want %q", a.Launcher, tt.launcher)
			}
			if tt.world != 0 && a.WorldSize != tt.world {
				t.Errorf("world size %d, want %d", a.WorldSize, tt.world)
			}
			if tt.configs != nil && !reflect.DeepEqual(a.ConfigFiles, tt.configs) {
				t.Errorf("config files %q, want %q", a.ConfigFiles, tt.configs)
			}
		})
	}
}

func TestAnalyzeRejectsCommandWithoutScript(t *testing.T) {
	_, err := New().Analyze(t.Context(), sdk.AnalyzeRequest{Command: command("python -c pass", nil)})
	if err == nil || !strings.Contains(err.Error(), "cannot find the training script") {
		t.Errorf("err = %v", err)
	}
}
