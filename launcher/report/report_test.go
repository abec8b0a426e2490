package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

func TestWriteDrawsOneChartPerAttemptWithSamples(t *testing.T) {
	run, dir := threeAttemptRun(t)
	doc := parseHTML(t, render(t, run, dir))

	if got := len(byTag(doc, "svg")); got != 2 {
		t.Fatalf("%d svg elements, want 2 (attempts 1 and 3 have samples)", got)
	}
	for _, n := range []int{1, 3} {
		sec := byID(doc, "attempt-"+strconv.Itoa(n))
		if sec == nil {
			t.Fatalf("no section for attempt %d", n)
		}
		if len(byTag(sec, "svg")) != 1 {
			t.Errorf("attempt %d: want one chart in its section", n)
		}
		if byID(sec, "nochart-"+strconv.Itoa(n)) != nil {
			t.Errorf("attempt %d has samples but says it has none", n)
		}
	}
	sec2 := byID(doc, "attempt-2")
	if sec2 == nil {
		t.Fatal("no section for attempt 2")
	}
	if len(byTag(sec2, "svg")) != 0 {
		t.Error("attempt 2 has no samples file, yet its section holds a chart")
	}
	no := byID(sec2, "nochart-2")
	if no == nil || !strings.Contains(textOf(no), "No GPU memory samples for this attempt") {
		t.Errorf("attempt 2 should say in words that it has no samples; got %v", no)
	}
}

func TestWriteAttemptsTable(t *testing.T) {
	run, dir := threeAttemptRun(t)
	samples := 805.13
	run.Attempts[2].Speed = &record.Speed{SamplesPerS: &samples, Rate: 805.13, Unit: "sample", Readings: 4}
	also := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixAllocator}, Summary: "PYTORCH_ALLOC_CONF=expandable_segments:True"}
	run.Attempts[2].Also = []record.FixRecord{also}
	doc := parseHTML(t, render(t, run, dir))
	table := byID(doc, "attempts")
	if table == nil {
		t.Fatal("no attempts table")
	}
	rows := byTag(byTag(table, "tbody")[0], "tr")
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	want := [][]string{
		{"1", "1", "GPU out of memory in training", "none: the command as typed", "20.0 s", "23 GiB of 24 GiB (96 %)", "unknown"},
		{"2", "137 (signal 9)", "GPU out of memory in training, then hung",
			"allocator: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (7.0 GiB held unused by the allocator)", "40.0 s", "not sampled", "unknown"},
		{"3", "0", "ran to the end",
			"batch_size: --batch-size 256 -> 64, --grad-accum-steps 1 -> 4 (asked 2.3 GiB of a 24 GiB GPU); with it, allocator: PYTORCH_ALLOC_CONF=expandable_segments:True",
			"25.0 s", "12 GiB of 24 GiB (50 %)", "805 samples/s"},
	}
	for i, row := range rows {
		cells := byTag(row, "td")
		if len(cells) != len(want[i]) {
			t.Fatalf("row %d: %d cells, want %d", i+1, len(cells), len(want[i]))
		}
		for j, c := range cells {
			if got := textOf(c); got != want[i][j] {
				t.Errorf("row %d cell %d = %q, want %q", i+1, j+1, got, want[i][j])
			}
		}
	}
}

func TestWriteRunSummaryDiagnosisAndFinalCommand(t *testing.T) {
	run, dir := threeAttemptRun(t)
	page := render(t, run, dir)
	doc := parseHTML(t, page)

	if got := textOf(byID(doc, "outcome")); got != "fits: ran to the end after 2 relaunches, exit status 0" {
		t.Errorf("outcome = %q", got)
	}
	final := textOf(byID(doc, "final-command"))
	if want := "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python3 train.py --batch-size 64 --grad-accum-steps 4"; final != want {
		t.Errorf("final command = %q, want %q", final, want)
	}
	sec1 := textOf(byID(doc, "attempt-1"))
	for _, want := range []string{
		"GPU memory ran out during training.",
		"It asked for 2.3 GiB more.",
		"The GPU holds 24 GiB in all.",
		"7.0 GiB was held unused by the allocator (reserved but unallocated): the memory was fragmented.",
		"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.30 GiB.",
	} {
		if !strings.Contains(sec1, want) {
			t.Errorf("attempt 1's section lacks %q", want)
		}
	}
	sec3 := textOf(byID(doc, "attempt-3"))
	if strings.Contains(sec3, "Diagnosis") {
		t.Error("attempt 3 fit; it has no diagnosis to show")
	}
	if !strings.Contains(sec3, "mixed_precision: no precision flag in train.py") {
		t.Error("attempt 3's section does not list the fix passed over")
	}
	if !strings.Contains(page, filepath.Join(dir, "attempt-1.log")) {
		t.Error("attempt 1's output log is not named")
	}
}

