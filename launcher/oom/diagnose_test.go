package oom_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

// acme is a made-up runtime, so these tests pin the engine's generic rules
// and not any real text.
func acmeMatcher(t *testing.T) *oom.Matcher {
	t.Helper()
	size := `\d+(?:\.\d+)? ?[KMG]iB`
	m, err := oom.Compile([]sdk.OOMPattern{
		{ID: "acme.crash", Framework: "acme", Kind: sdk.KindGPU,
			Regexp: `ACME CRASH(?: dev (?P<device>\d+))?(?: want (?P<tried>` + size + `))?`},
		{ID: "acme.report", Framework: "acme", Kind: sdk.KindGPU,
			Regexp: `ACME REPORT want (?P<tried>` + size + `) cap (?P<capacity>` + size + `)`},
		{ID: "acme.block", Framework: "acme", Kind: sdk.KindGPU, Regexp: `ACME BLOCK`,
			Follow: []string{`^  free: (?P<free>` + size + `)`, `^  held: (?P<reserved_unallocated>` + size + `)`}},
		{ID: "acme.summary", Framework: "acme", Kind: sdk.KindGPU, Detail: true,
			Regexp: `summary cap (?P<capacity>` + size + `) free (?P<free>` + size + `)`},
		{ID: "acme.peer", Framework: "acme", Kind: sdk.KindGPU, Detail: true,
			Regexp: `peer (?P<pid>\d+) uses (?P<used>` + size + `)`},
		{ID: "other.crash", Framework: "other", Kind: sdk.KindGPU, Regexp: `OTHER CRASH want (?P<tried>` + size + `)`},
		{ID: "acme.ram", Framework: "acme", Kind: sdk.KindHost, Regexp: `ACME RAM GONE`},
	}, []sdk.Frame{{Name: "run_eval", Phase: sdk.PhaseEval}, {Name: "run_train", Phase: sdk.PhaseTrain},
		{Name: "score", Phase: sdk.PhaseEval, Package: "acme"}, {Name: "score_all", Phase: sdk.PhaseEval, Package: "acme.metrics"},
		{Name: "step", Phase: sdk.PhaseTrain, Package: "acme"}, {Name: "step", Phase: sdk.PhaseEval, Package: "acme.eval"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diagnose(t *testing.T, m *oom.Matcher, log string, end oom.Ending, script string) oom.Diagnosis {
	t.Helper()
	d, err := oom.Diagnose(m, strings.NewReader(log), end, script)
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	return d
}

func bytesOf(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func lines(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format+"\n", i)
	}
	return b.String()
}

func TestHostDiagnosisFromTheEnding(t *testing.T) {
	m := acmeMatcher(t)
	tests := []struct {
		name      string
		log       string
		end       oom.Ending
		oom       bool
		kind      sdk.OOMKind
		signature string
	}{
		{"SIGKILL, nothing else", "step 1\n", oom.Ending{Signal: 9}, true, sdk.KindHost, oom.SignatureSIGKILL},
		{"exit 137 via a shell", "step 1\n", oom.Ending{Exited: true, ExitCode: 137}, true, sdk.KindHost, oom.SignatureSIGKILL},
		{"SIGKILL and cgroup OOM kills", "step 1\n", oom.Ending{Signal: 9, HostOOMKills: 2}, true, sdk.KindHost, oom.SignatureOOMKill},
		{"SIGKILL and the kernel log", "", oom.Ending{Signal: 9, KernelOOM: true}, true, sdk.KindHost, oom.SignatureOOMKill},
		{"kernel log alone", "", oom.Ending{Exited: true, ExitCode: 1, KernelOOM: true}, true, sdk.KindHost, oom.SignatureOOMKill},
		{"SIGKILL with a GPU text is a GPU OOM", "ACME CRASH\nstep\n", oom.Ending{Signal: 9, HostOOMKills: 1}, true, sdk.KindGPU, "acme.crash"},
		{"a host text wins over the ending", "ACME RAM GONE\n", oom.Ending{Signal: 9}, true, sdk.KindHost, "acme.ram"},
		{"exit 1 is no OOM", "step 1\n", oom.Ending{Exited: true, ExitCode: 1, HostOOMKills: 3}, false, sdk.KindNone, ""},
		{"SIGTERM is no OOM", "step 1\n", oom.Ending{Signal: 15}, false, sdk.KindNone, ""},
		{"a log without status is no OOM", "step 1\n", oom.Ending{}, false, sdk.KindNone, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose(t, m, tc.log, tc.end, "")
			if d.OOM != tc.oom || d.Kind != tc.kind || d.Signature != tc.signature {
				t.Fatalf("oom %v kind %q signature %q; want %v %q %q", d.OOM, d.Kind, d.Signature, tc.oom, tc.kind, tc.signature)
			}
			if !tc.oom {
				assertNoOOM(t, d)
				return
			}
			if tc.kind == sdk.KindHost && strings.HasPrefix(tc.signature, "host.") {
				if d.Framework != "unknown" || d.Phase != sdk.PhaseUnknown || d.Device != nil || d.Message == "" {
					t.Errorf("host diagnosis %+v", d)
				}
			}
		})
	}
}

func TestHostDiagnosisMessageSaysWhatWasSeen(t *testing.T) {
	m := acmeMatcher(t)
	d := diagnose(t, m, "", oom.Ending{Signal: 9, HostOOMKills: 2}, "")
	if !strings.Contains(d.Message, "SIGKILL") || !strings.Contains(d.Message, "2 OOM kill") {
		t.Errorf("message %q", d.Message)
	}
	d = diagnose(t, m, "", oom.Ending{Exited: true, ExitCode: 137}, "")
	if !strings.Contains(d.Message, "137") || !strings.Contains(d.Message, "kernel log cannot be read and no cgroup record") {
		t.Errorf("message %q", d.Message)
	}
}

// TestSIGKILLWithASilentKernelLog: kill -9 is no host OOM when the kernel
// log is there to read and records no OOM kill of the job; a kill the log
// or the cgroup records still is.
func TestSIGKILLWithASilentKernelLog(t *testing.T) {
	m := acmeMatcher(t)
	for _, c := range []struct {
		end  oom.Ending
		host bool
	}{
		{oom.Ending{Signal: 9, KernelLogRead: true}, false},
		{oom.Ending{Signal: 9, KernelLogRead: true, KernelOOM: true}, true},
		{oom.Ending{Signal: 9, KernelLogRead: true, HostOOMKills: 1}, true},
		{oom.Ending{Signal: 9}, true},
	} {
		d := diagnose(t, m, "step 1\n", c.end, "")
		if d.OOM != c.host || (c.host && d.Kind != sdk.KindHost) {
			t.Errorf("%+v: diagnosis %+v, want host OOM %v", c.end, d, c.host)
		}
	}
}

func assertNoOOM(t *testing.T, d oom.Diagnosis) {
	t.Helper()
	want := oom.NoOOM()
	if d.OOM || d.Kind != want.Kind || d.Framework != want.Framework || d.Phase != want.Phase || d.Signature != "" ||
		d.Device != nil || d.TriedBytes != nil || d.CapacityBytes != nil || d.FreeBytes != nil || d.AllocatedBytes != nil ||
		d.ReservedUnallocatedBytes != nil || d.AllowedBytes != nil || d.Fragmented || d.Message != "" ||
		d.OtherProcesses == nil || len(d.OtherProcesses) != 0 || d.NextFixes == nil || len(d.NextFixes) != 0 {
		t.Errorf("diagnosis %+v, want oom.NoOOM()", d)
	}
}

func TestLastOOMCounts(t *testing.T) {
	m := acmeMatcher(t)
	log := "ACME REPORT want 5 GiB cap 40 GiB\nstep 2\nstep 3\nACME CRASH dev 1 want 1 GiB\nstep 5\n"
	d := diagnose(t, m, log, oom.Ending{}, "")
	if d.Signature != "acme.crash" || bytesOf(d.TriedBytes) != fmt.Sprint(1<<30) || d.Device == nil || *d.Device != 1 {
		t.Errorf("signature %q tried %s device %v", d.Signature, bytesOf(d.TriedBytes), d.Device)
	}
	if d.Message != "ACME CRASH dev 1 want 1 GiB" {
		t.Errorf("message %q", d.Message)
	}
}

func TestFillsFromNearbyDetailLines(t *testing.T) {
	m := acmeMatcher(t)
	tests := []struct {
		name, log string
		capacity  string
	}{
		{"on the same line", "ACME CRASH want 1 GiB summary cap 8 GiB free 1 GiB\n", fmt.Sprint(8 << 30)},
		{"three lines before", "summary cap 8 GiB free 1 GiB\na\nb\nACME CRASH want 1 GiB\n", fmt.Sprint(8 << 30)},
		{"three lines after", "ACME CRASH want 1 GiB\na\nb\nsummary cap 8 GiB free 1 GiB\n", fmt.Sprint(8 << 30)},
		{"four lines before is too far", "summary cap 8 GiB free 1 GiB\na\nb\nc\nACME CRASH want 1 GiB\n", "null"},
		{"four lines after is too far", "ACME CRASH want 1 GiB\na\nb\nc\nsummary cap 8 GiB free 1 GiB\n", "null"},
		{"the nearest wins", "summary cap 4 GiB free 1 GiB\nACME CRASH want 1 GiB\nsummary cap 2 GiB free 1 GiB\na\nsummary cap 8 GiB free 1 GiB\n", fmt.Sprint(4 << 30)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose(t, m, tc.log, oom.Ending{}, "")
			if got := bytesOf(d.CapacityBytes); got != tc.capacity {
				t.Errorf("capacity %s, want %s", got, tc.capacity)
			}
		})
	}
}

func TestFillsFromAnEarlierOtherTextOfTheSameRuntime(t *testing.T) {
	m := acmeMatcher(t)
	report := "ACME REPORT want 3 GiB cap 16 GiB\n"
	tests := []struct {
		name, log         string
		tried, capacity   string
		signatureExpected string
	}{
		{"after a long dump", report + lines(1500, "dump line %d") + "ACME CRASH dev 0\n",
			fmt.Sprint(3 << 30), fmt.Sprint(16 << 30), "acme.crash"},
		{"the crash's own figure wins", report + "ACME CRASH want 1 GiB\n", fmt.Sprint(1 << 30), fmt.Sprint(16 << 30), "acme.crash"},
		{"a repeat of the same text is skipped", report + "ACME CRASH dev 0\nACME CRASH dev 0\n",
			fmt.Sprint(3 << 30), fmt.Sprint(16 << 30), "acme.crash"},
		{"beyond the window", report + lines(2100, "dump line %d") + "ACME CRASH dev 0\n", "null", "null", "acme.crash"},
		{"another runtime's text is not used", "OTHER CRASH want 3 GiB\nACME CRASH dev 0\n", "null", "null", "acme.crash"},
		{"only the nearest other text", "ACME REPORT want 3 GiB cap 16 GiB\nACME BLOCK\nACME CRASH dev 0\n", "null", "null", "acme.crash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose(t, m, tc.log, oom.Ending{}, "")
			if d.Signature != tc.signatureExpected || bytesOf(d.TriedBytes) != tc.tried || bytesOf(d.CapacityBytes) != tc.capacity {
				t.Errorf("signature %q tried %s capacity %s; want %q %s %s", d.Signature, bytesOf(d.TriedBytes), bytesOf(d.CapacityBytes),
					tc.signatureExpected, tc.tried, tc.capacity)
			}
		})
	}
}

