package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

const (
	testGPU  = "GPU-51a1a7ed-0000-4000-8000-000000000000"
	gib      = int64(1) << 30
	mib      = int64(1) << 20
	capacity = 24 * gib
)

var runStart = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func i64(v int64) *int64 { return &v }

// rampSamples are n samples a second apart from start: the job's memory
// climbs from base by step each second, and the whole GPU holds other more.
func rampSamples(start time.Time, n int, base, step, other int64) []gpu.Sample {
	out := make([]gpu.Sample, n)
	for i := range out {
		job := uint64(base + int64(i)*step)
		out[i] = gpu.Sample{Time: start.Add(time.Duration(i) * time.Second),
			DeviceUsed: map[string]uint64{testGPU: job + uint64(other)}, JobUsed: job, JobUsedKnown: true}
	}
	return out
}

func writeSamples(t *testing.T, dir, name string, samples []gpu.Sample) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gpu.WriteSamples(f, samples); err != nil {
		t.Fatal(err)
	}
}

func oomDiagnosis() *oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Framework, d.Signature, d.Phase = true, sdk.KindGPU, "pytorch", "pytorch.caching_allocator", sdk.PhaseTrain
	d.TriedBytes, d.CapacityBytes, d.FreeBytes = i64(2469606195), i64(capacity), i64(1*gib)
	d.AllocatedBytes, d.ReservedUnallocatedBytes = i64(15*gib), i64(7*gib)
	d.Fragmented = true
	d.Message = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.30 GiB."
	d.NextFixes = []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize}
	return &d
}

// threeAttemptRun writes a run folder: attempt 1 ran out of memory (with
// samples), attempt 2 hung after an OOM and its samples file is gone,
// attempt 3 fit (with samples). It returns the record and the folder.
func threeAttemptRun(t *testing.T) (*record.Run, string) {
	t.Helper()
	dir := t.TempDir()
	a1 := runStart
	a2 := a1.Add(30 * time.Second)
	a3 := a2.Add(60 * time.Second)
	writeSamples(t, dir, "attempt-1.samples.jsonl", rampSamples(a1, 20, 4*gib, gib, gib))
	writeSamples(t, dir, "attempt-3.samples.jsonl", rampSamples(a3, 25, 2*gib, 400*mib, gib))
	run := &record.Run{
		ID: "20260314-092653-a1b2c3", Started: a1, Ended: a3.Add(25 * time.Second),
		Argv: []string{"python3", "train.py", "--batch-size", "256"}, Dir: "/home/me/proj",
		Job: record.Job{Framework: "pytorch", GPU: "vramrun simulated GPU (24 GiB)"},
		End: record.End{Outcome: record.OutcomeOK, FinalArgv: []string{"python3", "train.py", "--batch-size", "64", "--grad-accum-steps", "4"},
			FinalEnv: map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"},
			Fixes:    []string{"allocator", "batch_size"}},
		Attempts: []record.Attempt{
			{N: 1, Launch: record.Launch{Argv: []string{"python3", "train.py", "--batch-size", "256"}}, Started: a1, Ended: a1.Add(20 * time.Second),
				Exit: record.Exit{ExitCode: 1, ExitStatus: 1}, OOMs: record.OOMs{Diagnosis: oomDiagnosis()}, Outcome: "oom",
				Memory: record.Memory{PeakBytes: i64(23 * gib), CapacityBytes: i64(capacity), SamplesFile: "attempt-1.samples.jsonl"},
				Output: record.Output{LogFile: "attempt-1.log"}},
			{N: 2, Launch: record.Launch{Argv: []string{"python3", "train.py", "--batch-size", "256"}, Env: map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}},
				Started: a2, Ended: a2.Add(40 * time.Second), Exit: record.Exit{ExitCode: -1, Signal: 9, ExitStatus: 137},
				Changes: record.Changes{Fix: &record.FixRecord{Fix: sdk.Fix{ID: sdk.FixAllocator}, Reason: "7.0 GiB held unused by the allocator", Summary: "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"}},
				OOMs:    record.OOMs{Diagnosis: oomDiagnosis()}, Outcome: "hung",
				Memory: record.Memory{CapacityBytes: i64(capacity), SamplesFile: "attempt-2.samples.jsonl"}},
			{N: 3, Launch: record.Launch{Argv: []string{"python3", "train.py", "--batch-size", "64", "--grad-accum-steps", "4"},
				Env: map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}},
				Started: a3, Ended: a3.Add(25 * time.Second),
				Changes: record.Changes{Fix: &record.FixRecord{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 4}, Reason: "asked 2.3 GiB of a 24 GiB GPU", Summary: "--batch-size 256 -> 64, --grad-accum-steps 1 -> 4"},
					Skipped: []record.SkipRecord{{Fix: sdk.FixMixedPrecision, Reason: "no precision flag in train.py"}}},
				Outcome: "ok", Memory: record.Memory{PeakBytes: i64(12 * gib), CapacityBytes: i64(capacity), SamplesFile: "attempt-3.samples.jsonl"}},
		},
	}
	if err := run.Write(dir); err != nil {
		t.Fatal(err)
	}
	return run, dir
}

func render(t *testing.T, run *record.Run, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, run, dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.String()
}

// parseHTML parses a page as a browser would, for structural assertions.
func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements under n for which match is true, in
// document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(n *html.Node, id string) *html.Node {
	found := findAll(n, func(e *html.Node) bool { return attr(e, "id") == id })
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

func byTag(n *html.Node, tag string) []*html.Node {
	return findAll(n, func(e *html.Node) bool { return e.Data == tag })
}

// textOf is the text content of n, as a browser's textContent.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
