package plugintest

import (
	"fmt"
	"reflect"

	"github.com/vramrun/vramrun/sdk"
)

// The wire cannot tell an empty list or map from none, so answers are
// compared with every empty list or map made nil, and every file content
// made non-nil.

func normDescription(d sdk.DescribeResponse) sdk.DescribeResponse {
	d.Frameworks = nilStrings(d.Frameworks)
	var patterns []sdk.OOMPattern
	for _, p := range d.Patterns {
		p.Follow = nilStrings(p.Follow)
		if len(p.DTypeSizes) == 0 {
			p.DTypeSizes = nil
		}
		patterns = append(patterns, p)
	}
	d.Patterns = patterns
	if len(d.Frames) == 0 {
		d.Frames = nil
	}
	if len(d.Rejections) == 0 {
		d.Rejections = nil
	}
	if len(d.Progress) == 0 {
		d.Progress = nil
	}
	return d
}

func normAnalysis(a sdk.AnalyzeResponse) sdk.AnalyzeResponse {
	a.ConfigFiles = nilStrings(a.ConfigFiles)
	a.Notes = nilStrings(a.Notes)
	return a
}

func normApplied(a sdk.ApplyResponse) sdk.ApplyResponse {
	a.Argv = nilStrings(a.Argv)
	if len(a.Env) == 0 {
		a.Env = nil
	}
	var copies []sdk.FileCopy
	for _, c := range a.Copies {
		if c.Content == nil {
			c.Content = []byte{}
		}
		copies = append(copies, c)
	}
	a.Copies = copies
	return a
}

func nilStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

func sprint(v any) string { return fmt.Sprintf("%+v", v) }
