// Package report turns a run record into one self-contained HTML page: the
// run's command and outcome, the attempts table, a chart of VRAM over time
// per attempt (gonum/plot drawn as inline SVG), the diagnosis of each OOM in
// words and the final command to copy. The page loads nothing from anywhere:
// no scripts, no external style sheets, fonts or images.
package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/human"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/record"
)

// FileName is the page's name inside the run folder when no other output is
// asked for.
const FileName = "report.html"

//go:embed page.html.tmpl
var pageTemplate string

// pageTmpl is parsed once, when the first report is written (not at start-up:
// a run that writes no report does not pay for it); html/template escapes every value it is given,
// and only the charts, which this package draws itself, go in as
// template.HTML.
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(pageTemplate))
})

// page is what the template shows of one run. Its parts are embedded, so
// the template reads every field as the page's own (.RunID, .Final).
type page struct {
	runSummary
	runResult
	Attempts []attemptView
	// SpeedChart is one bar per attempt; empty when no attempt's speed is
	// known.
	SpeedChart template.HTML
	finalView
}

// runSummary is what the page's header says the run was.
type runSummary struct {
	RunID     string
	Command   string
	Dir       string
	GPU       string
	Framework string
	Learned   string
	Notes     []string
}

// runResult is how the run ended, and when.
type runResult struct {
	Outcome string
	// OutcomeClass colours the outcome: outcome-ok or outcome-bad.
	OutcomeClass string
	ExitStatus   int
	Started      string
	Ended        string
	Duration     string
}

// finalView is the final command to copy and the config copies it reads.
type finalView struct {
	Final      string
	FinalFiles []filePair
	// FinalIsAsTyped says the final command is the one the user typed.
	FinalIsAsTyped bool
}

// attemptView is one attempt: a row of the table and a section below it.
// Its parts are embedded, so the template reads .N, .Chart and the rest as
// its own fields.
type attemptView struct {
	attemptRow
	attemptLaunch
	chartView
	diagnosisView
}

// attemptRow is the attempt's row of the attempts table.
type attemptRow struct {
	N          int
	ExitStatus string
	Result     string
	Fix        string
	Duration   string
	Peak       string
	// Speed is what the job's progress lines said ("812 samples/s"), ""
	// when nothing did.
	Speed string
}

// attemptLaunch is what the attempt ran, what vramrun passed over before
// it, and where its output went.
type attemptLaunch struct {
	// Resumed is the checkpoint the attempt resumed from ("" from scratch);
	// ResumeNote says how many steps that saved and when it was written.
	Resumed    string
	ResumeNote string
	Command    string
	Files      []filePair
	Skipped    []string
	Notes      []string
	LogFile    string
}

// chartView is the attempt's chart of memory over time.
type chartView struct {
	// Chart is the inline SVG; empty when there is nothing to draw, and
	// NoChart then says why.
	Chart     template.HTML
	NoChart   string
	OOMMarked bool
}

// diagnosisView is the attempt's diagnosis in words and the OOM message
// the job printed.
type diagnosisView struct {
	Diagnosis []string
	Message   string
}

type filePair struct{ Original, Copy string }

