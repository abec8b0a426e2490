package transformers

import (
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// trialFields are the TrainingArguments a trial sets so that it touches
// none of the user's work: everything it writes goes to the scratch folder
// (output_dir, and logging_dir when the command names one), and it saves
// no checkpoint, runs no evaluation, reports to no logging service and
// pushes nothing to the hub.
var trialFields = []struct {
	field, value string
}{
	{"save_strategy", "no"},
	{"report_to", "none"},
	{"push_to_hub", "false"},
}

// trialOffWhereNamed are the booleans a trial turns off when the command
// names them: load_best_model_at_end, which the Trainer refuses without
// evaluation and saving, do_eval, and auto_find_batch_size, whose silent
// retries at a smaller batch would have the trial measure another
// configuration than the one vramrun set.
var trialOffWhereNamed = []string{"load_best_model_at_end", "do_eval", AutoFindField}

// trial rewrites the command for one of `vramrun tune`'s short trials.
func (r *rewrite) trial(fix sdk.Fix) error {
	j := r.j
	if !j.trainer {
		return sdk.Unsupported(fix.ID, "the script takes no TrainingArguments, so where it writes is its own: make its output folder a scratch one and turn its checkpoints off, or pass --trust-trials")
	}
	r.setTrial("output_dir", fix.Scratch)
	if _, named := j.stringField("logging_dir"); named {
		r.setTrial("logging_dir", fix.Scratch+"/logs")
	}
	// The old name where the command uses it: a Trainer older than 4.41
	// knows no other.
	eval := "eval_strategy"
	if _, old := j.stringField("evaluation_strategy"); old {
		eval = "evaluation_strategy"
	}
	r.setTrial(eval, "no")
	for _, f := range trialFields {
		r.setTrial(f.field, f.value)
	}
	for _, field := range trialOffWhereNamed {
		if _, named, _ := j.boolField(field); named {
			r.setTrial(field, "false")
		}
	}
	return nil
}

// setTrial sets one TrainingArguments field for a trial, in the args file
// or on the command line.
func (r *rewrite) setTrial(field, value string) {
	if r.j.jsonMode {
		var v any = value
		if value == "false" {
			v = false
		}
		r.argsSet(field, v)
		return
	}
	if value == "false" {
		r.args = cmdline.SetHFBool(r.args, field, false)
		r.parts = append(r.parts, "--"+field+" False")
		return
	}
	r.args = cmdline.SetFlag(r.args, cmdline.HFNames(field), value, cmdline.Space)
	r.parts = append(r.parts, "--"+field+" "+value)
}
