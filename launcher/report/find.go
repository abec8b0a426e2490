package report

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/launcher/record"
)

// Find picks a run under runsDir: the newest when id is empty, else the one
// whose id is id or starts with it. It returns the run and its folder. The
// errors are one line each and name what was looked for.
func Find(runsDir, id string) (*record.Run, string, error) {
	runs, err := record.List(runsDir)
	if err != nil {
		return nil, "", fmt.Errorf("reading the runs in %s: %v", runsDir, err)
	}
	if len(runs) == 0 {
		return nil, "", fmt.Errorf("no runs in this project yet (%s is empty): run a job with vramrun first", runsDir)
	}
	if id == "" {
		return runs[0], filepath.Join(runsDir, runs[0].ID), nil
	}
	var matches []*record.Run
	for _, r := range runs {
		if r.ID == id {
			return r, filepath.Join(runsDir, r.ID), nil
		}
		if strings.HasPrefix(r.ID, id) {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 0:
		return nil, "", fmt.Errorf("no run %q in this project (vramrun runs lists them)", id)
	case 1:
		return matches[0], filepath.Join(runsDir, matches[0].ID), nil
	}
	ids := make([]string, 0, 3)
	for i, r := range matches {
		if i == 3 {
			ids = append(ids, fmt.Sprintf("and %d more", len(matches)-3))
			break
		}
		ids = append(ids, r.ID)
	}
	return nil, "", fmt.Errorf("run id %q is ambiguous: it matches %s", id, strings.Join(ids, ", "))
}