func TestChartMarksTheOOMOnlyWhenTheAttemptRanOut(t *testing.T) {
	run, dir := threeAttemptRun(t)
	doc := parseHTML(t, render(t, run, dir))
	chart1 := textOf(byID(doc, "chart-1"))
	chart3 := textOf(byID(doc, "chart-3"))
	for _, want := range []string{"job's own", "whole GPU", "capacity", "OOM (attempt ended)"} {
		if !strings.Contains(chart1, want) {
			t.Errorf("attempt 1's chart has no %q in its legend", want)
		}
	}
	if strings.Contains(chart3, "OOM") {
		t.Error("attempt 3 fit, but its chart marks an OOM")
	}
	if !strings.Contains(chart3, "capacity") {
		t.Error("attempt 3's chart has no capacity line")
	}
}

func TestChartInputPutsTheOOMAtTheAttemptsEnd(t *testing.T) {
	run, _ := threeAttemptRun(t)
	samples := rampSamples(run.Attempts[0].Started.Add(2*time.Second), 5, gib, gib, 0)
	in := chartInputOf(run.Attempts[0], samples)
	if in.oomAt != 20 || in.capacity != capacity || !in.start.Equal(run.Attempts[0].Started) {
		t.Errorf("oomAt %v capacity %d start %v; want 20 s, 24 GiB, the attempt's start", in.oomAt, in.capacity, in.start)
	}
	ok := run.Attempts[2]
	if in := chartInputOf(ok, samples); in.oomAt >= 0 {
		t.Errorf("an attempt that fit has an OOM mark at %v", in.oomAt)
	}
	// Without the attempt's start, time zero is the first sample; without
	// NVML's capacity, the diagnosis's.
	noStart := run.Attempts[0]
	noStart.Started, noStart.CapacityBytes = time.Time{}, nil
	in = chartInputOf(noStart, samples)
	if !in.start.Equal(samples[0].Time) || in.capacity != capacity {
		t.Errorf("start %v capacity %d; want the first sample's time and the diagnosis's capacity", in.start, in.capacity)
	}
}

// TestChartInputPutsTheOOMWhenItWasPrinted: with the time of the OOM text
// in the record, the mark is there, not at the attempt's end.
func TestChartInputPutsTheOOMWhenItWasPrinted(t *testing.T) {
	run, _ := threeAttemptRun(t)
	samples := rampSamples(run.Attempts[0].Started.Add(2*time.Second), 5, gib, gib, 0)
	for _, c := range []struct {
		attempt int
		label   string
	}{{0, "OOM"}, {1, "OOM (the job then hung)"}} {
		a := run.Attempts[c.attempt]
		at := a.Started.Add(12 * time.Second)
		a.OOMAt = &at
		if in := chartInputOf(a, samples); in.oomAt != 12 || in.oomLabel != c.label {
			t.Errorf("attempt %d: mark at %v s %q; want 12 s %q", a.N, in.oomAt, in.oomLabel, c.label)
		}
	}
}

