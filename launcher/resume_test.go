package launcher

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/outcome"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/rewrite"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// ckptToy is toy with checkpoints: ckpt-<step>.pt in the job's folder,
// resumed with --resume PATH (which replaces an earlier --resume).
type ckptToy struct {
	toy
	// declines turns resume down with this reason.
	declines string
}

func (p ckptToy) Analyze(ctx context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	a, err := p.toy.Analyze(ctx, req)
	a.Checkpoints = &sdk.Checkpoints{Globs: []string{"ckpt-*.pt"}, Step: `^ckpt-(?P<step>[0-9]+)\.pt$`}
	return a, err
}

func (p ckptToy) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	if req.Fix.ID != sdk.FixResume {
		return p.toy.Apply(ctx, req)
	}
	if p.declines != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "%s", p.declines)
	}
	argv := append([]string(nil), req.Command.Argv...)
	if i := slices.Index(argv, "--resume"); i >= 0 {
		argv = append(argv[:i], argv[i+2:]...)
	}
	return sdk.ApplyResponse{Argv: append(argv, "--resume", req.Fix.Checkpoint), Summary: "--resume " + req.Fix.Checkpoint,
		Notes: []string{"toy skips data"}}, nil
}

// resumes keeps the resume events and each attempt's record.
type resumes struct {
	resumed  []record.Resumed
	declined []record.ResumeDeclined
	attempts []record.Attempt
}

func (r *resumes) On(ev record.Event) {
	switch ev := ev.(type) {
	case record.Resumed:
		r.resumed = append(r.resumed, ev)
	case record.ResumeDeclined:
		r.declined = append(r.declined, ev)
	case record.AttemptEnded:
		r.attempts = append(r.attempts, ev.Attempt)
	}
}

