package host

import (
	"context"
	"regexp"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestRejectionsNameTheFlag: each built-in plugin that writes flags or keys
// into a command declares the error its tool prints for one it does not
// take, in the exact words the tool (and its simulation in
// examples/simtrain) prints them, and the pattern names the flag, so that
// vramrun takes back a fix whose flag the installed release lacks instead
// of ending the run.
func TestRejectionsNameTheFlag(t *testing.T) {
	cases := []struct{ plugin, line, name string }{
		// argparse (OpenRLHF and plain scripts).
		{"openrlhf", "train_sft.py: error: unrecognized arguments: --use_liger_kernel", "--use_liger_kernel"},
		// jsonargparse (litgpt's CLI).
		{"litgpt", "error: Unrecognized arguments: --train.bogus 1", "--train.bogus 1"},
		// click (axolotl's and Unsloth's CLIs).
		{"axolotl", "Error: No such option: --chunked-cross-entropy", "--chunked-cross-entropy"},
		{"unsloth", "Error: No such option: --bogus", "--bogus"},
		// tyro's panel (torchtitan's JobConfig).
		{"torchtitan", "│ Unrecognized options: --training.bogus │", "--training.bogus"},
		{"torchtitan", "│ Unrecognized options: --a.b --c.d │", "--a.b --c.d"},
		// HfArgumentParser (TRL's CLI, as the Trainer's scripts).
		{"trl", "ValueError: Some specified arguments are not used by the HfArgumentParser: ['--loss_type', 'chunked_nll']", "['--loss_type', 'chunked_nll']"},
		// Hydra's, for an override of a key the installed release's config lacks (verl, NeMo).
		{"hydra", "Could not override 'actor_rollout_ref.model.enable_activation_offload'.", "actor_rollout_ref.model.enable_activation_offload"},
		// Python's, for a component whose constructor does not take an argument (torchtune's instantiate).
		{"torchtune", "TypeError: PagedAdamW8bit.__init__() got an unexpected keyword argument 'fused'", "PagedAdamW8bit"},
	}
	declared := map[string][]sdk.RejectionPattern{}
	for _, f := range Builtins() {
		d, err := f.Describe(context.Background(), sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		declared[d.Name] = d.Rejections
	}
	for _, c := range cases {
		got, ok := "", false
		for _, p := range declared[c.plugin] {
			if err := p.Validate(); err != nil {
				t.Fatalf("%s: %v", p.ID, err)
			}
			re := regexp.MustCompile(p.Regexp)
			if m := re.FindStringSubmatch(c.line); m != nil {
				got, ok = m[re.SubexpIndex("name")], true
				break
			}
		}
		if !ok || got != c.name {
			t.Errorf("%s: %q read as %q (matched %v), want %q", c.plugin, c.line, got, ok, c.name)
		}
	}
}
