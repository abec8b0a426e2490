// Package plugintab holds helpers for the built-in plugins' table tests:
// building an sdk.Command from an argv string and a files overlay, and
// calling a plugin's Recognize, Analyze and Apply with the checks every
// table makes on each call (the input command is left as it was, the
// analysis validates, an unsupported fix says why).
//
// It is an ordinary package so that every plugin's _test files can share
// it; only tests import it.
package plugintab

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

const (
	// NoDir is the working folder Command gives: it does not exist, so a
	// plugin can read only what the files overlay holds.
	NoDir = "/nonexistent-vramrun-test-dir"
	// CopyDir is the copy folder Apply is given.
	CopyDir = "/copies"
)

// Option changes a command Command builds.
type Option func(*sdk.Command)

// Dir sets the command's working folder in place of NoDir.
func Dir(dir string) Option {
	return func(c *sdk.Command) { c.Dir = dir }
}

// Env sets environment variables from name, value pairs, over the
// PATH=/usr/bin a command starts with. It fills a new map, so the command
// it changes shares no map with another.
func Env(pairs ...string) Option {
	return func(c *sdk.Command) {
		env := make(map[string]string, len(c.Env)+len(pairs)/2)
		for k, v := range c.Env {
			env[k] = v
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			env[pairs[i]] = pairs[i+1]
		}
		c.Env = env
	}
}

// Flags sets the profile's flags: mapping, as given: nil stays nil and an
// empty map stays empty.
func Flags(flags map[string]string) Option {
	return func(c *sdk.Command) { c.Flags = flags }
}

// Files turns path, content pairs into a files overlay.
func Files(pairs ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// Command builds a command from a space-separated argv whose files come
// only from the overlay: PATH=/usr/bin, working folder NoDir, then opts.
func Command(argv string, overlay map[string]string, opts ...Option) sdk.Command {
	cmd := sdk.Command{Argv: strings.Fields(argv), Env: map[string]string{"PATH": "/usr/bin"},
		Dir: NoDir, Files: map[string][]byte{}}
	for p, c := range overlay {
		cmd.Files[p] = []byte(c)
	}
	return With(cmd, opts...)
}

// With returns cmd changed by opts.
func With(cmd sdk.Command, opts ...Option) sdk.Command {
	for _, opt := range opts {
		opt(&cmd)
	}
	return cmd
}

// Recognize calls f.Recognize and checks that it left its input alone and
// that the answer passes sdk.RecognizeResponse.Validate.
func Recognize(t testing.TB, f sdk.Framework, cmd sdk.Command) sdk.RecognizeResponse {
	t.Helper()
	rec := mustCall(t, "Recognize", func(ctx context.Context, cmd sdk.Command) (sdk.RecognizeResponse, error) {
		return f.Recognize(ctx, sdk.RecognizeRequest{Command: cmd})
	}, cmd)
	if err := rec.Validate(); err != nil {
		t.Errorf("Recognize(%q) gave an invalid answer: %v", cmd.Argv, err)
	}
	return rec
}

// Analyze calls f.Analyze and checks that it left its input alone and
// that the analysis passes sdk.AnalyzeResponse.Validate.
func Analyze(t testing.TB, f sdk.Framework, cmd sdk.Command) sdk.AnalyzeResponse {
	t.Helper()
	a := mustCall(t, "Analyze", func(ctx context.Context, cmd sdk.Command) (sdk.AnalyzeResponse, error) {
		return f.Analyze(ctx, sdk.AnalyzeRequest{Command: cmd})
	}, cmd)
	if err := a.Validate(); err != nil {
		t.Errorf("Analyze(%q) gave an invalid analysis: %v", cmd.Argv, err)
	}
	return a
}

// mustCall calls the plugin's method call on cmd: an error ends the test,
// and the call must leave cmd as it was.
func mustCall[R any](t testing.TB, name string, call func(context.Context, sdk.Command) (R, error), cmd sdk.Command) R {
	t.Helper()
	before := cmd.Clone()
	got, err := call(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s(%q): %v", name, cmd.Argv, err)
	}
	leftAlone(t, name, before, cmd)
	return got
}

// Apply calls f.Apply with CopyDir and checks that it left its input
// alone. The answer and error are the caller's to check.
func Apply(t testing.TB, f sdk.Framework, cmd sdk.Command, fix sdk.Fix) (sdk.ApplyResponse, error) {
	t.Helper()
	before := cmd.Clone()
	got, err := f.Apply(context.Background(), sdk.ApplyRequest{Command: cmd, Fix: fix, CopyDir: CopyDir})
	leftAlone(t, "Apply("+string(fix.ID)+")", before, cmd)
	return got, err
}

// leftAlone checks that call left its input command as it was: before is
// the command's deep copy taken ahead of the call.
func leftAlone(t testing.TB, call string, before, cmd sdk.Command) {
	t.Helper()
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("%s changed its input:\nbefore %+v\nafter  %+v", call, before, cmd)
	}
}

// MustApply is Apply for a fix that must apply: an error ends the test.
func MustApply(t testing.TB, f sdk.Framework, cmd sdk.Command, fix sdk.Fix) sdk.ApplyResponse {
	t.Helper()
	got, err := Apply(t, f, cmd, fix)
	if err != nil {
		t.Fatalf("Apply(%+v) to %q: %v", fix, cmd.Argv, err)
	}
	return got
}

// WantUnsupported checks that err is an *sdk.UnsupportedError for fix
// whose reason contains want; any other error, or none, ends the test.
func WantUnsupported(t testing.TB, err error, fix sdk.FixID, want string) {
	t.Helper()
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) {
		t.Fatalf("Apply(%s) error = %v (%T), want *sdk.UnsupportedError", fix, err, err)
	}
	if unsupported.Fix != fix || !strings.Contains(unsupported.Reason, want) {
		t.Errorf("Apply(%s) = unsupported %s: %q, want %s with a reason containing %q", fix, unsupported.Fix, unsupported.Reason, fix, want)
	}
}

// KnobsText prints knobs for messages.
func KnobsText(k sdk.Knobs) string {
	b, _ := json.Marshal(k)
	return string(b)
}

// ArgvText prints an argv for messages and comparisons, space-separated.
func ArgvText(argv []string) string { return strings.Join(argv, " ") }

// WantApplied applies fix to cmd and checks what comes back: the argv (as
// one space-joined string), the environment it sets (nil for none), the
// summary, and no config copies.
func WantApplied(t testing.TB, f sdk.Framework, cmd sdk.Command, fix sdk.Fix, argv string, env map[string]string, summary string) {
	t.Helper()
	got, err := Apply(t, f, cmd, fix)
	if err != nil {
		t.Fatalf("Apply(%s): %v", fix.ID, err)
	}
	if ArgvText(got.Argv) != argv || got.Summary != summary || !reflect.DeepEqual(got.Env, env) || len(got.Copies) != 0 {
		t.Errorf("Apply =\n %q %v %v (%s)\nwant\n %q %v no copies (%s)", ArgvText(got.Argv), got.Env, got.Copies, got.Summary, argv, env, summary)
	}
}

// WantRefused applies fix to cmd and checks it is turned down as
// unsupported with a reason containing want.
func WantRefused(t testing.TB, f sdk.Framework, cmd sdk.Command, fix sdk.Fix, want string) {
	t.Helper()
	got, err := Apply(t, f, cmd, fix)
	if err == nil {
		t.Fatalf("Apply(%s) = %q %v (%s); want unsupported", fix.ID, got.Argv, got.Env, got.Summary)
	}
	WantUnsupported(t, err, fix.ID, want)
}
