package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/vramrun/vramrun/sdk/serve"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func (s *session) newVersionCmd() *cobra.Command {
	cmd := newCobra("version", "Print vramrun's version")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(*cobra.Command, []string) error {
		v := version
		if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		fmt.Fprintf(s.stdout, "vramrun %s (plugin protocol %d)\n", v, serve.ProtocolVersion)
		return nil
	}
	return cmd
}
