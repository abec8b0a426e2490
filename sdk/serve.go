package sdk

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// PluginName is the name the Framework service has in the go-plugin plugin
// set: the host dispenses it under this name.
const PluginName = "framework"

// Handshake is the go-plugin handshake that vramrun and its plugins share:
// the magic cookie that tells a plugin from any other program, and the
// protocol version.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSets are the go-plugin plugin sets by protocol version, for the
// VersionedPlugins of a ServeConfig (impl is the plugin) or of a
// ClientConfig (impl is nil: the host only dispenses clients). A later
// protocol version will add an entry here, so that hosts and plugins of
// either version agree on the newest both speak.
func PluginSets(impl Framework) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &grpcPlugin{impl: impl}},
	}
}

// Serve serves impl as a vramrun plugin: a plugin executable's main calls
// it and nothing else. It speaks gRPC only, over a unix socket, and
// returns when vramrun closes the plugin.
//
// vramrun reads the handshake line from the plugin's stdout, so a plugin
// must print nothing on stdout before Serve. What it writes to stderr goes
// to vramrun's log of the run; an hclog JSON line keeps its level there.
//
// Started by hand, without vramrun's magic cookie in its environment, the
// program says it is a plugin and exits with status 1.
func Serve(impl Framework) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: PluginSets(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
		// The default logger writes at Trace level; the host filters by
		// its own level anyway, so Debug is plenty and keeps the pipe quiet.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "plugin",
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.Debug,
		}),
	})
}
