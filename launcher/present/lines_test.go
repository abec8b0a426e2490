package present

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

func gpuOOM(tried, capacity, held int64) *oom.Diagnosis {
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Phase = true, sdk.KindGPU, sdk.PhaseTrain
	d.TriedBytes, d.CapacityBytes, d.ReservedUnallocatedBytes = &tried, &capacity, &held
	return &d
}

// TestLinesFromEvents: the user's lines come from the run's events alone.
func TestLinesFromEvents(t *testing.T) {
	gib := int64(1) << 30
	var b strings.Builder
	m := NewLines(&b, 0)
	argv := []string{"python", "train.py", "--batch-size", "256"}
	fix := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixAllocator}, Reason: "fragmentation: the allocator held memory it could not use",
		Summary: "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"}
	batch := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 128, GradAccumulation: 2}, Reason: "next on the ladder",
		Summary: "--batch-size 256 -> 128"}
	final := record.Launch{Argv: []string{"python", "train.py", "--batch-size", "128"}, Env: map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}}
	for _, ev := range []record.Event{
		record.RunStarted{ID: "x", Argv: argv, Max: 6},
		record.Claimed{Plugin: "pytorch", Framework: "pytorch"},
		record.AttemptStarted{N: 1, Max: 6, Launch: record.Launch{Argv: argv}, Framework: "pytorch"},
		record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptOOM, Exit: record.Exit{ExitStatus: 1},
			OOMs: record.OOMs{Diagnosis: gpuOOM(2*gib+gib/10*3, 24*gib, 7*gib)}}},
		record.FixCommitted{Before: 2, Fix: fix, ShowReason: true},
		record.AttemptStarted{N: 2, Max: 6},
		record.AttemptEnded{Attempt: record.Attempt{N: 2, Outcome: record.AttemptHung, Changes: record.Changes{Fix: &fix}, Exit: record.Exit{ExitStatus: 143},
			OOMs: record.OOMs{Diagnosis: gpuOOM(gib, 24*gib, 0), SurvivedOOMs: 1}}},
		record.FixSkipped{Before: 3, Skip: record.SkipRecord{Fix: sdk.FixMixedPrecision, Reason: "no precision flag in train.py"}},
		record.FixCommitted{Before: 3, Fix: batch, ShowReason: false, Launch: final},
		record.AttemptStarted{N: 3, Max: 6},
		record.AttemptEnded{Attempt: record.Attempt{N: 3, Outcome: record.AttemptInterrupted, Changes: record.Changes{Fix: &batch}, Exit: record.Exit{ExitStatus: 130}}},
		record.RunEnded{End: record.End{Outcome: record.OutcomeInterrupted, ExitStatus: 130, FinalArgv: final.Argv, FinalEnv: final.Env},
			Why: record.Stop{Kind: record.StopInterrupted, Signal: int(syscall.SIGINT)}, Attempts: 3},
	} {
		m.On(ev)
	}
	want := `vramrun: attempt 1/6: python train.py --batch-size 256 (pytorch)
vramrun: attempt 2/6: GPU OOM in training (asked 2.3 GiB of a 24 GiB GPU, 7.0 GiB held unused by the allocator) -> allocator: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (fragmentation: the allocator held memory it could not use)
vramrun: the job survived 1 out-of-memory error(s) on its own; vramrun left it alone
vramrun: skipping mixed_precision: no precision flag in train.py
vramrun: attempt 3/6: GPU OOM in training, then hung (asked 1.0 GiB of a 24 GiB GPU) -> batch_size: --batch-size 256 -> 128
vramrun: interrupted (SIGINT): not relaunching
vramrun: attempt  exit   result                     fix before it
vramrun: 1        1      GPU OOM (train)            -
vramrun: 2        143    GPU OOM (train), hung      allocator
vramrun: 3        130    interrupted                batch_size
vramrun: outcome: interrupted
vramrun: final command: python train.py --batch-size 128
vramrun: with environment: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
`
	if got := b.String(); got != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", got, want)
	}
}

func TestQuietShowsOnlyWhatChanged(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, -1)
	fix := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, Summary: "--bf16", Learned: true}
	m.On(record.AttemptStarted{N: 1, Max: 6, Launch: record.Launch{Argv: []string{"true"}}})
	m.On(record.FixCommitted{Before: 1, Fix: fix})
	m.On(record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptOK}})
	m.On(record.RunEnded{End: record.End{Outcome: record.OutcomeOK}})
	if got, want := b.String(), "vramrun: re-applying mixed_precision from learned state: --bf16\n"; got != want {
		t.Fatalf("-q lines = %q, want %q", got, want)
	}
}

