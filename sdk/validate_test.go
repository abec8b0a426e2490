package sdk_test

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func goodPattern() sdk.OOMPattern {
	return sdk.OOMPattern{ID: "mine.oom", Framework: "mine", Kind: sdk.KindGPU, Regexp: `wanted (?P<tried>\S+)`}
}

func goodProgress() sdk.ProgressPattern {
	return sdk.ProgressPattern{ID: "mine.bar", Regexp: `(?P<per_s>[0-9.]+)it/s`, Unit: sdk.UnitStep}
}

func TestDescriptionValidate(t *testing.T) {
	tooMany := goodPattern()
	tooMany.Follow = make([]string, sdk.MaxPatternFollow+1)
	badDType := goodPattern()
	badDType.DTypeSizes = map[string]int{"f16": 0}
	noFramework := goodPattern()
	noFramework.Framework = ""
	reserved := goodPattern()
	reserved.ID = "host.oom_kill"
	badGroup := goodPattern()
	badGroup.Regexp = `(?P<bytes>\d+)`
	tests := []struct {
		name string
		desc sdk.DescribeResponse
		want string // "" means valid
	}{
		{"valid", sdk.DescribeResponse{Name: "mine", Patterns: []sdk.OOMPattern{goodPattern()}, Frames: []sdk.Frame{{Name: "evaluate", Phase: sdk.PhaseEval}}}, ""},
		{"no name", sdk.DescribeResponse{}, "plugin name"},
		{"name with a space", sdk.DescribeResponse{Name: "my trainer"}, "plugin name"},
		{"unknown group", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{badGroup}}, `group "bytes"`},
		{"no framework", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{noFramework}}, "no framework"},
		{"too many follow", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{tooMany}}, "follow expressions"},
		{"reserved id", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{reserved}}, "vramrun's own"},
		{"twice", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{goodPattern(), goodPattern()}}, "declared twice"},
		{"dtype size", sdk.DescribeResponse{Name: "m", Patterns: []sdk.OOMPattern{badDType}}, "positive number of bytes"},
		{"frame phase", sdk.DescribeResponse{Name: "m", Frames: []sdk.Frame{{Name: "step", Phase: sdk.PhaseUnknown}}}, `phase "unknown"`},
		{"frame name", sdk.DescribeResponse{Name: "m", Frames: []sdk.Frame{{Phase: sdk.PhaseTrain}}}, "empty name"},
		{"progress", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{goodProgress()}}, ""},
		{"progress unit", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{{ID: "m.bar", Regexp: `(?P<per_s>\d+)it/s`, Unit: "epoch"}}}, `unit "epoch"`},
		{"progress no group", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{{ID: "m.bar", Regexp: `(\d+)it/s`, Unit: sdk.UnitStep}}}, "exactly one group"},
		{"progress two groups", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{{ID: "m.bar", Regexp: `(?P<per_s>\d+)it/s (?P<s_per>\d+)s/it`, Unit: sdk.UnitStep}}}, "exactly one group"},
		{"progress regexp", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{{ID: "m.bar", Regexp: `(?P<per_s>\d+`, Unit: sdk.UnitStep}}}, "missing closing"},
		{"progress twice", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{goodProgress(), goodProgress()}}, "declared twice"},
		{"progress id", sdk.DescribeResponse{Name: "m", Progress: []sdk.ProgressPattern{{Regexp: `(?P<per_s>\d+)it/s`, Unit: sdk.UnitStep}}}, "without an id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.desc.Validate(), tt.want) })
	}
}

func TestRecognitionValidate(t *testing.T) {
	checkErr(t, sdk.RecognizeResponse{Confidence: 0}.Validate(), "")
	checkErr(t, sdk.RecognizeResponse{Confidence: 100}.Validate(), "")
	checkErr(t, sdk.RecognizeResponse{Confidence: 101}.Validate(), "outside 0..100")
	checkErr(t, sdk.RecognizeResponse{Confidence: -1}.Validate(), "outside 0..100")
}

