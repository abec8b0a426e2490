package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
	plugin "github.com/vramrun/vramrun/sdk/serve"
)

// pluginsListOptions are vramrun plugins list's.
type pluginsListOptions struct {
	json bool
}

// pluginEntry is one entry of plugins list --json.
type pluginEntry struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Protocol   int      `json:"protocol"`
	Source     string   `json:"source"`
	Path       string   `json:"path"`
	Frameworks []string `json:"frameworks"`
	SHA256     string   `json:"sha256"`
}

func (s *session) newPluginsCmd() *cobra.Command {
	cmd := newCobra("plugins", "List plugins, or serve a built-in as an external plugin")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	opts := &pluginsListOptions{}
	list := newCobra("list [--json]", "List the built-in and external plugins")
	list.Args = cobra.NoArgs
	list.Flags().BoolVar(&opts.json, "json", false, "print as JSON")
	list.RunE = func(c *cobra.Command, _ []string) error {
		loaded, err := s.loadProfiles(profiles.LoadOptions{Dir: s.dir, Env: s.env})
		if err != nil {
			return err
		}
		set, err := s.loadPlugins(c.Context(), loaded, io.Discard, false)
		if err != nil {
			return err
		}
		defer set.Close()
		for _, n := range set.Notes {
			fmt.Fprintf(s.stderr, "vramrun: warning: %s\n", n)
		}
		var out []pluginEntry
		for _, p := range set.Plugins() {
			fw := p.Desc.Frameworks
			if fw == nil {
				fw = []string{}
			}
			out = append(out, pluginEntry{Name: p.Name(), Version: p.Desc.Version, Protocol: p.Protocol,
				Source: p.Source, Path: p.Path, Frameworks: fw, SHA256: p.SHA256})
		}
		if opts.json {
			enc := json.NewEncoder(s.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tSOURCE\tFRAMEWORKS\tPATH")
		for _, p := range out {
			path := p.Path
			if path == "" {
				path = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.Version, p.Protocol, p.Source, strings.Join(p.Frameworks, ","), path)
		}
		return tw.Flush()
	}
	cmd.AddCommand(list, s.newPluginsServeCmd())
	return cmd
}

const pluginsServeHelp = `Serve the built-in plugin NAME over vramrun's plugin protocol, as an
external plugin does: vramrun plugins serve pytorch is a plugin executable.
A script named vramrun-plugin-NAME that execs it can be installed like any
plugin, which is how plugin authors compare their answers with a built-in's.

vramrun starts it; run by hand it says it is a plugin and exits with status 1.`

// newPluginsServeCmd is vramrun plugins serve NAME.
func (s *session) newPluginsServeCmd() *cobra.Command {
	serve := newCobra("serve NAME", "Serve a built-in plugin as an external plugin")
	serve.Long = pluginsServeHelp
	serve.Args = func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("plugins serve takes one argument, the name of a built-in plugin")
		}
		return nil
	}
	serve.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, f := range host.Builtins() {
			d, err := f.Describe(c.Context(), sdk.DescribeRequest{})
			if err != nil {
				return err
			}
			if d.Name == args[0] {
				// Serve takes over stdout for the handshake and returns
				// when vramrun closes the plugin.
				plugin.Serve(f)
				return nil
			}
			names = append(names, d.Name)
		}
		return usageError("plugins serve: no built-in plugin %q (built-ins: %s)", args[0], strings.Join(names, ", "))
	}
	return serve
}
