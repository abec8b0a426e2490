package sdk

import (
	"encoding/json"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
)

// OOMKind says which memory ran out.
type OOMKind string

// The kinds of out-of-memory.
const (
	KindNone OOMKind = ""
	KindGPU  OOMKind = "gpu"
	KindHost OOMKind = "host"
)

// MarshalJSON writes KindNone as null, as vramrun's JSON shapes have it.
func (k OOMKind) MarshalJSON() ([]byte, error) {
	if k == KindNone {
		return []byte("null"), nil
	}
	return json.Marshal(string(k))
}

// UnmarshalJSON reads null as KindNone.
func (k *OOMKind) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*k = KindNone
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*k = OOMKind(s)
	return nil
}

// Phase is the part of the job that ran out of memory.
type Phase string

// The phases.
const (
	PhaseUnknown Phase = "unknown"
	PhaseTrain   Phase = "train"
	PhaseEval    Phase = "eval"
)

// OOMPattern declares one out-of-memory text a runtime prints. Plugins
// declare these as data; vramrun's scanner and diagnosis engine run them.
//
// The named groups of Regexp and Follow carry the figures. Size groups hold a
// number with an optional unit ("2.30 GiB", "1.25GiB", "512 bytes",
// "1342177280"): tried, capacity, free, allocated, reserved_unallocated,
// reserved_total, allowed, used. Other groups: device (an index), shape (a
// comma-separated tensor shape), dtype (a name found in DTypeSizes), pid.
type OOMPattern struct {
	// ID is a stable signature, "<framework>.<name>", e.g.
	// "pytorch.caching_allocator".
	ID        string  `json:"id"`
	Framework string  `json:"framework"`
	Kind      OOMKind `json:"kind"`
	// Regexp is an RE2 expression matched against one line of output.
	Regexp string `json:"regexp"`
	// Follow are RE2 expressions tried, in order, against the lines after a
	// match (each once, within the next 2*len(Follow)+2 lines), for texts
	// that spread their figures over several lines.
	Follow []string `json:"follow,omitempty"`
	// Detail marks a pattern that only adds figures (another process's
	// usage, an allocator's summary line) and is never an OOM by itself.
	Detail bool `json:"detail,omitempty"`
	// DTypeSizes maps the dtype names this runtime prints to their size in
	// bytes, for patterns with shape and dtype groups.
	DTypeSizes map[string]int `json:"dtype_sizes,omitempty"`
}

// PatternGroups are the named groups an OOMPattern may use.
func PatternGroups() []string {
	return []string{"tried", "capacity", "free", "allocated", "reserved_unallocated",
		"reserved_total", "allowed", "device", "shape", "dtype", "pid", "used"}
}

// Validate checks that the expressions compile as RE2 and use only the group
// names PatternGroups lists.
func (p OOMPattern) Validate() error {
	if p.ID == "" {
		return fmt.Errorf("pattern without an id")
	}
	if p.Kind != KindGPU && p.Kind != KindHost {
		return fmt.Errorf("pattern %s: kind %q is not gpu or host", p.ID, p.Kind)
	}
	known := map[string]bool{}
	for _, g := range PatternGroups() {
		known[g] = true
	}
	for _, expr := range append([]string{p.Regexp}, p.Follow...) {
		// Parsed, not compiled: the same errors as regexp.Compile at a
		// fraction of the cost, for a host that checks every plugin's
		// patterns before each run.
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return fmt.Errorf("pattern %s: %v", p.ID, err)
		}
		for _, name := range re.CapNames()[1:] {
			if name != "" && !known[name] {
				return fmt.Errorf("pattern %s: group %q is not one of the known names (%s)", p.ID, name, strings.Join(PatternGroups(), ", "))
			}
		}
	}
	return nil
}

// RejectionPattern declares one text with which a job rejects a change to
// its command: argparse's "unrecognized arguments: --ckpt", Python's "No
// module named 'deepspeed'". Regexp is RE2, matched against one line of
// output; its group "name" holds what was rejected (a flag, a module, a
// value), which vramrun compares with what the fix changed.
type RejectionPattern struct {
	ID     string `json:"id"`
	Regexp string `json:"regexp"`
}

// Validate checks that the expression compiles as RE2 with a group "name".
func (r RejectionPattern) Validate() error {
	if r.ID == "" {
		return fmt.Errorf("rejection pattern without an id")
	}
	re, err := syntax.Parse(r.Regexp, syntax.Perl)
	if err != nil {
		return fmt.Errorf("rejection pattern %s: %v", r.ID, err)
	}
	if !slices.Contains(re.CapNames(), "name") {
		return fmt.Errorf("rejection pattern %s: no group \"name\" for what was rejected", r.ID)
	}
	return nil
}

// Frame is a traceback frame name that tells the phase: a function named
// Name on the stack means Phase.
type Frame struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Package, when set, is the Python package the function must be in
	// ("verl", "transformers", "keras.src"): the frame counts only when its
	// file lies in that package's folder (verl/ in the traceback's path),
	// so that a name scripts also use ("compute_log_prob", "predict") does
	// not tell the phase when the user's own function has it. Empty: any
	// file.
	Package string `json:"package,omitempty"`
}

// Validate checks the name, the phase and the package's dotted form.
func (f Frame) Validate() error {
	if f.Name == "" {
		return fmt.Errorf("traceback frame with an empty name (phase %q)", f.Phase)
	}
	if f.Phase != PhaseTrain && f.Phase != PhaseEval {
		return fmt.Errorf("traceback frame %q: phase %q is not %q or %q", f.Name, f.Phase, PhaseTrain, PhaseEval)
	}
	if f.Package != "" && !dottedName(f.Package) {
		return fmt.Errorf("traceback frame %q: package %q is not a dotted Python name", f.Name, f.Package)
	}
	return nil
}

// dottedName says whether s is a Python package's import name: identifiers
// joined by dots.
func dottedName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if part == "" || (part[0] >= '0' && part[0] <= '9') {
			return false
		}
		for _, r := range part {
			if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
				return false
			}
		}
	}
	return true
}