func TestFollowLines(t *testing.T) {
	m := acmeMatcher(t)
	// Two follow expressions: a window of 2*2+2 = 6 lines after the match.
	d := diagnose(t, m, "ACME BLOCK  \n  free: 1 GiB\nnoise\n  held: 2 GiB   \nafter\n", oom.Ending{}, "")
	if bytesOf(d.FreeBytes) != fmt.Sprint(1<<30) || bytesOf(d.ReservedUnallocatedBytes) != fmt.Sprint(2<<30) {
		t.Errorf("free %s held %s", bytesOf(d.FreeBytes), bytesOf(d.ReservedUnallocatedBytes))
	}
	if want := "ACME BLOCK\n  free: 1 GiB\nnoise\n  held: 2 GiB"; d.Message != want {
		t.Errorf("message %q, want %q", d.Message, want)
	}
	// Each expression takes one line: a second "free" line is not read.
	d = diagnose(t, m, "ACME BLOCK\n  free: 1 GiB\n  free: 5 GiB\n", oom.Ending{}, "")
	if bytesOf(d.FreeBytes) != fmt.Sprint(1<<30) || d.Message != "ACME BLOCK\n  free: 1 GiB" {
		t.Errorf("free %s message %q", bytesOf(d.FreeBytes), d.Message)
	}
	// Past the window nothing is taken.
	d = diagnose(t, m, "ACME BLOCK\n"+lines(6, "noise %d")+"  free: 1 GiB\n", oom.Ending{}, "")
	if d.FreeBytes != nil || d.Message != "ACME BLOCK" {
		t.Errorf("free %s message %q past the window", bytesOf(d.FreeBytes), d.Message)
	}
	d = diagnose(t, m, "ACME BLOCK\n"+lines(5, "noise %d")+"  free: 1 GiB\n", oom.Ending{}, "")
	if d.FreeBytes == nil {
		t.Error("free not read on the last line of the window")
	}
}