// Write renders the page of run, whose folder (holding the samples files) is
// runDir, to w. A samples file that is missing or unreadable does not stop
// the page: that attempt's section says so instead of drawing a chart.
func Write(w io.Writer, run *record.Run, runDir string) error {
	p := page{
		runSummary: runSummary{
			RunID:     run.ID,
			Command:   human.Join(run.Argv),
			Dir:       run.Dir,
			GPU:       run.GPU,
			Framework: run.Framework,
			Learned:   run.Learned,
			Notes:     run.Notes,
		},
		runResult: runResult{
			Outcome:      runOutcome(run),
			OutcomeClass: "outcome-bad",
			ExitStatus:   run.ExitStatus,
			Started:      when(run.Started),
			Ended:        when(run.Ended),
			Duration:     duration(run.Started, run.Ended),
		},
	}
	if run.Outcome == record.OutcomeOK {
		p.OutcomeClass = "outcome-ok"
	}
	if p.GPU == "" {
		p.GPU = "unknown GPU"
	}
	for _, a := range run.Attempts {
		p.Attempts = append(p.Attempts, viewAttempt(a, runDir))
	}
	p.Final, p.FinalFiles, p.FinalIsAsTyped = finalCommand(run)
	chart, err := speedChart(run.Attempts)
	if err != nil {
		return fmt.Errorf("report: %v", err)
	}
	p.SpeedChart = chart
	var buf bytes.Buffer
	if err := pageTmpl().Execute(&buf, p); err != nil {
		return fmt.Errorf("report: %v", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// WriteFile renders the page into path, through a temporary file and a
// rename, so that a browser never shows half a page. Its errors name path.
func WriteFile(path string, run *record.Run, runDir string) error {
	var buf bytes.Buffer
	if err := Write(&buf, run, runDir); err != nil {
		return err
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// CreateTemp makes the file private; a report is as readable as any
	// other file the user writes.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func viewAttempt(a record.Attempt, runDir string) attemptView {
	v := attemptView{
		attemptRow: attemptRow{
			N:          a.N,
			ExitStatus: exitWords(a),
			Result:     attemptResult(a),
			Fix:        fixWords(a.Fix),
			Duration:   duration(a.Started, a.Ended),
			Peak:       peakWords(a),
		},
		attemptLaunch: attemptLaunch{
			Command: human.CommandLine(a.Env, a.Argv),
			Files:   pairs(a.Files),
			Notes:   a.Notes,
		},
		diagnosisView: diagnosisView{Diagnosis: diagnosisLines(a.Diagnosis)},
	}
	if a.Speed != nil {
		v.Speed = a.Speed.Words()
	}
	for _, also := range a.Also {
		v.Fix += "; with it, " + fixWords(&also)
	}
	if a.Diagnosis != nil && a.Diagnosis.OOM {
		v.Message = a.Diagnosis.Message
	}
	for _, s := range a.Skipped {
		v.Skipped = append(v.Skipped, fmt.Sprintf("%s: %s", s.Fix, s.Reason))
	}
	if r := a.Resumed; r != nil {
		v.Resumed = r.Checkpoint
		var note []string
		if r.Step != nil {
			note = append(note, fmt.Sprintf("step %d: %d steps not trained again", *r.Step, *r.Step))
		}
		if r.BeforeOOM > 0 {
			note = append(note, "written "+r.BeforeOOM.Round(time.Second).String()+" before the OOM")
		}
		v.ResumeNote = strings.Join(note, ", ")
		v.Fix += "; resumed from " + r.Checkpoint
	}
	if a.LogFile != "" {
		v.LogFile = filepath.Join(runDir, a.LogFile)
	}
	samples, why := readSamples(a, runDir)
	if len(samples) == 0 {
		v.NoChart = why
		return v
	}
	in := chartInputOf(a, samples)
	v.OOMMarked = in.oomAt >= 0
	svg, err := renderChart(in)
	if err != nil {
		// One attempt's chart failing should not cost the reader the page.
		v.NoChart, v.OOMMarked = "No chart for this attempt: "+err.Error()+".", false
		return v
	}
	v.Chart = template.HTML(svg) // drawn here from numbers; gonum escapes its text
	return v
}

// chartInputOf sets up an attempt's chart: time zero is the attempt's start
// (the first sample's when unknown), the capacity NVML's (the diagnosis's when
// unknown), and the OOM mark when it ran out.
func chartInputOf(a record.Attempt, samples []gpu.Sample) chartInput {
	in := chartInput{samples: samples, start: a.Started, oomAt: -1}
	if in.start.IsZero() {
		in.start = samples[0].Time
	}
	switch {
	case a.CapacityBytes != nil:
		in.capacity = *a.CapacityBytes
	case a.Diagnosis != nil && a.Diagnosis.CapacityBytes != nil:
		in.capacity = *a.Diagnosis.CapacityBytes
	}
	if at, label, ok := oomMark(a); ok {
		in.oomAt, in.oomLabel = at.Sub(in.start).Seconds(), label
	}
	return in
}

// readSamples loads an attempt's samples, or says in words why there are
// none to draw.
func readSamples(a record.Attempt, runDir string) ([]gpu.Sample, string) {
	if a.SamplesFile == "" {
		return nil, "No GPU memory samples for this attempt: NVML was not available, so vramrun worked from the job's output alone."
	}
	path := filepath.Join(runDir, a.SamplesFile)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "No GPU memory samples for this attempt: its samples file " + path + " is gone."
		}
		return nil, "No chart for this attempt: " + err.Error() + "."
	}
	defer f.Close()
	samples, err := gpu.ReadSamples(f)
	if err != nil {
		return nil, "No chart for this attempt: " + path + ": " + err.Error() + "."
	}
	if len(samples) == 0 {
		return nil, "No GPU memory samples for this attempt: it ended before the first sample was taken."
	}
	return samples, ""
}

func exitWords(a record.Attempt) string {
	if a.Ended.IsZero() && a.Outcome == "" {
		return "-"
	}
	s := strconv.Itoa(a.ExitStatus)
	if a.Signal > 0 {
		s += fmt.Sprintf(" (signal %d)", a.Signal)
	}
	return s
}

// finalCommand is the command to copy: the run's final command with the
// environment vramrun set, or, for a run that recorded none, the last
// attempt's.
func finalCommand(run *record.Run) (string, []filePair, bool) {
	argv, env := run.FinalArgv, run.FinalEnv
	var files map[string]string
	if n := len(run.Attempts); n > 0 {
		last := run.Attempts[n-1]
		if len(argv) == 0 {
			argv, env = last.Argv, last.Env
		}
		files = last.Files
	}
	if len(argv) == 0 {
		argv = run.Argv
	}
	asTyped := len(env) == 0 && len(files) == 0 && strings.Join(argv, "\x00") == strings.Join(run.Argv, "\x00")
	return human.CommandLine(env, argv), pairs(files), asTyped
}

func pairs(m map[string]string) []filePair {
	out := make([]filePair, 0, len(m))
	for k, v := range m {
		out = append(out, filePair{Original: k, Copy: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Original < out[j].Original })
	return out
}

// when writes a moment with its zone, in the reader's local time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 -0700")
}
