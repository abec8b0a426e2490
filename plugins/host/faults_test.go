package host

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// torchCmd is a command the pytorch built-in claims.
var torchCmd = sdk.Command{Argv: []string{"python", "train.py", "--batch-size", "64"},
	Files: map[string][]byte{"train.py": []byte(torchScript)}}

// loadFaulty loads the built-ins and the faulty plugin in mode, found
// through VRAMRUN_PLUGIN_PATH; it returns the set and the folder of pids.
func loadFaulty(t *testing.T, mode string, o LoadOptions) (*Set, string) {
	t.Helper()
	bin := binary(t, faultyBinary)
	dir, pids := t.TempDir(), t.TempDir()
	install(t, bin, dir, mode)
	o.Env = testEnv(t)
	o.Env["VRAMRUN_PLUGIN_PATH"] = dir
	o.Env["FAULTY_PID_DIR"] = pids
	set, err := Load(context.Background(), o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(set.Close)
	return set, pids
}

func TestFaultyPluginIsDroppedAndEnded(t *testing.T) {
	tests := []struct {
		mode string
		// note is what the one line says after "plugin MODE dropped: ".
		note   string
		atLoad bool
		o      LoadOptions
	}{
		{mode: "crash", note: "Recognize: plugin unreachable, it may have exited"},
		{mode: "hang", note: "Recognize: no answer within 1s", o: LoadOptions{CallTimeout: time.Second}},
		{mode: "garbage", note: "Recognize: confidence 150 is outside 0..100"},
		{mode: "stdout", note: "Unrecognized remote plugin message: hello from a plugin", atLoad: true},
		{mode: "badproto", note: "incompatible API version with plugin. Plugin version: 3, Client versions: [2]", atLoad: true},
		{mode: "badpattern", note: `Describe: pattern badpattern.oom: group "bytes" is not one of the known names`, atLoad: true},
		{mode: "silent", note: "timeout while waiting for plugin to start", atLoad: true, o: LoadOptions{StartTimeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			var log syncBuffer
			tt.o.LogTo = &log
			set, pids := loadFaulty(t, tt.mode, tt.o)
			want := "plugin " + tt.mode + " dropped: " + tt.note
			if tt.atLoad && (len(set.Notes) != 1 || !strings.HasPrefix(set.Notes[0], want)) {
				t.Errorf("notes after Load = %q, want one line starting %q", set.Notes, want)
			}
			claim, ok := set.Claim(context.Background(), torchCmd)
			if !ok || claim.Plugin.Name() != "pytorch" {
				t.Errorf("claim = %+v, %v; want the pytorch built-in", claim.Recognition, ok)
			}
			if len(set.Notes) != 1 || !strings.HasPrefix(set.Notes[0], want) {
				t.Errorf("notes = %q, want one line starting %q", set.Notes, want)
			}
			if strings.Contains(set.Notes[0], "\n") {
				t.Errorf("the note has several lines: %q", set.Notes[0])
			}
			for _, p := range set.Plugins() {
				if p.Source != SourceBuiltin {
					t.Errorf("plugin %s from %s is still in the set", p.Name(), p.Path)
				}
			}
			set.Close()
			checkEnded(t, readPid(t, pids, tt.mode))
			// The note says it all: ending the plugin adds no warning.
			if strings.Contains(log.String(), "exit gracefully") || strings.Contains(log.String(), "signal: killed") {
				t.Errorf("the log complains about a kill vramrun made:\n%s", log.String())
			}
		})
	}
}

func TestCloseEndsWhatThePluginStarted(t *testing.T) {
	set, pids := loadFaulty(t, "children", LoadOptions{})
	if len(set.Notes) != 0 || len(set.Plugins()) != len(Builtins())+1 {
		t.Fatalf("plugins %d, notes %q: want the built-ins and children", len(set.Plugins()), set.Notes)
	}
	set.Close()
	checkEnded(t, readPid(t, pids, "children"))
	checkEnded(t, readPid(t, pids, "children.child"))
}

func TestDroppedPluginIsEndedAtOnce(t *testing.T) {
	set, pids := loadFaulty(t, "hang", LoadOptions{CallTimeout: time.Second})
	set.Claim(context.Background(), torchCmd)
	// No Close: dropping the plugin ended it.
	checkEnded(t, readPid(t, pids, "hang"))
}

func TestPluginLogGoesToLogToAtTheVerboseLevel(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		var log syncBuffer
		set, _ := loadFaulty(t, "chatty", LoadOptions{LogTo: &log, Verbose: verbose})
		// Close waits for the plugin's stderr to be read to its end.
		set.Close()
		got := log.String()
		if !strings.Contains(got, "chatty warning line") {
			t.Errorf("verbose %v: the warning is not in the log:\n%s", verbose, got)
		}
		if strings.Contains(got, "chatty debug line") != verbose {
			t.Errorf("verbose %v: debug line in the log = %v, want %v:\n%s", verbose, !verbose, verbose, got)
		}
	}
}

