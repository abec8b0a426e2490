package profiles

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const knownFixes = "(known: allocator, mixed_precision, grad_checkpointing, batch_size, optimizer_8bit, cpu_offload, eval_batch_size, fused_loss, activation_offload, eval_accumulation)"

// TestMalformedProjectFile checks that each kind of mistake fails Load with
// one line that starts with the file and the line of the mistake.
func TestMalformedProjectFile(t *testing.T) {
	topKeys := strings.Join(append(Keys(), "profiles"), ", ")
	cases := []struct {
		name, content, want string
	}{
		{"unknown key with suggestion", "grace: 10s\nmax_attempt: 3\n",
			`vramrun.yaml:2: unknown key "max_attempt" (did you mean max_attempts?)`},
		{"unknown key without suggestion", "colour: red\n",
			`vramrun.yaml:1: unknown key "colour" (known: ` + topKeys + `)`},
		{"unknown key in profile", "profiles:\n  a100:\n    gracee: 1s\n",
			`vramrun.yaml:3: profiles.a100: unknown key "gracee" (did you mean grace?)`},
		{"profiles nested in a profile", "profiles:\n  a100:\n    profiles: {}\n",
			`vramrun.yaml:3: profiles.a100.profiles cannot be nested inside a profile`},
		{"unknown key in plugin entry", "plugins:\n  - name: x\n    path: y\n    sha265: abc\n",
			`vramrun.yaml:4: plugins: unknown key "sha265" (did you mean sha256?)`},
		{"progress not a list", "progress: fast\n", `vramrun.yaml:1: progress: expected a list of {regexp, unit} entries, not the value "fast"`},
		{"progress unknown field", "progress:\n  - regexp: '(?P<per_s>[0-9.]+)it/s'\n    units: step\n",
			`vramrun.yaml:3: progress: unknown key "units" (did you mean unit?)`},
		{"progress without unit", "progress:\n  - regexp: '(?P<per_s>[0-9.]+)it/s'\n",
			`vramrun.yaml:2: progress: an entry needs both regexp and unit`},
		{"progress bad unit", "progress:\n  - regexp: '(?P<per_s>[0-9.]+)it/s'\n    unit: epoch\n",
			`vramrun.yaml:2: progress: entry 1: unit "epoch" is not one of step, micro_batch, sample, token`},
		{"progress without group", "progress:\n  - regexp: '([0-9.]+)it/s'\n    unit: step\n",
			`vramrun.yaml:2: progress: entry 1: needs exactly one group named per_s, s_per, ms_per`},
		{"progress per_process", "progress:\n  - regexp: '(?P<per_s>[0-9.]+)it/s'\n    unit: sample\n    per_process: maybe\n",
			`vramrun.yaml:4: progress: per_process: "maybe" is not true or false`},
		{"not a whole number", "pty: auto\nmax_attempts: many\n",
			`vramrun.yaml:2: max_attempts: "many" is not a whole number`},
		{"max_attempts below 1", "max_attempts: 0\n", `vramrun.yaml:1: max_attempts: 0 is too small (the least is 1)`},
		{"min_batch_size below 1", "min_batch_size: 0\n", `vramrun.yaml:1: min_batch_size: 0 is too small (the least is 1)`},
		{"keep_runs below 1", "keep_runs: -3\n", `vramrun.yaml:1: keep_runs: -3 is too small (the least is 1)`},
		{"duration without unit", "grace: 10\n",
			`vramrun.yaml:1: grace: "10" is not a duration (write e.g. 500ms, 10s, 5m)`},
		{"negative duration", "learn_after: -5m\n", `vramrun.yaml:1: learn_after: "-5m" is negative`},
		{"resume not a bool", "resume: sometimes\n", `vramrun.yaml:1: resume: "sometimes" is not true or false`},
		{"resume without checkpoints", "resume:\n  flag: --resume {checkpoint}\n",
			`vramrun.yaml:2: resume: no checkpoints: (where the checkpoints go, e.g. checkpoints: out/*.pt)`},
		{"resume without flag", "resume:\n  checkpoints: out/*.pt\n",
			`vramrun.yaml:2: resume: no flag: (how the command resumes, e.g. flag: "--resume {checkpoint}")`},
		{"resume flag without placeholder", "resume:\n  checkpoints: out/*.pt\n  flag: --resume\n",
			`vramrun.yaml:3: resume.flag: "--resume" has no {checkpoint} for the path`},
		{"resume bad glob", "resume:\n  checkpoints: [\"out/[x\"]\n  flag: --resume {checkpoint}\n",
			`vramrun.yaml:2: resume.checkpoints: "out/[x" is not a valid glob`},
		{"resume unknown key", "resume:\n  checkpoint: out/*.pt\n",
			`vramrun.yaml:2: resume: unknown key "checkpoint" (did you mean checkpoints?)`},
		{"zero poll interval", "gpu_poll: 0s\n", `vramrun.yaml:1: gpu_poll: "0s" is too short (the least is 50ms)`},
		{"poll interval that takes a core", "gpu_poll: 1ms\n", `vramrun.yaml:1: gpu_poll: "1ms" is too short (the least is 50ms)`},
		{"grace of nothing", "grace: 0s\n", `vramrun.yaml:1: grace: "0s" is too short (the least is 1s)`},
		{"grace under a second", "profiles:\n  fast:\n    grace: 500ms\n",
			`vramrun.yaml:3: profiles.fast.grace: "500ms" is too short (the least is 1s)`},
		{"duration given a list", "wait_free: [1s]\n", `vramrun.yaml:1: wait_free: expected a duration such as 10s, not a list`},
		{"scalar without value", "grace:\n", `vramrun.yaml:1: grace: no value given`},
		{"boolean", "learn: maybe\n", `vramrun.yaml:1: learn: "maybe" is not true or false`},
		{"number given a mapping", "max_attempts: {a: 1}\n",
			`vramrun.yaml:1: max_attempts: expected a whole number, not a mapping`},
		{"pty enum", "pty: sometimes\n", `vramrun.yaml:1: pty: "sometimes" is not one of auto, always, never`},
		{"precision enum", "precision: fp8\n", `vramrun.yaml:1: precision: "fp8" is not one of auto, bf16, fp16`},
		{"probable_oom enum", "probable_oom: ignore\n", `vramrun.yaml:1: probable_oom: "ignore" is not one of report, fix`},
		{"unknown fix names its entry's line", "ladder:\n  - allocator\n  - batchsize\n",
			`vramrun.yaml:3: ladder: unknown fix "batchsize" ` + knownFixes},
		{"unknown fix in flow list", "max_attempts: 3\nladder: [allocator, smaller]\n",
			`vramrun.yaml:2: ladder: unknown fix "smaller" ` + knownFixes},
		{"ladder not a list", "ladder: allocator\n",
			`vramrun.yaml:1: ladder: expected a list of fix ids such as [allocator, batch_size], not the value "allocator"`},
		{"unknown flags key", "flags:\n  batchsize: --bs\n",
			`vramrun.yaml:2: flags: unknown key "batchsize" (did you mean batch_size?)`},
		{"empty flag value", "flags:\n  batch_size: \"\"\n",
			`vramrun.yaml:2: flags.batch_size: empty value (write the flag, e.g. --bsz)`},
		{"flag without value", "flags:\n  cpu_offload:\n  batch_size: --bs\n",
			`vramrun.yaml:2: flags.cpu_offload: empty value (write the flag, e.g. --bsz)`},
		{"flag given a list", "flags:\n  batch_size: [--bs]\n",
			`vramrun.yaml:2: flags.batch_size: expected the flag as a string, not a list`},
		{"dtype outside mixed_precision", "flags:\n  mixed_precision: --dtype={dtype}\n  optimizer_8bit: --opt-{dtype}\n",
			`vramrun.yaml:3: flags.optimizer_8bit: the {dtype} placeholder only works in flags.mixed_precision`},
		{"dtype in env", "env:\n  DTYPE: \"{dtype}\"\n",
			`vramrun.yaml:2: env.DTYPE: the {dtype} placeholder only works in flags.mixed_precision`},
		{"dtype in a scalar", "events: \"{dtype}.jsonl\"\n",
			`vramrun.yaml:1: events: the {dtype} placeholder only works in flags.mixed_precision`},
		{"env not a mapping", "env: [A]\n", `vramrun.yaml:1: env: expected a mapping (name: value), not a list`},
		{"env value a list", "env:\n  A: [1]\n", `vramrun.yaml:2: env.A: expected a string value, not a list`},
		{"plugin without path", "plugins:\n  - name: mytrainer\n",
			`vramrun.yaml:2: plugins: an entry needs both name and path`},
		{"plugin without name", "plugins:\n  - path: tools/p\n",
			`vramrun.yaml:2: plugins: an entry needs both name and path`},
		{"plugin sha256 not hex", "plugins:\n  - name: p\n    path: tools/p\n    sha256: abc\n",
			`vramrun.yaml:4: plugins: sha256 "abc" is not 64 hexadecimal digits`},
		{"plugins not a list", "plugins:\n  name: p\n",
			`vramrun.yaml:2: plugins: expected a list of {name, path, sha256} entries, not a mapping`},
		{"plugin listed twice", "plugins:\n  - {name: p, path: a}\n  - {name: p, path: b}\n",
			`vramrun.yaml:3: plugins: plugin "p" is listed twice (first on line 2)`},
		{"profile not a mapping", "profiles:\n  a100: fast\n",
			`vramrun.yaml:2: profiles.a100: expected a mapping of settings, not the value "fast"`},
		{"bad value in an unused profile", "profiles:\n  small:\n    max_attempts: 0\n",
			`vramrun.yaml:3: profiles.small.max_attempts: 0 is too small (the least is 1)`},
		{"merge of itself", "profiles:\n  x: &a\n    grace: 1s\n    <<: *a\n",
			`vramrun.yaml:4: profiles.x.<< merges the mapping that contains it`},
		{"key written twice", "grace: 1s\nlearn: true\ngrace: 2s\n",
			`vramrun.yaml:3: key "grace" appears twice (first on line 1)`},
		{"YAML syntax error with line", "grace: 1s\nladder:\n  - allocator\n bad: 1\n",
			`vramrun.yaml:4: YAML syntax error: did not find expected key`},
		{"YAML syntax error on first line", "grace: a: b\n",
			`vramrun.yaml:1: YAML syntax error: mapping values are not allowed in this context`},
		// Inside a nested block yaml.v3 names the line where that block began.
		{"parser error inside a nested block", "profiles:\n  a:\n    grace: 1s\n    ladder:\n      - allocator\n     x: 1\n",
			`vramrun.yaml:3: YAML syntax error: did not find expected key`},
		{"scanner error names where the string began", "grace: 1s\nenv:\n  A: \"unterminated\n",
			`vramrun.yaml:3: YAML syntax error: found unexpected end of stream`},
		{"unclosed flow list", "max_attempts: 3\nladder: [allocator\n",
			`vramrun.yaml:2: YAML syntax error: did not find expected ',' or ']'`},
		{"file is a list", "- allocator\n- batch_size\n",
			`vramrun.yaml:1: the file must be a mapping of settings (key: value), not a list`},
		{"file is a word", "hello\n",
			`vramrun.yaml:1: the file must be a mapping of settings (key: value), not the value "hello"`},
		{"second document", "grace: 1s\n---\nlearn: false\n",
			`vramrun.yaml:2: a second YAML document (after ---): vramrun.yaml holds one`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, ProjectFileName), c.content)
			_, err := Load(LoadOptions{Dir: dir, Env: map[string]string{}})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if err.Error() != c.want {
				t.Errorf("err = %q\nwant  %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestAcceptedEdgeValues(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ProjectFileName), "# only comments\n"+
		"wait_free: 0\nevents:\nlearn: yes\nladder: []\nenv:\nplugins:\n"+
		"flags:\n  mixed_precision: \"--amp --amp-dtype {dtype}\"\n")
	l := mustLoad(t, LoadOptions{Dir: dir, Env: map[string]string{}})
	if l.Settings.WaitFree != 0 || l.Settings.Events != "" || !l.Settings.Learn || len(l.Settings.Ladder) != 0 {
		t.Errorf("settings = %+v", l.Settings)
	}
	if l.Settings.Ladder == nil {
		t.Errorf("an empty ladder must be an empty list, not the default")
	}
}

func TestEmptyProjectFileGivesDefaults(t *testing.T) {
	for _, content := range []string{"", "# nothing yet\n", "---\n"} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ProjectFileName), content)
		l := mustLoad(t, LoadOptions{Dir: dir, Env: map[string]string{}})
		if l.Settings.MaxAttempts != 6 || l.ProjectFile == "" {
			t.Errorf("content %q: %+v", content, l)
		}
	}
}

