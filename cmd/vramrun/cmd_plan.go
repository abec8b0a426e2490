package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vramrun/vramrun/launcher"
	"github.com/vramrun/vramrun/launcher/gpuview"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
)

// planOptions are vramrun plan's.
type planOptions struct {
	argv    []string
	flags   *pflag.FlagSet
	json    bool
	oomLog  string
	quiet   bool
	verbose bool
}

func (s *session) newPlanCmd() *cobra.Command {
	opts := &planOptions{}
	cmd := newCobra("plan [--json] [--oom-log FILE] -- COMMAND [ARGS...]", "Show what each attempt would run, without running anything")
	cmd.Args = cobra.ArbitraryArgs
	cmd.Flags().SetInterspersed(false)
	profiles.RegisterFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&opts.oomLog, "oom-log", "", "size the first step from the OOM in this log")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "fewer of vramrun's own lines on stderr")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "also say which plugin claimed the command and why")
	cmd.SetFlagErrorFunc(flagError)
	runAfterDash(cmd, func(ctx context.Context, argv []string, flags *pflag.FlagSet) error {
		opts.argv, opts.flags = argv, flags
		return s.runPlan(ctx, opts)
	})
	return cmd
}

func (s *session) runPlan(ctx context.Context, opts *planOptions) error {
	s.cancelOnSignal(ctx)
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env, Flags: opts.flags})
	if err != nil {
		return err
	}
	store, _, err := profiles.OpenStore(loaded.ProjectRoot, s.env)
	if err != nil {
		return usageError("%v", err)
	}
	plugins, err := s.loadPlugins(ctx, loaded, io.Discard, false)
	if err != nil {
		return err
	}
	defer plugins.Close()
	return s.printPlan(ctx, loaded, plugins, store, opts)
}

func (s *session) printPlan(ctx context.Context, loaded profiles.Loaded, plugins *host.Set, store *profiles.Store, opts *planOptions) error {
	if err := store.MakePlanDir(); err != nil {
		return usageError("%v", err)
	}
	var bf16 *bool
	var gpus int
	if g := s.openGPU(-1); g != nil {
		bf16, gpus = gpuview.BF16Of(g, s.env), gpuview.CountOf(g, s.env)
		g.Close()
	}
	p, err := launcher.MakePlan(ctx, launcher.PlanOptions{
		Argv: opts.argv, Settings: loaded.Settings, Dir: s.dir, Env: s.env, Plugins: plugins,
		PlanDir: store.PlanDir(), OOMLog: opts.oomLog, BF16: bf16, GPUs: gpus, Stderr: s.stderr,
		Verbosity: verbosity(opts.quiet, opts.verbose),
	})
	if err != nil {
		return err
	}
	if opts.json {
		return p.WriteJSON(s.stdout)
	}
	return p.WriteText(s.stdout)
}