// TestBadlyTypedLogLineIsKept: a JSON log line whose @message is a number
// made go-plugin panic, ending vramrun; it is logged as text instead.
func TestBadlyTypedLogLineIsKept(t *testing.T) {
	var log syncBuffer
	set, _ := loadFaulty(t, "badlog", LoadOptions{LogTo: &log})
	found := false
	for _, p := range set.Plugins() {
		found = found || p.Name() == "badlog"
	}
	set.Close()
	if !found || !strings.Contains(log.String(), "5") {
		t.Fatalf("plugin loaded %v, log:\n%s", found, log.String())
	}
}

func TestPluginGetsNoStdin(t *testing.T) {
	set, _ := loadFaulty(t, "stdin", LoadOptions{})
	for _, p := range set.Plugins() {
		if p.Name() == "stdin" && p.Desc.Version != "/dev/null" {
			t.Errorf("the plugin's stdin is %q, want /dev/null", p.Desc.Version)
		}
	}
	if len(set.Plugins()) != len(Builtins())+1 {
		t.Errorf("the stdin plugin did not load: %q", set.Notes)
	}
}

func TestPinnedPluginIsRefusedOnMismatch(t *testing.T) {
	bin := binary(t, faultyBinary)
	dir, pids := t.TempDir(), t.TempDir()
	path := install(t, bin, dir, "chatty")
	env := testEnv(t)
	env["FAULTY_PID_DIR"] = pids
	got := sha256Of(t, path)
	wrong := strings.Repeat("ab", 32)
	_, err := Load(context.Background(), LoadOptions{Env: env, Profile: []PluginRef{{Name: "chatty", Path: path, SHA256: wrong}}})
	var mismatch *ChecksumError
	if err == nil || !errors.As(err, &mismatch) {
		t.Fatalf("Load error = %v, want a *ChecksumError", err)
	}
	for _, want := range []string{"plugin chatty", path, "sha256 is " + got, "pins " + wrong} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if started, _ := filepath.Glob(filepath.Join(pids, "*.pid")); len(started) > 0 {
		t.Errorf("a refused plugin was started: %v", started)
	}
}

func TestPinnedPluginRunsOnMatch(t *testing.T) {
	bin := binary(t, faultyBinary)
	path := install(t, bin, t.TempDir(), "chatty")
	sum := sha256Of(t, path)
	set, err := Load(context.Background(), LoadOptions{Env: testEnv(t),
		Profile: []PluginRef{{Name: "chatty", Path: path, SHA256: strings.ToUpper(sum)}}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer set.Close()
	p := set.Plugins()[0]
	if p.Name() != "chatty" || p.Source != SourcePath || p.SHA256 != sum || p.Path != path || p.Protocol != serve.ProtocolVersion {
		t.Errorf("first plugin = %s %s %s %s %d, want chatty from the profile", p.Name(), p.Source, p.SHA256, p.Path, p.Protocol)
	}
}

func TestMalformedPinIsAnError(t *testing.T) {
	path := install(t, binary(t, faultyBinary), t.TempDir(), "chatty")
	_, err := Load(context.Background(), LoadOptions{Env: testEnv(t), Profile: []PluginRef{{Name: "chatty", Path: path, SHA256: "abc"}}})
	if err == nil || !strings.Contains(err.Error(), `plugin chatty: sha256 "abc" is not 64 hexadecimal digits`) {
		t.Errorf("Load error = %v", err)
	}
}
