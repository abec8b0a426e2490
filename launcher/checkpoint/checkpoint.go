// Package checkpoint finds the newest complete checkpoint a job wrote
// during a run, where its plugin (or the profile) says checkpoints go. It
// knows no framework: the globs, the completion marker and the step in a
// name come from sdk.Checkpoints.
package checkpoint

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

// Checkpoint is one checkpoint found.
type Checkpoint struct {
	// Path is as the glob named it: relative to the job's folder when the
	// glob is.
	Path string
	// Written is when it was completed: the marker's time for a folder,
	// the file's own otherwise.
	Written time.Time
	// Step is the training step it holds; nil when its name does not say.
	Step *int
}

// Search is what to look for.
type Search struct {
	Spec sdk.Checkpoints
	// Dir is the job's working folder; relative globs are taken from it.
	Dir string
	// Since bounds the search below: a checkpoint written before it is
	// another run's (or holds state a later fix cannot load).
	Since time.Time
	// Settle is how long a marker-less file's size must stay the same to
	// count as written whole (a straggling process may still write it);
	// 0 takes it as it is.
	Settle time.Duration
	// Stale are checkpoints to pass over, by path, unless written again
	// since (their time then differs): what was there when the run began,
	// or before a fix the old checkpoints cannot follow.
	Stale map[string]time.Time
}

// All are the complete-looking checkpoints there are now, by path and time:
// a Stale set.
func All(s Search) map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range s.candidates() {
		out[c.Path] = c.Written
	}
	return out
}

// Newest is the checkpoint written last since s.Since that is complete,
// and false when there is none. Files that cannot be read are passed over:
// the job's folders are the job's.
func Newest(s Search) (Checkpoint, bool) {
	found := s.candidates()
	if len(found) == 0 {
		return Checkpoint{}, false
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if !a.Written.Equal(b.Written) {
			return a.Written.After(b.Written)
		}
		return stepOf(a) > stepOf(b)
	})
	for _, c := range found {
		if s.Spec.Marker != "" || s.settled(c.Path) {
			return c, true
		}
	}
	return Checkpoint{}, false
}

// candidates are every complete-looking checkpoint since s.Since, each
// with its step when its name, or (for a name without one, such as
// last.ckpt) the newest sibling no later than it, says it.
func (s Search) candidates() []Checkpoint {
	var stepRE *regexp.Regexp
	if s.Spec.Step != "" {
		stepRE, _ = regexp.Compile(s.Spec.Step)
	}
	seen := map[string]bool{}
	var out []Checkpoint
	for _, glob := range s.Spec.Globs {
		matches, err := filepath.Glob(s.abs(glob))
		if err != nil {
			continue
		}
		for _, m := range matches {
			rel := m
			if !filepath.IsAbs(glob) && s.Dir != "" {
				if r, err := filepath.Rel(s.Dir, m); err == nil {
					rel = r
				}
			}
			if seen[rel] {
				continue
			}
			seen[rel] = true
			c, ok := s.inspect(m)
			if !ok || c.Written.Before(s.Since) {
				continue
			}
			if was, stale := s.Stale[rel]; stale && was.Equal(c.Written) {
				continue
			}
			c.Path = rel
			c.Step = stepIn(stepRE, filepath.Base(m))
			out = append(out, c)
		}
	}
	for i := range out {
		if out[i].Step == nil {
			out[i].Step = siblingStep(out, out[i])
		}
	}
	return out
}

// inspect says whether path is a checkpoint: a folder holding the marker,
// or a non-empty regular file when there is no marker.
func (s Search) inspect(path string) (Checkpoint, bool) {
	if s.Spec.Marker != "" {
		info, err := os.Stat(filepath.Join(path, s.Spec.Marker))
		if err != nil || !info.Mode().IsRegular() {
			return Checkpoint{}, false
		}
		return Checkpoint{Written: info.ModTime()}, true
	}
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Size() == 0 {
		return Checkpoint{}, false
	}
	return Checkpoint{Written: info.ModTime()}, true
}

// settled says a file's size and time stay put for s.Settle.
func (s Search) settled(rel string) bool {
	if s.Settle <= 0 {
		return true
	}
	path := s.abs(rel)
	before, err := os.Stat(path)
	if err != nil {
		return false
	}
	time.Sleep(s.Settle)
	after, err := os.Stat(path)
	return err == nil && after.Size() == before.Size() && after.ModTime().Equal(before.ModTime())
}

func (s Search) abs(p string) string {
	if filepath.IsAbs(p) || s.Dir == "" {
		return p
	}
	return filepath.Join(s.Dir, p)
}

func stepIn(re *regexp.Regexp, name string) *int {
	if re == nil {
		return nil
	}
	m := re.FindStringSubmatch(name)
	i := re.SubexpIndex("step")
	if m == nil || i < 0 || i >= len(m) {
		return nil
	}
	n, err := strconv.Atoi(m[i])
	if err != nil {
		return nil
	}
	return &n
}

// siblingStep is the step of the newest checkpoint in c's folder that has
// one and was written no later than c: a framework writes its "last"
// checkpoint right after the step's own.
func siblingStep(all []Checkpoint, c Checkpoint) *int {
	var best *Checkpoint
	for i := range all {
		o := &all[i]
		if o.Step == nil || filepath.Dir(o.Path) != filepath.Dir(c.Path) || o.Written.After(c.Written) {
			continue
		}
		if best == nil || o.Written.After(best.Written) {
			best = o
		}
	}
	if best == nil {
		return nil
	}
	n := *best.Step
	return &n
}

func stepOf(c Checkpoint) int {
	if c.Step == nil {
		return -1
	}
	return *c.Step
}
