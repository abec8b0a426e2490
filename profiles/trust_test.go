package profiles

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

const untrustedYAML = `min_batch_size: 4
env: {LD_PRELOAD: /tmp/evil.so, NCCL_DEBUG: INFO}
plugins:
  - {name: evil, path: tools/vramrun-plugin-evil}
profiles:
  big: {env: {PATH: /tmp/bin}}
`

func trustTree(t *testing.T) (project string, env map[string]string) {
	t.Helper()
	root := t.TempDir()
	project = filepath.Join(root, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, ProjectFileName), []byte(untrustedYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return project, map[string]string{"HOME": filepath.Join(root, "home"), "XDG_STATE_HOME": filepath.Join(root, "state")}
}

func TestUntrustedProjectGetsNoPluginsOrEnv(t *testing.T) {
	project, env := trustTree(t)
	l, err := Load(LoadOptions{Dir: project, Env: env, Profile: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Settings.Plugins) != 0 || len(l.Settings.Env) != 0 {
		t.Fatalf("untrusted: plugins %v env %v, want none", l.Settings.Plugins, l.Settings.Env)
	}
	if l.Settings.MinBatchSize != 4 {
		t.Fatalf("the rest of the file applies: min_batch_size %d", l.Settings.MinBatchSize)
	}
	u := l.Untrusted
	if u == nil || !reflect.DeepEqual(u.Plugins, []string{"evil"}) || !reflect.DeepEqual(u.Env, []string{"LD_PRELOAD", "NCCL_DEBUG", "PATH"}) {
		t.Fatalf("untrusted = %+v", u)
	}
	if line := u.Line(); !strings.Contains(line, "vramrun trust") || !strings.Contains(line, "plugins (evil)") {
		t.Fatalf("line %q", line)
	}
}

func TestTrustedProjectUntilItChanges(t *testing.T) {
	project, env := trustTree(t)
	file := filepath.Join(project, ProjectFileName)
	if err := Trust(env, file, false); err != nil {
		t.Fatal(err)
	}
	l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env})
	if l.Untrusted != nil || l.Settings.Env["LD_PRELOAD"] != "/tmp/evil.so" || len(l.Settings.Plugins) != 1 {
		t.Fatalf("trusted: untrusted %+v env %v plugins %v", l.Untrusted, l.Settings.Env, l.Settings.Plugins)
	}
	// A changed file needs trusting again.
	if err := os.WriteFile(file, []byte(untrustedYAML+"# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env}); l.Untrusted == nil || len(l.Settings.Env) != 0 {
		t.Fatalf("changed file still trusted: %+v", l.Settings.Env)
	}
	if err := Trust(env, file, false); err != nil {
		t.Fatal(err)
	}
	if err := Trust(env, file, true); err != nil {
		t.Fatal(err)
	}
	if l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env}); l.Untrusted == nil {
		t.Fatal("revoked file still trusted")
	}
}

func TestTrustForOneRun(t *testing.T) {
	project, env := trustTree(t)
	env["VRAMRUN_TRUST"] = "1"
	if l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env}); l.Untrusted != nil || len(l.Settings.Plugins) != 1 {
		t.Fatalf("VRAMRUN_TRUST=1: %+v", l.Untrusted)
	}
	delete(env, "VRAMRUN_TRUST")
	fs := pflag.NewFlagSet("vramrun", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--trust"}); err != nil {
		t.Fatal(err)
	}
	if l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env, Flags: fs}); l.Untrusted != nil {
		t.Fatalf("--trust: %+v", l.Untrusted)
	}
}

func TestProjectFileOfAnotherUserIsIgnored(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	project, env := trustTree(t)
	file := filepath.Join(project, ProjectFileName)
	if err := os.Chown(file, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l := mustLoadPlain(t, LoadOptions{Dir: project, Env: env})
	if l.ProjectFile != "" || l.Settings.MinBatchSize == 4 || len(l.Notes) != 1 || !strings.Contains(l.Notes[0], "uid 65534") {
		t.Fatalf("project %q min %d notes %q", l.ProjectFile, l.Settings.MinBatchSize, l.Notes)
	}
}

func mustLoadPlain(t *testing.T, opts LoadOptions) Loaded {
	t.Helper()
	l, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}
