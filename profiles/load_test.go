package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/vramrun/vramrun/sdk"
)

// testTree is a fake machine: a home folder with its XDG config folder, and
// a project folder.
type testTree struct {
	root, home, xdg, project string
	env                      map[string]string
}

func newTestTree(t *testing.T) testTree {
	t.Helper()
	root := t.TempDir()
	tr := testTree{root: root, home: filepath.Join(root, "home"), xdg: filepath.Join(root, "xdg"),
		project: filepath.Join(root, "project")}
	for _, d := range []string{tr.home, tr.xdg, tr.project} {
		mustMkdir(t, d)
	}
	tr.env = map[string]string{"HOME": tr.home, "XDG_CONFIG_HOME": tr.xdg}
	return tr
}

func (tr testTree) userFile() string { return filepath.Join(tr.xdg, "vramrun", "config.yaml") }

func (tr testTree) projectFile() string { return filepath.Join(tr.project, ProjectFileName) }

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parsedFlags registers the main command's flags and parses args.
func parsedFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("vramrun", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// mustLoad loads with the project file trusted (VRAMRUN_TRUST), as most of
// these tests are about layering; trust_test.go tests trust itself.
func mustLoad(t *testing.T, opts LoadOptions) Loaded {
	t.Helper()
	env := map[string]string{"VRAMRUN_TRUST": "1"}
	for k, v := range opts.Env {
		env[k] = v
	}
	opts.Env = env
	l, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

func TestLoadWithoutFilesGivesDefaults(t *testing.T) {
	tr := newTestTree(t)
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	if !reflect.DeepEqual(l.Settings, Defaults()) {
		t.Errorf("settings = %+v, want defaults %+v", l.Settings, Defaults())
	}
	for _, key := range Keys() {
		if l.Sources[key] != SourceDefault {
			t.Errorf("source of %s = %q, want default", key, l.Sources[key])
		}
	}
	if l.ProjectFile != "" || l.UserFile != "" || l.ProjectRoot != tr.project {
		t.Errorf("files = %q, %q, root %q", l.ProjectFile, l.UserFile, l.ProjectRoot)
	}
}

// layerValues gives one scalar key a different value in each layer, lowest
// first: user file, project file, named profile, environment, flag. An
// empty flag means the key has no flag.
type layerValues struct {
	key   string
	yaml  [3]string
	env   string
	flag  string
	want  [5]any
	field func(Settings) any
}

func scalarLayerCases() []layerValues {
	ladder := func(ids ...sdk.FixID) []sdk.FixID { return ids }
	return []layerValues{
		{"max_attempts", [3]string{"2", "3", "4"}, "5", "--max-attempts=7", [5]any{2, 3, 4, 5, 7},
			func(s Settings) any { return s.MaxAttempts }},
		{"grace", [3]string{"1s", "2s", "3s"}, "4s", "--grace=5s",
			[5]any{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second},
			func(s Settings) any { return s.Grace }},
		{"ladder", [3]string{"[allocator]", "[batch_size]", "[mixed_precision, batch_size]"},
			"cpu_offload,allocator", "--ladder=batch_size,batch_size",
			[5]any{ladder(sdk.FixAllocator), ladder(sdk.FixBatchSize), ladder(sdk.FixMixedPrecision, sdk.FixBatchSize),
				ladder(sdk.FixCPUOffload, sdk.FixAllocator), ladder(sdk.FixBatchSize, sdk.FixBatchSize)},
			func(s Settings) any { return s.Ladder }},
		{"learn", [3]string{"false", "true", "false"}, "true", "--no-learn", [5]any{false, true, false, true, false},
			func(s Settings) any { return s.Learn }},
		{"resume", [3]string{"false", "true", "false"}, "true", "--no-resume", [5]any{false, true, false, true, false},
			func(s Settings) any { return s.Resume }},
		{"learn_after", [3]string{"1m", "2m", "3m"}, "4m", "",
			[5]any{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute},
			func(s Settings) any { return s.LearnAfter }},
		{"gpu_poll", [3]string{"100ms", "200ms", "300ms"}, "400ms", "--gpu-poll=600ms",
			[5]any{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond},
			func(s Settings) any { return s.GPUPoll }},
		{"events", [3]string{"a.jsonl", "b.jsonl", "c.jsonl"}, "d.jsonl", "--events=e.jsonl",
			[5]any{"a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl", "e.jsonl"},
			func(s Settings) any { return s.Events }},
		{"pick_gpu", [3]string{"true", "false", "true"}, "false", "--pick-gpu", [5]any{true, false, true, false, true},
			func(s Settings) any { return s.PickGPU }},
		{"wait_free", [3]string{"0", "30s", "1m"}, "2m", "--wait-free=3m",
			[5]any{time.Duration(0), 30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute},
			func(s Settings) any { return s.WaitFree }},
		{"pty", [3]string{"always", "never", "auto"}, "always", "--pty=never", [5]any{"always", "never", "auto", "always", "never"},
			func(s Settings) any { return s.PTY }},
		{"keep_effective_batch", [3]string{"false", "true", "false"}, "true", "", [5]any{false, true, false, true},
			func(s Settings) any { return s.KeepEffectiveBatch }},
		{"min_batch_size", [3]string{"2", "3", "4"}, "5", "", [5]any{2, 3, 4, 5},
			func(s Settings) any { return s.MinBatchSize }},
		{"memory_margin", [3]string{"5", "20%", "0"}, "15 %", "", [5]any{5, 20, 0, 15},
			func(s Settings) any { return s.MemoryMargin }},
		{"room_gain", [3]string{"5", "20%", "0"}, "150 %", "", [5]any{5, 20, 0, 150},
			func(s Settings) any { return s.RoomGain }},
		{"precision", [3]string{"bf16", "fp16", "auto"}, "bf16", "", [5]any{"bf16", "fp16", "auto", "bf16"},
			func(s Settings) any { return s.Precision }},
		{"probable_oom", [3]string{"fix", "report", "fix"}, "report", "", [5]any{"fix", "report", "fix", "report"},
			func(s Settings) any { return s.ProbableOOM }},
		{"keep_runs", [3]string{"10", "20", "30"}, "40", "", [5]any{10, 20, 30, 40},
			func(s Settings) any { return s.KeepRuns }},
	}
}

// TestEachScalarKeyFromEachLayer turns the layers on from the lowest up:
// each time the newest layer must win, so every key is read from every
// layer it has and every layer beats the ones below it.
func TestEachScalarKeyFromEachLayer(t *testing.T) {
	sources := []Source{SourceUser, SourceProject, ProfileSource("big"), SourceEnv, SourceFlag}
	covered := map[string]bool{}
	for _, c := range scalarLayerCases() {
		covered[c.key] = true
		layers := 5
		if c.flag == "" {
			layers = 4
		}
		for top := 0; top < layers; top++ {
			t.Run(c.key+"/"+string(sources[top]), func(t *testing.T) {
				tr := newTestTree(t)
				writeFile(t, tr.userFile(), c.key+": "+c.yaml[0]+"\n")
				opts := LoadOptions{Dir: tr.project, Env: tr.env}
				if top >= 1 {
					project := c.key + ": " + c.yaml[1] + "\n"
					if top >= 2 {
						project += "profiles:\n  big:\n    " + c.key + ": " + c.yaml[2] + "\n"
						opts.Profile = "big"
					}
					writeFile(t, tr.projectFile(), project)
				}
				if top >= 3 {
					opts.Env[EnvVar(c.key)] = c.env
				}
				if top >= 4 {
					opts.Flags = parsedFlags(t, c.flag)
				}
				l := mustLoad(t, opts)
				if got := c.field(l.Settings); !reflect.DeepEqual(got, c.want[top]) {
					t.Errorf("value = %#v, want %#v", got, c.want[top])
				}
				if l.Sources[c.key] != sources[top] {
					t.Errorf("source = %q, want %q", l.Sources[c.key], sources[top])
				}
			})
		}
	}
	for _, k := range scalarKeys() {
		if !covered[k.name] {
			t.Errorf("key %s has no layering case", k.name)
		}
	}
}

func TestUnchangedFlagsDoNotOverrideFiles(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "max_attempts: 3\npty: never\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Flags: parsedFlags(t)})
	if l.Settings.MaxAttempts != 3 || l.Settings.PTY != "never" || l.Sources["max_attempts"] != SourceProject {
		t.Errorf("got max_attempts %d pty %s source %s", l.Settings.MaxAttempts, l.Settings.PTY, l.Sources["max_attempts"])
	}
}

func TestEmptyEnvironmentVariableCountsAsUnset(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "max_attempts: 3\n")
	tr.env["VRAMRUN_MAX_ATTEMPTS"] = ""
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	if l.Settings.MaxAttempts != 3 || l.Sources["max_attempts"] != SourceProject {
		t.Errorf("got %d from %s, want 3 from project", l.Settings.MaxAttempts, l.Sources["max_attempts"])
	}
}

func TestProfileNameTakenFromFlagSet(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "profiles:\n  a100:\n    precision: bf16\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Flags: parsedFlags(t, "--profile", "a100")})
	if l.Settings.Precision != "bf16" || l.Sources["precision"] != ProfileSource("a100") {
		t.Errorf("precision %s from %s", l.Settings.Precision, l.Sources["precision"])
	}
}

func TestNamedProfileFromUserFileWhenProjectLacksIt(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "profiles:\n  laptop:\n    max_attempts: 9\n    plugins:\n      - {name: mine, path: bin/vramrun-plugin-mine}\n")
	writeFile(t, tr.projectFile(), "profiles:\n  cluster:\n    max_attempts: 2\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Profile: "laptop"})
	if l.Settings.MaxAttempts != 9 || l.Sources["max_attempts"] != ProfileSource("laptop") {
		t.Errorf("max_attempts %d from %s", l.Settings.MaxAttempts, l.Sources["max_attempts"])
	}
	want := []PluginRef{{Name: "mine", Path: filepath.Join(tr.xdg, "vramrun", "bin", "vramrun-plugin-mine")}}
	if !reflect.DeepEqual(l.Settings.Plugins, want) {
		t.Errorf("plugins = %+v, want %+v", l.Settings.Plugins, want)
	}
}

func TestProjectProfileWinsOverUserProfileOfSameName(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "profiles:\n  a100:\n    max_attempts: 9\n    keep_runs: 7\n")
	writeFile(t, tr.projectFile(), "profiles:\n  a100:\n    max_attempts: 2\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Profile: "a100"})
	if l.Settings.MaxAttempts != 2 || l.Settings.KeepRuns != 50 {
		t.Errorf("max_attempts %d keep_runs %d, want the project's a100 only (2, default 50)", l.Settings.MaxAttempts, l.Settings.KeepRuns)
	}
}

func TestUnknownProfileListsKnownNames(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "profiles:\n  laptop: {}\n")
	writeFile(t, tr.projectFile(), "profiles:\n  small: {}\n  a100:\n    ladder: [allocator]\n")
	_, err := Load(LoadOptions{Dir: tr.project, Env: tr.env, Profile: "h100"})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	if want := "--profile h100: no such profile (known: a100, laptop, small)"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	_, err = Load(LoadOptions{Dir: t.TempDir(), Env: map[string]string{}, Profile: "h100"})
	if err == nil || !strings.Contains(err.Error(), "no profiles are defined") {
		t.Errorf("without any profiles: err = %v", err)
	}
}

