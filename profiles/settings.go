// Package profiles finds and layers vramrun.yaml files and keeps the learned
// state of what fit.
//
// Every scalar key of vramrun.yaml can also be set by VRAMRUN_<KEY> (the key
// in upper case): the keys of the main command's flag table, and also
// keep_effective_batch, min_batch_size, memory_margin, room_gain, precision, probable_oom, keep_runs
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
//
// The keys are grouped by what they govern; the groups are embedded, so
// every key reads as a field of Settings itself (s.Grace, s.Ladder).
type Settings struct {
	LadderSettings
	JobSettings
	GPUSettings
	RecordSettings
}

// LadderSettings say how many attempts vramrun makes and which fixes it
// tries, in what order and how far.
type LadderSettings struct {
	MaxAttempts        int         `json:"max_attempts"`
	Ladder             []sdk.FixID `json:"ladder"`
	KeepEffectiveBatch bool        `json:"keep_effective_batch"`
	MinBatchSize       int         `json:"min_batch_size"`
	// MemoryMargin is the percent of the usable memory the planner's
	// estimates leave free.
	MemoryMargin int `json:"memory_margin"`
	// RoomGain is the percent faster the speed model must predict a larger
	// micro-batch to be before the end of a run names it.
	RoomGain int `json:"room_gain"`
	// Precision is what mixed_precision switches to: auto, bf16 or fp16.
	Precision string `json:"precision"`
	// ProbableOOM is report or fix.
	ProbableOOM string `json:"probable_oom"`
}

// JobSettings say how each attempt of the job is started and watched.
type JobSettings struct {
	Grace time.Duration `json:"grace"`
	PTY   string        `json:"pty"`
	// Flags is the project's own flags mapping, names kept as written.
	Flags map[string]string `json:"flags"`
	// Env is extra environment for every attempt, names kept as written.
	Env     map[string]string `json:"env"`
	Plugins []PluginRef       `json:"plugins"`
	// Progress are the project's own progress lines, tried before the
	// claiming plugin's.
	Progress []sdk.ProgressPattern `json:"progress"`
	// Resume says a relaunch resumes from the newest checkpoint the run
	// wrote; ResumeFrom, when the profile gives it (resume: as a mapping),
	// says where this project's checkpoints go and how its command resumes.
	Resume     bool        `json:"resume"`
	ResumeFrom *ResumeFrom `json:"resume_from,omitempty"`
}

// ResumeFrom is a project's own checkpoints and resume flag, for a command
// no plugin knows the checkpoints of (profile key resume: as a mapping).
type ResumeFrom struct {
	// Checkpoints are globs, relative to the job's working directory.
	Checkpoints []string `json:"checkpoints"`
	// Flag is what is appended to resume, with {checkpoint} for the path:
	// "--resume {checkpoint}".
	Flag string `json:"flag"`
}

// GPUSettings say which GPU the job runs on and how its memory is watched.
type GPUSettings struct {
	GPUPoll  time.Duration `json:"gpu_poll"`
	PickGPU  bool          `json:"pick_gpu"`
	WaitFree time.Duration `json:"wait_free"`
}

// RecordSettings say what vramrun learns and writes down about its runs:
// the learned state, the event stream and the run folders kept.
type RecordSettings struct {
	Learn      bool          `json:"learn"`
	LearnAfter time.Duration `json:"learn_after"`
	Events     string        `json:"events"`
	KeepRuns   int           `json:"keep_runs"`
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
		LadderSettings: LadderSettings{
			MaxAttempts:        6,
			Ladder:             sdk.DefaultLadder(),
			KeepEffectiveBatch: true,
			MinBatchSize:       1,
			MemoryMargin:       10,
			RoomGain:           10,
			Precision:          "auto",
			ProbableOOM:        "report",
		},
		JobSettings: JobSettings{
			Grace:  10 * time.Second,
			PTY:    "auto",
			Flags:  map[string]string{},
			Env:    map[string]string{},
			Resume: true,
		},
		GPUSettings: GPUSettings{
			GPUPoll: 500 * time.Millisecond,
		},
		RecordSettings: RecordSettings{
			Learn:      true,
			LearnAfter: 5 * time.Minute,
			KeepRuns:   50,
		},
	}
}
