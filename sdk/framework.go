// Package sdk is vramrun's public plugin API.
//
// A plugin teaches vramrun about one training framework: which commands are
// its own, which memory knobs those commands have, how to apply a fix to
// them, and which out-of-memory texts its runtime prints. vramrun's planner
// chooses the fixes; a plugin never does.
//
// The package imports nothing else of vramrun and needs no cgo, so a plugin
// author needs neither a GPU driver nor a C compiler.
//
// An external plugin is an executable named vramrun-plugin-NAME whose main
// calls Serve with its Framework; package sdk/plugintest checks it against
// the contract in the author's own go test. examples/plugin-mytrainer is a
// complete one, and its README describes the wire protocol for plugins in
// other languages.
package sdk

import "context"

// Framework is the interface every plugin implements, built-in or external.
type Framework interface {
	// Describe says who the plugin is and which OOM texts and traceback
	// frames it knows. It is called once, when the plugin is loaded.
	Describe(ctx context.Context) (Description, error)
	// Recognize says whether cmd is the plugin's, with a confidence.
	Recognize(ctx context.Context, cmd Command) (Recognition, error)
	// Analyze finds the command's knobs and which fixes it can take.
	Analyze(ctx context.Context, cmd Command) (Analysis, error)
	// Apply rewrites cmd for fix. Copies of config files go in copyDir, but
	// only as contents in the answer: the plugin writes no file. A fix the
	// command cannot take returns an *UnsupportedError.
	Apply(ctx context.Context, cmd Command, fix Fix, copyDir string) (Applied, error)
}

// Description is a plugin's identity and what it knows about OOM texts.
type Description struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Frameworks are the framework names the plugin answers for.
	Frameworks []string     `json:"frameworks"`
	Patterns   []OOMPattern `json:"patterns,omitempty"`
	Frames     []Frame      `json:"frames,omitempty"`
}