// TestHostOOMInWords: a host-memory OOM reads as words in the table, and
// its evidence ends in one full stop.
func TestHostOOMInWords(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	d := oom.NoOOM()
	d.OOM, d.Kind, d.Message = true, sdk.KindHost, "DataLoader worker (pid 7) is killed by signal: Killed. "
	m.On(record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptHostOOM, Exit: record.Exit{ExitStatus: 1},
		OOMs: record.OOMs{Diagnosis: &d}}})
	m.On(record.RunEnded{End: record.End{Outcome: record.OutcomeFailed, ExitStatus: 1}})
	got := b.String()
	for _, want := range []string{"is killed by signal: Killed. Try fewer data-loader workers", "vramrun: 1        1      host memory OOM"} {
		if !strings.Contains(got, want) {
			t.Errorf("lines lack %q:\n%s", want, got)
		}
	}
}

// TestOthersCannotForgeLines: what plugins, argv and OOM texts put in
// vramrun's lines is shown escaped: no extra "vramrun:" line, no escape
// sequence reaches the terminal.
func TestOthersCannotForgeLines(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	evil := "--x\x1b[2J\nvramrun: outcome: ok"
	m.On(record.AttemptStarted{N: 1, Max: 6, Launch: record.Launch{Argv: []string{"python", evil}}, Framework: "toy"})
	m.On(record.FixSkipped{Before: 2, Skip: record.SkipRecord{Fix: sdk.FixAllocator, Reason: evil}})
	m.Warn("plugin %s dropped: %v", "x\ny", errors.New("bad\r\x1b]0;title\x07"))
	got := b.String()
	if n := strings.Count(got, "\n"); n != 3 {
		t.Fatalf("%d lines, want 3:\n%q", n, got)
	}
	if strings.ContainsAny(got, "\x1b\r\x07") || strings.Contains(got, "\nvramrun: outcome") {
		t.Fatalf("control characters or a forged line came through:\n%q", got)
	}
}

// TestResumeLines: where an attempt resumes and why one does not, and the
// table's column says it.
func TestResumeLines(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	step := 40
	r := record.Resume{Checkpoint: "out/checkpoint-40", Step: &step, BeforeOOM: 12*time.Minute + 5*time.Second,
		Summary: "--resume_from_checkpoint out/checkpoint-40", Notes: []string{"the Trainer first skips 80 batches"}}
	m.On(record.Resumed{Before: 2, Resume: r})
	m.On(record.ResumeDeclined{Before: 3, Checkpoint: "out/checkpoint-50", Reason: "optimizer_8bit changes the optimizer"})
	m.On(record.AttemptEnded{Attempt: record.Attempt{N: 2, Outcome: record.AttemptOK,
		Changes: record.Changes{Resumed: &r, Fix: &record.FixRecord{Fix: sdk.Fix{ID: sdk.FixBatchSize}}}}})
	m.On(record.RunEnded{End: record.End{Outcome: record.OutcomeOK}})
	want := `vramrun: resuming from out/checkpoint-40 (step 40), written 12 min before the OOM: --resume_from_checkpoint out/checkpoint-40
vramrun: note: the Trainer first skips 80 batches
vramrun: not resuming from out/checkpoint-50: optimizer_8bit changes the optimizer
vramrun: attempt  exit   result                     fix before it
vramrun: 2        0      ok                         batch_size, resumed at step 40
vramrun: outcome: ok
`
	if got := b.String(); got != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", got, want)
	}
	for d, want := range map[time.Duration]string{time.Millisecond: "less than a second", 40 * time.Second: "40 s",
		3 * time.Hour: "3 h", 3*time.Hour + 5*time.Minute: "3 h 5 min"} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTableShowsSpeedWhenSomeAttemptTold(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	samples, tokens := 812.4, 31234.0
	fix := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixGradCheckpointing}}
	for _, ev := range []record.Event{
		record.RunStarted{ID: "x", Argv: []string{"python", "train.py"}, Max: 6},
		record.AttemptStarted{N: 1, Max: 6, Launch: record.Launch{Argv: []string{"python", "train.py"}}},
		record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptOOM, Exit: record.Exit{ExitStatus: 1},
			OOMs: record.OOMs{Diagnosis: gpuOOM(1<<30, 24<<30, 0)}}},
		record.AttemptStarted{N: 2, Max: 6},
		record.AttemptEnded{Attempt: record.Attempt{N: 2, Outcome: record.AttemptOK, Changes: record.Changes{Fix: &fix},
			Measured: record.Measured{Speed: &record.Speed{SamplesPerS: &samples, Rate: 3.2, Unit: "step"}}}},
		record.RunEnded{End: record.End{Outcome: record.OutcomeOK}, Attempts: 2},
	} {
		m.On(ev)
	}
	want := "vramrun: attempt  exit   result                     speed            fix before it\n" +
		"vramrun: 1        1      GPU OOM (train)            -                -\n" +
		"vramrun: 2        0      ok                         812 samples/s    grad_checkpointing\n"
	if got := b.String(); !strings.Contains(got, want) {
		t.Fatalf("lines:\n%s\nwant the table:\n%s", got, want)
	}
	for _, c := range []struct {
		speed *record.Speed
		want  string
	}{
		{nil, "-"},
		{&record.Speed{TokensPerS: &tokens, Rate: 7808, Unit: "token"}, "31.2k tokens/s"},
		{&record.Speed{Rate: 2.4, Unit: "step"}, "2.4 step/s"},
		{&record.Speed{SamplesPerS: ptr(0.5123)}, "0.512 samples/s"},
		{&record.Speed{SamplesPerS: ptr(99.96)}, "100 samples/s"},
		{&record.Speed{SamplesPerS: ptr(412_345)}, "412k samples/s"},
		{&record.Speed{SamplesPerS: ptr(1_234_567)}, "1.2M samples/s"},
	} {
		if got := c.speed.Words(); got != c.want {
			t.Errorf("Words(%+v) = %q, want %q", c.speed, got, c.want)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestPlanFoldsWhatGoesWithAFixIntoItsAttempt(t *testing.T) {
	p := NewPlan([]string{"python", "train.py", "--batch-size", "256"}, 6)
	ckpt := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixGradCheckpointing}, Summary: "--grad-checkpointing"}
	grow := record.FixRecord{Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 256, GradAccumulation: 1},
		Reason: "grad_checkpointing frees memory", Summary: "--batch-size 128 -> 256"}
	final := record.Launch{Argv: []string{"python", "train.py", "--batch-size", "256", "--grad-checkpointing"}}
	p.On(record.FixCommitted{Before: 2, Fix: ckpt, Launch: record.Launch{Argv: []string{"python", "train.py", "--batch-size", "128", "--grad-checkpointing"}}})
	p.On(record.FixCommitted{Before: 2, Fix: grow, Launch: final, With: true})
	if len(p.Steps) != 1 || len(p.Steps[0].With) != 1 || strings.Join(p.Steps[0].Argv, " ") != strings.Join(final.Argv, " ") {
		t.Fatalf("steps = %+v, want one attempt with the grow-back folded in", p.Steps)
	}
	var b strings.Builder
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "attempt 2: grad_checkpointing: --grad-checkpointing; with it, batch_size: --batch-size 128 -> 256 (grad_checkpointing frees memory)\n" +
		"    python train.py --batch-size 256 --grad-checkpointing\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestRoomInWords: the end names the larger micro-batch the peak leaves