// writes is a job whose attempt n writes the checkpoints saves[n] (in the
// job's folder dir) and then runs out of memory while --bs is above fits.
func writes(t *testing.T, dir string, fits int, saves map[int][]string) func(int, supervise.Attempt) outcome.Facts {
	return func(n int, a supervise.Attempt) outcome.Facts {
		for _, name := range saves[n] {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("state"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return oomUnless(fits)(n, a)
	}
}

func resumeLoop(t *testing.T, p sdk.Framework, ladder []sdk.FixID, sup Supervisor, dir string) (*loop, *resumes) {
	t.Helper()
	l, _ := newLoop(t, setup{plugin: p, ladder: ladder}, sup, "python toy.py --bs 64 --accum 1")
	l.cfg.dir = dir
	l.cmd = rewrite.New(strings.Fields("python toy.py --bs 64 --accum 1"), dir, nil, nil)
	l.cfg.resume = resumeConfig{on: true}
	r := &resumes{}
	l.bus = append(l.bus, r)
	return l, r
}

func argvOf(a supervise.Attempt) string { return strings.Join(a.Argv, " ") }

func TestRelaunchResumesFromTheNewestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	sup := &job{ends: writes(t, dir, 16, map[int][]string{1: {"ckpt-5.pt"}, 2: {"ckpt-10.pt"}})}
	l, r := resumeLoop(t, ckptToy{}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	want := []string{
		"python toy.py --bs 64 --accum 1",
		"python toy.py --bs 32 --accum 2 --resume ckpt-5.pt",
		"python toy.py --bs 16 --accum 4 --resume ckpt-10.pt",
	}
	for i, a := range sup.ran {
		if i >= len(want) || argvOf(a) != want[i] {
			t.Errorf("attempt %d ran %q, want %q", i+1, argvOf(a), want[min(i, len(want)-1)])
		}
	}
	if len(r.resumed) != 2 || r.resumed[1].Before != 3 || r.resumed[1].Resume.Step == nil || *r.resumed[1].Resume.Step != 10 ||
		!slices.Equal(r.resumed[1].Resume.Notes, []string{"toy skips data"}) {
		t.Fatalf("resume events %+v, want two, the second before attempt 3 from step 10 with the plugin's note", r.resumed)
	}
	if got := r.attempts[2].Resumed; got == nil || got.Checkpoint != "ckpt-10.pt" || r.attempts[0].Resumed != nil {
		t.Errorf("attempt records resumed %+v / %+v, want none then ckpt-10.pt", r.attempts[0].Resumed, got)
	}
	// The loop's own command carries no resume: fixes and learned state
	// never do.
	if got := strings.Join(l.cmd.Launch().Argv, " "); got != "python toy.py --bs 16 --accum 4" {
		t.Errorf("the command after the run is %q, want it without --resume", got)
	}
}

func TestNoCheckpointFromBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "ckpt-500.pt")
	if err := os.WriteFile(old, []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	sup := &job{ends: writes(t, dir, 32, nil)}
	l, r := resumeLoop(t, ckptToy{}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if len(r.resumed) != 0 || strings.Contains(argvOf(sup.ran[1]), "--resume") {
		t.Fatalf("resumed %+v, ran %q: a checkpoint from before the run was used", r.resumed, argvOf(sup.ran[1]))
	}
}

func TestNoCheckpointThatWasThereAtTheStart(t *testing.T) {
	dir := t.TempDir()
	// Written just now, inside the clock's slack: passed over by name.
	if err := os.WriteFile(filepath.Join(dir, "ckpt-500.pt"), []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	sup := &job{ends: writes(t, dir, 32, nil)}
	l, r := resumeLoop(t, ckptToy{}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	l.claim.analysis.Checkpoints = nil // claimCommand fills it in
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if len(r.resumed) != 0 {
		t.Fatalf("resumed %+v from a checkpoint that was there before the run", r.resumed)
	}
}

func TestOptimizerChangeStartsFresh(t *testing.T) {
	dir := t.TempDir()
	sup := &job{ends: writes(t, dir, 32, map[int][]string{1: {"ckpt-5.pt"}, 2: {"ckpt-8.pt"}})}
	l, r := resumeLoop(t, ckptToy{}, []sdk.FixID{sdk.FixOptimizer8bit, sdk.FixBatchSize}, sup, dir)
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	want := []string{
		"python toy.py --bs 64 --accum 1",
		"python toy.py --bs 64 --accum 1 --optimizer_8bit",
		// The new optimizer's own checkpoint is fine to resume from.
		"python toy.py --bs 32 --accum 2 --optimizer_8bit --resume ckpt-8.pt",
	}
	for i, a := range sup.ran {
		if i >= len(want) || argvOf(a) != want[i] {
			t.Errorf("attempt %d ran %q, want %q", i+1, argvOf(a), want[min(i, len(want)-1)])
		}
	}
	if len(r.declined) != 1 || r.declined[0].Before != 2 || !strings.Contains(r.declined[0].Reason, "optimizer_8bit changes the optimizer") {
		t.Fatalf("declined %+v, want one before attempt 2 that names optimizer_8bit", r.declined)
	}
}

func TestPluginThatDeclinesResumeStartsFresh(t *testing.T) {
	dir := t.TempDir()
	sup := &job{ends: writes(t, dir, 32, map[int][]string{1: {"ckpt-5.pt"}})}
	l, r := resumeLoop(t, ckptToy{declines: "toy 0.1 resumes with the wrong schedule"}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if strings.Contains(argvOf(sup.ran[1]), "--resume") || len(r.declined) != 1 || r.declined[0].Reason != "toy 0.1 resumes with the wrong schedule" ||
		r.declined[0].Checkpoint != "ckpt-5.pt" {
		t.Fatalf("ran %q, declined %+v; want a fresh start with the plugin's reason", argvOf(sup.ran[1]), r.declined)
	}
}

func TestResumeOffStartsFresh(t *testing.T) {
	dir := t.TempDir()
	sup := &job{ends: writes(t, dir, 32, map[int][]string{1: {"ckpt-5.pt"}})}
	l, r := resumeLoop(t, ckptToy{}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	l.cfg.resume.on = false
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if strings.Contains(argvOf(sup.ran[1]), "--resume") || len(r.resumed)+len(r.declined) != 0 {
		t.Fatalf("ran %q with resume off", argvOf(sup.ran[1]))
	}
}

func TestProfileResumeFlag(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	sup := &job{ends: writes(t, dir, 32, map[int][]string{1: {"out/last.pt"}})}
	l, r := resumeLoop(t, toy{}, []sdk.FixID{sdk.FixBatchSize}, sup, dir)
	l.cfg.resume.from = &profiles.ResumeFrom{Checkpoints: []string{"out/*.pt"}, Flag: "--load={checkpoint} --continue"}
	if status, err := run(t, l); status != 0 || err != nil {
		t.Fatalf("run = %d, %v", status, err)
	}
	if got := argvOf(sup.ran[1]); got != "python toy.py --bs 32 --accum 2 --load=out/last.pt --continue" {
		t.Fatalf("attempt 2 ran %q, want the profile's flag appended", got)
	}
	if len(r.resumed) != 1 || r.resumed[0].Resume.Summary != "--load=out/last.pt --continue" {
		t.Fatalf("resumed %+v", r.resumed)
	}
}