func TestEnvNamesKeepTheirCaseAndMergeAcrossLayers(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "env:\n  NCCL_DEBUG: INFO\n  MixedCase: user\n  OMP_NUM_THREADS: 4\n")
	writeFile(t, tr.projectFile(), "env:\n  MixedCase: project\n  XLA_PYTHON_CLIENT_MEM_FRACTION: .95\n"+
		"profiles:\n  p:\n    env:\n      OMP_NUM_THREADS: \"8\"\n      Empty:\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Profile: "p"})
	want := map[string]string{"NCCL_DEBUG": "INFO", "MixedCase": "project", "OMP_NUM_THREADS": "8",
		"XLA_PYTHON_CLIENT_MEM_FRACTION": ".95", "Empty": ""}
	if !reflect.DeepEqual(l.Settings.Env, want) {
		t.Errorf("env = %v, want %v", l.Settings.Env, want)
	}
	if l.Sources["env"] != ProfileSource("p") {
		t.Errorf("env source = %q", l.Sources["env"])
	}
}

func TestFlagsMappingVerbatimAndMerged(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "flags:\n  batch_size: --BSZ\n  grad_accumulation: --accum\n")
	writeFile(t, tr.projectFile(), "flags:\n  grad_accumulation: --Grad-Accum\n"+
		"  mixed_precision: \"--amp --amp-dtype {dtype}\"\n  optimizer_8bit: '--optim adamw8bit'\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	want := map[string]string{"batch_size": "--BSZ", "grad_accumulation": "--Grad-Accum",
		"mixed_precision": "--amp --amp-dtype {dtype}", "optimizer_8bit": "--optim adamw8bit"}
	if !reflect.DeepEqual(l.Settings.Flags, want) {
		t.Errorf("flags = %v, want %v", l.Settings.Flags, want)
	}
	if l.Sources["flags"] != SourceProject {
		t.Errorf("flags source = %q", l.Sources["flags"])
	}
}