// room for, and what measures whether it is faster.
func TestRoomInWords(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	m.On(record.AttemptEnded{Attempt: record.Attempt{N: 1, Outcome: record.AttemptOK}})
	m.On(record.RunEnded{End: record.End{Outcome: record.OutcomeOK,
		Room: &record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, PredictedBytes: 11 << 30, UsableBytes: 24 << 30,
			PredictedGain: 0.184, AtSamplesPerS: 412, PredictedSamplesPerS: 412 * 1.184}}})
	want := "vramrun: room: micro-batch 80 x 3 may fit (peak 8.0 GiB of 24 GiB at 60, predicted 11 GiB) and run about 18 % faster (412 -> 488 samples/s): `vramrun tune` measures whether it does\n"
	if got := b.String(); !strings.HasSuffix(got, want) {
		t.Fatalf("lines end\n%q\nwant\n%q", got, want)
	}
	// Where the prediction took NVML's level before the first step as the
	// fixed part, the line says how much of the peak that was.
	b.Reset()
	m.On(record.RunEnded{End: record.End{Outcome: record.OutcomeOK,
		Room: &record.Room{Micro: 80, Accumulation: 3, At: 60, PeakBytes: 8 << 30, PredictedBytes: 10 << 30, UsableBytes: 24 << 30,
			PredictedGain: 0.184, PreStepBytes: 4 << 30}}})
	want = "(peak 8.0 GiB of 24 GiB at 60, 4.0 GiB of it before the first step, predicted 10 GiB)"
	if got := b.String(); !strings.Contains(got, want) {
		t.Fatalf("lines\n%q\nwant\n%q", got, want)
	}
}

// TestMidLineEndsTheJobsLineFirst: after output that ended no line (a
// progress bar), vramrun's line starts on a line of its own, once.
func TestMidLineEndsTheJobsLineFirst(t *testing.T) {
	var b strings.Builder
	m := NewLines(&b, 0)
	mid := true
	m.SetMidLine(func() bool { was := mid; mid = false; return was })
	b.WriteString(" 40%|####      | 4/10 [00:01<00:02, 3.1it/s]\r")
	m.Info("one")
	m.Info("two")
	if got, want := b.String(), " 40%|####      | 4/10 [00:01<00:02, 3.1it/s]\r\nvramrun: one\nvramrun: two\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
