// Package profiles finds and layers vramrun.yaml files and keeps the learned
// state of what fit (contract sections 5 and 6).
//
// Every scalar key of vramrun.yaml can also be set by VRAMRUN_<KEY> (the key
// in upper case): the keys of the main command's flag table, and also
// keep_effective_batch, min_batch_size, precision, probable_oom, keep_runs
// and learn_after. An empty variable counts as unset. Booleans take
// true/false (also yes/no, on/off, 1/0), durations Go's form (500ms, 10s,
// 5m), the ladder a comma-separated list. flags:, env: and plugins: come
// from files only: env: and flags: merge key by key across the user file,
// the project file and the named profile; plugins: merge by name.
package profiles

import (
	"time"

	"github.com/vramrun/vramrun/sdk"
)

// Settings are the merged settings of one run: defaults < user file <
// project vramrun.yaml < named profile < VRAMRUN_* environment < flags.
type Settings struct {
	MaxAttempts        int           `json:"max_attempts"`
	Grace              time.Duration `json:"grace"`
	Ladder             []sdk.FixID   `json:"ladder"`
	Learn              bool          `json:"learn"`
	LearnAfter         time.Duration `json:"learn_after"`
	GPUPoll            time.Duration `json:"gpu_poll"`
	Events             string        `json:"events"`
	PickGPU            bool          `json:"pick_gpu"`
	WaitFree           time.Duration `json:"wait_free"`
	PTY                string        `json:"pty"`
	KeepEffectiveBatch bool          `json:"keep_effective_batch"`
	MinBatchSize       int           `json:"min_batch_size"`
	// Precision is what mixed_precision switches to: auto, bf16 or fp16.
	Precision string `json:"precision"`
	// ProbableOOM is report or fix.
	ProbableOOM string `json:"probable_oom"`
	KeepRuns    int    `json:"keep_runs"`
	// Flags is the project's own flags mapping, names kept as written.
	Flags map[string]string `json:"flags"`
	// Env is extra environment for every attempt, names kept as written.
	Env     map[string]string `json:"env"`
	Plugins []PluginRef       `json:"plugins"`
}

// PluginRef is one entry of the profile's plugins: list.
type PluginRef struct {
	Name string `json:"name"`
	// Path is absolute once loaded (a relative path in the file is relative
	// to that file).
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
}

// Defaults are the settings when no file, variable or flag says otherwise.
func Defaults() Settings {
	return Settings{
		MaxAttempts:        6,
		Grace:              10 * time.Second,
		Ladder:             sdk.DefaultLadder(),
		Learn:              true,
		LearnAfter:         5 * time.Minute,
		GPUPoll:            500 * time.Millisecond,
		PTY:                "auto",
		KeepEffectiveBatch: true,
		MinBatchSize:       1,
		Precision:          "auto",
		ProbableOOM:        "report",
		KeepRuns:           50,
		Flags:              map[string]string{},
		Env:                map[string]string{},
	}
}