func TestPluginPathsResolvedAgainstDeclaringFile(t *testing.T) {
	tr := newTestTree(t)
	sum := strings.Repeat("AB", 32)
	writeFile(t, tr.userFile(), "plugins:\n  - name: shared\n    path: plugins/vramrun-plugin-shared\n"+
		"  - name: abs\n    path: /opt/vramrun-plugin-abs\n")
	writeFile(t, tr.projectFile(), "plugins:\n  - name: mytrainer\n    path: tools/vramrun-plugin-mytrainer\n    sha256: "+sum+"\n"+
		"  - name: shared\n    path: ../vendored/vramrun-plugin-shared\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	want := []PluginRef{
		{Name: "shared", Path: filepath.Join(tr.root, "vendored", "vramrun-plugin-shared")},
		{Name: "abs", Path: "/opt/vramrun-plugin-abs"},
		{Name: "mytrainer", Path: filepath.Join(tr.project, "tools", "vramrun-plugin-mytrainer"), SHA256: strings.ToLower(sum)},
	}
	if !reflect.DeepEqual(l.Settings.Plugins, want) {
		t.Errorf("plugins = %+v\nwant %+v", l.Settings.Plugins, want)
	}
}

func TestWalkingUpFromNestedFolderFindsProjectFile(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "max_attempts: 4\n")
	nested := filepath.Join(tr.project, "src", "models", "deep")
	mustMkdir(t, nested)
	// A folder named vramrun.yaml on the way is not a profile.
	mustMkdir(t, filepath.Join(tr.project, "src", ProjectFileName))
	l := mustLoad(t, LoadOptions{Dir: nested, Env: tr.env})
	if l.ProjectFile != tr.projectFile() || l.ProjectRoot != tr.project || l.Settings.MaxAttempts != 4 {
		t.Errorf("found %q root %q max_attempts %d", l.ProjectFile, l.ProjectRoot, l.Settings.MaxAttempts)
	}
}