func TestAnalysisValidate(t *testing.T) {
	checkErr(t, sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(8), Precision: sdk.Str("bf16")}}.Validate(), "")
	checkErr(t, sdk.AnalyzeResponse{}.Validate(), "world size 0")
	checkErr(t, sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{GradAccumulation: sdk.Int(0)}}.Validate(), "grad_accumulation is 0")
	checkErr(t, sdk.AnalyzeResponse{WorldSize: 1, Knobs: sdk.Knobs{Precision: sdk.Str("16-mixed")}}.Validate(), `precision is "16-mixed"`)
}

func TestAppliedValidate(t *testing.T) {
	argv := []string{"python", "t.py"}
	checkErr(t, sdk.ApplyResponse{Argv: argv, Env: map[string]string{"X": "1"},
		Copies: []sdk.FileCopy{{Original: "c.yaml", Path: "/run/copies/c.yaml"}}}.Validate("/run/copies"), "")
	checkErr(t, sdk.ApplyResponse{}.Validate("/c"), "without a command line")
	checkErr(t, sdk.ApplyResponse{Argv: argv, Env: map[string]string{"A=B": "1"}}.Validate("/c"), "cannot be set")
	checkErr(t, sdk.ApplyResponse{Argv: argv, Copies: []sdk.FileCopy{{Original: "c.yaml", Path: "/run/copies/../c.yaml"}}}.Validate("/run/copies"), "outside the copy folder")
	checkErr(t, sdk.ApplyResponse{Argv: argv, Copies: []sdk.FileCopy{{Original: "c.yaml", Path: "/run/copies"}}}.Validate("/run/copies"), "outside the copy folder")
	checkErr(t, sdk.ApplyResponse{Argv: argv, Copies: []sdk.FileCopy{{Original: "c.yaml", Path: "/run/copies2/c.yaml"}}}.Validate("/run/copies"), "outside the copy folder")
	checkErr(t, sdk.ApplyResponse{Argv: argv, Copies: []sdk.FileCopy{{Path: "/c/x"}}}.Validate("/c"), "does not name its original")
	two := []sdk.FileCopy{{Original: "a", Path: "/c/x"}, {Original: "b", Path: "/c/./x"}}
	checkErr(t, sdk.ApplyResponse{Argv: argv, Copies: two}.Validate("/c"), "two copies")
}

// checkErr fails unless err is nil when want is "", or contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestRejectionPatternValidate(t *testing.T) {
	checkErr(t, sdk.RejectionPattern{ID: "x.flag", Regexp: `unrecognized arguments: (?P<name>.+)`}.Validate(), "")
	checkErr(t, sdk.RejectionPattern{Regexp: `(?P<name>x)`}.Validate(), "without an id")
	checkErr(t, sdk.RejectionPattern{ID: "x", Regexp: `unrecognized (`}.Validate(), "rejection pattern x")
	checkErr(t, sdk.RejectionPattern{ID: "x", Regexp: `unrecognized (?P<flag>.+)`}.Validate(), `no group "name"`)
	d := sdk.DescribeResponse{Name: "m", Rejections: []sdk.RejectionPattern{{ID: "x", Regexp: `(`}}}
	checkErr(t, d.Validate(), "rejection pattern x")
}

func TestCheckpointsValidate(t *testing.T) {
	good := sdk.Checkpoints{Globs: []string{"out/checkpoint-*"}, Marker: "trainer_state.json", Step: `^checkpoint-(?P<step>[0-9]+)$`}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid checkpoints refused: %v", err)
	}
	for name, c := range map[string]sdk.Checkpoints{
		"no glob":        {},
		"bad glob":       {Globs: []string{"out/[x"}},
		"blank glob":     {Globs: []string{" "}},
		"marker path":    {Globs: []string{"x"}, Marker: "a/b"},
		"marker pattern": {Globs: []string{"x"}, Marker: "*.json"},
		"step no group":  {Globs: []string{"x"}, Step: `checkpoint-([0-9]+)`},
		"step bad":       {Globs: []string{"x"}, Step: `(?P<step>[0-9+`},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
		a := sdk.AnalyzeResponse{WorldSize: 1, Checkpoints: &c}
		if err := a.Validate(); err == nil {
			t.Errorf("%s: an analysis with %+v accepted", name, c)
		}
	}
}
