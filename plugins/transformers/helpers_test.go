package transformers

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// Scripts as the Hugging Face examples write them, cut down to what the
// plugin reads: imports, the parser, the Trainer.
const (
	// runCLM is examples/pytorch/language-modeling/run_clm.py's shape.
	runCLM = `#!/usr/bin/env python
import sys
import transformers
from transformers import (
    AutoModelForCausalLM,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
)

def main():
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        model_args, data_args, training_args = parser.parse_json_file(json_file=sys.argv[1])
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses()
    trainer = Trainer(model=model, args=training_args)
`
	// runGlueNoTrainer is examples/pytorch/text-classification/
	// run_glue_no_trainer.py's shape: its own argparse, accelerate's
	// Accelerator, no Trainer.
	runGlueNoTrainer = `"""Finetuning a Transformers model on GLUE, unlike the Trainer examples."""
import argparse
from accelerate import Accelerator
from transformers import AutoModelForSequenceClassification, get_scheduler

def parse_args():
    parser = argparse.ArgumentParser(description="Finetune a transformers model on a text classification task")
    parser.add_argument("--task_name", type=str, default=None)
    parser.add_argument("--model_name_or_path", type=str, required=True)
    parser.add_argument(
        "--per_device_train_batch_size",
        type=int,
        default=8,
        help="Batch size (per device) for the training dataloader.",
    )
    parser.add_argument("--per_device_eval_batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--gradient_accumulation_steps", type=int, default=1)
    parser.add_argument("--output_dir", type=str, default=None)
    return parser.parse_args()

def main():
    args = parse_args()
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps)
`
	// plainTorch is a plain PyTorch script that is no HF script.
	plainTorch = `import argparse
import torch
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--output_dir", default="out")
`
	lightningWithHF = `import lightning as L
from transformers import AutoModel
trainer = L.Trainer(precision="32-true")
`
)

// command builds a Command from a space-separated argv and file contents.
// Its PATH names no folder, so no Python is found on it to check for
// bitsandbytes and the answers do not depend on the machine.
func command(argv string, files map[string]string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env("PATH", "/nonexistent-vramrun-test"))
}

// failed starts what outcomes gives for a fix Apply fails with an ordinary
// error: a file the fix has to rewrite but cannot read is the user's to
// fix, an error rather than a fix to turn down.
const failed = "error: "

// outcomes applies every fix to cmd, with the sizes the planner could ask
// for from Analyze's knobs (plugintab.PlanFix), and says how Apply answers
// each fix it does not apply: the reason of its *sdk.UnsupportedError, or
// failed and the text of any other error. A fix that applies is left out;
// its answer must be valid.
func outcomes(t *testing.T, cmd sdk.Command) map[sdk.FixID]string {
	t.Helper()
	a := plugintab.Analyze(t, New(), cmd)
	out := map[sdk.FixID]string{}
	for _, id := range sdk.AllFixes() {
		got, err := plugintab.Apply(t, New(), cmd, plugintab.PlanFix(id, a.Knobs))
		var unsupported *sdk.UnsupportedError
		switch {
		case errors.As(err, &unsupported):
			if unsupported.Fix != id || unsupported.Reason == "" {
				t.Errorf("%s: turned down as %s with reason %q, want the fix named and a reason", id, unsupported.Fix, unsupported.Reason)
			}
			out[id] = unsupported.Reason
		case err != nil:
			out[id] = failed + err.Error()
		default:
			if err := got.Validate(plugintab.CopyDir); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
	}
	return out
}

// copyJSON decodes the copy of original in an answer.
func copyJSON(t *testing.T, got sdk.ApplyResponse, original string) map[string]any {
	t.Helper()
	for _, c := range got.Copies {
		if c.Original == original {
			var m map[string]any
			if err := json.Unmarshal(c.Content, &m); err != nil {
				t.Fatalf("copy of %s is not JSON: %v\n%s", original, err, c.Content)
			}
			return m
		}
	}
	t.Fatalf("no copy of %s in %+v", original, got.Copies)
	return nil
}

// at reads a nested value of decoded JSON: at(m, "zero_optimization", "stage").
func at(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

func intp(v int) *int       { return &v }
func strp(v string) *string { return &v }
func boolp(v bool) *bool    { return &v }