func TestOtherProcesses(t *testing.T) {
	m := acmeMatcher(t)
	d := diagnose(t, m, "peer 9 uses 5 GiB\nACME BLOCK peer 7 uses 1 GiB peer 8 uses 512 MiB peer 7 uses 1 GiB\n  free: 1 GiB peer 10 uses 2 GiB\n", oom.Ending{}, "")
	got := fmt.Sprint(d.OtherProcesses)
	if want := fmt.Sprint([]oom.ProcessUsage{{PID: 7, UsedBytes: 1 << 30}, {PID: 8, UsedBytes: 512 << 20}, {PID: 10, UsedBytes: 2 << 30}}); got != want {
		t.Errorf("other processes %s, want %s (the OOM line and its follow window, each pid once)", got, want)
	}
	d = diagnose(t, m, "ACME CRASH\n", oom.Ending{}, "")
	if d.OtherProcesses == nil || len(d.OtherProcesses) != 0 {
		t.Errorf("other processes %#v, want []", d.OtherProcesses)
	}
}

func TestFragmented(t *testing.T) {
	m := acmeMatcher(t)
	tests := []struct {
		log  string
		want bool
	}{
		{"ACME BLOCK\n  free: 1 GiB\n  held: 2 GiB\n", false},                                     // no tried, no capacity
		{"ACME REPORT want 2 GiB cap 100 GiB\nACME BLOCK\n  free: 1 GiB\n  held: 2 GiB\n", true},  // held >= tried
		{"ACME REPORT want 3 GiB cap 100 GiB\nACME BLOCK\n  free: 1 GiB\n  held: 2 GiB\n", false}, // below both
		{"ACME REPORT want 30 GiB cap 20 GiB\nACME BLOCK\n  free: 1 GiB\n  held: 2 GiB\n", true},  // 10 % of capacity
		{"ACME REPORT want 30 GiB cap 20.01 GiB\nACME BLOCK\n  free: 1 GiB\n  held: 2 GiB\n", false},
		{"ACME REPORT want 30 GiB cap 20 GiB\nACME BLOCK\n  free: 1 GiB\n", false}, // held unknown
	}
	for _, tc := range tests {
		if d := diagnose(t, m, tc.log, oom.Ending{}, ""); d.Fragmented != tc.want {
			t.Errorf("%q: fragmented %v, want %v (held %s tried %s capacity %s)", tc.log, d.Fragmented, tc.want,
				bytesOf(d.ReservedUnallocatedBytes), bytesOf(d.TriedBytes), bytesOf(d.CapacityBytes))
		}
	}
}

