package plugintest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// toy is a plugin for "python toy.py --bs N [--accum N] [--conf FILE]"; each
// of its fault fields breaks one rule of package sdk.
type toy struct {
	mutatesInput     bool
	writesCopy       bool
	unstable         bool
	confidence       int
	ordinaryErr      bool
	refusesAnother   bool
	changesProgram   bool
	copyOutside      bool
	badPattern       bool
	describeVaries   bool
	calls            atomic.Int64
	unsupportedBlank bool
}

func (p *toy) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	d := sdk.DescribeResponse{Name: "toy", Version: "1.0.0", Frameworks: []string{"toy"},
		Patterns: []sdk.OOMPattern{{ID: "toy.oom", Framework: "toy", Kind: sdk.KindGPU, Regexp: `toy OOM \((?P<tried>\d+) bytes\)`}},
		Frames:   []sdk.Frame{{Name: "evaluate", Phase: sdk.PhaseEval}}}
	if p.badPattern {
		d.Patterns[0].Regexp = `toy OOM \((?P<size>\d+) bytes\)`
	}
	if p.describeVaries {
		d.Version = fmt.Sprintf("1.0.%d", p.calls.Add(1))
	}
	return d, nil
}

func (p *toy) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	if p.mutatesInput && len(cmd.Argv) > 0 {
		cmd.Argv[0] = "python3"
	}
	if len(cmd.Argv) < 2 || filepath.Base(cmd.Argv[1]) != "toy.py" {
		return sdk.RecognizeResponse{}, nil
	}
	rec := sdk.RecognizeResponse{Confidence: 80, Framework: "toy", Reason: "runs toy.py"}
	if p.confidence != 0 {
		rec.Confidence = p.confidence
	}
	if p.unstable {
		rec.Confidence = 50 + int(p.calls.Add(1)%2)
	}
	return rec, nil
}

func flagValue(argv []string, name string) (int, bool) {
	i := slices.Index(argv, name)
	if i < 0 || i+1 >= len(argv) {
		return 0, false
	}
	n, err := strconv.Atoi(argv[i+1])
	return n, err == nil
}

func (p *toy) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	cmd := req.Command
	a := sdk.AnalyzeResponse{Framework: "toy", Launcher: "python", Script: "toy.py", WorldSize: 1}
	if n, ok := flagValue(cmd.Argv, "--bs"); ok {
		a.Knobs.BatchSize = sdk.Int(n)
	}
	a.Knobs.GradAccumulation = sdk.Int(1)
	if n, ok := flagValue(cmd.Argv, "--accum"); ok {
		a.Knobs.GradAccumulation = sdk.Int(n)
	}
	return a, nil
}

func (p *toy) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	cmd, fix, copyDir := req.Command, req.Fix, req.CopyDir
	if p.writesCopy {
		_ = os.WriteFile(filepath.Join(copyDir, "conf.yaml"), []byte("bs: 1\n"), 0o644)
	}
	if p.ordinaryErr && fix.ID == sdk.FixCPUOffload {
		return sdk.ApplyResponse{}, fmt.Errorf("offload is not for toys")
	}
	if fix.ID != sdk.FixBatchSize {
		reason, id := "toy.py has no flag for it", fix.ID
		if p.unsupportedBlank {
			reason = ""
		}
		if p.refusesAnother {
			id = sdk.FixBatchSize
		}
		return sdk.ApplyResponse{}, &sdk.UnsupportedError{Fix: id, Reason: reason}
	}
	argv := append([]string(nil), cmd.Argv...)
	if p.changesProgram {
		argv[0] = "/usr/bin/python3"
	}
	if i := slices.Index(argv, "--bs"); i >= 0 && i+1 < len(argv) {
		argv[i+1] = strconv.Itoa(fix.BatchSize)
	}
	argv = append(argv, "--accum", strconv.Itoa(fix.GradAccumulation))
	dir := copyDir
	if p.copyOutside {
		dir = filepath.Dir(copyDir)
	}
	return sdk.ApplyResponse{Argv: argv, Summary: "smaller batch",
		Copies: []sdk.FileCopy{{Original: "conf.yaml", Path: filepath.Join(dir, "conf.yaml"), Content: []byte("bs: 1\n")}}}, nil
}

