package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/profiles"
)

// loadProfiles loads the settings and says, once, what of the project file
// was left out: an untrusted file's plugins and env, a file owned by
// another user.
func (s *session) loadProfiles(opts profiles.LoadOptions) (profiles.Loaded, error) {
	loaded, err := profiles.Load(opts)
	if err != nil {
		return loaded, err
	}
	for _, n := range loaded.Notes {
		fmt.Fprintf(s.stderr, "vramrun: warning: %s\n", human.Printable(n))
	}
	if u := loaded.Untrusted; u != nil {
		fmt.Fprintf(s.stderr, "vramrun: warning: %s\n", human.Printable(u.Line()))
	}
	return loaded, nil
}

// trustOptions are vramrun trust's.
type trustOptions struct{ revoke bool }

func (s *session) newTrustCmd() *cobra.Command {
	opts := &trustOptions{}
	cmd := newCobra("trust [--revoke]", "Trust this project's vramrun.yaml: its plugins: and env: then take effect")
	cmd.Long = `vramrun trust records the project's vramrun.yaml, as it is now (path and
content hash, in $XDG_STATE_HOME/vramrun/trusted.json), as trusted: its plugins:
run and its env: is set. Until then, and again after the file changes, vramrun
uses the rest of the file but neither of those. --trust or VRAMRUN_TRUST=1
trusts it for one run (CI).`
	cmd.Args = cobra.NoArgs
	cmd.Flags().BoolVar(&opts.revoke, "revoke", false, "forget that the file is trusted")
	cmd.RunE = func(*cobra.Command, []string) error { return s.runTrust(opts) }
	return cmd
}

func (s *session) runTrust(opts *trustOptions) error {
	file := profiles.FindProjectFile(s.dir)
	if file == "" {
		return usageError("no %s in %s or a folder above it", profiles.ProjectFileName, s.dir)
	}
	if err := profiles.Trust(s.env, file, opts.revoke); err != nil {
		var cfg *profiles.ConfigError
		if errors.As(err, &cfg) {
			return err
		}
		return usageError("trust %s: %v", file, err)
	}
	if opts.revoke {
		fmt.Fprintf(s.stdout, "%s is no longer trusted\n", file)
	} else {
		fmt.Fprintf(s.stdout, "%s is trusted as it is now; a change to it needs vramrun trust again\n", file)
	}
	return nil
}
