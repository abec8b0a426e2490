package pyscript

import "github.com/vramrun/vramrun/sdk"

// Analysis is a built-in plugin's reading of a command: the answer Analyze
// gives, and the fixes the command cannot take, each with the reason Apply
// turns it down with.
type Analysis struct {
	sdk.AnalyzeResponse
	Unsupported map[sdk.FixID]string
}
