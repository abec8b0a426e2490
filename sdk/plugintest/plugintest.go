// Package plugintest is the conformance kit for vramrun plugins. A plugin
// author runs it in their own go test:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, mytrainer.New(), []plugintest.Case{{
//			Name:    "mb flag",
//			Command: sdk.Command{Argv: []string{"python", "mytrainer.py", "--mb", "64"}, Files: ...},
//			Expect:  plugintest.ExpectClaimed,
//		}})
//	}
//
// Run serves the plugin in the test's own process over real gRPC, as
// vramrun will talk to it, and checks each answer twice: from the plugin
// directly and over the wire, which must agree.
package plugintest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// Expectation is what a Case expects of Recognize.
type Expectation int

// The expectations.
const (
	// ExpectAny checks the answer's form only.
	ExpectAny Expectation = iota
	// ExpectClaimed wants a confidence above 0.
	ExpectClaimed
	// ExpectNotClaimed wants a confidence of 0.
	ExpectNotClaimed
)

// Case is one command the kit puts to the plugin.
type Case struct {
	// Name names the subtest.
	Name string
	// Command is the command. Files can hold the script's contents so that
	// no disk is needed. When Dir is empty, the kit runs the command in a
	// fresh empty folder and checks that the plugin writes nothing there.
	Command sdk.Command
	// Expect is whether the plugin should claim the command.
	Expect Expectation
}

// Run checks impl against the rules of package sdk, in process and over gRPC:
//
//   - Describe: the name, patterns and frames pass sdk.Description.Validate
//     (RE2 expressions with the known group names only; frames train or
//     eval).
//   - Recognize: the same answer twice, a confidence within 0..100, and the
//     case's expectation.
//   - For a claimed command, Analyze works and its answer passes
//     sdk.AnalyzeResponse.Validate; then every fix id is applied, with sizes
//     made from the analysis' knobs. Each one either applies — a valid
//     sdk.ApplyResponse that keeps the command's program (argv[0]), with
//     copies as contents inside the copy folder — or is turned down with an
//     *sdk.UnsupportedError that names the fix and gives a reason. An
//     analysis with Checkpoints gets the fix resume the same way, with a
//     checkpoint path made from its first glob.
//   - No call mutates its input Command, and Apply writes no file: the copy
//     folder (and the working folder the kit made) stay empty.
func Run(t *testing.T, impl sdk.Framework, cases []Case) {
	t.Helper()
	check(realT{t}, impl, Dial(t, impl), cases)
}

// Dial serves impl in this process over real gRPC (go-plugin's
// TestPluginGRPCConn) and returns the host's side of the connection: the
// plugin as vramrun sees it. The connection closes when the test ends.
func Dial(t testing.TB, impl sdk.Framework) sdk.Framework {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, serve.PluginSets(impl)[serve.ProtocolVersion])
	// Closing the client shuts the server down through go-plugin's
	// controller; stopping the server as well races with that shutdown.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(serve.PluginName)
	if err != nil {
		t.Fatalf("dispense the plugin: %v", err)
	}
	f, ok := raw.(sdk.Framework)
	if !ok {
		t.Fatalf("the dispensed plugin is a %T, not an sdk.Framework", raw)
	}
	return f
}

// tester is the part of *testing.T the checks use, so that the kit's own
// tests can watch it fail.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	TempDir() string
	run(name string, f func(tester))
}

type realT struct{ *testing.T }

func (t realT) run(name string, f func(tester)) {
	t.Run(name, func(t *testing.T) { f(realT{t}) })
}

// side is one way of reaching the plugin.
type side struct {
	name string
	f    sdk.Framework
}

func check(t tester, impl, wire sdk.Framework, cases []Case) {
	t.Helper()
	if len(cases) == 0 {
		t.Errorf("plugintest.Run needs at least one case")
	}
	sides := []side{{"in process", impl}, {"over gRPC", wire}}
	t.run("describe", func(t tester) { checkDescribe(t, sides) })
	for _, c := range cases {
		t.run(c.Name, func(t tester) { checkCase(t, sides, c) })
	}
}

