package pyscript

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// trainPy defines flags in the ways argparse scripts do.
const trainPy = `import argparse
import torch.distributed as dist
from timm.models import create_model

parser = argparse.ArgumentParser()
parser.add_argument('-b', '--batch-size', type=int, default=128)
parser.add_argument('-vb', '--validation-batch-size', type=int, default=None)
parser.add_argument('--grad-accum-steps', type=int, default=1)
parser.add_argument('--amp', action='store_true')
parser.add_argument('--no-shuffle', dest='shuffle', action='store_false')
parser.add_argument('--amp-dtype', default='float16', type=str)
parser.add_argument('--model', default="resnet50")
parser.add_argument('--lr', type=float, default=lr_default())
`

// load builds a Script from an argv and the script's source.
func load(t *testing.T, argv, src string) *Script {
	t.Helper()
	cmd := sdk.Command{Argv: strings.Fields(argv), Dir: "/nonexistent-vramrun-test-dir",
		Files: map[string][]byte{"train.py": []byte(src)}}
	s, ok := Load(cmd)
	if !ok {
		t.Fatalf("Load(%q) found no script", argv)
	}
	return s
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		files   map[string]string
		path    string
		imports []string
		defs    int
	}{
		{"a script", "python train.py -b 8", map[string]string{"train.py": trainPy}, "train.py", []string{"argparse", "torch", "timm"}, 8},
		{"a module file", "python -m pkg.train --lr 1", map[string]string{"pkg/train.py": "import jax\n"}, "pkg/train.py", []string{"jax"}, 0},
		{"a package's __main__", "python -m pkg", map[string]string{"pkg/__main__.py": "import keras\n"}, "pkg/__main__.py", []string{"keras"}, 0},
		{"behind torchrun", "torchrun --nproc_per_node 2 train.py", map[string]string{"train.py": "import torch\n"}, "train.py", []string{"torch"}, 0},
		{"an unreadable script still loads, without source", "python missing.py --bsz 2", nil, "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := sdk.Command{Argv: strings.Fields(tt.argv), Dir: "/nonexistent-vramrun-test-dir", Files: map[string][]byte{}}
			for p, c := range tt.files {
				cmd.Files[p] = []byte(c)
			}
			s, ok := Load(cmd)
			if !ok {
				t.Fatalf("Load(%q) found no script", tt.argv)
			}
			if s.Path != tt.path || len(s.Defs) != tt.defs {
				t.Errorf("Load = path %q with %d definitions, want %q with %d", s.Path, len(s.Defs), tt.path, tt.defs)
			}
			if (s.Source == nil) != (tt.path == "") {
				t.Errorf("source read = %v, want %v", s.Source != nil, tt.path != "")
			}
			want := map[string]bool{}
			for _, m := range tt.imports {
				want[m] = true
			}
			if !reflect.DeepEqual(s.Imports, want) {
				t.Errorf("imports = %v, want %v", s.Imports, want)
			}
			for _, m := range tt.imports {
				if !s.ImportsAny("nothing", m) {
					t.Errorf("ImportsAny(%q) = false", m)
				}
			}
			if s.ImportsAny("tensorflow", "flax") {
				t.Errorf("ImportsAny(tensorflow, flax) = true for imports %v", s.Imports)
			}
		})
	}
}

func TestLoadFailsWithoutAScript(t *testing.T) {
	for _, argv := range [][]string{nil, {"python"}, {"python", "-c", "pass"}, {"accelerate", "env"}} {
		if s, ok := Load(sdk.Command{Argv: argv}); ok {
			t.Errorf("Load(%q) = %+v, want no script", argv, s)
		}
	}
}

func TestFind(t *testing.T) {
	batch := [][]string{{"-b", "--batch-size", "--batch_size"}}
	tests := []struct {
		name   string
		argv   string
		groups [][]string
		want   Option
	}{
		{"typed in the space form", "python train.py -b 64", batch,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "64", Known: true, Typed: true, TypedName: "-b", Defined: true}},
		{"typed in the equals form", "python train.py --batch-size=32", batch,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "32", Known: true, Typed: true, TypedName: "--batch-size", Defined: true}},
		{"typed short attached", "python train.py -b16", batch,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "16", Known: true, Typed: true, TypedName: "-b", Defined: true}},
		{"typed twice: the last", "python train.py -b 16 --batch-size 48", batch,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "48", Known: true, Typed: true, TypedName: "--batch-size", Defined: true}},
		{"the script's default", "python train.py", batch,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "128", Known: true, Defined: true}},
		{"a default of None is unknown", "python train.py", [][]string{{"-vb", "--validation-batch-size"}},
			Option{Names: []string{"-vb", "--validation-batch-size"}, Defined: true}},
		{"a string default unquoted", "python train.py", [][]string{{"--amp-dtype"}},
			Option{Names: []string{"--amp-dtype"}, Value: "float16", Known: true, Defined: true}},
		{"a default expression kept as written", "python train.py", [][]string{{"--lr"}},
			Option{Names: []string{"--lr"}, Value: "lr_default()", Known: true, Defined: true}},
		{"store_true off", "python train.py", [][]string{{"--amp"}},
			Option{Names: []string{"--amp"}, Value: "false", Known: true, Defined: true, Bool: true}},
		{"store_true typed", "python train.py --amp", [][]string{{"--amp"}},
			Option{Names: []string{"--amp"}, Value: "true", Known: true, Typed: true, TypedName: "--amp", Defined: true, Bool: true}},
		{"store_false off means true", "python train.py", [][]string{{"--no-shuffle"}},
			Option{Names: []string{"--no-shuffle"}, Value: "true", Known: true, Defined: true, Bool: true}},
		{"typed but not defined", "python train.py --micro-batch-size 4", [][]string{{"--micro-batch-size"}},
			Option{Names: []string{"--micro-batch-size"}, Value: "4", Known: true, Typed: true, TypedName: "--micro-batch-size"}},
		{"a bare flag the script does not define", "python train.py --fp16", [][]string{{"--fp16"}},
			Option{Names: []string{"--fp16"}, Value: "true", Known: true, Typed: true, TypedName: "--fp16"}},
		{"the first group found wins", "python train.py --micro-batch-size 4", [][]string{{"--missing"}, batch[0], {"--micro-batch-size"}},
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "128", Known: true, Defined: true}},
		{"neither typed nor defined", "python train.py", [][]string{{"--bsz"}}, Option{}},
		{"after a bare -- is no flag", "python train.py -- -b 8", [][]string{{"--bsz", "-b"}},
			Option{Names: []string{"-b", "--batch-size", "--bsz"}, Value: "128", Known: true, Defined: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := load(t, tt.argv, trainPy).Find(tt.groups...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Find(%q) =\n %+v\nwant\n %+v", tt.groups, got, tt.want)
			}
			if got.Exists() != (tt.want.Typed || tt.want.Defined) {
				t.Errorf("Exists() = %v", got.Exists())
			}
		})
	}
}

