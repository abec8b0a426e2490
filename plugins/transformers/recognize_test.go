package transformers

import (
	"context"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

const (
	clmArgs  = "--model_name_or_path gpt2 --dataset_name wikitext --dataset_config_name wikitext-2-raw-v1 --per_device_train_batch_size 8 --per_device_eval_batch_size 8 --do_train --do_eval --output_dir /tmp/test-clm"
	glueArgs = "--model_name_or_path google-bert/bert-base-cased --task_name mrpc --do_train --do_eval --max_seq_length 128 --per_device_train_batch_size 32 --learning_rate 2e-5 --num_train_epochs 3 --output_dir /tmp/mrpc/"
)

func TestRecognize(t *testing.T) {
	argsJSON := `{"model_name_or_path": "gpt2", "output_dir": "/tmp/x", "per_device_train_batch_size": 16}`
	tests := []struct {
		name   string
		argv   string
		files  map[string]string
		want   int
		reason string
	}{
		{"run_clm imports transformers", "python run_clm.py " + clmArgs, map[string]string{"run_clm.py": runCLM}, 80, "imports transformers"},
		{"unreadable run_glue with HF flags", "python run_glue.py " + glueArgs, nil, 70, "--per_device_train_batch_size"},
		{"hyphenated HF flag", "python somewhere.py --per-device-train-batch-size 4", nil, 70, "--per-device-train-batch-size"},
		{"no_trainer under accelerate launch", "accelerate launch --config_file cfg.yaml run_glue_no_trainer.py --task_name mrpc",
			map[string]string{"run_glue_no_trainer.py": runGlueNoTrainer}, 85, "started by accelerate launch"},
		{"deepspeed launcher", "deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json " + clmArgs,
			map[string]string{"run_clm.py": runCLM}, 85, "started by deepspeed"},
		{"torchrun adds nothing", "torchrun --nproc_per_node 4 run_clm.py " + clmArgs, map[string]string{"run_clm.py": runCLM}, 80, "imports transformers"},
		{"single JSON args file", "python run_clm.py args.json", map[string]string{"args.json": argsJSON}, 75, "args.json"},
		{"JSON file without TrainingArguments keys", "python train.py config.json", map[string]string{"config.json": `{"lr": 1}`}, 0, ""},
		{"plain torch script's own --output_dir", "python train.py --batch-size 8 --output_dir out", map[string]string{"train.py": plainTorch}, 0, ""},
		{"Lightning script that imports transformers", "python train.py", map[string]string{"train.py": lightningWithHF}, 50, "trains with lightning"},
		{"nanoGPT style", "python train.py --batch_size=32 --gradient_accumulation_steps=4", nil, 0, ""},
		{"no script at all", "python -c pass", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(context.Background(), sdk.RecognizeRequest{Command: command(tt.argv, tt.files)})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Confidence != tt.want {
				t.Errorf("confidence %d (%s), want %d", rec.Confidence, rec.Reason, tt.want)
			}
			if tt.want > 0 && (rec.Framework != "transformers" || !strings.Contains(rec.Reason, tt.reason)) {
				t.Errorf("framework %q reason %q, want transformers and a reason with %q", rec.Framework, rec.Reason, tt.reason)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background(), sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "transformers" || len(d.Frameworks) != 1 || d.Frameworks[0] != "transformers" || len(d.Frames) != len(Frames()) {
		t.Errorf("Describe = %+v", d)
	}
}

func TestPythonCodeDropsCommentsAndDocstrings(t *testing.T) {
	src := "\"\"\"Unlike the Trainer examples.\"\"\"\nx = 1  # the Trainer\n'''Trainer'''\ny = Accelerator()\n"
	code := pythonCode([]byte(src))
	if strings.Contains(code, "Trainer") || !strings.Contains(code, "Accelerator()") || !strings.Contains(code, "x = 1") {
		t.Errorf("pythonCode = %q", code)
	}
}
