package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

func fields(s string) []string { return strings.Fields(s) }

const allocConf = "PYTORCH_CUDA_ALLOC_CONF"

func allocResp(argv []string) sdk.ApplyResponse {
	return sdk.ApplyResponse{Argv: argv, Env: map[string]string{allocConf: "expandable_segments:True"},
		Summary: allocConf + "=expandable_segments:True"}
}

// TestPlaceEnvRuntimeEnvJSON: behind ray job submit, a fix's environment
// goes into the runtime env's env_vars (--runtime-env-json added, or the
// command's merged), leaves the environment of ray job submit, and the
// summary says where it went. A command that runs its job itself keeps the
// environment.
func TestPlaceEnvRuntimeEnvJSON(t *testing.T) {
	plain := allocResp(fields("python3 train.py"))
	if got, err := PlaceEnv(sdk.Command{}, plain, t.TempDir()); err != nil || got.Env[allocConf] == "" || got.Summary != plain.Summary {
		t.Errorf("a plain command: %+v, %v", got, err)
	}
	for _, tt := range []struct{ name, argv, want string }{
		{"no runtime env", "ray job submit --address=http://h:8265 -- python3 -m pkg.train",
			`ray job submit --address=http://h:8265 --runtime-env-json={"env_vars": {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}} -- python3 -m pkg.train`},
		{"the command's JSON", `ray job submit --runtime-env-json {"working_dir":"/openrlhf"} -- python3 -m pkg.train`,
			`ray job submit --runtime-env-json {"working_dir": "/openrlhf", "env_vars": {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}} -- python3 -m pkg.train`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlaceEnv(sdk.Command{}, allocResp(fields(tt.argv)), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Argv, " ") != tt.want {
				t.Errorf("argv\n got  %s\n want %s", strings.Join(got.Argv, " "), tt.want)
			}
			if len(got.Env) != 0 {
				t.Errorf("env %v: the variables still go to ray job submit", got.Env)
			}
			if want := allocConf + "=expandable_segments:True in the job's runtime env (--runtime-env-json env_vars)"; got.Summary != want {
				t.Errorf("summary %q, want %q", got.Summary, want)
			}
		})
	}
}

// TestPlaceEnvRuntimeEnvFile: a --runtime-env FILE is replaced by a copy
// in the fix's copy folder with the variables in its env_vars (Ray reads a
// relative working_dir from the directory ray job submit runs in, so the
// copy means what the file does); a file vramrun cannot edit turns the fix
// down with one line saying what to add to it.
func TestPlaceEnvRuntimeEnvFile(t *testing.T) {
	dir, copyDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runtime_env.yaml"), []byte("working_dir: ./\nenv_vars:\n  A: \"1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := fields("ray job submit --runtime-env=runtime_env.yaml -- python3 -m verl.trainer.main_ppo")
	got, err := PlaceEnv(sdk.Command{Dir: dir}, allocResp(argv), copyDir)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(copyDir, "ray", "runtime_env.yaml")
	if want := "ray job submit --runtime-env=" + copyPath + " -- python3 -m verl.trainer.main_ppo"; strings.Join(got.Argv, " ") != want {
		t.Errorf("argv %q, want %q", strings.Join(got.Argv, " "), want)
	}
	if len(got.Copies) != 1 || got.Copies[0].Original != "runtime_env.yaml" || got.Copies[0].Path != copyPath {
		t.Fatalf("copies %+v", got.Copies)
	}
	vars, err := cmdline.EnvVarsYAML(got.Copies[0].Content)
	if err != nil || vars["A"] != "1" || vars[allocConf] != "expandable_segments:True" || len(got.Env) != 0 {
		t.Errorf("the copy's env_vars %v (%v), env %v", vars, err, got.Env)
	}
	if !strings.Contains(got.Summary, "env_vars in a copy of runtime_env.yaml") {
		t.Errorf("summary %q", got.Summary)
	}

	if err := os.WriteFile(filepath.Join(dir, "odd.yaml"), []byte("env_vars: [A=1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ argv, mentions string }{
		{"ray job submit --runtime-env odd.yaml -- python3 train.py", "add PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to env_vars in odd.yaml"},
		{"ray job submit --runtime-env missing.yaml -- python3 train.py", "to env_vars in missing.yaml"},
		{"ray job submit --runtime-env odd.yaml --runtime-env-json {} -- python3 train.py", "only one of them"},
		{`ray job submit --runtime-env-json {"env_vars":1} -- python3 train.py`, "add PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to its env_vars"},
	} {
		_, err := PlaceEnv(sdk.Command{Dir: dir}, allocResp(fields(tt.argv)), copyDir)
		if err == nil || !strings.Contains(err.Error(), tt.mentions) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line mentioning %q", tt.argv, err, tt.mentions)
		}
	}
}

