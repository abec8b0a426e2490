package sdk

// ProtocolVersion is the version of the plugin wire protocol this SDK speaks.
const ProtocolVersion = 1

// The handshake that tells a vramrun plugin from any other program: vramrun
// starts a plugin with MagicCookieKey=MagicCookieValue in its environment.
const (
	MagicCookieKey   = "VRAMRUN_PLUGIN"
	MagicCookieValue = "6c1f3a2e-vramrun-plugin"
)
