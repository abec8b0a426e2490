package rejection

import (
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func matcher(t *testing.T) *Matcher {
	m, err := Compile([]sdk.RejectionPattern{
		{ID: "argparse.unrecognized", Regexp: `: error: unrecognized arguments: (?P<name>.+)$`},
		{ID: "python.no_module", Regexp: `^ModuleNotFoundError: No module named '(?P<name>[^']+)'`},
		{ID: "lightning.needs", Regexp: `you must have (?P<name>\w+) installed`},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRejected(t *testing.T) {
	m := matcher(t)
	ckpt := NewChange([]string{"python", "train.py", "-b", "64"}, []string{"python", "train.py", "-b", "64", "--ckpt"}, nil, "--ckpt")
	offload := NewChange([]string{"python", "main.py", "fit", "--trainer.strategy", "ddp"},
		[]string{"python", "main.py", "fit", "--trainer.strategy", "deepspeed_stage_2_offload"}, nil,
		"--trainer.strategy ddp -> deepspeed_stage_2_offload (needs DeepSpeed installed)")
	batch := NewChange([]string{"python", "train.py", "-b", "64"}, []string{"python", "train.py", "-b", "32"}, nil, "-b 64 -> 32")
	cases := []struct {
		name   string
		output string
		change Change
		want   bool
	}{
		{"argparse names the added flag", "usage: train.py [-h]\ntrain.py: error: unrecognized arguments: --ckpt\n", ckpt, true},
		{"a flag the fix did not add", "train.py: error: unrecognized arguments: --frobnicate\n", ckpt, false},
		{"Lightning needs what the summary says", "lightning.fabric.utilities.exceptions.MisconfigurationException: To use the `DeepSpeedStrategy`, you must have DeepSpeed installed. Install it by running `pip install -U deepspeed`.\n", offload, true},
		{"a module the change mentions", "Traceback (most recent call last):\nModuleNotFoundError: No module named 'deepspeed'\n", offload, true},
		{"numbers prove nothing", "train.py: error: unrecognized arguments: 32\n", batch, false},
		{"no rejection text", "RuntimeError: something else\n", ckpt, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, got := Rejected(m.Find([]byte(c.output)), c.change)
			if got != c.want {
				t.Fatalf("Rejected = %v (%+v), want %v", got, f, c.want)
			}
		})
	}
}

func TestFindLooksAtTheEnd(t *testing.T) {
	m := matcher(t)
	big := make([]byte, 0, 2*TailBytes)
	big = append(big, "x: error: unrecognized arguments: --early\n"...)
	for len(big) < 2*TailBytes {
		big = append(big, "step ok\n"...)
	}
	big = append(big, "x: error: unrecognized arguments: --late\n"...)
	got := m.Find(big)
	if len(got) != 1 || got[0].Name != "--late" {
		t.Fatalf("Find = %+v, want only the late one", got)
	}
	if _, err := Compile([]sdk.RejectionPattern{{ID: "x", Regexp: `no group`}}); err == nil {
		t.Fatal("a pattern without a name group compiled")
	}
}