// TestJobViewSeesRuntimeEnv: a plugin sees the runtime env's env_vars in
// the command's environment, so the allocator fix finds expandable
// segments already on where the runtime env turns them on.
func TestJobViewSeesRuntimeEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("env_vars:\n  PYTORCH_CUDA_ALLOC_CONF: expandable_segments:True\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(context.Background(), []sdk.Framework{pytorch.New()})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Plugins()[0]
	for _, argv := range []string{
		`ray job submit --runtime-env-json {"env_vars":{"PYTORCH_CUDA_ALLOC_CONF":"expandable_segments:True"}} -- python3 train.py`,
		"ray job submit --runtime-env env.yaml -- python3 train.py",
	} {
		cmd := sdk.Command{Argv: fields(argv), Dir: dir, Env: map[string]string{}}
		_, err := p.Framework.Apply(context.Background(), sdk.ApplyRequest{Command: cmd, Fix: sdk.Fix{ID: sdk.FixAllocator}, CopyDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "already on") {
			t.Errorf("%s: Apply(allocator) = %v, want it turned down as already on", argv, err)
		}
	}
	cmd := sdk.Command{Argv: fields("ray job submit -- python3 train.py"), Dir: dir, Env: map[string]string{}}
	if _, err := p.Framework.Apply(context.Background(), sdk.ApplyRequest{Command: cmd, Fix: sdk.Fix{ID: sdk.FixAllocator}, CopyDir: t.TempDir()}); err != nil {
		t.Errorf("without a runtime env: %v", err)
	}
	if env := JobEnv(sdk.Command{Argv: fields("python3 train.py"), Env: map[string]string{"A": "1"}}); env["A"] != "1" || len(env) != 1 {
		t.Errorf("JobEnv of a plain command: %v", env)
	}
}

// TestHandedOff: a command behind ray job submit hands its job on: the id
// comes from Ray's "submitted successfully" line (as cli_logger prints it
// outside a terminal, and coloured in one) or from --submission-id, and
// `ray job stop` carries the command's address, headers and verify.
func TestHandedOff(t *testing.T) {
	if _, ok := HandedOff(fields("python3 train.py")); ok {
		t.Error("a plain command hands its job on")
	}
	h, ok := HandedOff(fields("env RAY_ADDRESS=http://h:8265 ray job submit --verify false -- python3 -m verl.trainer.main_ppo"))
	if !ok || h.ID != "" {
		t.Fatalf("HandedOff = %+v, %v", h, ok)
	}
	for _, line := range []string{
		"2026-12-03 10:00:00,123\tSUCC cli.py:277 -- Job 'raysubmit_4LamXRuQpYdSMg7J' submitted successfully",
		"\x1b[32mJob 'raysubmit_4LamXRuQpYdSMg7J' submitted successfully\x1b[39m",
	} {
		if m := h.Find.FindStringSubmatch(line); len(m) < 2 || m[1] != "raysubmit_4LamXRuQpYdSMg7J" {
			t.Errorf("%q: found %q", line, m)
		}
	}
	if got := strings.Join(h.Stop("raysubmit_X"), " "); got != "env RAY_ADDRESS=http://h:8265 ray job stop --verify=false raysubmit_X" {
		t.Errorf("stop %q", got)
	}
	named, _ := HandedOff(fields("ray job submit --submission-id=run1 -- python3 train.py"))
	if named.ID != "run1" {
		t.Errorf("named id %q", named.ID)
	}
	argv := fields("ray job submit --submission-id=run1 -- python3 train.py")
	if got, changed := AttemptArgv(argv, 2); !changed || got[3] != "--submission-id=run1-vramrun-2" {
		t.Errorf("AttemptArgv(2) = %q, %v", got, changed)
	}
	if got, changed := AttemptArgv(fields("python3 train.py --submission-id x"), 2); changed || len(got) != 4 {
		t.Errorf("a plain command's attempt 2: %q, %v", got, changed)
	}
}
