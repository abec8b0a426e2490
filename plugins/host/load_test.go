package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

func TestPluginDirs(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"HOME": "/home/u"}, []string{"/home/u/.local/share/vramrun/plugins"}},
		{map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data"}, []string{"/data/vramrun/plugins"}},
		// A relative XDG_DATA_HOME is ignored, as the XDG spec says.
		{map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "data"}, []string{"/home/u/.local/share/vramrun/plugins"}},
		{map[string]string{"VRAMRUN_PLUGIN_PATH": "/a::/b", "XDG_DATA_HOME": "/data"}, []string{"/a", "/b", "/data/vramrun/plugins"}},
		{map[string]string{}, nil},
	}
	for _, tt := range tests {
		if got := PluginDirs(tt.env); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PluginDirs(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestDiscoverFindsExecutablesByName(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("vramrun-plugin-b", 0o755)
	write("vramrun-plugin-a", 0o755)
	write("vramrun-plugin-notexec", 0o644)
	write("vramrun-plugin-", 0o755)
	write("other-tool", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "vramrun-plugin-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, notes := discover(map[string]string{"VRAMRUN_PLUGIN_PATH": dir}, nil)
	var names []string
	for _, c := range got {
		names = append(names, c.name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Errorf("found %q, want a and b in name order", names)
	}
	wantNote := "plugin notexec at " + filepath.Join(dir, "vramrun-plugin-notexec") + " skipped: not executable"
	if !reflect.DeepEqual(notes, []string{wantNote}) {
		t.Errorf("notes = %q, want %q", notes, wantNote)
	}
}

func TestDiscoverOrderAndShadowing(t *testing.T) {
	pathDir, xdg := t.TempDir(), t.TempDir()
	userDir := filepath.Join(xdg, "vramrun", "plugins")
	for _, p := range []string{filepath.Join(pathDir, "vramrun-plugin-x"), filepath.Join(userDir, "vramrun-plugin-x"), filepath.Join(userDir, "vramrun-plugin-y")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"VRAMRUN_PLUGIN_PATH": pathDir, "XDG_DATA_HOME": xdg}
	got, notes := discover(env, []PluginRef{{Name: "y", Path: "/project/tools/y", SHA256: "AB"}})
	want := []candidate{{name: "y", path: "/project/tools/y", pin: "ab"}, {name: "x", path: filepath.Join(pathDir, "vramrun-plugin-x")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates = %+v\nwant %+v", got, want)
	}
	wantNotes := []string{
		"plugin x at " + filepath.Join(userDir, "vramrun-plugin-x") + " ignored: " + filepath.Join(pathDir, "vramrun-plugin-x") + " comes first",
		"plugin y at " + filepath.Join(userDir, "vramrun-plugin-y") + " ignored: /project/tools/y comes first",
	}
	if !reflect.DeepEqual(notes, wantNotes) {
		t.Errorf("notes = %q\nwant %q", notes, wantNotes)
	}
}

func TestMissingProfilePluginIsDropped(t *testing.T) {
	set, err := Load(context.Background(), LoadOptions{Env: testEnv(t), Profile: []PluginRef{{Name: "gone", Path: "/nonexistent/vramrun-plugin-gone"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	want := "plugin gone dropped: open /nonexistent/vramrun-plugin-gone: no such file or directory"
	if !reflect.DeepEqual(set.Notes, []string{want}) {
		t.Errorf("notes = %q, want %q", set.Notes, want)
	}
}

var myTrainerCmd = sdk.Command{Argv: []string{"python3", "mytrainer.py", "--mb", "256"}}

func TestMyTrainerOverTheWire(t *testing.T) {
	bin := binary(t, myTrainerBinary)
	dir := t.TempDir()
	path := install(t, bin, dir, "mytrainer")
	env := testEnv(t)
	env["VRAMRUN_PLUGIN_PATH"] = dir
	set, err := Load(context.Background(), LoadOptions{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Notes) != 0 {
		t.Errorf("notes: %q", set.Notes)
	}
	p := set.Plugins()[0]
	if p.Name() != "mytrainer" || p.Source != SourcePath || p.Path != path || p.SHA256 != sha256Of(t, bin) || p.Protocol != serve.ProtocolVersion {
		t.Fatalf("first plugin = %s %s %s %s %d, want mytrainer from the path", p.Name(), p.Source, p.Path, p.SHA256, p.Protocol)
	}
	var ids []string
	for _, pat := range set.Patterns() {
		ids = append(ids, pat.ID)
	}
	if ids[0] != "mytrainer.oom" {
		t.Errorf("patterns %q, want mytrainer.oom first", ids)
	}

	claim, ok := set.Claim(context.Background(), myTrainerCmd)
	if !ok || claim.Plugin != p || claim.Recognition.Confidence != 90 {
		t.Fatalf("claim = %+v, %v; want mytrainer at 90", claim.Recognition, ok)
	}
	a, err := p.Framework.Analyze(context.Background(), sdk.AnalyzeRequest{Command: myTrainerCmd})
	if err != nil || *a.Knobs.BatchSize != 256 || *a.Knobs.GradAccumulation != 1 {
		t.Fatalf("Analyze = %+v, %v", a, err)
	}
	var unsupported *sdk.UnsupportedError
	_, err = p.Framework.Apply(context.Background(), sdk.ApplyRequest{Command: myTrainerCmd, Fix: sdk.Fix{ID: sdk.FixAllocator}, CopyDir: t.TempDir()})
	if !errors.As(err, &unsupported) || unsupported.Fix != sdk.FixAllocator || unsupported.Reason != "MyTrainer has no flag for allocator" {
		t.Errorf("Apply allocator = %v, want it turned down", err)
	}
	applied, err := p.Framework.Apply(context.Background(), sdk.ApplyRequest{Command: myTrainerCmd,
		Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 4}, CopyDir: t.TempDir()})
	want := []string{"python3", "mytrainer.py", "--mb", "64", "--accum-steps", "4"}
	if err != nil || !reflect.DeepEqual(applied.Argv, want) {
		t.Errorf("Apply = %q, %v; want %q", applied.Argv, err, want)
	}
	_, err = p.Framework.Apply(context.Background(), sdk.ApplyRequest{Command: myTrainerCmd, Fix: sdk.Fix{ID: sdk.FixCPUOffload}, CopyDir: t.TempDir()})
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "no flag for cpu_offload") {
		t.Errorf("Apply cpu_offload = %v, want unsupported", err)
	}
}

func TestExternalPluginBeatsBuiltinOnConfidence(t *testing.T) {
	dir := t.TempDir()
	install(t, binary(t, myTrainerBinary), dir, "mytrainer")
	env := testEnv(t)
	env["VRAMRUN_PLUGIN_PATH"] = dir
	set, err := Load(context.Background(), LoadOptions{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	// mytrainer.py imports torch: the pytorch built-in says 60, mytrainer 90.
	cmd := sdk.Command{Argv: []string{"python", "mytrainer.py"}, Files: map[string][]byte{"mytrainer.py": []byte("import torch\n")}}
	claim, ok := set.Claim(context.Background(), cmd)
	if !ok || claim.Plugin.Name() != "mytrainer" {
		t.Fatalf("claim = %+v, %v", claim, ok)
	}
	for _, want := range []string{"mytrainer: 90 (runs mytrainer.py)", "pytorch: 60 (the script imports torch)"} {
		if !slices.Contains(claim.Others, want) {
			t.Errorf("answers %q lack %q", claim.Others, want)
		}
	}
}

// TestTiesGoToTheProfileThenThePath: three copies of the same plugin
// claim the command with the same confidence; the profile's wins, then the
// one on VRAMRUN_PLUGIN_PATH, then the user-wide one.
func TestTiesGoToTheProfileThenThePath(t *testing.T) {
	bin := binary(t, myTrainerBinary)
	env := testEnv(t)
	pathDir := t.TempDir()
	env["VRAMRUN_PLUGIN_PATH"] = pathDir
	user := install(t, bin, filepath.Join(env["XDG_DATA_HOME"], "vramrun", "plugins"), "user")
	onPath := install(t, bin, pathDir, "onpath")
	inProfile := install(t, bin, t.TempDir(), "project")

	winner := func(profile []PluginRef) string {
		set, err := Load(context.Background(), LoadOptions{Env: env, Profile: profile})
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		claim, ok := set.Claim(context.Background(), myTrainerCmd)
		if !ok {
			t.Fatal("nobody claimed the command")
		}
		return claim.Plugin.Path
	}
	if got := winner([]PluginRef{{Name: "project", Path: inProfile}}); got != inProfile {
		t.Errorf("with a profile plugin, %s won", got)
	}
	if got := winner(nil); got != onPath {
		t.Errorf("without a profile plugin, %s won, want %s (not %s)", got, onPath, user)
	}
}
