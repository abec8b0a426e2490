package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vramrun/vramrun/launcher"
	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/launcher/runner"
	"github.com/vramrun/vramrun/launcher/supervise"
	"github.com/vramrun/vramrun/profiles"
)

// tuneOptions are vramrun tune's.
type tuneOptions struct {
	argv        []string
	flags       *pflag.FlagSet
	trials      int
	readings    int
	trialTime   time.Duration
	trustTrials bool
	json        bool
	quiet       bool
	verbose     bool
}

const tuneHelp = `vramrun tune runs short trials of the command's configurations (micro-batch
and accumulation, the effective batch kept; gradient checkpointing where the
ladder has it) and keeps the fastest that fits, by the speed the job's own
progress lines say. Each trial ends once its speed is known; it writes to a
scratch folder in the run's folder and saves, evaluates and uploads nothing
(the plugin's trial fix; a plugin that does not know where the command
writes refuses, unless --trust-trials). The winner is recorded as learned
state: vramrun -- COMMAND then starts there.`

func (s *session) newTuneCmd() *cobra.Command {
	opts := &tuneOptions{}
	cmd := newCobra("tune [flags] -- COMMAND [ARGS...]", "Find the fastest configuration that fits, in short trials")
	cmd.Long = tuneHelp
	cmd.Args = cobra.ArbitraryArgs
	cmd.Flags().SetInterspersed(false)
	profiles.RegisterFlags(cmd.Flags())
	cmd.Flags().IntVar(&opts.trials, "trials", 6, "at most this many trials")
	cmd.Flags().IntVar(&opts.readings, "trial-readings", 20, "end a trial after this many progress readings past the warm-up")
	cmd.Flags().DurationVar(&opts.trialTime, "trial-time", 90*time.Second, "end a trial after this long at most")
	cmd.Flags().BoolVar(&opts.trustTrials, "trust-trials", false, "run trials even where the plugin cannot keep them from writing where the job writes")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the trials and the winner as JSON on stdout (the job's output goes to stderr)")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "fewer of vramrun's own lines")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "more of vramrun's own lines")
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		argv, err := commandAfterDash(c, args)
		if err != nil {
			return err
		}
		opts.argv, opts.flags = argv, c.Flags()
		return s.runTune(c.Context(), opts)
	}
	return cmd
}

func (s *session) runTune(ctx context.Context, opts *tuneOptions) error {
	switch {
	case opts.trials < 1:
		return usageError("--trials %d: at least one trial", opts.trials)
	case opts.readings < 1:
		return usageError("--trial-readings %d: at least one reading", opts.readings)
	case opts.trialTime < 0:
		return usageError("--trial-time %s: not a duration of zero or more", opts.trialTime)
	}
	signals := supervise.NewSignals(s.signals, s.cancel)
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env, Flags: opts.flags})
	if err != nil {
		return err
	}
	store, warning, err := profiles.OpenStore(loaded.ProjectRoot, s.env)
	if err != nil {
		return usageError("%v", err)
	}
	pluginLog := &record.PluginLog{}
	defer pluginLog.Close()
	plugins, err := s.loadPlugins(ctx, loaded, pluginLog, opts.verbose)
	if err != nil {
		return err
	}
	defer plugins.Close()
	if warning != "" {
		fmt.Fprintf(s.stderr, "vramrun: warning: %s\n", warning)
	}
	if err := runner.EnableSubreaper(); err != nil && opts.verbose {
		fmt.Fprintf(s.stderr, "vramrun: cannot become a child subreaper (%v); stray processes are found by their marker only\n", err)
	}
	gpus := s.openGPU(verbosity(opts.quiet, opts.verbose))
	if gpus != nil {
		defer gpus.Close()
	}
	streams := supervise.Streams{Stdin: s.stdin, Stdout: s.stdout, Stderr: s.stderr}
	if opts.json {
		// Stdout is the JSON's alone.
		streams.Stdout = s.stderr
	}
	out, err := launcher.Tune(ctx, launcher.TuneOptions{
		Options: launcher.Options{
			Argv: opts.argv, Settings: loaded.Settings, Dir: s.dir, Env: s.env, Streams: streams,
			Verbosity: verbosity(opts.quiet, opts.verbose),
			Plugins:   plugins, GPU: gpus, Store: store, Signals: signals, PluginLog: pluginLog,
		},
		Trials: opts.trials, Readings: opts.readings, TrialTime: opts.trialTime, TrustTrials: opts.trustTrials,
	})
	if err != nil {
		return err
	}
	s.status = out.Status
	if opts.json {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}
