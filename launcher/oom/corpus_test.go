package oom_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

const corpusDir = "testdata/corpus"

// corpusScript is the training script the corpus logs were run with; frames
// of a file with this base name are the user's own.
const corpusScript = "train.py"

// contractKeys are the keys of the explain --json shape.
var contractKeys = []string{"oom", "kind", "framework", "signature", "device", "phase", "tried_bytes",
	"capacity_bytes", "free_bytes", "allocated_bytes", "reserved_unallocated_bytes", "allowed_bytes",
	"other_processes", "fragmented", "message", "next_fixes"}

// TestCorpus diagnoses every log of the corpus and compares each field with
// the hand-written JSON beside it.
func TestCorpus(t *testing.T) {
	m := builtinMatcher(t)
	logs, jsons := corpusFiles(t)
	for name := range jsons {
		if !logs[name] {
			t.Errorf("%s.json has no %s.log", name, name)
		}
	}
	names := make([]string, 0, len(logs))
	for name := range logs {
		if !jsons[name] {
			t.Errorf("%s.log has no %s.json", name, name)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 30 {
		t.Fatalf("corpus has %d cases; expected the full set", len(names))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want := decodeObject(t, readFile(t, name+".json"))
			f, err := os.Open(filepath.Join(corpusDir, name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := oom.Diagnose(m, f, oom.Ending{}, corpusScript)
			if err != nil {
				t.Fatalf("Diagnose: %v", err)
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got := decodeObject(t, out)
			for _, key := range contractKeys {
				if _, ok := want[key]; !ok {
					t.Errorf("%s.json lacks %q", name, key)
				}
				if !reflect.DeepEqual(got[key], want[key]) {
					t.Errorf("%s: got %s, want %s", key, show(got[key]), show(want[key]))
				}
			}
			if len(got) != len(contractKeys) || len(want) != len(contractKeys) {
				t.Errorf("keys: got %d, json has %d, contract has %d", len(got), len(want), len(contractKeys))
			}
		})
	}
}

func corpusFiles(t *testing.T) (logs, jsons map[string]bool) {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	logs, jsons = map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasSuffix(name, ".log"):
			logs[strings.TrimSuffix(name, ".log")] = true
		case strings.HasSuffix(name, ".json"):
			jsons[strings.TrimSuffix(name, ".json")] = true
		default:
			t.Errorf("stray file %s in the corpus", name)
		}
	}
	return logs, jsons
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeObject reads a JSON object keeping numbers exact.
func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return out
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// corpusLines are the lines of every corpus log, as seeds and benchmark
// material.
func corpusLines(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == '\r' })...)
	}
	return out
}