// fakeT collects the kit's complaints instead of failing the test.
type fakeT struct {
	real *testing.T
	name string
	errs *[]string
}

func (f fakeT) Helper()         {}
func (f fakeT) TempDir() string { return f.real.TempDir() }
func (f fakeT) Errorf(format string, args ...any) {
	*f.errs = append(*f.errs, f.name+": "+fmt.Sprintf(format, args...))
}
func (f fakeT) run(name string, fn func(tester)) {
	fn(fakeT{real: f.real, name: f.name + "/" + name, errs: f.errs})
}

var toyCases = []Case{
	{Name: "toy", Command: sdk.Command{Argv: []string{"python", "toy.py", "--bs", "64"}}, Expect: ExpectClaimed},
	{Name: "other", Command: sdk.Command{Argv: []string{"python", "train.py"}}, Expect: ExpectNotClaimed},
}

// complaints runs the kit on p and returns what it found wrong.
func complaints(t *testing.T, p *toy, cases []Case) []string {
	var errs []string
	check(fakeT{real: t, name: "run", errs: &errs}, p, Dial(t, p), cases)
	return errs
}

func TestAConformingPluginPasses(t *testing.T) {
	if errs := complaints(t, &toy{}, toyCases); len(errs) > 0 {
		t.Errorf("complaints about a conforming plugin:\n%s", strings.Join(errs, "\n"))
	}
}

func TestRunOnAConformingPlugin(t *testing.T) {
	Run(t, &toy{}, toyCases)
}

func TestKitFindsEachFault(t *testing.T) {
	tests := []struct {
		name  string
		p     *toy
		cases []Case
		want  string
	}{
		{"mutates its input", &toy{mutatesInput: true}, toyCases, "in process: Recognize changed its input command"},
		{"writes a file", &toy{writesCopy: true}, toyCases, "the plugin wrote conf.yaml in the copy folder"},
		{"unstable", &toy{unstable: true}, toyCases, "Recognize is not stable"},
		{"confidence out of range", &toy{confidence: 150}, toyCases, "confidence 150 is outside 0..100"},
		{"ordinary error", &toy{ordinaryErr: true}, toyCases, "Apply cpu_offload: offload is not for toys"},
		{"refusal names another fix", &toy{refusesAnother: true}, toyCases, `the UnsupportedError names fix "batch_size"`},
		{"changes the program", &toy{changesProgram: true}, toyCases, `changed the program from "python" to "/usr/bin/python3"`},
		{"copy outside", &toy{copyOutside: true}, toyCases, "outside the copy folder"},
		{"bad pattern group", &toy{badPattern: true}, toyCases, `group "size" is not one of the known names`},
		{"answers differ", &toy{describeVaries: true}, toyCases, "Describe differs"},
		{"blank reason", &toy{unsupportedBlank: true}, toyCases, "unsupported without a reason"},
		{"expectation", &toy{}, []Case{{Name: "x", Command: sdk.Command{Argv: []string{"python", "x.py"}}, Expect: ExpectClaimed}}, "not claimed"},
		{"no cases", &toy{}, nil, "needs at least one case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := complaints(t, tt.p, tt.cases)
			for _, e := range errs {
				if strings.Contains(e, tt.want) {
					return
				}
			}
			t.Errorf("no complaint contains %q; got:\n%s", tt.want, strings.Join(errs, "\n"))
		})
	}
}

func TestFixForHalvesTheBatch(t *testing.T) {
	got := SampleFix(sdk.FixBatchSize, sdk.Knobs{BatchSize: sdk.Int(64), GradAccumulation: sdk.Int(3)})
	if got != (sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 6}) {
		t.Errorf("fixFor = %+v", got)
	}
	got = SampleFix(sdk.FixBatchSize, sdk.Knobs{})
	if got != (sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 1}) {
		t.Errorf("fixFor with unknown knobs = %+v", got)
	}
}
