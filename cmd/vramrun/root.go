package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vramrun/vramrun/launcher"
	"github.com/vramrun/vramrun/launcher/gpu"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
)

// runOptions are the main form's: vramrun [flags] -- COMMAND [ARGS...].
type runOptions struct {
	argv    []string
	flags   *pflag.FlagSet
	dryRun  bool
	quiet   bool
	verbose bool
}

const rootHelp = `vramrun runs a training command, watches it for GPU out-of-memory errors,
and relaunches it with the next memory fix until it runs.

Exit status: the last attempt's status (0 after a successful relaunch,
128+N when the job died of signal N); 125 when vramrun itself fails (bad
flag, bad profile, plugin refused); 126 command not executable; 127 command
not found.`

func (s *session) newRootCmd() *cobra.Command {
	opts := &runOptions{}
	cmd := newCobra("vramrun [flags] -- COMMAND [ARGS...]", "Run a training job and fix its out-of-memory errors")
	cmd.Long = rootHelp
	cmd.Args = cobra.ArbitraryArgs
	cmd.Flags().SetInterspersed(false)
	profiles.RegisterFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print the plan and exit, as vramrun plan does")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "fewer of vramrun's own lines")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "more of vramrun's own lines")
	runAfterDash(cmd, func(ctx context.Context, argv []string, flags *pflag.FlagSet) error {
		opts.argv, opts.flags = argv, flags
		return s.runMain(ctx, opts)
	})
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(s.newPlanCmd(), s.newExplainCmd(), s.newDoctorCmd(), s.newPluginsCmd(),
		s.newProfileCmd(), s.newRunsCmd(), s.newReportCmd(), s.newTrustCmd(), s.newTuneCmd(), s.newVersionCmd())
	return cmd
}

// runAfterDash makes cmd hand the job's command (after "--") and its flags
// to run.
func runAfterDash(cmd *cobra.Command, run func(ctx context.Context, argv []string, flags *pflag.FlagSet) error) {
	cmd.RunE = func(c *cobra.Command, args []string) error {
		argv, err := commandAfterDash(c, args)
		if err != nil {
			return err
		}
		return run(c.Context(), argv, c.Flags())
	}
}

// commandAfterDash takes the job's command from after "--"; everything
// there is the job's, untouched, even flags that look like vramrun's.
func commandAfterDash(c *cobra.Command, args []string) ([]string, error) {
	at := c.ArgsLenAtDash()
	switch {
	case at < 0 && len(args) > 0:
		return nil, usageError("unknown command %q; to run a job put it after --: vramrun -- %s", args[0], strings.Join(args, " "))
	case at < 0 || at == len(args):
		return nil, usageError("no command given: usage is %s", c.Use)
	case at > 0:
		return nil, usageError("unexpected %q before --", strings.Join(args[:at], " "))
	}
	return args[at:], nil
}

func verbosity(quiet, verbose bool) int {
	switch {
	case quiet:
		return -1
	case verbose:
		return 1
	}
	return 0
}

// runMain is the main form: run, diagnose, fix, relaunch.
func (s *session) runMain(ctx context.Context, opts *runOptions) error {
	// From here on SIGINT, SIGTERM and SIGHUP end vramrun at once, whatever
	// it is doing (reading files, starting plugins, waiting for memory);
	// while a job runs they go to the job.
	j, err := s.openJob(ctx, opts.flags, opts.verbose)
	if err != nil {
		return err
	}
	defer j.close()
	if opts.dryRun {
		return s.printPlan(ctx, j.loaded, j.plugins, j.store, &planOptions{argv: opts.argv, quiet: opts.quiet, verbose: opts.verbose})
	}
	o := s.jobOptions(j, opts.argv, verbosity(opts.quiet, opts.verbose))
	res, err := launcher.Run(ctx, o)
	if err != nil {
		return err
	}
	s.status, s.interrupted = res.Status, res.Interrupted
	return nil
}

// job is what running a job needs: the settings, the project's store, the
// plugins and their log, and the signals.
type job struct {
	loaded    profiles.Loaded
	store     *profiles.Store
	warning   string
	pluginLog *record.PluginLog
	plugins   *host.Set
	signals   *supervise.Signals
	gpus      *gpu.GPUs
}

// openJob reads the settings and starts the plugins for a command that
// runs a job (the main form, tune); close undoes it.
func (s *session) openJob(ctx context.Context, flags *pflag.FlagSet, verbose bool) (*job, error) {
	// From here on SIGINT, SIGTERM and SIGHUP end vramrun at once, whatever
	// it is doing (reading files, starting plugins, waiting for memory);
	// while a job runs they go to the job.
	j := &job{signals: supervise.NewSignals(s.signals, s.cancel), pluginLog: &record.PluginLog{}}
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env, Flags: flags})
	if err != nil {
		return nil, err
	}
	store, warning, err := profiles.OpenStore(loaded.ProjectRoot, s.env)
	if err != nil {
		return nil, usageError("%v", err)
	}
	plugins, err := s.loadPlugins(ctx, loaded, j.pluginLog, verbose)
	if err != nil {
		j.pluginLog.Close()
		return nil, err
	}
	j.loaded, j.store, j.warning, j.plugins = loaded, store, warning, plugins
	// Descendants that leave the job's process group (a double-forked
	// worker) are re-parented to vramrun, so it can still find and end them.
	if err := runner.EnableSubreaper(); err != nil && verbose {
		fmt.Fprintf(s.stderr, "vramrun: cannot become a child subreaper (%v); stray processes are found by their marker only\n", err)
	}
	return j, nil
}

func (j *job) close() {
	if j.gpus != nil {
		j.gpus.Close()
	}
	j.plugins.Close()
	j.pluginLog.Close()
}

// jobOptions are the launcher's options for running argv: the store's
// warning said, NVML opened (j.close closes it).
func (s *session) jobOptions(j *job, argv []string, verbosity int) launcher.Options {
	if j.warning != "" {
		fmt.Fprintf(s.stderr, "vramrun: warning: %s\n", j.warning)
	}
	j.gpus = s.openGPU(verbosity)
	return launcher.Options{
		Argv: argv, Settings: j.loaded.Settings, Dir: s.dir, Env: s.env,
		Streams:   supervise.Streams{Stdin: s.stdin, Stdout: s.stdout, Stderr: s.stderr},
		Verbosity: verbosity,
		Plugins:   j.plugins, GPU: j.gpus, Store: j.store, Signals: j.signals, PluginLog: j.pluginLog,
	}
}

// loadPlugins loads the built-ins and the external plugins the settings and
// environment name. External plugins log to logTo (never the terminal).
func (s *session) loadPlugins(ctx context.Context, loaded profiles.Loaded, logTo io.Writer, verbose bool) (*host.Set, error) {
	var refs []host.PluginRef
	for _, p := range loaded.Settings.Plugins {
		refs = append(refs, host.PluginRef{Name: p.Name, Path: p.Path, SHA256: p.SHA256})
	}
	set, err := host.Load(ctx, host.LoadOptions{Env: s.env, Profile: refs, LogTo: logTo, Verbose: verbose})
	if err != nil {
		return nil, err
	}
	return set, nil
}
