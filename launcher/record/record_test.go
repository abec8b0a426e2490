package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
)

func TestCappedLogKeepsHeadAndTailOf50MB(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attempt-1.log")
	const head, tail = 1 << 20, 1 << 20
	c, err := NewCappedLog(path, head, tail)
	if err != nil {
		t.Fatal(err)
	}
	// 50 MB of numbered lines, written in uneven chunks.
	var all bytes.Buffer
	for i := 0; all.Len() < 50<<20; i++ {
		fmt.Fprintf(&all, "line %08d of a chatty job\n", i)
	}
	data := all.Bytes()
	for off, step := 0, 1; off < len(data); step = step*7%65521 + 1 {
		end := min(off+step, len(data))
		if n, err := c.Write(data[off:end]); err != nil || n != end-off {
			t.Fatalf("Write = %d, %v", n, err)
		}
		off = end
	}
	if c.Total() != int64(len(data)) {
		t.Fatalf("Total = %d, want %d", c.Total(), len(data))
	}
	if !bytes.Equal(c.LastBytes(tail), data[len(data)-tail:]) {
		t.Fatal("LastBytes(tail) is not the last bytes written")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, data[:head]) {
		t.Fatal("the log does not start with the first bytes of the output")
	}
	if !bytes.HasSuffix(got, data[len(data)-tail:]) {
		t.Fatal("the log does not end with the last bytes of the output")
	}
	cut := len(data) - head - tail
	marker := fmt.Sprintf("[vramrun: %d bytes of output cut here", cut)
	if !bytes.Contains(got, []byte(marker)) {
		t.Fatalf("no %q in the log", marker)
	}
	if len(got) > head+tail+200 {
		t.Fatalf("log is %d bytes, cap is %d", len(got), head+tail)
	}
}

func TestCappedLogSmallOutputIsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	c, err := NewCappedLog(path, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	// 24 bytes: 16 in the head, the other 8 from the tail, nothing cut.
	c.Write([]byte("0123456789abcdef"))
	c.Write([]byte("ghijklmn"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "0123456789abcdefghijklmn" {
		t.Fatalf("log = %q", got)
	}
}

func writeRun(t *testing.T, runsDir, id, outcome string) {
	t.Helper()
	dir := filepath.Join(runsDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Run{ID: id, End: End{Outcome: outcome}, Argv: []string{"python", "train.py"}}
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsNewestAndNothingElse(t *testing.T) {
	runs := t.TempDir()
	ids := []string{"20261101-100000.000-aaaaaa", "20261102-100000.000-bbbbbb", "20261103-100000.000-cccccc",
		"20261104-100000.000-dddddd", "20261105-100000.000-eeeeee"}
	for _, id := range ids {
		writeRun(t, runs, id, OutcomeOK)
	}
	// Things that are not run folders stay, whatever their age.
	os.MkdirAll(filepath.Join(runs, "notes"), 0o755)
	os.WriteFile(filepath.Join(runs, "README"), []byte("mine"), 0o644)
	// A run still going (another vramrun) is never pruned.
	writeRun(t, runs, "20261001-100000.000-ffffff", OutcomeRunning)

	removed, err := Prune(runs, 2)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	if want := ids[:3]; !reflect.DeepEqual(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	var left []string
	entries, _ := os.ReadDir(runs)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{"20261001-100000.000-ffffff", "20261104-100000.000-dddddd", "20261105-100000.000-eeeeee", "README", "notes"}
	if !reflect.DeepEqual(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}

func TestListNewestFirst(t *testing.T) {
	runs := t.TempDir()
	writeRun(t, runs, "20261101-100000.000-aaaaaa", OutcomeOK)
	writeRun(t, runs, "20261103-100000.000-cccccc", OutcomeGaveUp)
	os.MkdirAll(filepath.Join(runs, "20261102-100000.000-bbbbbb"), 0o755) // no record: left out
	list, err := List(runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "20261103-100000.000-cccccc" || list[1].ID != "20261101-100000.000-aaaaaa" {
		t.Fatalf("List = %v", list)
	}
}

func TestRunIDSortsByTime(t *testing.T) {
	a := NewRunID(time.Date(2026, 1, 2, 3, 4, 5, 1e6, time.UTC))
	b := NewRunID(time.Date(2026, 1, 2, 3, 4, 5, 2e6, time.UTC))
	if !(a < b) || !looksLikeRunID(a) || !strings.HasPrefix(a, "20260102-030405.001-") {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, bad := range []string{"notes", "20260102-030405", "2026010x-030405.000-abcdef", "20260102-030405.000-zzzzzz", "20260102-030405-abcdef"} {
		if looksLikeRunID(bad) {
			t.Errorf("%q taken for a run id", bad)
		}
	}
}

func TestEventsOneObjectPerLineInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	clock := time.Date(2026, 11, 27, 6, 0, 0, 123456789, time.UTC)
	ev, err := OpenEvents(path, func() time.Time { clock = clock.Add(time.Second); return clock })
	if err != nil {
		t.Fatal(err)
	}
	ev.Emit(EventRunStarted, 0, map[string]any{"run_id": "x", "argv": []string{"python", "t.py"}})
	ev.Emit(EventAttemptStarted, 1, map[string]any{"argv": []string{"python", "t.py"}, "env": map[string]string{}})
	d := oom.NoOOM()
	ev.Emit(EventOOM, 1, map[string]any{"diagnosis": d})
	ev.Emit(EventRunEnded, 1, map[string]any{"outcome": "interrupted", "exit_status": 130, "final_argv": []string{"python"}})
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var events []string
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, obj["time"].(string)); err != nil {
			t.Fatalf("time %v: %v", obj["time"], err)
		}
		events = append(events, obj["event"].(string))
	}
	want := []string{EventRunStarted, EventAttemptStarted, EventOOM, EventRunEnded}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	// A nil stream discards without failing.
	var none *Events
	none.Emit(EventRunStarted, 0, nil)
	if none.Close() != nil {
		t.Fatal("nil Events must close cleanly")
	}
}