func TestNearestProjectFileWins(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "max_attempts: 4\n")
	inner := filepath.Join(tr.project, "sub")
	writeFile(t, filepath.Join(inner, ProjectFileName), "max_attempts: 8\n")
	l := mustLoad(t, LoadOptions{Dir: filepath.Join(inner, "x"), Env: tr.env})
	if l.Settings.MaxAttempts != 8 || l.ProjectRoot != inner {
		t.Errorf("max_attempts %d root %q, want 8 from %q", l.Settings.MaxAttempts, l.ProjectRoot, inner)
	}
}

func TestUserFileLocation(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, filepath.Join(tr.xdg, "vramrun", "config.yaml"), "keep_runs: 11\n")
	writeFile(t, filepath.Join(tr.home, ".config", "vramrun", "config.yaml"), "keep_runs: 22\n")
	cases := []struct {
		name     string
		env      map[string]string
		keepRuns int
		file     string
	}{
		{"XDG_CONFIG_HOME honoured", map[string]string{"HOME": tr.home, "XDG_CONFIG_HOME": tr.xdg}, 11,
			filepath.Join(tr.xdg, "vramrun", "config.yaml")},
		{"HOME/.config without XDG_CONFIG_HOME", map[string]string{"HOME": tr.home}, 22,
			filepath.Join(tr.home, ".config", "vramrun", "config.yaml")},
		{"relative XDG_CONFIG_HOME ignored", map[string]string{"HOME": tr.home, "XDG_CONFIG_HOME": "xdg"}, 22,
			filepath.Join(tr.home, ".config", "vramrun", "config.yaml")},
		{"neither set", map[string]string{}, 50, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustLoad(t, LoadOptions{Dir: tr.project, Env: c.env})
			if l.Settings.KeepRuns != c.keepRuns || l.UserFile != c.file {
				t.Errorf("keep_runs %d from %q, want %d from %q", l.Settings.KeepRuns, l.UserFile, c.keepRuns, c.file)
			}
		})
	}
}

