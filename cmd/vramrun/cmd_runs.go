package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher/record"
	"github.com/vramrun/vramrun/profiles"
)

// runsOptions are vramrun runs'.
type runsOptions struct {
	json bool
	keep int
}

// runSummary is one entry of runs --json.
type runSummary struct {
	ID        string    `json:"id"`
	Started   time.Time `json:"started"`
	Argv      []string  `json:"argv"`
	Attempts  int       `json:"attempts"`
	Outcome   string    `json:"outcome"`
	Fixes     []string  `json:"fixes"`
	FinalArgv []string  `json:"final_argv"`
}

func (s *session) store() (*profiles.Store, error) {
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env})
	if err != nil {
		return nil, err
	}
	st, _, err := profiles.OpenStore(loaded.ProjectRoot, s.env)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return st, nil
}

func (s *session) newRunsCmd() *cobra.Command {
	opts := &runsOptions{}
	cmd := newCobra("runs [--json]", "List past runs in this project")
	cmd.Args = cobra.NoArgs
	cmd.Flags().BoolVar(&opts.json, "json", false, "print as JSON")
	cmd.RunE = func(*cobra.Command, []string) error { return s.runRuns(opts) }

	prune := newCobra("prune [--keep N]", "Delete old run folders, keeping the newest N")
	prune.Args = cobra.NoArgs
	prune.Flags().IntVar(&opts.keep, "keep", -1, "run folders to keep (default: the profile's keep_runs)")
	prune.RunE = func(*cobra.Command, []string) error { return s.runPrune(opts) }
	cmd.AddCommand(prune)
	return cmd
}

func (s *session) runRuns(opts *runsOptions) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	runs, err := record.List(st.RunsDir())
	if err != nil {
		return usageError("%v", err)
	}
	out := make([]runSummary, 0, len(runs))
	for _, r := range runs {
		fixes := r.Fixes
		if fixes == nil {
			fixes = []string{}
		}
		out = append(out, runSummary{ID: r.ID, Started: r.Started, Argv: r.Argv, Attempts: len(r.Attempts),
			Outcome: r.Outcome, Fixes: fixes, FinalArgv: r.FinalArgv})
	}
	if opts.json {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(s.stdout, "no runs in this project yet")
		return nil
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tATTEMPTS\tOUTCOME\tFIXES\tCOMMAND")
	for _, r := range out {
		fixes := strings.Join(r.Fixes, ",")
		if fixes == "" {
			fixes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Started.Local().Format("2006-01-02 15:04"), r.Attempts,
			r.Outcome, fixes, strings.Join(r.Argv, " "))
	}
	return tw.Flush()
}

func (s *session) runPrune(opts *runsOptions) error {
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env})
	if err != nil {
		return err
	}
	keep := opts.keep
	if keep < 0 {
		keep = loaded.Settings.KeepRuns
	}
	st, _, err := profiles.OpenStore(loaded.ProjectRoot, s.env)
	if err != nil {
		return usageError("%v", err)
	}
	removed, err := record.Prune(st.RunsDir(), keep)
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprintf(s.stdout, "removed %d run folder(s), kept the newest %d\n", len(removed), keep)
	return nil
}