func TestPhase(t *testing.T) {
	m := acmeMatcher(t)
	tb := func(frames ...string) string {
		out := "Traceback (most recent call last):\n"
		for _, f := range frames {
			path, fn, _ := strings.Cut(f, ":")
			out += fmt.Sprintf("  File %q, line 10, in %s\n    code()\n", path, fn)
		}
		return out
	}
	tests := []struct {
		name, log, script string
		want              sdk.Phase
	}{
		{"declared train frame", tb("/lib/acme.py:run_train") + "ACME CRASH\n", "", sdk.PhaseTrain},
		{"declared eval frame", tb("/lib/acme.py:run_eval") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"eval wins over train", tb("/lib/acme.py:run_train", "/lib/acme.py:run_eval") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"user eval function", tb("/home/u/train.py:main", "/home/u/train.py:Evaluate_Model") + "ACME CRASH\n", "train.py", sdk.PhaseEval},
		{"user valid function", tb("/home/u/train.py:validation_epoch") + "ACME CRASH\n", "./train.py", sdk.PhaseEval},
		{"eval function of another file", tb("/home/u/utils.py:evaluate") + "ACME CRASH\n", "train.py", sdk.PhaseUnknown},
		{"no script given", tb("/home/u/train.py:evaluate") + "ACME CRASH\n", "", sdk.PhaseUnknown},
		{"module script", tb("/home/u/pkg/train.py:validate") + "ACME CRASH\n", "pkg.train", sdk.PhaseEval},
		{"undeclared frames", tb("/home/u/train.py:main") + "ACME CRASH\n", "train.py", sdk.PhaseUnknown},
		{"no traceback", "ACME CRASH\n", "train.py", sdk.PhaseUnknown},
		{"rank-prefixed", "[rank0]: Traceback (most recent call last):\n[rank0]:   File \"/lib/acme.py\", line 3, in run_eval\nACME CRASH\n", "", sdk.PhaseEval},
		{"the nearest traceback counts", tb("/lib/acme.py:run_eval") + "ValueError: x\n" + tb("/lib/acme.py:run_train") + "ACME CRASH\n", "", sdk.PhaseTrain},
		// The frame is line 2; with n noise lines the crash is line n+4.
		{"traceback beyond the window", tb("/lib/acme.py:run_train") + lines(1999, "noise %d") + "ACME CRASH\n", "", sdk.PhaseUnknown},
		{"traceback at the window's edge", tb("/lib/acme.py:run_train") + lines(1998, "noise %d") + "ACME CRASH\n", "", sdk.PhaseTrain},
		{"a deep stack keeps its header", tb(deepStack(1200)...) + "ACME CRASH\n", "", sdk.PhaseEval},
		// Frames declared in a package count only in its folder.
		{"packaged frame in its package", tb("/opt/py/site-packages/acme/workers.py:score") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"packaged frame in the user's file", tb("/home/u/train.py:score") + "ACME CRASH\n", "train.py", sdk.PhaseUnknown},
		{"packaged frame in a folder the name begins", tb("/opt/py/site-packages/acmex/workers.py:score") + "ACME CRASH\n", "", sdk.PhaseUnknown},
		{"packaged frame, a relative path", tb("acme/workers.py:score") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"dotted package in its folder", tb("/src/acme/metrics/core.py:score_all") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"dotted package, the parent's folder", tb("/src/acme/core.py:score_all") + "ACME CRASH\n", "", sdk.PhaseUnknown},
		{"a name in two packages", tb("/src/acme/trainer.py:step") + "ACME CRASH\n", "", sdk.PhaseTrain},
		{"a name in two packages, the eval one", tb("/src/acme/eval/loop.py:step") + "ACME CRASH\n", "", sdk.PhaseEval},
		{"a Windows path", "Traceback (most recent call last):\n  File \"C:\\py\\Lib\\site-packages\\acme\\workers.py\", line 3, in score\nACME CRASH\n", "", sdk.PhaseEval},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := diagnose(t, m, tc.log, oom.Ending{}, tc.script); d.Phase != tc.want {
				t.Errorf("phase %q, want %q", d.Phase, tc.want)
			}
		})
	}
}

