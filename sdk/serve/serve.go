// Package serve runs a vramrun plugin: a plugin executable's main calls Serve
// with its sdk.Framework and nothing else. The rest of the package is the
// other side of the same wire, which vramrun and sdk/plugintest use; a
// plugin author needs only Serve.
package serve

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/vramrun/vramrun/sdk"
)

// ProtocolVersion is the version of the plugin wire protocol this package
// speaks: the Framework service of sdk/proto/vramrun/plugin/v2/plugin.proto.
const ProtocolVersion = 2

// The handshake that tells a vramrun plugin from any other program: vramrun
// starts a plugin with MagicCookieKey=MagicCookieValue in its environment.
const (
	MagicCookieKey   = "VRAMRUN_PLUGIN"
	MagicCookieValue = "6c1f3a2e-vramrun-plugin"
)

// PluginName is the name the Framework service has in the go-plugin plugin
// set: the host dispenses it under this name.
const PluginName = "framework"

// Handshake is the go-plugin handshake that vramrun and its plugins share.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSets are the go-plugin plugin sets by protocol version, for the
// VersionedPlugins of a ServeConfig (impl is the plugin) or of a
// ClientConfig (impl is nil: the host only dispenses clients).
func PluginSets(impl sdk.Framework) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &grpcPlugin{impl: impl}},
	}
}

// Serve serves impl as a vramrun plugin. It speaks gRPC only, over a unix
// socket, and returns when vramrun closes the plugin.
//
// vramrun reads the handshake line from the plugin's stdout, so a plugin
// must print nothing on stdout before Serve. What it writes to stderr goes
// to the run's plugins.log; an hclog JSON line keeps its level there.
//
// Started by hand, without vramrun's magic cookie in its environment, the
// program says it is a plugin and exits with status 1.
func Serve(impl sdk.Framework) {
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
