package oom

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/sdk"
)

// Python's traceback format, which is the language's and not a framework's:
// a header line, then one line per frame. Distributed launchers may put a
// rank prefix before either, so neither is anchored to the line start.
const (
	tracebackHeader = "Traceback (most recent call last):"
	frameMarker     = `File "`
)

var frameLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`File "([^"]*)", line \d+, in (\S+)`) })

// traceback is what matters of the latest Python traceback seen: where it
// was last seen and which phases its frames point at. It keeps no frames, so
// a deep stack costs nothing.
type traceback struct {
	// last is the line number of its header or latest frame line; 0 when
	// none was seen. The window is measured from here, so that a very deep
	// stack does not push its own header out of reach.
	last        int
	eval, train bool
}

// observe follows one output line.
func (t *traceback) observe(line []byte, lineNo int, m *Matcher, script string) {
	if bytes.Contains(line, []byte(tracebackHeader)) {
		*t = traceback{last: lineNo}
		return
	}
	if t.last == 0 || !bytes.Contains(line, []byte(frameMarker)) {
		return
	}
	sub := frameLine().FindSubmatch(line)
	if sub == nil {
		return
	}
	t.last = lineNo
	path, fn := string(sub[1]), string(sub[2])
	if isUserEvalFunction(path, fn, script) {
		t.eval = true
		return
	}
	switch m.phaseOf(path, fn) {
	case sdk.PhaseEval:
		t.eval = true
	case sdk.PhaseTrain:
		t.train = true
	}
}

// phaseAt is the phase of an OOM on line lineNo: from the nearest traceback
// that began before it, when that was seen within the window; unknown
// without one.
func (t traceback) phaseAt(lineNo int) sdk.Phase {
	switch {
	case t.last == 0 || lineNo-t.last > windowLines:
		return sdk.PhaseUnknown
	case t.eval:
		return sdk.PhaseEval
	case t.train:
		return sdk.PhaseTrain
	}
	return sdk.PhaseUnknown
}

// isUserEvalFunction says whether a frame is a function of the user's own
// script named eval*/valid* (any case). script is a path, or a module name
// for "python -m pkg.mod", whose file is mod.py.
func isUserEvalFunction(path, fn, script string) bool {
	if script == "" {
		return false
	}
	lower := strings.ToLower(fn)
	if !strings.HasPrefix(lower, "eval") && !strings.HasPrefix(lower, "valid") {
		return false
	}
	base := filepath.Base(path)
	if base == filepath.Base(script) {
		return true
	}
	if strings.HasSuffix(script, ".py") || strings.ContainsRune(script, filepath.Separator) {
		return false
	}
	module := script[strings.LastIndexByte(script, '.')+1:]
	return module != "" && base == module+".py"
}