func TestErrorPathsOutsideWorkingDirectoryAreAbsolute(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "max_attempts: lots\n")
	_, err := Load(LoadOptions{Dir: tr.project, Env: tr.env})
	if want := tr.userFile() + `:1: max_attempts: "lots" is not a whole number`; err == nil || err.Error() != want {
		t.Errorf("user file: err = %v, want %q", err, want)
	}

	tr = newTestTree(t)
	writeFile(t, tr.projectFile(), "grace: 1s\npty: tty\n")
	sub := filepath.Join(tr.project, "sub")
	mustMkdir(t, sub)
	_, err = Load(LoadOptions{Dir: sub, Env: tr.env})
	if want := tr.projectFile() + `:2: pty: "tty" is not one of auto, always, never`; err == nil || err.Error() != want {
		t.Errorf("project file above Dir: err = %v, want %q", err, want)
	}
}

func TestUserFileValidatedWithItsPath(t *testing.T) {
	tr := newTestTree(t)
	// The working directory holds the XDG folder, so the path is relative.
	writeFile(t, tr.userFile(), "profiles:\n  x:\n    lern: false\n")
	_, err := Load(LoadOptions{Dir: tr.root, Env: tr.env})
	want := filepath.Join("xdg", "vramrun", "config.yaml") + `:3: profiles.x: unknown key "lern" (did you mean learn?)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestUnreadableFileIsConfigError(t *testing.T) {
	tr := newTestTree(t)
	writeFile(t, tr.userFile(), "keep_runs: 3\n")
	_, err := readProfileFile(filepath.Join(tr.xdg, "missing.yaml"), tr.root, SourceUser)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 0 || !strings.HasPrefix(err.Error(), filepath.Join("xdg", "missing.yaml")+": cannot read: ") {
		t.Errorf("err = %v", err)
	}
}

// FuzzProjectFile checks that no file content makes Load panic or fail
// with anything but a one-line *ConfigError. `go test` runs the seeds;
// `go test -fuzz FuzzProjectFile ./profiles` explores further.
func FuzzProjectFile(f *testing.F) {
	f.Add("max_attempts: 3\nladder: [allocator]\n")
	f.Add("profiles:\n  a: &a {grace: 1s}\n  b: {<<: *a, pty: never}\n")
	f.Add("plugins:\n  - {name: p, path: x, sha256: " + strings.Repeat("a", 64) + "}\n")
	f.Add("env: {A: 1}\nflags: {batch_size: --b}\n")
	f.Add("a: [1\n")
	f.Add("profiles:\n  x: &a\n    <<: *a\n")
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ProjectFileName), content)
		_, err := Load(LoadOptions{Dir: dir, Env: map[string]string{}, Profile: ""})
		var ce *ConfigError
		if err != nil && (!errors.As(err, &ce) || strings.Contains(err.Error(), "\n")) {
			t.Errorf("content %q: err %q is not a one-line *ConfigError", content, err)
		}
	})
}
