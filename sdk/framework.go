// Package sdk is vramrun's public plugin API: the one page of types a plugin
// author reads.
//
// A plugin teaches vramrun about one training framework: which commands are
// its own (Recognize), which memory knobs those commands have (Analyze), how
// to rewrite a command for one fix (Apply), and which out-of-memory texts and
// traceback frames its runtime prints (Describe, as data). vramrun's planner
// chooses the fixes and their sizes; a plugin never does.
//
// Every call takes a request struct and returns a response struct, so that a
// later version can add a field without breaking any plugin.
//
// # The rules a plugin follows
//
//   - It writes no file. A rewritten config file is returned as the contents
//     of a FileCopy inside ApplyRequest.CopyDir; vramrun writes it. The
//     user's own files are never changed.
//   - It does not change its input: Command.Clone gives a copy to build on.
//   - A fix the command cannot take is answered with an *UnsupportedError
//     (see Unsupported) whose reason the user reads as it is ("no gradient
//     checkpointing flag in train.py"). That is the one way to turn a fix
//     down; any other error is a failure of the plugin.
//   - It never changes what is trained: the model, the data, the sequence
//     length, the loss.
//
// # External plugins
//
// An external plugin is an executable named vramrun-plugin-NAME, found in
// $XDG_DATA_HOME/vramrun/plugins, in the folders of VRAMRUN_PLUGIN_PATH, or
// listed under plugins: in vramrun.yaml (optionally pinned by sha256). Its
// main calls serve.Serve (package sdk/serve) with its Framework. vramrun
// starts it through hashicorp/go-plugin and speaks gRPC to it:
//
//   - handshake: the environment variable VRAMRUN_PLUGIN is
//     6c1f3a2e-vramrun-plugin; go-plugin core protocol 1; application
//     protocol 2 (this package); the handshake line on stdout is
//     1|2|unix|/path/to/socket|grpc;
//   - the wire: the Framework service of sdk/proto/vramrun/plugin/v2/plugin.proto,
//     whose messages mirror these types field for field; a plugin in another
//     language generates its code from that file (protoc 3.15 or newer, for
//     proto3 optional fields);
//   - neither the standard gRPC health service nor go-plugin's GRPCBroker
//     and GRPCStdio services is required (vramrun never pings; a plugin
//     without GRPCStdio leaves one harmless debug line, code Unimplemented,
//     in plugins.log);
//   - the plugin gets no stdin; what it writes to stderr (an hclog JSON line
//     keeps its level) goes to the run's plugins.log;
//   - the plugin has 10 seconds to start and 30 seconds for each call; one
//     that crashes, hangs, breaks the handshake, speaks another protocol or
//     answers something Validate refuses is dropped with one line, and the run
//     goes on without it;
//   - the name Describe gives is the name vramrun shows once the plugin has
//     answered; it need not match the executable's NAME, by which vramrun
//     knows the plugin until then (which of two same-named executables is
//     used, the warning when it fails to start, its lines in plugins.log).
//
// Package sdk/plugintest checks a plugin against these rules in the author's
// own go test, and examples/plugin-mytrainer is a complete plugin. This
// package imports nothing of vramrun and needs no cgo, so a plugin author
// needs neither a GPU driver nor a C compiler.
package sdk

import "context"

// Framework is the interface every plugin implements, built-in or external.
type Framework interface {
	// Describe says who the plugin is and which OOM texts and traceback
	// frames it knows. It is called once, when the plugin is loaded.
	Describe(ctx context.Context, req DescribeRequest) (DescribeResponse, error)
	// Recognize says whether a command is the plugin's, with a confidence.
	Recognize(ctx context.Context, req RecognizeRequest) (RecognizeResponse, error)
	// Analyze finds a command's memory knobs.
	Analyze(ctx context.Context, req AnalyzeRequest) (AnalyzeResponse, error)
	// Apply rewrites a command for one fix, or turns the fix down with an
	// *UnsupportedError.
	Apply(ctx context.Context, req ApplyRequest) (ApplyResponse, error)
}

// DescribeRequest asks a plugin who it is. It has no fields yet.
type DescribeRequest struct{}

