package host

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// A command may hand its job on to a system that runs it elsewhere: `ray
// job submit` has the Ray cluster start the entrypoint, with the cluster's
// environment and the runtime env's env_vars, and the job lives on when
// ray job submit ends. The functions here are what the launcher asks of
// such a command, whichever plugin claims it.

// HandOff is a job that the command hands on and that outlives it: when
// vramrun ends the command (a hang, a trial's end, an interrupt), Stop
// ends the job too.
type HandOff struct {
	// ID is the job's id when the command names it; "" when only the
	// output tells it.
	ID string
	// Find finds the job's id in the command's output: its first group.
	Find *regexp.Regexp
	// Stop is the command line that stops the job with the given id.
	Stop func(id string) []string
}

// raySubmitted is the line ray job submit prints once the cluster has the
// job, before it tails the job's logs (cli.py's _log_big_success_msg,
// between two lines of dashes; cli_logger prefixes it with the time, level
// and caller outside a terminal, and may colour it in one).
var raySubmitted = regexp.MustCompile(`Job '([^']+)' submitted successfully`)

// HandedOff is how to stop the job that argv hands on; false when argv
// runs its job itself.
func HandedOff(argv []string) (HandOff, bool) {
	ray, ok := cmdline.FindRaySubmit(argv)
	if !ok {
		return HandOff{}, false
	}
	id, _ := ray.SubmissionID()
	return HandOff{ID: id, Find: raySubmitted, Stop: ray.StopCommand}, true
}

// AttemptArgv is the command line attempt n of argv runs: argv itself,
// except where the system the command hands its job to refuses an id it
// has seen (ray job submit --submission-id X submits attempt n > 1 as
// X-vramrun-N). changed says it is not argv.
func AttemptArgv(argv []string, n int) (out []string, changed bool) {
	ray, ok := cmdline.FindRaySubmit(argv)
	if !ok {
		return argv, false
	}
	return ray.AttemptArgv(n)
}

// PlaceEnv puts the environment a fix sets (resp.Env) where the job reads
// it. Behind ray job submit that is the runtime env's env_vars, not the
// environment of ray job submit itself: without a runtime env the command
// gets --runtime-env-json '{"env_vars": {...}}' among ray's options; a
// --runtime-env-json has the variables set in its env_vars; a
// --runtime-env FILE is replaced by a copy in copyDir with them set. Ray
// reads the relative paths in a runtime env (working_dir, py_modules, a pip
// or conda file) from the directory ray job submit runs in, not from the
// file's, so the copy means what the file means. The variables then leave
// resp.Env, and the summary says where they went. An error says why the
// variables cannot reach the job: the fix does not apply then.
func PlaceEnv(cmd sdk.Command, resp sdk.ApplyResponse, copyDir string) (sdk.ApplyResponse, error) {
	if len(resp.Env) == 0 {
		return resp, nil
	}
	ray, ok := cmdline.FindRaySubmit(resp.Argv)
	if !ok {
		return resp, nil
	}
	option, value, err := ray.RuntimeEnv()
	if err != nil {
		return resp, err
	}
	var where string
	if option == cmdline.RuntimeEnvFile {
		where, err = placeInFile(cmd.Dir, ray, value, &resp, copyDir)
	} else {
		where, err = placeInJSON(ray, value, &resp)
	}
	if err != nil {
		return resp, err
	}
	names := slices.Sorted(maps.Keys(resp.Env))
	if resp.Summary == "" {
		resp.Summary = strings.Join(names, ", ")
	}
	resp.Summary += " in the job's runtime env (" + where + ")"
	resp.Env = nil
	return resp, nil
}

func placeInJSON(ray cmdline.RaySubmit, value string, resp *sdk.ApplyResponse) (string, error) {
	js, err := cmdline.SetEnvVarsJSON(value, resp.Env)
	if err != nil {
		return "", fmt.Errorf("behind ray job submit the job gets only the runtime env's env_vars, and %s cannot take them (%v): "+
			"add %s to its env_vars", cmdline.RuntimeEnvJSON, err, assignments(resp.Env))
	}
	resp.Argv = ray.WithOption(cmdline.RuntimeEnvJSON, js)
	return cmdline.RuntimeEnvJSON + " env_vars", nil
}

func placeInFile(dir string, ray cmdline.RaySubmit, file string, resp *sdk.ApplyResponse, copyDir string) (string, error) {
	refuse := func(why string) error {
		return fmt.Errorf("behind ray job submit the job gets only the runtime env's env_vars, and vramrun cannot set them in a copy "+
			"of %s %s (%s): add %s to env_vars in %s", cmdline.RuntimeEnvFile, file, why, assignments(resp.Env), file)
	}
	content, err := os.ReadFile(inDir(dir, file))
	if err != nil {
		return "", refuse(err.Error())
	}
	out, err := cmdline.SetEnvVarsYAML(content, resp.Env)
	if err != nil {
		return "", refuse(err.Error())
	}
	copyPath := filepath.Join(copyDir, "ray", filepath.Base(file))
	resp.Copies = append(resp.Copies, sdk.FileCopy{Original: file, Path: copyPath, Content: out})
	resp.Argv = ray.WithOption(cmdline.RuntimeEnvFile, copyPath)
	return "env_vars in a copy of " + file, nil
}

// assignments are vars as NAME=value, in name order.
func assignments(vars map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return strings.Join(out, " ")
}

// inDir is path as the command names it, read from dir.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// JobEnv is the environment cmd's job starts with, as far as the command
// line tells: behind ray job submit, its runtime env's env_vars over cmd's
// environment (the cluster's own is not known here; vramrun's stands for
// it).
func JobEnv(cmd sdk.Command) map[string]string {
	ray, ok := cmdline.FindRaySubmit(cmd.Argv)
	if !ok {
		return cmd.Env
	}
	option, value, err := ray.RuntimeEnv()
	var vars map[string]string
	switch {
	case err != nil:
	case option == cmdline.RuntimeEnvJSON:
		vars, err = cmdline.EnvVarsJSON(value)
	case option == cmdline.RuntimeEnvFile:
		var content []byte
		if content, err = os.ReadFile(inDir(cmd.Dir, value)); err == nil {
			vars, err = cmdline.EnvVarsYAML(content)
		}
	}
	if err != nil || len(vars) == 0 {
		return cmd.Env
	}
	out := maps.Clone(cmd.Env)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, vars)
	return out
}

// jobView shows a plugin each command with the environment its job starts
// with (JobEnv), so that what a fix finds already set, and merges its
// values with, is what the job reads.
type jobView struct{ sdk.Framework }

func (j jobView) Recognize(ctx context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	req.Command.Env = JobEnv(req.Command)
	return j.Framework.Recognize(ctx, req)
}

func (j jobView) Analyze(ctx context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	req.Command.Env = JobEnv(req.Command)
	return j.Framework.Analyze(ctx, req)
}

func (j jobView) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	req.Command.Env = JobEnv(req.Command)
	return j.Framework.Apply(ctx, req)
}
