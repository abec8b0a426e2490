package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher/explain"
	"github.com/vramrun/vramrun/profiles"
)

// explainOptions are vramrun explain's.
type explainOptions struct {
	file string
	json bool
}

func (s *session) newExplainCmd() *cobra.Command {
	opts := &explainOptions{}
	cmd := newCobra("explain [--json] [FILE|-]", "Diagnose an out-of-memory log")
	cmd.Long = "Reads a job's output (a file, or standard input with - or no argument) and says\nwhy it ran out of memory, with the figures, and what vramrun would try next."
	cmd.Args = cobra.MaximumNArgs(1)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the diagnosis as JSON")
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		opts.file = "-"
		if len(args) == 1 {
			opts.file = args[0]
		}
		return s.runExplain(c, opts)
	}
	return cmd
}

func (s *session) runExplain(c *cobra.Command, opts *explainOptions) error {
	loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env})
	if err != nil {
		return err
	}
	plugins, err := s.loadPlugins(c.Context(), loaded, io.Discard, false)
	if err != nil {
		return err
	}
	defer plugins.Close()
	var in io.Reader = s.stdin
	if opts.file != "-" {
		f, err := os.Open(opts.file)
		if err != nil {
			return usageError("%v", err)
		}
		defer f.Close()
		in = f
	}
	d, err := explain.Explain(plugins, loaded.Settings, in)
	if err != nil {
		return usageError("%s: %v", opts.file, err)
	}
	if opts.json {
		return explain.WriteJSON(s.stdout, d)
	}
	return explain.WriteText(s.stdout, d)
}
