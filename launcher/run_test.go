package launcher

import (
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestNoteCopiesMapsBackToTheUsersFile(t *testing.T) {
	files := map[string]string{}
	noteCopies(files, []sdk.FileCopy{{Original: "ds.json", Path: "/run/files/attempt-2/ds.json"}})
	noteCopies(files, []sdk.FileCopy{{Original: "/run/files/attempt-2/ds.json", Path: "/run/files/attempt-4/ds.json"}})
	noteCopies(files, []sdk.FileCopy{{Original: "args.json", Path: "/run/files/attempt-4/args.json"}})
	want := map[string]string{"ds.json": "/run/files/attempt-4/ds.json", "args.json": "/run/files/attempt-4/args.json"}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files = %v, want %v", files, want)
	}
}

func TestWriteCopiesRefusesPathsOutsideTheFolder(t *testing.T) {
	dir := t.TempDir()
	err := writeCopies(dir, []sdk.FileCopy{{Original: "cfg.yaml", Path: dir + "/../cfg.yaml", Content: []byte("x")}})
	if err == nil {
		t.Fatal("a copy outside the copy folder must be refused")
	}
	if err := writeCopies(dir, []sdk.FileCopy{{Original: "cfg.yaml", Path: dir + "/sub/cfg.yaml", Content: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
}

func TestCause(t *testing.T) {
	gib := int64(1) << 30
	tried, capacity, held := gib*23/10, 24*gib, 7*gib
	d := sdk.NoOOM()
	d.OOM, d.Kind, d.Phase = true, sdk.KindGPU, sdk.PhaseTrain
	d.TriedBytes, d.CapacityBytes, d.ReservedUnallocatedBytes = &tried, &capacity, &held
	want := "GPU OOM in training (asked 2.3 GiB of a 24 GiB GPU, 7.0 GiB held unused by the allocator)"
	if got := Cause(d, outcomeOOM); got != want {
		t.Fatalf("Cause =\n %q\nwant\n %q", got, want)
	}
	d.Phase = sdk.PhaseEval
	d.OtherProcesses = []sdk.ProcessUsage{{PID: 7, UsedBytes: 2 * gib}}
	want = "GPU OOM in evaluation, then hung (asked 2.3 GiB of a 24 GiB GPU, 7.0 GiB held unused by the allocator, 2.0 GiB held by 1 other process(es))"
	if got := Cause(d, outcomeHung); got != want {
		t.Fatalf("Cause =\n %q\nwant\n %q", got, want)
	}
}

func TestFitSummary(t *testing.T) {
	got := fitSummary([]sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixMixedPrecision, Precision: "bf16"},
		{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}, {ID: sdk.FixBatchSize, BatchSize: 24, GradAccumulation: 4}})
	if want := "batch 24 x accumulation 4, allocator, bf16"; got != want {
		t.Fatalf("fitSummary = %q, want %q", got, want)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"python", "train.py", "--name", "my run", "--x=it's", ""})
	want := `python train.py --name 'my run' '--x=it'\''s' ''`
	if got != want {
		t.Fatalf("shellJoin = %s, want %s", got, want)
	}
}
