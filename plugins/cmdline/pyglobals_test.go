package cmdline

import (
	"os"
	"reflect"
	"testing"
)

func TestPythonGlobalsNanoGPTLikeTrain(t *testing.T) {
	src, err := os.ReadFile("testdata/nanogpt_like_train.py")
	if err != nil {
		t.Fatal(err)
	}
	g := PythonGlobals(src)
	want := map[string]string{
		"out_dir": "out", "eval_interval": "2000", "log_interval": "1", "eval_only": "False",
		"always_save_checkpoint": "True", "init_from": "scratch", "wandb_log": "False",
		"wandb_project": "owt", "wandb_run_name": "gpt2", "dataset": "openwebtext",
		"gradient_accumulation_steps": "40", "batch_size": "12", "block_size": "1024", "n_layer": "12",
		"dropout": "0.0", "bias": "False", "learning_rate": "6e-4", "max_iters": "600000",
		"weight_decay": "1e-1", "beta1": "0.9", "grad_clip": "1.0", "warmup_iters": "2000",
		"min_lr": "6e-5", "backend": "nccl", "device": "cuda", "compile": "True",
	}
	if !reflect.DeepEqual(g, want) {
		for k, v := range want {
			if g[k] != v {
				t.Errorf("%s = %q, want %q", k, g[k], v)
			}
		}
		for k, v := range g {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected global %s = %q", k, v)
			}
		}
	}
}

func TestPythonGlobalsConfigFile(t *testing.T) {
	src := `# config for training GPT-2 (124M) on 8 GPUs
wandb_log = True
wandb_run_name='gpt2-124M'

# 12 batch size * 1024 block size * 5 gradaccum * 8 GPUs = 491,520
batch_size = 12
block_size = 1024
gradient_accumulation_steps = 5 * 8
max_iters = 600_000
lr_decay_iters = (600000)
eval_iters = 2 ** 3 * 25
weight_decay = -1e-1
neg_div = -7 // 2
neg_mod = 7 % -2
floor_neg = 7 // -2
hex_mask = 0x10
note: str = "annotated"
name = "con" 'cat'
dtype = 'float16'
dtype = pick()
counter = 1
counter += 1
a = b = 3
if True: inline = 1
    indented = 2
`
	want := map[string]string{
		"wandb_log": "True", "wandb_run_name": "gpt2-124M", "batch_size": "12", "block_size": "1024",
		"gradient_accumulation_steps": "40", "max_iters": "600_000", "lr_decay_iters": "600000",
		"eval_iters": "200", "weight_decay": "-1e-1", "neg_div": "-4", "neg_mod": "-1", "floor_neg": "-4", "hex_mask": "0x10",
		"note": "annotated", "name": "concat",
	}
	if g := PythonGlobals([]byte(src)); !reflect.DeepEqual(g, want) {
		t.Errorf("PythonGlobals =\n%v\nwant\n%v", g, want)
	}
}

func TestPythonGlobalsRefusesHugeArithmetic(t *testing.T) {
	g := PythonGlobals([]byte("x = 10 ** 10 ** 10\ny = 2 ** 64\nz = 1 // 0\n"))
	if _, ok := g["x"]; ok {
		t.Errorf("x = %q: a huge power was evaluated", g["x"])
	}
	if g["y"] != "18446744073709551616" {
		t.Errorf("y = %q", g["y"])
	}
	if _, ok := g["z"]; ok {
		t.Errorf("z = %q: division by zero was evaluated", g["z"])
	}
}

func TestImports(t *testing.T) {
	src, err := os.ReadFile("testdata/timm_like_train.py")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"argparse", "logging", "os", "contextlib", "torch", "wandb", "apex"}
	if got := Imports(src); !reflect.DeepEqual(got, want) {
		t.Errorf("Imports(timm-like) = %q, want %q", got, want)
	}
	src, err = os.ReadFile("testdata/nanogpt_like_train.py")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"os", "time", "math", "pickle", "contextlib", "numpy", "torch", "model", "wandb"}
	if got := Imports(src); !reflect.DeepEqual(got, want) {
		t.Errorf("Imports(nanoGPT-like) = %q, want %q", got, want)
	}
}

func TestImportsForms(t *testing.T) {
	src := `from __future__ import annotations
import a.b as c, d
import e as f, g.h
from x.y import (z,
    w)
from .local import thing
from .. import parent
# import commented
s = "import in_string"
t = """
import in_docstring
"""
try:
    import lightning.pytorch as pl
except ImportError:
    import pytorch_lightning as pl
if HAVE: import jax; import flax.linen as nn
raise ValueError("x") from err
def f():
    from transformers import Trainer
`
	want := []string{"a", "d", "e", "g", "x", "lightning", "pytorch_lightning", "jax", "flax", "transformers"}
	if got := Imports([]byte(src)); !reflect.DeepEqual(got, want) {
		t.Errorf("Imports = %q, want %q", got, want)
	}
}
