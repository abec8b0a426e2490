package profiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, warning, err := OpenStore(t.TempDir(), map[string]string{})
	if err != nil || warning != "" {
		t.Fatalf("OpenStore: %v %q", err, warning)
	}
	return s
}

func sampleLearned() Learned {
	return Learned{
		Fixes: []sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixMixedPrecision, Precision: "bf16"},
			{ID: sdk.FixBatchSize, BatchSize: 24, GradAccumulation: 4}},
		Argv:     []string{"python", "train.py", "--batch-size", "24", "--accum", "4", "--bf16"},
		Env:      map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"},
		Summary:  "batch 24 x accumulation 4, bf16",
		Recorded: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		RunID:    "20260304-050607-abcd",
	}
}

func sampleFingerprint() Fingerprint {
	return Fingerprint{Launcher: "torchrun", WorldSize: 8, Script: "train.py",
		Knobs:        map[string]string{"batch_size": "96", "grad_accumulation": "1"},
		ConfigHashes: map[string]string{"ds_config.json": strings.Repeat("ab", 32)}}
}

func TestRecordThenLookup(t *testing.T) {
	s := openTestStore(t)
	fp, gpu, want := sampleFingerprint(), GPUKey{Model: "NVIDIA H100 80GB HBM3", TotalBytes: 85520809984}, sampleLearned()
	if _, ok, err := s.Lookup(fp, gpu); err != nil || ok {
		t.Fatalf("lookup before any record: ok %v err %v", ok, err)
	}
	if err := s.Record(fp, gpu, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Lookup(fp, gpu)
	if err != nil || !ok {
		t.Fatalf("lookup: ok %v err %v", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	// A later record for the same command and GPU replaces the entry.
	newer := want
	newer.Summary = "batch 12 x accumulation 8, bf16"
	if err := s.Record(fp, gpu, newer); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Lookup(fp, gpu); got.Summary != newer.Summary {
		t.Errorf("summary = %q after re-record", got.Summary)
	}
}

func TestLookupMissesForAnotherGPUOrCommand(t *testing.T) {
	s := openTestStore(t)
	fp, gpu := sampleFingerprint(), GPUKey{Model: "NVIDIA A100-SXM4-40GB", TotalBytes: 42949672960}
	if err := s.Record(fp, gpu, sampleLearned()); err != nil {
		t.Fatal(err)
	}
	changed := func(edit func(*Fingerprint)) Fingerprint {
		f := sampleFingerprint()
		edit(&f)
		return f
	}
	misses := []struct {
		name string
		fp   Fingerprint
		gpu  GPUKey
	}{
		{"other GPU model", fp, GPUKey{Model: "NVIDIA L4", TotalBytes: gpu.TotalBytes}},
		{"same model, other memory", fp, GPUKey{Model: gpu.Model, TotalBytes: 85899345920}},
		{"unknown GPU", fp, GPUKey{}},
		{"other batch size typed", changed(func(f *Fingerprint) { f.Knobs["batch_size"] = "128" }), gpu},
		{"other config content", changed(func(f *Fingerprint) { f.ConfigHashes["ds_config.json"] = strings.Repeat("cd", 32) }), gpu},
		{"other script", changed(func(f *Fingerprint) { f.Script = "finetune.py" }), gpu},
		{"other world size", changed(func(f *Fingerprint) { f.WorldSize = 4 }), gpu},
		{"other launcher", changed(func(f *Fingerprint) { f.Launcher = "accelerate" }), gpu},
	}
	for _, m := range misses {
		if _, ok, err := s.Lookup(m.fp, m.gpu); err != nil || ok {
			t.Errorf("%s: found %v err %v, want a miss", m.name, ok, err)
		}
	}
	if _, ok, _ := s.Lookup(sampleFingerprint(), gpu); !ok {
		t.Errorf("an equal fingerprint built anew misses")
	}
}

func TestUnknownGPUModelIsOneKey(t *testing.T) {
	s := openTestStore(t)
	if err := s.Record(sampleFingerprint(), GPUKey{}, sampleLearned()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Lookup(sampleFingerprint(), GPUKey{Model: UnknownGPU}); err != nil || !ok {
		t.Errorf("empty model and %q differ: ok %v err %v", UnknownGPU, ok, err)
	}
}

func TestFingerprintKey(t *testing.T) {
	a := Fingerprint{Launcher: "python", WorldSize: 1, Script: "train.py"}
	b := Fingerprint{Launcher: "python", WorldSize: 1, Script: "train.py", Knobs: map[string]string{}, ConfigHashes: map[string]string{}}
	if a.Key() != b.Key() {
		t.Errorf("nil and empty maps give different keys")
	}
	if len(a.Key()) != 64 || strings.Trim(a.Key(), "0123456789abcdef") != "" {
		t.Errorf("key %q is not sha256 hex", a.Key())
	}
	c := a
	c.Knobs = map[string]string{"batch_size": "1"}
	d := a
	d.ConfigHashes = map[string]string{"batch_size": "1"}
	if c.Key() == a.Key() || c.Key() == d.Key() {
		t.Errorf("knobs and config hashes must change the key and not collide")
	}
}

func TestStateFileIsVersioned(t *testing.T) {
	s := openTestStore(t)
	if err := s.Record(sampleFingerprint(), GPUKey{Model: "X", TotalBytes: 1}, sampleLearned()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Version int                        `json:"version"`
		Entries map[string]json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Version != 1 || len(raw.Entries) != 1 {
		t.Errorf("state.json = %s (%v)", data, err)
	}
}

func TestNewerStateVersionIsRefusedAndKept(t *testing.T) {
	s := openTestStore(t)
	path := filepath.Join(s.Dir, "state.json")
	writeFile(t, path, `{"version": 2, "entries": {}}`)
	if _, _, err := s.Lookup(sampleFingerprint(), GPUKey{}); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("lookup err = %v", err)
	}
	if err := s.Record(sampleFingerprint(), GPUKey{}, sampleLearned()); err == nil {
		t.Errorf("record over a newer state file succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != `{"version": 2, "entries": {}}` {
		t.Errorf("newer state file changed to %s", got)
	}
}

func corruptFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "state.json.corrupt-*"))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

func TestCorruptStateIsSetAsideOnLookup(t *testing.T) {
	for _, content := range []string{"{not json", `{"entries": {}}`, `[1, 2]`} {
		s := openTestStore(t)
		writeFile(t, filepath.Join(s.Dir, "state.json"), content)
		_, ok, err := s.Lookup(sampleFingerprint(), GPUKey{})
		var warning *CorruptStateError
		if !errors.As(err, &warning) || ok {
			t.Fatalf("%q: ok %v err %v, want a *CorruptStateError", content, ok, err)
		}
		aside := corruptFilesIn(t, s.Dir)
		if len(aside) != 1 || warning.MovedTo != aside[0] || !strings.Contains(warning.Error(), filepath.Base(aside[0])) {
			t.Fatalf("%q: set aside as %v, warning %q", content, aside, warning)
		}
		if kept, _ := os.ReadFile(aside[0]); string(kept) != content {
			t.Errorf("%q: the set-aside file holds %q", content, kept)
		}
		if _, _, err := s.Lookup(sampleFingerprint(), GPUKey{}); err != nil {
			t.Errorf("%q: second lookup err %v, want an empty state", content, err)
		}
	}
}

func TestRecordOverCorruptStateWarnsAndRecords(t *testing.T) {
	s := openTestStore(t)
	writeFile(t, filepath.Join(s.Dir, "state.json"), "\x00\x01garbage")
	err := s.Record(sampleFingerprint(), GPUKey{}, sampleLearned())
	var warning *CorruptStateError
	if !errors.As(err, &warning) {
		t.Fatalf("err = %v, want a *CorruptStateError", err)
	}
	if _, ok, err := s.Lookup(sampleFingerprint(), GPUKey{}); !ok || err != nil {
		t.Errorf("entry not recorded after setting the corrupt file aside: ok %v err %v", ok, err)
	}
	if n := len(corruptFilesIn(t, s.Dir)); n != 1 {
		t.Errorf("%d set-aside files, want 1", n)
	}
}

func TestConcurrentRecordsInOneProcess(t *testing.T) {
	s := openTestStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Record(helperFingerprint(i), helperGPU, Learned{RunID: strconv.Itoa(i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	for i := range errs {
		if got, ok, err := s.Lookup(helperFingerprint(i), helperGPU); !ok || err != nil || got.RunID != strconv.Itoa(i) {
			t.Errorf("entry %d lost: %+v %v %v", i, got, ok, err)
		}
	}
}

// TestConcurrentProcessesLoseNoEntry starts 20 copies of the test binary
// as vramrun processes of one project. Each blocks on its stdin; closing all
// the pipes releases them together. Each records a different entry and
// writes its own run record.
func TestConcurrentProcessesLoseNoEntry(t *testing.T) {
	const processes = 20
	project := t.TempDir()
	home := t.TempDir()
	cmds := make([]*exec.Cmd, processes)
	stdins := make([]io.WriteCloser, processes)
	outputs := make([]*strings.Builder, processes)
	for i := range cmds {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperModeVar+"=record", helperProjectVar+"="+project,
			helperIndexVar+"="+strconv.Itoa(i), helperHomeVar+"="+home)
		outputs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outputs[i], outputs[i]
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i], stdins[i] = cmd, in
	}
	for _, in := range stdins {
		in.Close()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outputs[i])
		}
	}

	s := &Store{Dir: filepath.Join(project, ".vramrun")}
	data, err := os.ReadFile(filepath.Join(s.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state.json does not parse: %v", err)
	}
	if len(st.Entries) != processes {
		t.Errorf("state.json holds %d entries, want %d", len(st.Entries), processes)
	}
	for i := range processes {
		runID := fmt.Sprintf("run-%02d", i)
		got, ok, err := s.Lookup(helperFingerprint(i), helperGPU)
		if err != nil || !ok || got.RunID != runID {
			t.Errorf("entry %d: %+v found %v err %v", i, got, ok, err)
		}
		record, err := os.ReadFile(filepath.Join(s.RunsDir(), runID, "run.json"))
		var parsed map[string]any
		if err != nil || json.Unmarshal(record, &parsed) != nil || parsed["id"] != runID {
			t.Errorf("run record %s: %q %v", runID, record, err)
		}
	}
	if aside := corruptFilesIn(t, s.Dir); len(aside) != 0 {
		t.Errorf("state was set aside during the concurrent writes: %v", aside)
	}
}
