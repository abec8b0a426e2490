package sdk

import (
	"os"
	"path/filepath"
)

// Command is a training command as vramrun will start it.
type Command struct {
	// Argv is the command line, program first.
	Argv []string `json:"argv"`
	// Env is the job's whole environment.
	Env map[string]string `json:"env,omitempty"`
	// Dir is the working directory; relative paths in Argv are relative to it.
	Dir string `json:"dir,omitempty"`
	// Files optionally holds file contents that take the place of the disk
	// for the paths given (as written in Argv). ReadFile looks here first.
	Files map[string][]byte `json:"files,omitempty"`
	// Flags is the project's own flags mapping (profile key flags:), keyed by
	// the names of ProfileFlagKeys.
	Flags map[string]string `json:"flags,omitempty"`
}

// ProfileFlagKeys are the keys a profile's flags: mapping may use.
func ProfileFlagKeys() []string {
	return []string{"batch_size", "grad_accumulation", "eval_batch_size",
		"grad_checkpointing", "mixed_precision", "optimizer_8bit", "cpu_offload"}
}

// Path resolves a path named by the command against its working directory.
func (c Command) Path(p string) string {
	if filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// ReadFile reads a file the command names: from Files when present there,
// else from the disk relative to Dir.
func (c Command) ReadFile(p string) ([]byte, error) {
	if b, ok := c.Files[p]; ok {
		return b, nil
	}
	return os.ReadFile(c.Path(p))
}

// Clone returns a deep copy, so that a plugin can build its answer without
// touching its input.
func (c Command) Clone() Command {
	out := c
	out.Argv = append([]string(nil), c.Argv...)
	out.Env = cloneMap(c.Env)
	out.Flags = cloneMap(c.Flags)
	if c.Files != nil {
		out.Files = make(map[string][]byte, len(c.Files))
		for k, v := range c.Files {
			out.Files[k] = append([]byte(nil), v...)
		}
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Recognition is a plugin's answer to "is this command mine".
type Recognition struct {
	// Confidence is 0 when the command is not the plugin's, up to 100 when
	// it is certain. The highest confidence wins.
	Confidence int `json:"confidence"`
	// Framework is the name the plan reports ("transformers", "lightning").
	Framework string `json:"framework,omitempty"`
	// Reason says what gave it away ("imports transformers", "torchrun").
	Reason string `json:"reason,omitempty"`
}

// Knobs are the values a command's memory settings have now, as far as the
// plugin can tell. A nil field means unknown or absent.
type Knobs struct {
	BatchSize         *int    `json:"batch_size"`
	GradAccumulation  *int    `json:"grad_accumulation"`
	EvalBatchSize     *int    `json:"eval_batch_size"`
	Precision         *string `json:"precision"`
	GradCheckpointing *bool   `json:"grad_checkpointing"`
	Optimizer         *string `json:"optimizer"`
	Offload           *bool   `json:"offload"`
}

// Analysis is what a plugin found a command can change.
type Analysis struct {
	Framework string `json:"framework"`
	// Launcher is how the script is started: "python", "python -m",
	// "torchrun", "accelerate", "deepspeed", "srun", ...
	Launcher string `json:"launcher"`
	// Script is the training script's path or module name.
	Script string `json:"script"`
	// WorldSize is the number of processes the launcher starts (1 when not
	// distributed or unknown).
	WorldSize int   `json:"world_size"`
	Knobs     Knobs `json:"knobs"`
	// Unsupported names the fixes this command cannot take, each with the
	// reason in a few words.
	Unsupported map[FixID]string `json:"unsupported,omitempty"`
	// ConfigFiles are the config files the command names (for the
	// fingerprint of learned state).
	ConfigFiles []string `json:"config_files,omitempty"`
}

// Supports reports whether the command can take fix f.
func (a Analysis) Supports(f FixID) bool {
	_, no := a.Unsupported[f]
	return !no
}

// Int, Str and Bool make knob values: sdk.Int(32).
func Int(v int) *int { return &v }

// Str makes a knob value.
func Str(v string) *string { return &v }

// Bool makes a knob value.
func Bool(v bool) *bool { return &v }
