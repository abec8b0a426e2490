package sdk

import (
	"fmt"
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
	// GPUs is how many GPUs the job sees on this machine (NVML's, after
	// the job's CUDA_VISIBLE_DEVICES); 0 when vramrun cannot tell. A
	// launcher told to start one process per GPU (torchrun --nproc-per-node
	// gpu, deepspeed without --num_gpus, litgpt --devices auto) starts this
	// many on each node.
	GPUs int `json:"gpus,omitempty"`
}

// ProfileFlagKeys are the keys a profile's flags: mapping may use.
func ProfileFlagKeys() []string {
	return []string{"batch_size", "grad_accumulation", "eval_batch_size",
		"grad_checkpointing", "mixed_precision", "optimizer_8bit", "cpu_offload",
		"fused_loss", "activation_offload", "eval_accumulation"}
}

// Path resolves a path named by the command against its working directory.
func (c Command) Path(p string) string {
	if filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// ReadFile reads a file the command names: from Files when present there,
// else from the disk relative to Dir. A path that is not a regular file (a
// named pipe such as bash's <(...) /dev/fd/63, a socket, a device) is not
// read: its contents are the job's, and reading them would take them from
// it. ReadFile then returns an error that says so.
func (c Command) ReadFile(p string) ([]byte, error) {
	if b, ok := c.Files[p]; ok {
		return b, nil
	}
	path := c.Path(p)
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): vramrun leaves it to the job", p, kind(info.Mode()))
	}
	return os.ReadFile(path)
}

// kind names a file's type in a few words.
func kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return "not a regular file"
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
