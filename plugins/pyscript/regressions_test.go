package pyscript

import (
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func scriptWith(argv []string, flags map[string]string) *Script {
	s, _ := Load(sdk.Command{Argv: argv, Flags: flags, Files: map[string][]byte{"t.py": []byte("import x\n")}})
	return s
}

func TestTemplatePresentComparesValues(t *testing.T) {
	s := scriptWith([]string{"python", "t.py", "--optim", "adamw"}, map[string]string{"optimizer_8bit": "--optim adamw8bit"})
	tpl, _ := s.ProfileTemplate("optimizer_8bit")
	if tpl.Present(s.Inv.Args) {
		t.Fatal("--optim adamw is not the template's --optim adamw8bit")
	}
	args, _, _ := s.ApplyTemplate(sdk.Fix{ID: sdk.FixOptimizer8bit})
	if want := []string{"--optim", "adamw8bit"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("ApplyTemplate = %q, want %q", args, want)
	}
	on := scriptWith([]string{"python", "t.py", "--precision", "bf16"}, map[string]string{"mixed_precision": "--precision {dtype}"})
	tpl, _ = on.ProfileTemplate("mixed_precision")
	if !tpl.Present(on.Inv.Args) {
		t.Fatal("--precision bf16 matches the template --precision {dtype}")
	}
}

func TestTemplateEqualsFormAndDoubleDash(t *testing.T) {
	s := scriptWith([]string{"python", "t.py", "--", "extra"}, map[string]string{"mixed_precision": "--precision={dtype} --amp"})
	args, summary, _ := s.ApplyTemplate(sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	if want := []string{"--precision=bf16", "--amp", "--", "extra"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("ApplyTemplate = %q, want %q", args, want)
	}
	if summary != "--precision=bf16 --amp" {
		t.Fatalf("summary = %q", summary)
	}
}