func TestWriteEscapesWhatTheRecordHolds(t *testing.T) {
	run, dir := threeAttemptRun(t)
	evil := `<script>alert("x")</script>`
	run.Argv = []string{"python3", evil}
	run.GPU = `<img src=x onerror=alert(1)>`
	run.Notes = []string{`</li></ul><b>bold</b>`}
	run.Attempts[0].Diagnosis.Message = `</pre><iframe src="javascript:alert(1)"></iframe>`
	run.Attempts[2].Env = map[string]string{"X": `"><svg onload=alert(1)>`}
	page := render(t, run, dir)
	doc := parseHTML(t, page)

	for _, tag := range []string{"script", "img", "iframe", "b"} {
		if n := len(byTag(doc, tag)); n != 0 {
			t.Errorf("%d <%s> element(s) made it into the page", n, tag)
		}
	}
	if n := len(byTag(doc, "svg")); n != 2 {
		t.Errorf("%d svg elements; only the two charts may be there", n)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the command's text is not shown escaped")
	}
	if !strings.Contains(textOf(doc), `</pre><iframe src="javascript:alert(1)"></iframe>`) {
		t.Error("the OOM message does not read back as the job printed it")
	}
}

func TestPageLoadsNothingFromOutside(t *testing.T) {
	run, dir := threeAttemptRun(t)
	page := render(t, run, dir)
	doc := parseHTML(t, page)
	for _, tag := range []string{"script", "link", "img", "iframe", "object", "embed"} {
		if n := len(byTag(doc, tag)); n != 0 {
			t.Errorf("the page has %d <%s> element(s)", n, tag)
		}
	}
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href" || strings.HasSuffix(a.Key, ":href")) && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q> points outside the page", n.Data, a.Key, a.Val)
			}
		}
	}
	// URLs may appear only as XML namespace names, which browsers never fetch.
	for _, m := range regexp.MustCompile(`(\S*)="?https?://`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "xmlns") {
			t.Errorf("a URL outside a namespace declaration: %q", m[0])
		}
	}
	if strings.Contains(page, "url(") || strings.Contains(page, "@import") || strings.Contains(page, "@font-face") {
		t.Error("the style sheet loads something")
	}
}

func TestLongAttemptsAreThinnedToKeepThePageSmall(t *testing.T) {
	run, dir := threeAttemptRun(t)
	// A day at 500 ms, bounded by the sampler at 20000 samples.
	long := rampSamples(run.Attempts[0].Started, 20000, gib, 0, gib)
	long[12345].JobUsed = uint64(22 * gib) // one short spike
	writeSamples(t, dir, "attempt-1.samples.jsonl", long)
	run.Attempts = run.Attempts[:1]
	run.Attempts[0].Ended = long[len(long)-1].Time
	page := render(t, run, dir)
	if len(page) > 150_000 {
		t.Errorf("the page is %d bytes for one attempt; thinning should keep it small", len(page))
	}
}

func TestNoChartSaysWhyInWords(t *testing.T) {
	cases := []struct {
		name, file, content, want string
	}{
		{"no NVML", "", "", "NVML was not available"},
		{"file gone", "attempt-1.samples.jsonl", "", "is gone"},
		{"bad line", "attempt-1.samples.jsonl", "{\"time\":\"2026-03-14T09:26:53Z\",\"device_used\":{}}\nnot json\n", "samples line 2"},
		{"empty", "attempt-1.samples.jsonl", "\n", "ended before the first sample"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.content != "" {
				if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			run := &record.Run{ID: "20260314-092653-a1b2c3", Argv: []string{"true"}, End: record.End{Outcome: record.OutcomeOK},
				Attempts: []record.Attempt{{N: 1, Launch: record.Launch{Argv: []string{"true"}}, Outcome: "ok", Memory: record.Memory{SamplesFile: c.file}}}}
			doc := parseHTML(t, render(t, run, dir))
			if len(byTag(doc, "svg")) != 0 {
				t.Error("a chart was drawn without samples")
			}
			if got := textOf(byID(doc, "nochart-1")); !strings.Contains(got, c.want) {
				t.Errorf("no-chart text %q lacks %q", got, c.want)
			}
		})
	}
}

