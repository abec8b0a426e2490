package plugintab

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// Reading is what the first of patterns that matches line reads from it,
// in units a second, as vramrun's meter reads it (thousands separators
// dropped, periods inverted). Each pattern must be valid.
func Reading(t testing.TB, patterns []sdk.ProgressPattern, line string) (sdk.ProgressPattern, float64, bool) {
	t.Helper()
	for _, p := range patterns {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(p.Regexp)
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, g := range sdk.ProgressGroups() {
			i := re.SubexpIndex(g)
			if i <= 0 || m[i] == "" {
				continue
			}
			v, err := strconv.ParseFloat(strings.ReplaceAll(m[i], ",", ""), 64)
			if err != nil {
				t.Fatalf("%s read %q from %q", p.ID, m[i], line)
			}
			switch g {
			case "s_per":
				v = 1 / v
			case "ms_per":
				v = 1000 / v
			}
			return p, v, true
		}
	}
	return sdk.ProgressPattern{}, 0, false
}

// ReadingOf is Reading with the progress patterns plugin f declares.
func ReadingOf(t testing.TB, f sdk.Framework, line string) (sdk.ProgressPattern, float64, bool) {
	t.Helper()
	return Reading(t, Progress(t, f), line)
}

// Progress is the progress patterns plugin f declares.
func Progress(t testing.TB, f sdk.Framework) []sdk.ProgressPattern {
	t.Helper()
	d, err := f.Describe(context.Background(), sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Progress
}
