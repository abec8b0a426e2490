package cmdline

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var alloc = map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}

// TestFindRaySubmit: the ray job submit a command runs behind, found
// behind wrappers and also when the entrypoint is no script vramrun reads;
// none in a command that only names ray, or that Ray would not read.
func TestFindRaySubmit(t *testing.T) {
	for _, tt := range []struct {
		argv string
		ok   bool
	}{
		{"ray job submit -- python3 train.py", true},
		{"env RAY_ADDRESS=http://h:8265 nice ray job submit --address=http://h:8265 -- python3 -m pkg.train", true},
		{"ray job submit -- python3 -c x", true},
		{"ray job stop raysubmit_1", false},
		{"python3 train.py --ray job submit", false},
		{"ray job submit python3 train.py --lr 1", false},
		{"", false},
	} {
		if _, ok := FindRaySubmit(w(tt.argv)); ok != tt.ok {
			t.Errorf("FindRaySubmit(%q) = %v, want %v", tt.argv, ok, tt.ok)
		}
	}
}

// TestRayRuntimeEnv: the runtime env comes from --runtime-env-json or
// --runtime-env, the last of each as click keeps it; Ray refuses both.
func TestRayRuntimeEnv(t *testing.T) {
	for _, tt := range []struct {
		argv, option, value, err string
	}{
		{"ray job submit -- python3 train.py", "", "", ""},
		{`ray job submit --runtime-env-json={"a":1} -- python3 train.py`, RuntimeEnvJSON, `{"a":1}`, ""},
		{"ray job submit --runtime-env env.yaml --runtime-env=b.yaml -- python3 train.py", RuntimeEnvFile, "b.yaml", ""},
		{"ray job submit --runtime-env env.yaml --runtime-env-json {} -- python3 train.py", "", "", "only one of them"},
	} {
		r, ok := FindRaySubmit(w(tt.argv))
		if !ok {
			t.Fatalf("FindRaySubmit(%q): none", tt.argv)
		}
		option, value, err := r.RuntimeEnv()
		if option != tt.option || value != tt.value || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: RuntimeEnv() = %q, %q, %v; want %q, %q, %q", tt.argv, option, value, err, tt.option, tt.value, tt.err)
		}
	}
}