func TestOptionValues(t *testing.T) {
	tests := []struct {
		name    string
		o       Option
		intPtr  *int
		long    string
		display string
	}{
		{"a number", Option{Names: []string{"-b", "--batch-size"}, Value: "64", Known: true}, sdk.Int(64), "--batch-size", "--batch-size"},
		{"spaces around a number", Option{Names: []string{"--bsz"}, Value: " 8 ", Known: true}, sdk.Int(8), "--bsz", "--bsz"},
		{"not a number", Option{Names: []string{"--lr"}, Value: "1e-3", Known: true}, nil, "--lr", "--lr"},
		{"unknown", Option{Names: []string{"--bsz"}}, nil, "--bsz", "--bsz"},
		{"typed short", Option{Names: []string{"-b", "--batch-size"}, Value: "4", Known: true, Typed: true, TypedName: "-b"}, sdk.Int(4), "--batch-size", "-b"},
		{"only a short name", Option{Names: []string{"-vb"}}, nil, "-vb", "-vb"},
		{"no name", Option{}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.IntPtr(); !reflect.DeepEqual(got, tt.intPtr) {
				t.Errorf("IntPtr() = %v, want %v", got, tt.intPtr)
			}
			if got := tt.o.LongName(); got != tt.long {
				t.Errorf("LongName() = %q, want %q", got, tt.long)
			}
			if got := tt.o.DisplayName(); got != tt.display {
				t.Errorf("DisplayName() = %q, want %q", got, tt.display)
			}
		})
	}
}

func TestOptionSet(t *testing.T) {
	batch := Option{Names: []string{"-b", "--batch-size"}, Defined: true}
	tests := []struct {
		name string
		o    Option
		args string
		v    string
		want string
	}{
		{"typed in the space form", batch, "-b 64 --model x", "32", "-b 32 --model x"},
		{"typed short attached", batch, "-b64", "32", "-b32"},
		{"typed in the equals form", batch, "--batch-size=64", "32", "--batch-size=32"},
		{"absent: the long name appended", batch, "--model x", "32", "--model x --batch-size 32"},
		{"absent: added before a bare --", batch, "--model x -- extra", "32", "--model x --batch-size 32 -- extra"},
		{"typed twice: the last one set", batch, "-b 64 --batch-size 96", "48", "-b 64 --batch-size 48"},
		{"a string value", Option{Names: []string{"--amp-dtype"}}, "--amp-dtype float16", "bfloat16", "--amp-dtype bfloat16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := strings.Fields(tt.args)
			before := slices.Clone(args)
			got := tt.o.Set(args, tt.v)
			if strings.Join(got, " ") != tt.want {
				t.Errorf("Set(%q, %q) = %q, want %q", tt.args, tt.v, strings.Join(got, " "), tt.want)
			}
			if !slices.Equal(args, before) {
				t.Errorf("Set changed its input to %q", args)
			}
			if n, ok := (Option{Value: tt.v, Known: true}).Int(); ok {
				if got := tt.o.SetInt(args, n); strings.Join(got, " ") != tt.want {
					t.Errorf("SetInt(%q, %d) = %q, want %q", tt.args, n, strings.Join(got, " "), tt.want)
				}
			}
		})
	}
}

func TestChange(t *testing.T) {
	if got := Change("--batch-size", "64", "32"); got != "--batch-size 64 -> 32" {
		t.Errorf("Change = %q", got)
	}
	if got := Change("--validation-batch-size", "", "32"); got != "--validation-batch-size 32" {
		t.Errorf("Change from nothing = %q", got)
	}
}

func TestDef(t *testing.T) {
	s := load(t, "python train.py", trainPy)
	d, ok := s.Def("--nothing", "--batch-size")
	if !ok || d.Default != "128" || !reflect.DeepEqual(d.Names, []string{"-b", "--batch-size"}) {
		t.Errorf("Def(--batch-size) = %+v, %v", d, ok)
	}
	if _, ok := s.Def("--nothing"); ok {
		t.Errorf("Def(--nothing) found a definition")
	}
}
