package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/profiles"
)

// profileShowOptions are vramrun profile show's.
type profileShowOptions struct {
	json    bool
	profile string
}

func (s *session) newProfileCmd() *cobra.Command {
	cmd := newCobra("profile", "Write a vramrun.yaml, or show the merged settings")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }

	initCmd := newCobra("init", "Write a commented vramrun.yaml in this folder (never overwrites)")
	initCmd.Args = cobra.NoArgs
	initCmd.RunE = func(*cobra.Command, []string) error {
		path, err := profiles.InitFile(s.dir)
		if err != nil {
			return usageError("%v", err)
		}
		fmt.Fprintf(s.stdout, "wrote %s\n", path)
		return nil
	}

	opts := &profileShowOptions{}
	show := newCobra("show [--json] [--profile NAME]", "Show the merged settings and where each came from")
	show.Args = cobra.NoArgs
	show.Flags().BoolVar(&opts.json, "json", false, "print as JSON")
	show.Flags().StringVar(&opts.profile, "profile", "", "the named section under profiles:")
	show.RunE = func(*cobra.Command, []string) error {
		loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env, Profile: opts.profile})
		if err != nil {
			return err
		}
		if opts.json {
			return loaded.ShowJSON(s.stdout)
		}
		return loaded.Show(s.stdout)
	}
	cmd.AddCommand(initCmd, show)
	return cmd
}