func checkDescribe(t tester, sides []side) {
	var answers []sdk.DescribeResponse
	for _, s := range sides {
		d, err := s.f.Describe(context.Background(), sdk.DescribeRequest{})
		if err != nil {
			t.Errorf("%s: Describe: %v", s.name, err)
			return
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: Describe: %v", s.name, err)
		}
		answers = append(answers, normDescription(d))
	}
	if !equal(answers[0], answers[1]) {
		t.Errorf("Describe differs:\n%s: %+v\n%s: %+v", sides[0].name, answers[0], sides[1].name, answers[1])
	}
}

func checkCase(t tester, sides []side, c Case) {
	cmd := c.Command.Clone()
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
		defer checkEmpty(t, cmd.Dir, "the command's working folder")
	}
	var recs []sdk.RecognizeResponse
	for _, s := range sides {
		rec, ok := recognizeTwice(t, s, cmd)
		if !ok {
			return
		}
		recs = append(recs, rec)
	}
	if recs[0] != recs[1] {
		t.Errorf("Recognize differs: %s %+v, %s %+v", sides[0].name, recs[0], sides[1].name, recs[1])
	}
	claimed := recs[0].Confidence > 0
	switch {
	case c.Expect == ExpectClaimed && !claimed:
		t.Errorf("Recognize: not claimed (%+v), want claimed", recs[0])
	case c.Expect == ExpectNotClaimed && claimed:
		t.Errorf("Recognize: claimed with confidence %d (%s), want not claimed", recs[0].Confidence, recs[0].Reason)
	}
	if !claimed {
		return
	}
	var analyses []sdk.AnalyzeResponse
	for _, s := range sides {
		before := cmd.Clone()
		a, err := s.f.Analyze(context.Background(), sdk.AnalyzeRequest{Command: cmd})
		if err != nil {
			t.Errorf("%s: Analyze: %v", s.name, err)
			return
		}
		noMutation(t, s, "Analyze", before, cmd)
		if err := a.Validate(); err != nil {
			t.Errorf("%s: Analyze: %v", s.name, err)
		}
		analyses = append(analyses, normAnalysis(a))
	}
	if !equal(analyses[0], analyses[1]) {
		t.Errorf("Analyze differs:\n%s: %+v\n%s: %+v", sides[0].name, analyses[0], sides[1].name, analyses[1])
	}
	for _, id := range sdk.AllFixes() {
		checkApply(t, sides, cmd, SampleFix(id, analyses[0].Knobs))
	}
	if c := analyses[0].Checkpoints; c != nil {
		// A plugin that says where checkpoints go answers resume too.
		checkApply(t, sides, cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: strings.ReplaceAll(c.Globs[0], "*", "1")})
	}
}

func recognizeTwice(t tester, s side, cmd sdk.Command) (sdk.RecognizeResponse, bool) {
	before := cmd.Clone()
	first, err := s.f.Recognize(context.Background(), sdk.RecognizeRequest{Command: cmd})
	if err != nil {
		t.Errorf("%s: Recognize: %v", s.name, err)
		return first, false
	}
	second, err := s.f.Recognize(context.Background(), sdk.RecognizeRequest{Command: cmd})
	if err != nil {
		t.Errorf("%s: Recognize, second time: %v", s.name, err)
		return first, false
	}
	noMutation(t, s, "Recognize", before, cmd)
	if err := first.Validate(); err != nil {
		t.Errorf("%s: Recognize: %v", s.name, err)
	}
	if first != second {
		t.Errorf("%s: Recognize is not stable: %+v, then %+v", s.name, first, second)
	}
	return first, true
}

func noMutation(t tester, s side, call string, before, after sdk.Command) {
	if !equal(before, after) {
		t.Errorf("%s: %s changed its input command:\nbefore %+v\nafter  %+v", s.name, call, before, after)
	}
}

func checkEmpty(t tester, dir, what string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("read %s: %v", what, err)
		return
	}
	for _, e := range entries {
		t.Errorf("the plugin wrote %s in %s: a plugin writes no file, it returns copies as contents", e.Name(), what)
	}
}