func TestYAMLAnchorsAndMergeKeysInProfiles(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.projectFile(), "profiles:\n  base: &base\n    max_attempts: 3\n    precision: fp16\n"+
		"  a100:\n    <<: *base\n    precision: bf16\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Profile: "a100"})
	if l.Settings.MaxAttempts != 3 || l.Settings.Precision != "bf16" {
		t.Errorf("max_attempts %d precision %s, want 3 (merged) and bf16 (explicit)", l.Settings.MaxAttempts, l.Settings.Precision)
	}
}

func TestBadEnvironmentValuesNameTheVariable(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"VRAMRUN_MAX_ATTEMPTS", "x", `VRAMRUN_MAX_ATTEMPTS: "x" is not a whole number`},
		{"VRAMRUN_MAX_ATTEMPTS", "0", `VRAMRUN_MAX_ATTEMPTS: 0 is too small (the least is 1)`},
		{"VRAMRUN_GRACE", "10", `VRAMRUN_GRACE: "10" is not a duration (write e.g. 500ms, 10s, 5m)`},
		{"VRAMRUN_GRACE", "100ms", `VRAMRUN_GRACE: "100ms" is too short (the least is 1s)`},
		{"VRAMRUN_GPU_POLL", "10ms", `VRAMRUN_GPU_POLL: "10ms" is too short (the least is 50ms)`},
		{"VRAMRUN_LEARN", "maybe", `VRAMRUN_LEARN: "maybe" is not true or false`},
		{"VRAMRUN_PTY", "sometimes", `VRAMRUN_PTY: "sometimes" is not one of auto, always, never`},
		{"VRAMRUN_LADDER", "allocator,nope", `VRAMRUN_LADDER: unknown fix "nope" (known: allocator, mixed_precision, ` +
			`grad_checkpointing, batch_size, optimizer_8bit, cpu_offload, eval_batch_size, fused_loss, activation_offload, eval_accumulation)`},
		{"VRAMRUN_KEEP_RUNS", "-1", `VRAMRUN_KEEP_RUNS: -1 is too small (the least is 1)`},
		{"VRAMRUN_MEMORY_MARGIN", "60%", `VRAMRUN_MEMORY_MARGIN: 60 is too large (the most is 50)`},
		{"VRAMRUN_MEMORY_MARGIN", "ten", `VRAMRUN_MEMORY_MARGIN: "ten" is not a whole number`},
		{"VRAMRUN_PROBABLE_OOM", "ignore", `VRAMRUN_PROBABLE_OOM: "ignore" is not one of report, fix`},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			_, err := Load(LoadOptions{Dir: t.TempDir(), Env: map[string]string{c.name: c.value}})
			var ce *ConfigError
			if !errors.As(err, &ce) || err.Error() != c.want {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestBadFlagValuesNameTheFlag(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--max-attempts=0"}, `--max-attempts: 0 is too small (the least is 1)`},
		{[]string{"--ladder", "allocator,batchsize"}, `--ladder: unknown fix "batchsize" (known: allocator, mixed_precision, ` +
			`grad_checkpointing, batch_size, optimizer_8bit, cpu_offload, eval_batch_size, fused_loss, activation_offload, eval_accumulation)`},
		{[]string{"--pty", "yes"}, `--pty: "yes" is not one of auto, always, never`},
		{[]string{"--gpu-poll", "0s"}, `--gpu-poll: "0s" is too short (the least is 50ms)`},
		{[]string{"--gpu-poll", "1ms"}, `--gpu-poll: "1ms" is too short (the least is 50ms)`},
		{[]string{"--grace", "0s"}, `--grace: "0s" is too short (the least is 1s)`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := Load(LoadOptions{Dir: t.TempDir(), Env: map[string]string{}, Flags: parsedFlags(t, c.args...)})
			var ce *ConfigError
			if !errors.As(err, &ce) || err.Error() != c.want {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestRegisterFlagsDefaultsMatchContract(t *testing.T) {
	fs := parsedFlags(t)
	want := map[string]string{"max-attempts": "6", "grace": "10s", "no-learn": "false", "gpu-poll": "500ms",
		"events": "", "pick-gpu": "false", "wait-free": "0s", "pty": "auto", "profile": "",
		"ladder": "allocator,mixed_precision,fused_loss,batch_size,grad_checkpointing,activation_offload,optimizer_8bit,cpu_offload"}
	for name, def := range want {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("--%s not defined", name)
			continue
		}
		if f.DefValue != def || f.Usage == "" {
			t.Errorf("--%s default %q usage %q, want default %q and a help text", name, f.DefValue, f.Usage, def)
		}
	}
}

// TestResumeMapping checks resume: as a mapping: it turns resuming on with
// the project's checkpoints and flag, a higher layer's mapping replaces a
// lower one's, and --no-resume still turns it off.
func TestResumeMapping(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "resume:\n  checkpoints: user/*.pt\n  flag: --from {checkpoint}\n")
	writeFile(t, tr.projectFile(), "resume:\n  checkpoints: [out/*.pt, out/*.ckpt]\n  flag: \"--resume {checkpoint}\"\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	want := &ResumeFrom{Checkpoints: []string{"out/*.pt", "out/*.ckpt"}, Flag: "--resume {checkpoint}"}
	if !l.Settings.Resume || !reflect.DeepEqual(l.Settings.ResumeFrom, want) {
		t.Fatalf("resume = %v, from %+v; want true, from %+v", l.Settings.Resume, l.Settings.ResumeFrom, want)
	}
	off := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env, Flags: parsedFlags(t, "--no-resume")})
	if off.Settings.Resume {
		t.Fatalf("--no-resume left resuming on")
	}
}

func TestProgressPatternsFromTheNearestLayer(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "progress:\n  - regexp: 'x (?P<per_s>[0-9.]+)'\n    unit: token\n")
	writeFile(t, tr.projectFile(), "progress:\n  - regexp: 'Step [0-9]+ .* (?P<ms_per>[0-9.]+)ms'\n    unit: step\n"+
		"  - regexp: 'imgs/s: (?P<per_s>[0-9.]+)'\n    unit: sample\n    per_process: true\n")
	l := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env})
	want := []sdk.ProgressPattern{
		{ID: "profile.progress_1", Regexp: `Step [0-9]+ .* (?P<ms_per>[0-9.]+)ms`, Unit: sdk.UnitStep},
		{ID: "profile.progress_2", Regexp: `imgs/s: (?P<per_s>[0-9.]+)`, Unit: sdk.UnitSample, PerProcess: true},
	}
	if !reflect.DeepEqual(l.Settings.Progress, want) {
		t.Errorf("progress = %+v\nwant %+v", l.Settings.Progress, want)
	}
	if l.Sources["progress"] != SourceProject {
		t.Errorf("progress source = %q", l.Sources["progress"])
	}
	writeFile(t, tr.projectFile(), "progress: []\n")
	if got := mustLoad(t, LoadOptions{Dir: tr.project, Env: tr.env}).Settings.Progress; len(got) != 0 {
		t.Errorf("an empty list in the project file: progress = %+v, want none", got)
	}
}
