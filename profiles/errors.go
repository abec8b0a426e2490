package profiles

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ConfigError is a bad setting: in a file (File and Line set), in a
// VRAMRUN_* variable or in a flag (File and Line empty, Msg names it). The
// cmd layer maps it to exit status 125.
type ConfigError struct {
	// File is the path as shown to the user: relative to the working
	// directory when the file is inside it, else absolute.
	File string
	// Line is 1-based; 0 when the error is about the file as a whole.
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// displayPath shows path relative to dir when it lies inside dir.
func displayPath(path, dir string) string {
	if dir == "" {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// unknownKeyMsg says a key is unknown and suggests the closest known one
// when it is near enough to be a typo.
func unknownKeyMsg(where, key string, known []string) string {
	prefix := "unknown key"
	if where != "" {
		prefix = where + ": unknown key"
	}
	if s := closest(key, known); s != "" {
		return fmt.Sprintf("%s %q (did you mean %s?)", prefix, key, s)
	}
	return fmt.Sprintf("%s %q (known: %s)", prefix, key, strings.Join(known, ", "))
}

// closest returns the known word within a small edit distance of word, or
// "" when none is close: a typo gets a suggestion, a wild guess the list.
func closest(word string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		d := editDistance(strings.ToLower(word), k)
		limit := 2
		if len(k) <= 4 {
			limit = 1
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
