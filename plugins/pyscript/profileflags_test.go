package pyscript

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// loadWith is load with a profile flags: mapping.
func loadWith(t *testing.T, argv, src string, flags map[string]string) *Script {
	t.Helper()
	cmd := sdk.Command{Argv: strings.Fields(argv), Dir: "/nonexistent-vramrun-test-dir",
		Files: map[string][]byte{"train.py": []byte(src)}, Flags: flags}
	s, ok := Load(cmd)
	if !ok {
		t.Fatalf("Load(%q) found no script", argv)
	}
	return s
}

func batchGroups() [][]string { return [][]string{{"-b", "--batch-size", "--batch_size"}} }

func TestKnob(t *testing.T) {
	tests := []struct {
		name  string
		argv  string
		flags map[string]string
		want  Option
	}{
		{"no mapping: the plugin's flags", "python train.py -b 8", nil,
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "8", Known: true, Typed: true, TypedName: "-b", Defined: true}},
		{"a blank mapping is no mapping", "python train.py", map[string]string{"batch_size": "  "},
			Option{Names: []string{"-b", "--batch-size", "--batch_size"}, Value: "128", Known: true, Defined: true}},
		{"the mapped flag typed wins over the script's own", "python train.py -b 8 --bsz 2", map[string]string{"batch_size": "--bsz"},
			Option{Names: []string{"--bsz"}, Value: "2", Known: true, Typed: true, TypedName: "--bsz", Defined: true}},
		{"the mapped flag defined by the script", "python train.py", map[string]string{"batch_size": "--grad-accum-steps"},
			Option{Names: []string{"--grad-accum-steps"}, Value: "1", Known: true, Defined: true}},
		{"the mapped flag neither typed nor defined: it exists, its value unknown", "python train.py -b 8", map[string]string{"batch_size": " --bsz "},
			Option{Names: []string{"--bsz"}, Defined: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadWith(t, tt.argv, trainPy, tt.flags).Knob("batch_size", batchGroups()...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Knob =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestProfileTemplate(t *testing.T) {
	tests := []struct {
		text string
		want []TemplatePair
	}{
		{"--ckpt", []TemplatePair{{Name: "--ckpt"}}},
		{"--amp --amp-dtype {dtype}", []TemplatePair{{Name: "--amp"}, {Name: "--amp-dtype", Value: "{dtype}"}}},
		{"  --optim   adamw8bit ", []TemplatePair{{Name: "--optim", Value: "adamw8bit"}}},
		{"--fast --opt-level O2", []TemplatePair{{Name: "--fast"}, {Name: "--opt-level", Value: "O2"}}},
	}
	for _, tt := range tests {
		s := loadWith(t, "python train.py", trainPy, map[string]string{"mixed_precision": tt.text})
		got, ok := s.ProfileTemplate("mixed_precision")
		if !ok || got.Key != "mixed_precision" || !reflect.DeepEqual(got.Pairs, tt.want) {
			t.Errorf("ProfileTemplate(%q) = %+v, %v; want pairs %+v", tt.text, got, ok, tt.want)
		}
	}
	s := loadWith(t, "python train.py", trainPy, map[string]string{"mixed_precision": " ", "batch_size": "--bsz"})
	if got, ok := s.ProfileTemplate("mixed_precision"); ok {
		t.Errorf("a blank template = %+v, want none", got)
	}
	if got, ok := s.ProfileTemplate("grad_checkpointing"); ok {
		t.Errorf("an absent template = %+v, want none", got)
	}
}

func TestTemplateApply(t *testing.T) {
	amp := Template{Key: "mixed_precision", Pairs: []TemplatePair{{Name: "--amp"}, {Name: "--amp-dtype", Value: "{dtype}"}}}
	optim := Template{Key: "optimizer_8bit", Pairs: []TemplatePair{{Name: "--optim", Value: "adamw8bit"}}}
	tests := []struct {
		name    string
		t       Template
		args    string
		dtype   string
		want    string
		summary string
	}{
		{"{dtype} becomes bf16", amp, "--bsz 8", "bf16", "--bsz 8 --amp --amp-dtype bf16", "--amp --amp-dtype bf16"},
		{"{dtype} becomes fp16", amp, "", "fp16", "--amp --amp-dtype fp16", "--amp --amp-dtype fp16"},
		{"a flag already there with another value gets the template's", optim, "--optim adamw --lr 1", "", "--optim adamw8bit --lr 1", "--optim adamw8bit"},
		{"an equals-form flag keeps its form", amp, "--amp-dtype=float16", "bf16", "--amp-dtype=bf16 --amp", "--amp --amp-dtype bf16"},
		{"a switch already there is not repeated", amp, "--amp --bsz 8", "bf16", "--amp --bsz 8 --amp-dtype bf16", "--amp --amp-dtype bf16"},
		{"added before a bare --", optim, "--bsz 8 -- data", "", "--bsz 8 --optim adamw8bit -- data", "--optim adamw8bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := strings.Fields(tt.args)
			before := slices.Clone(args)
			got, summary := tt.t.Apply(args, tt.dtype)
			if strings.Join(got, " ") != tt.want || summary != tt.summary {
				t.Errorf("Apply(%q, %q) = %q (%s), want %q (%s)", tt.args, tt.dtype, strings.Join(got, " "), summary, tt.want, tt.summary)
			}
			if !slices.Equal(args, before) {
				t.Errorf("Apply changed its input to %q", args)
			}
		})
	}
}

func TestTemplatePresent(t *testing.T) {
	amp := Template{Pairs: []TemplatePair{{Name: "--amp"}, {Name: "--amp-dtype", Value: "{dtype}"}}}
	tests := []struct {
		t    Template
		args string
		want bool
	}{
		{amp, "--bsz 8 --amp", true},
		{amp, "--amp-dtype bf16", false},
		{amp, "--ampere 1", false},
		{amp, "-- --amp", false},
		{Template{}, "--amp", false},
	}
	for _, tt := range tests {
		if got := tt.t.Present(strings.Fields(tt.args)); got != tt.want {
			t.Errorf("Present(%+v, %q) = %v, want %v", tt.t.Pairs, tt.args, got, tt.want)
		}
	}
}

func TestProfileTemplates(t *testing.T) {
	flags := map[string]string{"grad_checkpointing": "--ckpt", "mixed_precision": "--amp --amp-dtype {dtype}",
		"optimizer_8bit": "--optim adamw8bit", "batch_size": "--bsz"}
	s := loadWith(t, "python train.py --amp", trainPy, flags)
	a := Analysis{Unsupported: map[sdk.FixID]string{
		sdk.FixGradCheckpointing: "no gradient-checkpointing flag",
		sdk.FixOptimizer8bit:     "no 8-bit optimizer",
		sdk.FixCPUOffload:        "no offload",
		sdk.FixEvalBatchSize:     "no evaluation batch",
	}}
	s.ProfileTemplates(&a)
	want := map[sdk.FixID]string{
		sdk.FixMixedPrecision: "already on (--amp is in the command)",
		sdk.FixCPUOffload:     "no offload",
		sdk.FixEvalBatchSize:  "no evaluation batch",
	}
	if !reflect.DeepEqual(a.Unsupported, want) {
		t.Errorf("Unsupported after the templates =\n %v\nwant\n %v", a.Unsupported, want)
	}

	var empty Analysis
	loadWith(t, "python train.py --ckpt", trainPy, flags).ProfileTemplates(&empty)
	if want := map[sdk.FixID]string{sdk.FixGradCheckpointing: "already on (--ckpt is in the command)"}; !reflect.DeepEqual(empty.Unsupported, want) {
		t.Errorf("Unsupported from nil = %v, want %v", empty.Unsupported, want)
	}
}

func TestApplyTemplate(t *testing.T) {
	flags := map[string]string{"mixed_precision": "--amp --amp-dtype {dtype}", "batch_size": "--bsz"}
	s := loadWith(t, "torchrun --nproc_per_node 2 train.py -b 8", trainPy, flags)
	args, summary, handled := s.ApplyTemplate(sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	if !handled || strings.Join(args, " ") != "-b 8 --amp --amp-dtype bf16" || summary != "--amp --amp-dtype bf16" {
		t.Errorf("ApplyTemplate(mixed_precision) = %q (%s), %v", args, summary, handled)
	}
	if !reflect.DeepEqual(s.Inv.Args, []string{"-b", "8"}) {
		t.Errorf("ApplyTemplate changed the script's arguments to %q", s.Inv.Args)
	}
	for _, fix := range []sdk.Fix{{ID: sdk.FixGradCheckpointing}, {ID: sdk.FixBatchSize, BatchSize: 4}, {ID: sdk.FixAllocator}} {
		if args, _, handled := s.ApplyTemplate(fix); handled {
			t.Errorf("ApplyTemplate(%s) handled it (%q); the mapping has no template for it", fix.ID, args)
		}
	}
}

func TestApplyBatch(t *testing.T) {
	batch := Option{Names: []string{"-b", "--batch-size"}, Value: "64", Known: true, Typed: true, TypedName: "-b", Defined: true}
	accum := Option{Names: []string{"--grad-accum-steps"}, Value: "2", Known: true, Typed: true, TypedName: "--grad-accum-steps", Defined: true}
	accumDefault := Option{Names: []string{"--grad-accum-steps"}, Defined: true}
	tests := []struct {
		name    string
		args    string
		accum   Option
		fix     sdk.Fix
		want    string
		summary string
	}{
		{"both typed", "-b 64 --grad-accum-steps 2", accum, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 4},
			"-b 32 --grad-accum-steps 4", "-b 64 -> 32, --grad-accum-steps 2 -> 4"},
		{"accumulation of unknown value counts as 1", "-b 64", accumDefault, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2},
			"-b 32 --grad-accum-steps 2", "-b 64 -> 32, --grad-accum-steps 1 -> 2"},
		{"no accumulation asked", "-b 64 --grad-accum-steps 2", accum, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32},
			"-b 32 --grad-accum-steps 2", "-b 64 -> 32"},
		{"no accumulation flag", "-b 64", Option{}, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2},
			"-b 32", "-b 64 -> 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, summary := ApplyBatch(strings.Fields(tt.args), batch, tt.accum, tt.fix)
			if strings.Join(got, " ") != tt.want || summary != tt.summary {
				t.Errorf("ApplyBatch = %q (%s), want %q (%s)", strings.Join(got, " "), summary, tt.want, tt.summary)
			}
		})
	}
}

