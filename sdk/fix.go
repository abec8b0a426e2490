package sdk

import (
	"fmt"
	"strings"
)

// FixID names one memory fix. The ids are the words users write in a
// profile's ladder and see in vramrun's output.
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
	// FixFusedLoss computes the loss without holding the whole logits
	// tensor (Liger's fused linear cross-entropy, chunked cross-entropy):
	// the same loss, a language model's largest activation gone.
	FixFusedLoss FixID = "fused_loss"
	// FixActivationOffload moves the activations kept for the backward pass
	// to host memory while the forward pass goes on (torchtune's, TRL's and
	// axolotl's activation offloading): exact, paid for in PCIe traffic.
	FixActivationOffload FixID = "activation_offload"
	// FixEvalAccumulation moves an evaluation's predictions to the host
	// every few batches instead of gathering all of them on the GPU (the HF
	// Trainer's eval_accumulation_steps): the same metrics.
	FixEvalAccumulation FixID = "eval_accumulation"
	// FixResume is not a memory fix and no ladder has it: on a relaunch
	// after an attempt that wrote a checkpoint, vramrun asks the plugin to
	// point the command at it (Fix.Checkpoint). A plugin that cannot, or
	// whose framework would resume wrongly, turns it down with the reason,
	// and the job starts fresh.
	FixResume FixID = "resume"
	// FixTrial is not a memory fix either and no ladder has it: before each
	// of `vramrun tune`'s short trials, vramrun asks the plugin to make the
	// command harmless to the user's work: its outputs go under
	// Fix.Scratch, and it saves no checkpoint, runs no evaluation and
	// uploads nothing (no hub push, no logging service) where the
	// framework has knobs for that. A plugin that does not know where the
	// command writes turns it down with the flags to pass, and tune refuses
	// unless --trust-trials.
	FixTrial FixID = "trial"
)

// AllFixes lists every fix id.
func AllFixes() []FixID {
	return []FixID{FixAllocator, FixMixedPrecision, FixGradCheckpointing, FixBatchSize,
		FixOptimizer8bit, FixCPUOffload, FixEvalBatchSize, FixFusedLoss, FixActivationOffload, FixEvalAccumulation}
}

// DefaultLadder is the order fixes are tried in when no profile says
// otherwise: cheapest in speed and numerics first. The fused loss comes
// before the batch cut because it costs no speed (often it gains some);
// activation offload after checkpointing because it offloads what
// checkpointing keeps, and before the 8-bit optimizer because it is exact.
func DefaultLadder() []FixID {
	return []FixID{FixAllocator, FixMixedPrecision, FixFusedLoss, FixBatchSize, FixGradCheckpointing,
		FixActivationOffload, FixOptimizer8bit, FixCPUOffload}
}

// ParseFixID accepts a fix id as a user writes it.
func ParseFixID(s string) (FixID, error) {
	id := FixID(strings.TrimSpace(s))
	for _, f := range AllFixes() {
		if f == id {
			return id, nil
		}
	}
	names := make([]string, 0, len(AllFixes()))
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
	// Checkpoint is what resume resumes from: a path as the Checkpoints
	// globs found it (relative to the command's Dir when they are).
	Checkpoint string `json:"checkpoint,omitempty"`
	// Scratch is the folder a trial writes to, for trial: it exists, under
	// the run's folder.
	Scratch string `json:"scratch,omitempty"`
}

// ApplyRequest asks a plugin to rewrite a command for one fix.
type ApplyRequest struct {
	Command Command `json:"command"`
	Fix     Fix     `json:"fix"`
	// CopyDir is the folder config-file copies go in. The plugin writes
	// nothing there itself: it returns each copy's contents.
	CopyDir string `json:"copy_dir"`
}

// ApplyResponse is a plugin's answer to a fix: the command's new argv, the
// environment variables to set and the contents of config-file copies.
type ApplyResponse struct {
	Argv []string `json:"argv"`
	// Env holds only the variables this fix sets, with their complete new
	// values (already merged with what the user had set).
	Env    map[string]string `json:"env,omitempty"`
	Copies []FileCopy        `json:"copies,omitempty"`
	// Summary says what changed in a few words, for the attempt line, e.g.
	// "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" or
	// "--batch-size 64 -> 32, --grad-accum-steps 1 -> 2".
	Summary string `json:"summary"`
	// Notes are what the user should know about the change, one sentence
	// each ("the data loader skips 40 batches to get back to step 10").
	Notes []string `json:"notes,omitempty"`
}

// FileCopy is a rewritten copy of one of the user's config files.
type FileCopy struct {
	// Original is the path as the command named it.
	Original string `json:"original"`
	// Path is where the copy goes: inside the copy folder the host gave.
	Path    string `json:"path"`
	Content []byte `json:"content"`
}

// UnsupportedError is how Apply turns down a fix the command cannot take
// (or has already): the one way to refuse. Its reason is shown to the user
// as is ("no gradient checkpointing flag in train.py"), and the planner then
// proposes the next fix.
type UnsupportedError struct {
	Fix    FixID
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %s", e.Fix, e.Reason)
}

// Unsupported builds the error Apply returns to turn a fix down.
func Unsupported(fix FixID, format string, args ...any) error {
	return &UnsupportedError{Fix: fix, Reason: fmt.Sprintf(format, args...)}
}
