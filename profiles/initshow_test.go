package profiles

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInitFileWritesDefaultsThatLoad(t *testing.T) {
	dir := t.TempDir()
	path, err := InitFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, ProjectFileName) {
		t.Errorf("path = %q", path)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := mustLoad(t, LoadOptions{Dir: dir, Env: map[string]string{}})
	if !reflect.DeepEqual(l.Settings, Defaults()) {
		t.Errorf("loaded %+v, want the defaults %+v", l.Settings, Defaults())
	}
	for _, k := range scalarKeys() {
		if l.Sources[k.name] != SourceProject {
			t.Errorf("%s comes from %q; the written file must set every key", k.name, l.Sources[k.name])
		}
		// Each key has its comment on the line above it.
		if !strings.Contains(string(content), "# "+k.help) {
			t.Errorf("no comment for %s", k.name)
		}
	}
	for _, section := range []string{"# flags:", "# env:", "# plugins:", "# profiles:"} {
		if !strings.Contains(string(content), section) {
			t.Errorf("no commented %s example", section)
		}
	}
}

// TestInitFileExamplesAreValid uncomments the example sections and checks
// that they load as written.
func TestInitFileExamplesAreValid(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for _, line := range strings.Split(initTemplate(), "\n") {
		if strings.HasPrefix(line, "# ") && (strings.HasPrefix(line[2:], " ") || strings.HasSuffix(line, ":")) &&
			!strings.Contains(line, "(64 hexadecimal") {
			line = line[2:]
		}
		b.WriteString(line + "\n")
	}
	writeFile(t, filepath.Join(dir, ProjectFileName), b.String())
	l := mustLoad(t, LoadOptions{Dir: dir, Env: map[string]string{}, Profile: "a100"})
	if l.Settings.Flags["mixed_precision"] != "--amp --amp-dtype {dtype}" || l.Settings.Env["NCCL_DEBUG"] != "INFO" ||
		len(l.Settings.Plugins) != 1 || l.Settings.Precision != "bf16" {
		t.Errorf("examples loaded as %+v", l.Settings)
	}
}

func TestInitFileRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ProjectFileName)
	writeFile(t, path, "max_attempts: 2\n")
	_, err := InitFile(dir)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "max_attempts: 2\n" {
		t.Errorf("existing file changed to %q", got)
	}
}

func showFixture(t *testing.T) Loaded {
	t.Helper()
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "keep_runs: 9\n")
	writeFile(t, tr.projectFile(), "learn_after: 90s\nenv:\n  NCCL_DEBUG: INFO\nflags:\n  batch_size: --bsz\n"+
		"plugins:\n  - {name: mine, path: tools/p}\nprofiles:\n  a100:\n    precision: bf16\n")
	tr.env["VRAMRUN_GRACE"] = "2s"
	return mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Profile: "a100",
		Flags: parsedFlags(t, "--max-attempts", "3", "--ladder", "allocator,batch_size")})
}

func TestShowTable(t *testing.T) {
	l := showFixture(t)
	var out bytes.Buffer
	if err := l.Show(&out); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			rows[f[0]] = f[1:]
		}
	}
	want := map[string][]string{
		"max_attempts": {"3", "flag"},
		"grace":        {"2s", "env"},
		"ladder":       {"allocator,", "batch_size", "flag"},
		"precision":    {"bf16", "profile:a100"},
		"learn_after":  {"1m30s", "project"},
		"keep_runs":    {"9", "user"},
		"pty":          {"auto", "default"},
		"events":       {`""`, "default"},
		"env":          {"NCCL_DEBUG=INFO", "project"},
		"flags":        {"batch_size=--bsz", "project"},
		"plugins":      {"mine", filepath.Join(filepath.Dir(l.ProjectFile), "tools", "p"), "project"},
	}
	for key, fields := range want {
		if !reflect.DeepEqual(rows[key], fields) {
			t.Errorf("row %s = %q, want %q", key, rows[key], fields)
		}
	}
	if !strings.Contains(out.String(), l.ProjectFile) {
		t.Errorf("the table does not name the project file:\n%s", out.String())
	}
}

func TestShowJSON(t *testing.T) {
	l := showFixture(t)
	var out bytes.Buffer
	if err := l.ShowJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got map[string]struct {
		Value  json.RawMessage `json:"value"`
		Source string          `json:"source"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(got) != len(Keys()) {
		t.Errorf("%d keys, want %d (every key of section 5)", len(got), len(Keys()))
	}
	pluginPath, _ := json.Marshal(filepath.Join(filepath.Dir(l.ProjectFile), "tools", "p"))
	want := map[string][2]string{
		"max_attempts":         {`3`, "flag"},
		"grace":                {`"2s"`, "env"},
		"ladder":               {`["allocator","batch_size"]`, "flag"},
		"learn":                {`true`, "default"},
		"learn_after":          {`"1m30s"`, "project"},
		"gpu_poll":             {`"500ms"`, "default"},
		"events":               {`""`, "default"},
		"pick_gpu":             {`false`, "default"},
		"wait_free":            {`"0s"`, "default"},
		"pty":                  {`"auto"`, "default"},
		"keep_effective_batch": {`true`, "default"},
		"min_batch_size":       {`1`, "default"},
		"precision":            {`"bf16"`, "profile:a100"},
		"probable_oom":         {`"report"`, "default"},
		"keep_runs":            {`9`, "user"},
		"flags":                {`{"batch_size":"--bsz"}`, "project"},
		"env":                  {`{"NCCL_DEBUG":"INFO"}`, "project"},
		"plugins":              {`[{"name":"mine","path":` + string(pluginPath) + `}]`, "project"},
	}
	for key, w := range want {
		var compact bytes.Buffer
		if err := json.Compact(&compact, got[key].Value); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if compact.String() != w[0] || got[key].Source != w[1] {
			t.Errorf("%s = %s from %q, want %s from %q", key, compact.String(), got[key].Source, w[0], w[1])
		}
	}
}

func TestShowJSONOfDefaultsHasEmptyCollections(t *testing.T) {
	l := mustLoad(t, LoadOptions{Dir: t.TempDir(), Env: map[string]string{}})
	var out bytes.Buffer
	if err := l.ShowJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["plugins"].Value.([]any); !ok {
		t.Errorf("plugins = %#v, want an empty list", got["plugins"].Value)
	}
	if _, ok := got["env"].Value.(map[string]any); !ok {
		t.Errorf("env = %#v, want an empty object", got["env"].Value)
	}
}