// deepStack is an evaluation entry point with a long recursion below it.
func deepStack(depth int) []string {
	frames := []string{"/lib/acme.py:run_eval"}
	for range depth {
		frames = append(frames, "/home/u/tree.py:visit")
	}
	return frames
}

func TestDiagnoseLongLinesAndCarriageReturns(t *testing.T) {
	m := acmeMatcher(t)
	long := strings.Repeat("x", 3*oom.MaxLine)
	log := long + "ACME CRASH want 9 GiB\n" + "bar 1\rbar 2\rACME CRASH want 1 GiB\rbar 3\n"
	d := diagnose(t, m, log, oom.Ending{}, "")
	if bytesOf(d.TriedBytes) != fmt.Sprint(1<<30) {
		t.Errorf("tried %s, want the text inside the progress bar", bytesOf(d.TriedBytes))
	}
	// An OOM text past MaxLine on one line is seen.
	d = diagnose(t, m, long+"ACME CRASH want 9 GiB\n", oom.Ending{}, "")
	if d.Signature != "acme.crash" || bytesOf(d.TriedBytes) != fmt.Sprint(9<<30) {
		t.Errorf("text beyond MaxLine: %s, tried %s; want acme.crash, 9 GiB", d.Signature, bytesOf(d.TriedBytes))
	}
}

