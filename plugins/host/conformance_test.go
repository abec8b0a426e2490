package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/plugintest"
)

// Inline training scripts, so that the conformance cases need no disk.
const (
	torchScript = `import argparse
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--grad-accum-steps", type=int, default=1)
parser.add_argument("--amp", action="store_true")
parser.add_argument("--grad-checkpointing", action="store_true")
args = parser.parse_args()
`
	tfScript = `import argparse
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=128)
args = parser.parse_args()
`
	jaxScript = `import argparse
import jax
import flax

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=32)
args = parser.parse_args()
`
	plainScript = `import argparse
import numpy

parser = argparse.ArgumentParser()
parser.add_argument("--bsz", type=int, default=16)
parser.add_argument("--amp", action="store_true")
args = parser.parse_args()
`
)

// conformanceCase is a command and the built-in that must claim it ("" when
// none must).
type conformanceCase struct {
	name      string
	cmd       sdk.Command
	claimedBy string
}

func conformanceCases(t *testing.T) []conformanceCase {
	files := func(name, src string) map[string][]byte { return map[string][]byte{name: []byte(src)} }
	cases := []conformanceCase{
		{"torch argparse", sdk.Command{Argv: []string{"python", "train.py", "--batch-size", "256"}, Files: files("train.py", torchScript)}, "pytorch"},
		{"torch accumulation", sdk.Command{Argv: []string{"python3", "train.py", "--batch-size", "32", "--grad-accum-steps", "2"}, Files: files("train.py", torchScript)}, "pytorch"},
		{"torchrun", sdk.Command{Argv: []string{"torchrun", "--nproc_per_node", "2", "train.py", "--batch-size", "64"}, Files: files("train.py", torchScript)}, "pytorch"},
		{"tensorflow", sdk.Command{Argv: []string{"python", "train_tf.py", "--batch_size", "128"}, Files: files("train_tf.py", tfScript)}, "tensorflow"},
		{"jax", sdk.Command{Argv: []string{"python", "train_jax.py", "--batch_size", "32"}, Files: files("train_jax.py", jaxScript)}, "jax"},
		{"profile flags", sdk.Command{Argv: []string{"python", "plain.py", "--bsz", "16"}, Files: files("plain.py", plainScript),
			Flags: map[string]string{"batch_size": "--bsz", "mixed_precision": "--amp"}}, "generic"},
		// srun itself is no framework: the plugin of the script inside claims it.
		{"srun", sdk.Command{Argv: []string{"srun", "-N", "1", "python", "train.py", "--batch-size", "8"}, Files: files("train.py", torchScript)}, "pytorch"},
		{"not python", sdk.Command{Argv: []string{"bash", "-c", "true"}}, ""},
	}
	// The simulated jobs' own scripts, read from the disk as vramrun would.
	sim, err := filepath.Abs(filepath.Join("..", "..", "examples", "simtrain"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sim, "train.py")); err != nil {
		t.Fatalf("the simulated jobs are missing: %v", err)
	}
	return append(cases,
		conformanceCase{"simtrain train.py", sdk.Command{Argv: []string{"python3", "train.py", "--batch-size", "256"}, Dir: sim}, "pytorch"},
		conformanceCase{"simtrain run_clm.py", sdk.Command{Argv: []string{"python3", "run_clm.py", "--output_dir", "out", "--do_train",
			"--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2"}, Dir: sim}, "transformers"},
		conformanceCase{"simtrain lightning_main.py", sdk.Command{Argv: []string{"python3", "lightning_main.py", "fit",
			"--data.batch_size", "64"}, Dir: sim}, "lightning"},
	)
}

// TestBuiltinsConform runs the conformance kit against every built-in, in
// process and over gRPC.
func TestBuiltinsConform(t *testing.T) {
	for _, b := range Builtins() {
		d, err := b.Describe(context.Background(), sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(d.Name, func(t *testing.T) {
			var cases []plugintest.Case
			for _, c := range conformanceCases(t) {
				expect := plugintest.ExpectAny
				switch c.claimedBy {
				case d.Name:
					expect = plugintest.ExpectClaimed
				case "":
					expect = plugintest.ExpectNotClaimed
				}
				cases = append(cases, plugintest.Case{Name: c.name, Command: c.cmd, Expect: expect})
			}
			plugintest.Run(t, b, cases)
		})
	}
}
