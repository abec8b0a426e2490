package launcher

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/sdk"
)

// TestLoopPlacesEnvWhereTheJobReadsIt: behind ray job submit, what a fix
// sets in the environment goes into the runtime env's env_vars, not into
// the environment of ray job submit; where it cannot (a runtime env file
// vramrun cannot read), the fix is skipped with the reason and the next
// one applied.
func TestLoopPlacesEnvWhereTheJobReadsIt(t *testing.T) {
	j := &job{ends: oomUnless(32)}
	l, ev := newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize}}, j,
		`ray job submit --runtime-env-json {"working_dir":"./"} -- python toy.py --bs 64 --accum 1`)
	if status, err := run(t, l); err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	second := j.ran[1]
	if want := `ray job submit --runtime-env-json {"working_dir": "./", "env_vars": {"TOY_ALLOC": "on"}} -- python toy.py --bs 64 --accum 1`; strings.Join(second.Argv, " ") != want {
		t.Errorf("attempt 2 ran\n %s\nwant\n %s", strings.Join(second.Argv, " "), want)
	}
	if _, set := second.Env["TOY_ALLOC"]; set {
		t.Errorf("attempt 2's own environment has TOY_ALLOC: %v", second.Env)
	}
	if !strings.Contains(strings.Join(ev.got, "\n"), "fix 2 allocator") {
		t.Errorf("events: %v", ev.got)
	}

	j = &job{ends: oomUnless(32)}
	l, ev = newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixAllocator, sdk.FixBatchSize}}, j,
		"ray job submit --runtime-env missing.yaml -- python toy.py --bs 64 --accum 1")
	var skipped []record.SkipRecord
	l.bus = append(l.bus, onSkip(func(s record.SkipRecord) { skipped = append(skipped, s) }))
	if status, err := run(t, l); err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	if len(skipped) == 0 || skipped[0].Fix != sdk.FixAllocator || !strings.Contains(skipped[0].Reason, "add TOY_ALLOC=on to env_vars in missing.yaml") {
		t.Errorf("skipped %+v, want allocator turned down naming the file", skipped)
	}
	if want := []string{"fix 2 batch_size"}; !reflect.DeepEqual(grep(ev.got, "fix "), want) {
		t.Errorf("fixes %v, want %v", grep(ev.got, "fix "), want)
	}
}

type onSkip func(record.SkipRecord)

func (f onSkip) On(ev record.Event) {
	if s, ok := ev.(record.FixSkipped); ok {
		f(s.Skip)
	}
}

// grep are the lines that start with prefix.
func grep(lines []string, prefix string) []string {
	var out []string
	for _, s := range lines {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// TestLoopHandsOffEachAttempt: each attempt of a command that hands its
// job on tells the supervisor how to stop that job; a named submission id
// is the first attempt's, and each relaunch gets one of its own (the
// loop's command keeps the id as typed).
func TestLoopHandsOffEachAttempt(t *testing.T) {
	j := &job{ends: oomUnless(16)}
	l, _ := newLoop(t, setup{plugin: toy{}, ladder: []sdk.FixID{sdk.FixBatchSize}}, j,
		"ray job submit --address http://h:8265 --submission-id run1 -- python toy.py --bs 64 --accum 1")
	if status, err := run(t, l); err != nil || status != 0 {
		t.Fatalf("run = %d, %v", status, err)
	}
	if len(j.ran) < 2 {
		t.Fatalf("ran %d attempts", len(j.ran))
	}
	for i, a := range j.ran {
		id := "run1"
		if i > 0 {
			id = fmt.Sprintf("run1-vramrun-%d", i+1)
		}
		if !strings.Contains(strings.Join(a.Argv, " "), " --submission-id "+id+" -- ") {
			t.Errorf("attempt %d ran %q, want --submission-id %s", i+1, a.Argv, id)
		}
		if a.HandOff == nil || a.HandOff.ID != id || a.HandOff.Find == nil {
			t.Fatalf("attempt %d: hand-off %+v", i+1, a.HandOff)
		}
		if got := strings.Join(a.HandOff.Stop(id), " "); got != "ray job stop --address=http://h:8265 "+id {
			t.Errorf("attempt %d stops with %q", i+1, got)
		}
	}
	if got := strings.Join(l.cmd.Argv(), " "); !strings.Contains(got, "--submission-id run1 --") {
		t.Errorf("the loop's command became %q", got)
	}

	j = &job{ends: oomUnless(64)}
	l, _ = newLoop(t, setup{plugin: toy{}}, j, "python toy.py --bs 64 --accum 1")
	if _, err := run(t, l); err != nil {
		t.Fatal(err)
	}
	if j.ran[0].HandOff != nil {
		t.Errorf("a command that runs its job itself has a hand-off: %+v", j.ran[0].HandOff)
	}
}