func TestDiagnoseReadError(t *testing.T) {
	m := acmeMatcher(t)
	boom := errors.New("disk gone")
	r := io.MultiReader(strings.NewReader("ACME CRASH want 1 GiB\n"), iotest.ErrReader(boom))
	d, err := oom.Diagnose(m, r, oom.Ending{}, "")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading output") {
		t.Errorf("error %v, want the read error", err)
	}
	if d.Signature != "acme.crash" {
		t.Errorf("diagnosis of what was read: %+v", d)
	}
	if _, err := oom.Diagnose(nil, strings.NewReader(""), oom.Ending{}, ""); err == nil {
		t.Error("nil matcher accepted")
	}
}

func TestCompileErrors(t *testing.T) {
	good := sdk.OOMPattern{ID: "acme.crash", Framework: "acme", Kind: sdk.KindGPU, Regexp: `CRASH`}
	with := func(change func(p *sdk.OOMPattern)) []sdk.OOMPattern {
		p := good
		change(&p)
		return []sdk.OOMPattern{p}
	}
	tests := []struct {
		name     string
		patterns []sdk.OOMPattern
		frames   []sdk.Frame
		want     string
	}{
		{"bad regexp", with(func(p *sdk.OOMPattern) { p.Regexp = `(` }), nil, "acme.crash"},
		{"bad follow", with(func(p *sdk.OOMPattern) { p.Follow = []string{`[`} }), nil, "acme.crash"},
		{"unknown group", with(func(p *sdk.OOMPattern) { p.Regexp = `(?P<size>\d+)` }), nil, "acme.crash"},
		{"no kind", with(func(p *sdk.OOMPattern) { p.Kind = sdk.KindNone }), nil, "acme.crash"},
		{"no framework", with(func(p *sdk.OOMPattern) { p.Framework = "" }), nil, "acme.crash: no framework"},
		{"reserved id", with(func(p *sdk.OOMPattern) { p.ID = oom.SignatureSIGKILL }), nil, "host.sigkill"},
		{"too many follows", with(func(p *sdk.OOMPattern) { p.Follow = make([]string, 33) }), nil, "acme.crash"},
		{"frame phase", nil, []sdk.Frame{{Name: "run", Phase: sdk.PhaseUnknown}}, `"run"`},
		{"frame name", nil, []sdk.Frame{{Phase: sdk.PhaseEval}}, "empty name"},
		{"frame package", nil, []sdk.Frame{{Name: "run", Phase: sdk.PhaseEval, Package: "acme/workers"}}, `package "acme/workers"`},
	}
	for _, tc := range tests {
		_, err := oom.Compile(tc.patterns, tc.frames)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s", tc.name, err, tc.want)
		}
	}
}

func TestCompileKeepsTheFirstOfTwoEqualIDs(t *testing.T) {
	override := sdk.OOMPattern{ID: "acme.crash", Framework: "acme", Kind: sdk.KindHost, Regexp: `NEW CRASH TEXT`}
	builtin := sdk.OOMPattern{ID: "acme.crash", Framework: "acme", Kind: sdk.KindGPU, Regexp: `OLD CRASH TEXT`}
	m, err := oom.Compile([]sdk.OOMPattern{override, builtin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := diagnose(t, m, "OLD CRASH TEXT\n", oom.Ending{}, ""); d.OOM {
		t.Errorf("the overridden text still matched: %+v", d)
	}
	if d := diagnose(t, m, "NEW CRASH TEXT\n", oom.Ending{}, ""); d.Kind != sdk.KindHost {
		t.Errorf("the overriding text: %+v", d)
	}
}

func TestFirstDeclaredPatternTakesALine(t *testing.T) {
	specific := sdk.OOMPattern{ID: "acme.cpu", Framework: "acme", Kind: sdk.KindHost, Regexp: `CRASH on cpu`}
	general := sdk.OOMPattern{ID: "acme.any", Framework: "acme", Kind: sdk.KindGPU, Regexp: `CRASH`}
	for _, order := range [][]sdk.OOMPattern{{specific, general}, {general, specific}} {
		m, err := oom.Compile(order, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := diagnose(t, m, "CRASH on cpu\n", oom.Ending{}, ""); d.Signature != order[0].ID {
			t.Errorf("order %s, %s: signature %q", order[0].ID, order[1].ID, d.Signature)
		}
	}
}
