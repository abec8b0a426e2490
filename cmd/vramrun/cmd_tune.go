package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vramrun/vramrun/launcher"
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
	runAfterDash(cmd, func(ctx context.Context, argv []string, flags *pflag.FlagSet) error {
		opts.argv, opts.flags = argv, flags
		return s.runTune(ctx, opts)
	})
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
	j, err := s.openJob(ctx, opts.flags, opts.verbose)
	if err != nil {
		return err
	}
	defer j.close()
	o := s.jobOptions(j, opts.argv, verbosity(opts.quiet, opts.verbose))
	if opts.json {
		// Stdout is the JSON's alone.
		o.Streams.Stdout = s.stderr
	}
	out, err := launcher.Tune(ctx, launcher.TuneOptions{Options: o,
		Trials: opts.trials, Readings: opts.readings, TrialTime: opts.trialTime, TrustTrials: opts.trustTrials})
	if err != nil {
		return err
	}
	s.status, s.interrupted = out.Status, out.Interrupted
	if opts.json {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}