func TestBatchFlagsThroughAScript(t *testing.T) {
	flags := BatchFlags{Batch: batchGroups(), Accum: [][]string{{"--grad-accum-steps"}}, Eval: [][]string{{"-vb", "--validation-batch-size"}}}
	s := loadWith(t, "python train.py -vb 256", trainPy, nil)
	var a Analysis
	s.AnalyzeBatch(&a, flags)
	if want := (sdk.Knobs{BatchSize: sdk.Int(128), GradAccumulation: sdk.Int(1), EvalBatchSize: sdk.Int(256)}); !reflect.DeepEqual(a.Knobs, want) || len(a.Unsupported) != 0 {
		t.Errorf("AnalyzeBatch = %+v, unsupported %v; want %+v", a.Knobs, a.Unsupported, want)
	}
	args, summary, handled, err := s.ApplyBatchFix(sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 64}, flags)
	if err != nil || !handled || strings.Join(args, " ") != "-vb 64" || summary != "-vb 256 -> 64" {
		t.Errorf("ApplyBatchFix(eval) = %q (%s), %v, %v", args, summary, handled, err)
	}
	args, summary, handled, err = s.ApplyBatchFix(sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 2}, flags)
	if err != nil || !handled || strings.Join(args, " ") != "-vb 256 --batch-size 64 --grad-accum-steps 2" ||
		summary != "--batch-size 128 -> 64, --grad-accum-steps 1 -> 2" {
		t.Errorf("ApplyBatchFix(batch) = %q (%s), %v, %v", args, summary, handled, err)
	}
	if _, _, handled, err := s.ApplyBatchFix(sdk.Fix{ID: sdk.FixGradCheckpointing}, flags); handled || err != nil {
		t.Errorf("ApplyBatchFix(grad_checkpointing) handled %v, %v; want left to the caller", handled, err)
	}

	none := loadWith(t, "python train.py", "import torch\n", nil)
	var b Analysis
	none.AnalyzeBatch(&b, flags)
	wantReasons := map[sdk.FixID]string{
		sdk.FixBatchSize:     "no batch-size flag in train.py (name it under flags.batch_size in vramrun.yaml)",
		sdk.FixEvalBatchSize: "no evaluation batch-size flag in train.py (name it under flags.eval_batch_size in vramrun.yaml)",
	}
	if !reflect.DeepEqual(b.Unsupported, wantReasons) || b.Knobs != (sdk.Knobs{}) {
		t.Errorf("AnalyzeBatch without flags = %+v, %v; want no knobs and %v", b.Knobs, b.Unsupported, wantReasons)
	}
	for id, reason := range wantReasons {
		_, _, handled, err := none.ApplyBatchFix(sdk.Fix{ID: id, BatchSize: 4}, flags)
		var unsupported *sdk.UnsupportedError
		if !handled || !errors.As(err, &unsupported) || unsupported.Fix != id || unsupported.Reason != reason {
			t.Errorf("ApplyBatchFix(%s) = handled %v, %v; want unsupported %q", id, handled, err, reason)
		}
	}
}