// TestSetEnvVarsJSON: the variables are set in env_vars, keys already
// there replaced, everything else kept as typed and in its order.
func TestSetEnvVarsJSON(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"no runtime env", "", `{"env_vars": {"PYTORCH_ALLOC_CONF": "expandable_segments:True", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}}`},
		{"OpenRLHF's, without env_vars", `{"working_dir": "/openrlhf", "pip": ["a<2", "b"]}`,
			`{"working_dir": "/openrlhf", "pip": ["a<2", "b"], "env_vars": {"PYTORCH_ALLOC_CONF": "expandable_segments:True", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}}`},
		{"env_vars merged", `{"env_vars":{"NCCL_DEBUG":"WARN","PYTORCH_CUDA_ALLOC_CONF":"max_split_size_mb:128"},"config":{"setup_timeout_seconds":600}}`,
			`{"env_vars": {"NCCL_DEBUG": "WARN", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}, "config": {"setup_timeout_seconds":600}}`},
		{"null env_vars", `{"env_vars": null}`, `{"env_vars": {"PYTORCH_ALLOC_CONF": "expandable_segments:True", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetEnvVarsJSON(tt.in, alloc)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			vars, err := EnvVarsJSON(got)
			if err != nil || vars["PYTORCH_CUDA_ALLOC_CONF"] != "expandable_segments:True" {
				t.Errorf("EnvVarsJSON(%s) = %v, %v", got, vars, err)
			}
		})
	}
	for _, bad := range []string{`[1]`, `{"env_vars": ["A=1"]}`, `{"a": 1} x`, `{"a": `} {
		if got, err := SetEnvVarsJSON(bad, alloc); err == nil {
			t.Errorf("SetEnvVarsJSON(%s) = %s, want an error", bad, got)
		}
	}
}

// TestSetEnvVarsYAML: a copy of a --runtime-env file with the variables
// set, quoted (a bare true would be a boolean, which Ray refuses), the
// other keys, the other variables and the comments kept.
func TestSetEnvVarsYAML(t *testing.T) {
	in := "# verl's runtime env\nworking_dir: ./\nexcludes: [\"/.git/\"]\nenv_vars:\n  TORCH_NCCL_AVOID_RECORD_STREAMS: \"1\"\n  PYTORCH_CUDA_ALLOC_CONF: max_split_size_mb:128\n"
	out, err := SetEnvVarsYAML([]byte(in), map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True", "TF_FORCE_GPU_ALLOW_GROWTH": "true"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"working_dir": "./", "excludes": []any{"/.git/"}, "env_vars": map[string]any{
		"TORCH_NCCL_AVOID_RECORD_STREAMS": "1", "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True",
		"TF_FORCE_GPU_ALLOW_GROWTH": "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the copy reads as\n%v\nwant\n%v\n%s", got, want, out)
	}
	if !strings.HasPrefix(string(out), "# verl's runtime env\n") {
		t.Errorf("the comment is lost:\n%s", out)
	}
	vars, err := EnvVarsYAML(out)
	if err != nil || vars["TF_FORCE_GPU_ALLOW_GROWTH"] != "true" || vars["TORCH_NCCL_AVOID_RECORD_STREAMS"] != "1" {
		t.Errorf("EnvVarsYAML = %v, %v", vars, err)
	}

	for _, tt := range []struct{ name, in string }{{"no env_vars", "working_dir: ./\n"}, {"an empty file", ""}, {"env_vars: null", "env_vars:\n"}} {
		out, err := SetEnvVarsYAML([]byte(tt.in), alloc)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if vars, err := EnvVarsYAML(out); err != nil || !reflect.DeepEqual(vars, alloc) {
			t.Errorf("%s: EnvVarsYAML(%q) = %v, %v", tt.name, out, vars, err)
		}
	}
	for _, bad := range []string{"- a\n", "env_vars: [A=1]\n", "base: &b {A: \"1\"}\nenv_vars: *b\n", "a: [\n"} {
		if out, err := SetEnvVarsYAML([]byte(bad), alloc); err == nil {
			t.Errorf("SetEnvVarsYAML(%q) = %q, want an error", bad, out)
		}
	}
}

// TestRaySubmitEdits: ray's options are set in the form typed or put in
// before the "--"; the stop command carries the wrappers and the options
// stop shares with submit; relaunches get submission ids of their own.
func TestRaySubmitEdits(t *testing.T) {
	r, _ := FindRaySubmit(w("env RAY_ADDRESS=http://h:8265 ray job submit --address http://h:8265 --headers {} --verify=false --submission-id run1 -v -- python3 train.py"))
	if got := strings.Join(r.WithOption(RuntimeEnvJSON, `{}`), " "); got != "env RAY_ADDRESS=http://h:8265 ray job submit --address http://h:8265 --headers {} --verify=false --submission-id run1 -v --runtime-env-json={} -- python3 train.py" {
		t.Errorf("WithOption added: %s", got)
	}
	if got := strings.Join(r.StopCommand("run1"), " "); got != "env RAY_ADDRESS=http://h:8265 ray job stop --address=http://h:8265 --headers={} --verify=false run1" {
		t.Errorf("StopCommand: %s", got)
	}
	if id, key := r.SubmissionID(); id != "run1" || key != "--submission-id" {
		t.Errorf("SubmissionID() = %q, %q", id, key)
	}
	if got, changed := r.AttemptArgv(1); changed || strings.Join(got, " ") != strings.Join(r.argv, " ") {
		t.Errorf("AttemptArgv(1) = %q, %v: the first attempt runs as typed", got, changed)
	}
	if got, changed := r.AttemptArgv(3); !changed || !strings.Contains(strings.Join(got, " "), " --submission-id run1-vramrun-3 -v -- ") {
		t.Errorf("AttemptArgv(3) = %q, %v", got, changed)
	}
	if r.RelaunchNote() == "" {
		t.Error("no note for a named submission id")
	}

	bare, _ := FindRaySubmit(w("ray job submit --job-id=old ./train.sh"))
	if got := strings.Join(bare.WithOption(RuntimeEnvFile, "/x/env.yaml"), " "); got != "ray job submit --job-id=old --runtime-env=/x/env.yaml ./train.sh" {
		t.Errorf("WithOption before a bare entrypoint: %s", got)
	}
	if got, _ := bare.AttemptArgv(2); strings.Join(got, " ") != "ray job submit --job-id=old-vramrun-2 ./train.sh" {
		t.Errorf("AttemptArgv(2) of --job-id: %s", strings.Join(got, " "))
	}
	if got := strings.Join(bare.StopCommand("old"), " "); got != "ray job stop old" {
		t.Errorf("StopCommand without options: %s", got)
	}
	unnamed, _ := FindRaySubmit(w("ray job submit --submission-id= -- python3 train.py"))
	if got, changed := unnamed.AttemptArgv(2); changed || unnamed.RelaunchNote() != "" {
		t.Errorf("an empty --submission-id names none (Ray makes one up): %q, %v", got, changed)
	}
}
