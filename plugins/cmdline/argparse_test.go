package cmdline

import (
	"os"
	"reflect"
	"testing"
)

func TestArgparseDefsTimmLikeScript(t *testing.T) {
	src, err := os.ReadFile("testdata/timm_like_train.py")
	if err != nil {
		t.Fatal(err)
	}
	defs := ArgparseDefs(src)
	byDest := map[string]ArgDef{}
	for _, d := range defs {
		if _, dup := byDest[d.Dest]; dup {
			t.Errorf("dest %q defined twice", d.Dest)
		}
		byDest[d.Dest] = d
	}
	if len(defs) != 22 {
		t.Errorf("found %d definitions, want 22 (the one in the docstring is not one)", len(defs))
	}
	if _, ok := byDest["not_real"]; ok {
		t.Error("read an add_argument inside a docstring")
	}
	tests := []ArgDef{
		{Names: []string{"-c", "--config"}, Dest: "config", Default: "", HasDefault: true, Type: "str", Line: 28},
		{Names: []string{"data"}, Dest: "data", Line: 36},
		{Names: []string{"--data-dir"}, Dest: "data_dir", Line: 38},
		{Names: []string{"--dataset"}, Dest: "dataset", Default: "", HasDefault: true, Line: 40},
		{Names: []string{"--model"}, Dest: "model", Default: "resnet50", HasDefault: true, Type: "str", Line: 45},
		{Names: []string{"--num-classes"}, Dest: "num_classes", Default: "None", HasDefault: true, Type: "int", Line: 47},
		{Names: []string{"-b", "--batch-size"}, Dest: "batch_size", Default: "128", HasDefault: true, Type: "int", Line: 49},
		{Names: []string{"-vb", "--validation-batch-size"}, Dest: "validation_batch_size", Default: "None", HasDefault: true, Type: "int", Line: 51},
		{Names: []string{"--grad-accum-steps"}, Dest: "grad_accum_steps", Default: "1", HasDefault: true, Type: "int", Line: 53},
		{Names: []string{"--grad-checkpointing"}, Dest: "grad_checkpointing", Default: "False", HasDefault: true, Action: "store_true", Line: 55},
		{Names: []string{"--weight-decay"}, Dest: "weight_decay", Default: "2e-5", HasDefault: true, Type: "float", Line: 68},
		{Names: []string{"--amp"}, Dest: "amp", Default: "False", HasDefault: true, Action: "store_true", Line: 77},
		{Names: []string{"--amp-dtype"}, Dest: "amp_dtype", Default: "float16", HasDefault: true, Type: "str", Line: 79},
		{Names: []string{"--local_rank"}, Dest: "local_rank", Default: "0", HasDefault: true, Type: "int", Line: 83},
	}
	for _, want := range tests {
		if got := byDest[want.Dest]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", want.Dest, got, want)
		}
	}
}

func TestArgparseDefsNastyFormatting(t *testing.T) {
	src := `
p = argparse.ArgumentParser()
p.add_argument(
    "--batch_size",     # a comment, with a comma
    help="per-GPU batch (see --accum), \"micro\" one",
    default = 32 ,
    type=int,
)
p.add_argument('--lr', help='it\'s (a, b)', type=lambda s: float(s.replace(",", "")), default=3e-4)
p.add_argument('--dtype', default=("bf" "16"), choices=['bf16', 'fp16'],)
p.add_argument("--flag", action=argparse.BooleanOptionalAction, default=True, dest="use_flag")
p.add_argument(*NAMES, **OPTS)
p.add_argument("--steps", default=f"{N}", type=int); p.add_argument("--x", default=[1,
    2, 3])
def add_argument(self, *args): pass
parser.add_argument_group("g").add_argument("--grouped", default=-1, type=int)
s = "p.add_argument('--in-string', default=1)"
p.add_argument(r"--raw\d", default=r'\n', help="""multi
line, help""")
p.add_argument('--unterminated', default='oops
`
	defs := ArgparseDefs([]byte(src))
	want := []ArgDef{
		{Names: []string{"--batch_size"}, Dest: "batch_size", Default: "32", HasDefault: true, Type: "int", Line: 3},
		{Names: []string{"--lr"}, Dest: "lr", Default: "3e-4", HasDefault: true, Type: `lambda s: float(s.replace(",", ""))`, Line: 9},
		{Names: []string{"--dtype"}, Dest: "dtype", Default: "bf16", HasDefault: true, Line: 10},
		{Names: []string{"--flag"}, Dest: "use_flag", Default: "True", HasDefault: true, Action: "argparse.BooleanOptionalAction", Line: 11},
		{Names: []string{"--steps"}, Dest: "steps", Default: `f"{N}"`, HasDefault: true, Type: "int", Line: 13},
		{Names: []string{"--x"}, Dest: "x", Default: "[1, 2, 3]", HasDefault: true, Line: 13},
		{Names: []string{"--grouped"}, Dest: "grouped", Default: "-1", HasDefault: true, Type: "int", Line: 16},
		{Names: []string{`--raw\d`}, Dest: `raw\d`, Default: `\n`, HasDefault: true, Line: 18},
		{Names: []string{"--unterminated"}, Dest: "unterminated", Default: "oops", HasDefault: true, Line: 20},
	}
	if !reflect.DeepEqual(defs, want) {
		t.Errorf("ArgparseDefs:")
		for i := 0; i < max(len(defs), len(want)); i++ {
			var g, wt ArgDef
			if i < len(defs) {
				g = defs[i]
			}
			if i < len(want) {
				wt = want[i]
			}
			if !reflect.DeepEqual(g, wt) {
				t.Errorf(" #%d\n  got %+v\n want %+v", i, g, wt)
			}
		}
	}
}

func TestArgparseDefsNotPython(t *testing.T) {
	for _, src := range []string{"", "add_argument", "add_argument(", "))))add_argument((((", "\x00\xff\xfe", `add_argument("--a", default=`} {
		defs := ArgparseDefs([]byte(src))
		for _, d := range defs {
			if d.Dest == "" && len(d.Names) == 0 {
				t.Errorf("ArgparseDefs(%q) gave an empty definition", src)
			}
		}
	}
	if d := ArgparseDefs([]byte(`add_argument("--a", default=`)); len(d) != 1 || d[0].Dest != "a" || d[0].HasDefault {
		t.Errorf("truncated call = %+v", d)
	}
}