// DescribeResponse is a plugin's identity and what it knows about its
// runtime's out-of-memory texts.
type DescribeResponse struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Frameworks are the framework names the plugin answers for; an OOM text
	// of one of these runtimes hands an unclaimed command to the plugin.
	Frameworks []string     `json:"frameworks"`
	Patterns   []OOMPattern `json:"patterns,omitempty"`
	// Frames tell the phase from a Python traceback's function names.
	Frames []Frame `json:"frames,omitempty"`
	// Rejections are the texts with which a job turns down a change vramrun
	// made to its command (an unknown flag, a missing module). When the
	// attempt right after a fix fails with one of them naming what the fix
	// changed, vramrun takes the fix back and goes on with the next.
	Rejections []RejectionPattern `json:"rejections,omitempty"`
	// Progress are the lines with which the runtime says how fast it
	// trains; vramrun reads each attempt's speed with the claiming
	// plugin's.
	Progress []ProgressPattern `json:"progress,omitempty"`
}

// RecognizeRequest asks whether a command is the plugin's.
type RecognizeRequest struct {
	Command Command `json:"command"`
}

// RecognizeResponse is a plugin's answer to "is this command mine".
type RecognizeResponse struct {
	// Confidence is 0 when the command is not the plugin's, up to 100 when
	// it is certain. The highest confidence wins; ties go to the profile's
	// order, then to the built-ins' order.
	Confidence int `json:"confidence"`
	// Framework is the name the plan reports ("transformers", "lightning").
	Framework string `json:"framework,omitempty"`
	// Reason says what gave it away ("imports transformers", "torchrun").
	Reason string `json:"reason,omitempty"`
}

// AnalyzeRequest asks for a command's knobs.
type AnalyzeRequest struct {
	Command Command `json:"command"`
}

// AnalyzeResponse is what a plugin found a command can change.
type AnalyzeResponse struct {
	Framework string `json:"framework"`
	// Launcher is how the script is started: "python", "python -m",
	// "torchrun", "accelerate", "deepspeed", "srun", ...
	Launcher string `json:"launcher"`
	// Script is the training script's path or module name.
	Script string `json:"script"`
	// WorldSize is the number of processes the launcher starts, at least 1.
	// The effective batch counts every process.
	WorldSize int   `json:"world_size"`
	Knobs     Knobs `json:"knobs"`
	// ConfigFiles are the config files the command names; a change to one
	// makes it another command for learned state.
	ConfigFiles []string `json:"config_files,omitempty"`
	// Notes are what the user should know about the command before it
	// runs under vramrun, one sentence each ("torchrun restarts failed
	// workers itself (--max_restarts 3): ..."). vramrun shows them once,
	// when the plugin claims the command.
	Notes []string `json:"notes,omitempty"`
	// Checkpoints say where the command's checkpoints go; nil when it
	// writes none the plugin knows of. A plugin that gives them also
	// answers the fix resume in Apply.
	Checkpoints *Checkpoints `json:"checkpoints,omitempty"`
}

// Checkpoints say where a command's checkpoints go, so that a relaunch after
// a late OOM can resume from the newest one the run wrote instead of
// training every step again. vramrun looks for them itself; a checkpoint
// counts only when it was written during this run and is complete.
type Checkpoints struct {
	// Globs are where checkpoints appear (filepath.Glob patterns), relative
	// to the command's Dir unless absolute: "out/checkpoint-*",
	// "lightning_logs/version_*/checkpoints/*.ckpt".
	Globs []string `json:"globs"`
	// Marker is the file a checkpoint folder holds once it is complete
	// ("trainer_state.json", written last). Without one, a checkpoint is a
	// file, complete once its size stops changing.
	Marker string `json:"marker,omitempty"`
	// Step is an RE2 expression with a group named step that reads the
	// training step from a checkpoint's base name
	// ("^checkpoint-(?P<step>[0-9]+)$"); "" when the name does not say.
	Step string `json:"step,omitempty"`
}

// Knobs are the values a command's memory settings have now, as far as the
// plugin can tell. A nil field means unknown or absent.
type Knobs struct {
	// BatchSize is the micro-batch per process.
	BatchSize *int `json:"batch_size"`
	// GradAccumulation is the accumulation steps per process; nil when the
	// command has no accumulation knob.
	GradAccumulation *int    `json:"grad_accumulation"`
	EvalBatchSize    *int    `json:"eval_batch_size"`
	Precision        *string `json:"precision"`
	// GradCheckpointing is whether activation checkpointing is on.
	GradCheckpointing *bool   `json:"grad_checkpointing"`
	Optimizer         *string `json:"optimizer"`
	Offload           *bool   `json:"offload"`
}

// Int, Str and Bool make knob values: sdk.Int(32).
func Int(v int) *int { return &v }

// Str makes a knob value.
func Str(v string) *string { return &v }

// Bool makes a knob value.
func Bool(v bool) *bool { return &v }
