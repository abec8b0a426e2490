package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher/report"
)

// reportOptions are vramrun report's.
type reportOptions struct {
	id  string
	out string
}

func (s *session) newReportCmd() *cobra.Command {
	opts := &reportOptions{}
	cmd := newCobra("report [RUN-ID] [-o FILE.html]", "Write one run as an HTML page with a VRAM timeline per attempt")
	cmd.Long = `Writes one run of this project as a single self-contained HTML page (it loads
nothing from the network): the attempts, a chart of GPU memory over time for
each attempt that has samples, the diagnosis of each out-of-memory error and
the final command. RUN-ID is an id from vramrun runs, or a unique start of
one; without it, the last run. The page goes to the run's folder as
report.html unless -o names another file; its path is printed.

Exit status: 0 when the page is written; 125 when the run is unknown or the
page cannot be written.`
	cmd.Args = cobra.MaximumNArgs(1)
	cmd.Flags().StringVarP(&opts.out, "output", "o", "", "write the page to `FILE.html` instead of the run's folder")
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 1 {
			opts.id = args[0]
		}
		return s.runReport(opts)
	}
	return cmd
}

func (s *session) runReport(opts *reportOptions) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	run, runDir, err := report.Find(st.RunsDir(), opts.id)
	if err != nil {
		return usageError("%v", err)
	}
	out := opts.out
	switch {
	case out == "":
		out = filepath.Join(runDir, report.FileName)
	case !filepath.IsAbs(out):
		out = filepath.Join(s.dir, out)
	}
	if err := report.WriteFile(out, run, runDir); err != nil {
		return usageError("writing the report of run %s: %v", run.ID, err)
	}
	fmt.Fprintln(s.stdout, out)
	return nil
}