func TestFinalCommandFallsBackToTheLastAttempt(t *testing.T) {
	run := &record.Run{ID: "20260314-092653-a1b2c3", Argv: []string{"python3", "train.py"}, End: record.End{Outcome: record.OutcomeRunning},
		Attempts: []record.Attempt{
			{N: 1, Launch: record.Launch{Argv: []string{"python3", "train.py"}}, Outcome: "oom"},
			{N: 2, Launch: record.Launch{Argv: []string{"python3", "train.py", "--config", "my run.yaml"}, Env: map[string]string{"B": "2", "A": "it's"},
				Files: map[string]string{"run.yaml": ".vramrun/runs/x/run.yaml"}}},
		}}
	doc := parseHTML(t, render(t, run, t.TempDir()))
	if got, want := textOf(byID(doc, "final-command")), `A='it'\''s' B=2 python3 train.py --config 'my run.yaml'`; got != want {
		t.Errorf("final command = %q, want %q", got, want)
	}
	if !strings.Contains(textOf(doc), "run.yaml → .vramrun/runs/x/run.yaml") {
		t.Error("the rewritten config copy is not listed")
	}
	if got := textOf(byTag(byTag(byID(doc, "attempts"), "tbody")[0], "tr")[1]); !strings.Contains(got, "still running") {
		t.Errorf("an attempt without an end should read as still running: %q", got)
	}
}

func TestWriteFileReplacesThePageWhole(t *testing.T) {
	run, dir := threeAttemptRun(t)
	out := filepath.Join(dir, FileName)
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(out, run, dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "<!DOCTYPE html>") || !strings.HasSuffix(string(data), "</html>\n") {
		t.Error("report.html is not the whole page")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".report-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	missing := filepath.Join(dir, "no", "such", "dir", "r.html")
	err = WriteFile(missing, run, dir)
	if err == nil || err.Error() != missing+": no such file or directory" {
		t.Errorf("writing into a missing folder: %v, want an error naming %s", err, missing)
	}
}

func TestDiagnosisLinesForOtherKinds(t *testing.T) {
	d := oom.NoOOM()
	if lines := diagnosisLines(&d); lines != nil {
		t.Errorf("no OOM, yet lines %q", lines)
	}
	d.OOM, d.Kind, d.Phase = true, sdk.KindHost, sdk.PhaseEval
	d.OtherProcesses = []oom.ProcessUsage{{PID: 4242, UsedBytes: 3 * gib}}
	d.AllowedBytes = i64(20 * gib)
	got := strings.Join(diagnosisLines(&d), "\n")
	for _, want := range []string{"host memory ran out during evaluation.", "pid 4242 held 3.0 GiB", "allowed 20 GiB"} {
		if !strings.Contains(got, want) {
			t.Errorf("lines %q lack %q", got, want)
		}
	}
	d.Phase = sdk.PhaseUnknown
	if got := diagnosisLines(&d)[0]; !strings.Contains(got, "phase unknown") {
		t.Errorf("first line %q does not say the phase is unknown", got)
	}
}

func TestResumedAttemptSaysFromWhereAndTheStepsSaved(t *testing.T) {
	run, dir := threeAttemptRun(t)
	step := 40
	run.Attempts[2].Resumed = &record.Resume{Checkpoint: "out/checkpoint-40", Step: &step, BeforeOOM: 90 * time.Second}
	page := render(t, run, dir)
	for _, want := range []string{"Resumed from <code>out/checkpoint-40</code> (step 40: 40 steps not trained again, written 1m30s before the OOM).",
		"(asked 2.3 GiB of a 24 GiB GPU); resumed from out/checkpoint-40</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(page, "Resumed from") != 1 {
		t.Errorf("page says Resumed from %d times, want once (attempt 3 only)", strings.Count(page, "Resumed from"))
	}
}

// TestSpeedChartOnlyWithASpeed: one bar per attempt when some attempt's
// speed is known, drawn inline; none when no attempt's is.
func TestSpeedChartOnlyWithASpeed(t *testing.T) {
	run, dir := threeAttemptRun(t)
	if byID(parseHTML(t, render(t, run, dir)), "speed-chart") != nil {
		t.Fatal("a speed chart without any speed")
	}
	samples := 805.13
	run.Attempts[2].Speed = &record.Speed{SamplesPerS: &samples, Rate: 805.13, Unit: "sample", Readings: 4}
	fig := byID(parseHTML(t, render(t, run, dir)), "speed-chart")
	if fig == nil || len(byTag(fig, "svg")) != 1 {
		t.Fatal("no inline speed chart")
	}
	if text := textOf(fig); !strings.Contains(text, "samples a second") || !strings.Contains(text, "attempt") {
		t.Errorf("speed chart text %q lacks its axes", text)
	}
}
