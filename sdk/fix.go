package sdk

import (
	"fmt"
	"strings"
)

// FixID names one memory fix. The ids are the words users write in a
// profile's ladder and see in vramrun's output (contract section 2).
type FixID string

// The fix vocabulary.
const (
	FixAllocator         FixID = "allocator"
	FixMixedPrecision    FixID = "mixed_precision"
	FixBatchSize         FixID = "batch_size"
	FixGradCheckpointing FixID = "grad_checkpointing"
	FixOptimizer8bit     FixID = "optimizer_8bit"
	FixCPUOffload        FixID = "cpu_offload"
	FixEvalBatchSize     FixID = "eval_batch_size"
)

// AllFixes lists every fix id, in the order of the contract's table.
func AllFixes() []FixID {
	return []FixID{FixAllocator, FixMixedPrecision, FixGradCheckpointing, FixBatchSize,
		FixOptimizer8bit, FixCPUOffload, FixEvalBatchSize}
}

// DefaultLadder is the order fixes are tried in when no profile says
// otherwise: cheapest in speed and numerics first.
func DefaultLadder() []FixID {
	return []FixID{FixAllocator, FixMixedPrecision, FixBatchSize, FixGradCheckpointing,
		FixOptimizer8bit, FixCPUOffload}
}

// ParseFixID accepts a fix id as a user writes it.
func ParseFixID(s string) (FixID, error) {
	id := FixID(strings.TrimSpace(s))
	for _, f := range AllFixes() {
		if f == id {
			return id, nil
		}
	}
	names := make([]string, 0, 7)
	for _, f := range AllFixes() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown fix %q (known: %s)", s, strings.Join(names, ", "))
}

// Fix is what the planner asks a plugin to apply. The planner chooses the
// fix and its sizes; the plugin only rewrites the command.
type Fix struct {
	ID FixID `json:"fix"`
	// BatchSize is the new micro-batch for batch_size, or the new evaluation
	// batch for eval_batch_size.
	BatchSize int `json:"batch_size,omitempty"`
	// GradAccumulation is the new accumulation for batch_size; 0 means the
	// command has no accumulation knob and it is left alone.
	GradAccumulation int `json:"grad_accumulation,omitempty"`
	// Precision is what mixed_precision switches to: "bf16" or "fp16".
	Precision string `json:"precision,omitempty"`
}

// Applied is a plugin's answer to a fix: the command's new argv, the
// environment variables to set and the contents of config-file copies. The
// plugin writes no file; the host writes each copy to its Path.
type Applied struct {
	Argv []string `json:"argv"`
	// Env holds only the variables this fix sets, with their complete new
	// values (already merged with what the user had set).
	Env    map[string]string `json:"env,omitempty"`
	Copies []FileCopy        `json:"copies,omitempty"`
	// Summary says what changed in a few words, for the attempt line, e.g.
	// "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" or
	// "--batch-size 64 -> 32, --grad-accum-steps 1 -> 2".
	Summary string `json:"summary"`
}

// FileCopy is a rewritten copy of one of the user's config files.
type FileCopy struct {
	// Original is the path as the command named it.
	Original string `json:"original"`
	// Path is where the copy goes: inside the copy folder the host gave.
	Path    string `json:"path"`
	Content []byte `json:"content"`
}

// UnsupportedError is returned by Apply for a fix the command cannot take.
// Its reason is shown to the user as is ("no gradient checkpointing flag in
// train.py").
type UnsupportedError struct {
	Fix    FixID
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %s", e.Fix, e.Reason)
}

// Unsupported builds the error a plugin returns for a fix it cannot apply.
func Unsupported(fix FixID, format string, args ...any) error {
	return &UnsupportedError{Fix: fix, Reason: fmt.Sprintf(format, args...)}
}
