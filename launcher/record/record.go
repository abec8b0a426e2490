// Package record keeps what happened in a run: the typed events of the run
// (Event), the run record built from them (.vramrun/runs/<RUN-ID>/run.json),
// each attempt's capped output log, and the --events stream.
package record

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/profiles/safefs"
	"github.com/vramrun/vramrun/sdk"
)

// Outcomes of a run.
const (
	OutcomeOK          = "ok"
	OutcomeGaveUp      = "gave_up"
	OutcomeFailed      = "failed"
	OutcomeInterrupted = "interrupted"
	OutcomeRunning     = "running"
)

// Run is the record of one vramrun run: .vramrun/runs/<RUN-ID>/run.json.
type Run struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitempty"`
	Argv    []string  `json:"argv"`
	Dir     string    `json:"dir"`
	Job
	// Learned is the summary of the learned start, when the run began from
	// what fit last time.
	Learned  string    `json:"learned,omitempty"`
	Attempts []Attempt `json:"attempts"`
	End
	Notes []string `json:"notes,omitempty"`
}

// Job is what the run found out about the command.
type Job struct {
	// Framework is the claiming plugin's framework, "unknown" without one.
	Framework string `json:"framework"`
	Launcher  string `json:"launcher,omitempty"`
	Script    string `json:"script,omitempty"`
	// GPU is the model of the first GPU the job sees, "unknown GPU"
	// without NVML.
	GPU string `json:"gpu"`
}

// End is how the run ended, and the command that ran last.
type End struct {
	// Outcome: ok, gave_up, failed, interrupted; running while it runs.
	Outcome    string            `json:"outcome"`
	ExitStatus int               `json:"exit_status"`
	FinalArgv  []string          `json:"final_argv"`
	FinalEnv   map[string]string `json:"final_env,omitempty"`
	// Fixes are the fix ids applied in this run, in order.
	Fixes []string `json:"fixes"`
	// Room is a larger micro-batch that the last attempt's peak leaves
	// room for, after the run cut it; nil none. RoomWithheld says why
	// none was named where the peak would have named one: it is not known
	// to hold a training step's memory.
	Room         *Room  `json:"room,omitempty"`
	RoomWithheld string `json:"room_withheld,omitempty"`
}

// Room is a larger micro-batch, the effective batch kept, that a fitting
// attempt's NVML peak predicts to fit: a hint for `vramrun tune`, which
// measures whether it is faster. Nothing is changed for it.
type Room struct {
	Micro        int `json:"micro_batch"`
	Accumulation int `json:"grad_accumulation,omitempty"`
	// At is the micro-batch that fit, with its peak; Predicted is the
	// memory the line of the run's figures gives the larger one, Usable
	// what the job could have.
	At             int   `json:"at_micro_batch"`
	PeakBytes      int64 `json:"peak_bytes"`
	PredictedBytes int64 `json:"predicted_bytes"`
	UsableBytes    int64 `json:"usable_bytes"`
	// PredictedGain is how much faster the speed model predicts the larger
	// micro-batch (0.18: 18 %); the Predicted and At speeds are samples a
	// second, the measured one at At scaled by it (omitted when the fit's
	// speed was not read).
	PredictedGain        float64 `json:"predicted_gain"`
	AtSamplesPerS        float64 `json:"at_samples_per_s,omitempty"`
	PredictedSamplesPerS float64 `json:"predicted_samples_per_s,omitempty"`
	// PreStepBytes is the fit's level before its first step, when the
	// prediction took it as the fixed part of its memory line.
	PreStepBytes int64 `json:"pre_step_bytes,omitempty"`
}

// Attempt is one launch of the job.
type Attempt struct {
	N int `json:"n"`
	Launch
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Changes
	// Outcome: ok, oom, host_oom, probable_oom, hung, failed, interrupted,
	// hardware.
	Outcome string `json:"outcome"`
	Exit
	OOMs
	Memory
	Measured
	Output
	Notes []string `json:"notes,omitempty"`
}

// Measured is what an attempt ran with and how fast it went.
type Measured struct {
	// Speed is how fast the attempt trained, as its output said; nil when
	// nothing it printed told (speed unknown).
	Speed *Speed `json:"speed,omitempty"`
	// Shape is the attempt's batch shape and memory settings, as the
	// plugin read them from its command; nil when no plugin claimed it.
	Shape *Shape `json:"shape,omitempty"`
}

// Speed is an attempt's training speed, from its progress lines: the
// median of the latest readings once the first few (compile, autotune,
// allocator growth, lazy optimizer state) are dropped.
type Speed struct {
	// SamplesPerS counts every process's samples; nil when the reading's
	// unit does not convert (tokens, or a step of unknown size).
	SamplesPerS *float64 `json:"samples_per_s"`
	// TokensPerS is set for a token reading (every process's tokens).
	TokensPerS *float64 `json:"tokens_per_s,omitempty"`
	// Rate is the median as read, in Unit a second (per process where the
	// pattern counts one process's).
	Rate float64 `json:"rate"`
	Unit string  `json:"unit"`
	// Spread is the window's interquartile range over its median.
	Spread float64 `json:"spread"`
	// Readings are the steady readings the median is over.
	Readings int    `json:"readings"`
	Pattern  string `json:"pattern"`
}

// Shape is what an attempt ran with: the batch per process, the
// accumulation, the processes, and the knobs that change memory and speed.
type Shape struct {
	sdk.Knobs
	WorldSize int `json:"world_size"`
}

// Changes are what vramrun changed before an attempt.
type Changes struct {
	// Fix is the fix applied before this attempt (nil for the first).
	Fix *FixRecord `json:"fix,omitempty"`
	// Also are the fixes that went with Fix in the same attempt.
	Also    []FixRecord  `json:"also,omitempty"`
	Skipped []SkipRecord `json:"skipped,omitempty"`
	// Resumed is the checkpoint the attempt resumed from; nil when it
	// started from scratch.
	Resumed *Resume `json:"resumed,omitempty"`
}

// Resume is the checkpoint an attempt resumed from.
type Resume struct {
	// Checkpoint is the path as the command names it.
	Checkpoint string    `json:"checkpoint"`
	Written    time.Time `json:"written"`
	// Step is the training step the checkpoint holds: the steps not
	// trained again. Nil when the checkpoint does not say.
	Step *int `json:"step,omitempty"`
	// BeforeOOM is how long before the OOM that prompted the relaunch the
	// checkpoint was written.
	BeforeOOM time.Duration `json:"before_oom_ns"`
	// Summary says what changed in the command ("--resume_from_checkpoint
	// out/checkpoint-10"); Notes what the plugin says the user should know.
	Summary string   `json:"summary"`
	Notes   []string `json:"notes,omitempty"`
}

// Launch is what an attempt ran.
type Launch struct {
	Argv []string `json:"argv"`
	// Env is only what vramrun set.
	Env map[string]string `json:"env,omitempty"`
	// Files maps each rewritten config file to its copy.
	Files map[string]string `json:"files,omitempty"`
}

// Exit is how the job's main process ended.
type Exit struct {
	// ExitCode is -1 when a signal ended the job.
	ExitCode int `json:"exit_code"`
	Signal   int `json:"signal,omitempty"`
	// ExitStatus is the code, or 128+signal.
	ExitStatus int `json:"exit_status"`
}

// OOMs are the attempt's out-of-memory errors.
type OOMs struct {
	Diagnosis *oom.Diagnosis `json:"diagnosis,omitempty"`
	// OOMAt is when the job printed the OOM text that ended the attempt
	// (outcomes oom and hung), as vramrun read it.
	OOMAt *time.Time `json:"oom_at,omitempty"`
	// SurvivedOOMs counts the OOM texts the job lived on after.
	SurvivedOOMs int `json:"survived_ooms,omitempty"`
}

// Memory is what NVML saw of the attempt.
type Memory struct {
	PeakBytes *int64 `json:"peak_bytes,omitempty"`
	// PreStepBytes is what the job held once loaded, before its first
	// step (see gpu.Sampler.PreStepLevel); omitted when NVML saw no such
	// level.
	PreStepBytes *int64 `json:"pre_step_bytes,omitempty"`
	// CapacityBytes is the GPU's total memory when NVML knew it.
	CapacityBytes *int64 `json:"capacity_bytes,omitempty"`
	SamplesFile   string `json:"samples_file,omitempty"`
}

// Output is where the attempt's output is kept.
type Output struct {
	LogFile  string `json:"log_file"`
	LogBytes int64  `json:"log_bytes"`
}

// FixRecord is a fix as applied.
type FixRecord struct {
	Fix     sdk.Fix `json:"fix"`
	Reason  string  `json:"reason"`
	Summary string  `json:"summary"`
	Learned bool    `json:"learned,omitempty"`
}

// SkipRecord is a fix passed over.
type SkipRecord struct {
	Fix    sdk.FixID `json:"fix"`
	Reason string    `json:"reason"`
}

// NewRunID makes an id that sorts by start time, to the millisecond (runs
// started in the same second, as in a script, still sort in order), with a
// random tail so that concurrent runs never share one:
// 20260102-150405.123-a1b2c3.
func NewRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102-150405.000") + "-" + hex.EncodeToString(b[:])
}

// FileName is the run record's name inside its folder.
const FileName = "run.json"

// Write stores the record in dir atomically (temp file and rename), so a
// reader never sees half a record.
func (r *Run) Write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".run-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, FileName))
}

// MaxRecordBytes bounds a run.json: a record of even a hundred attempts is
// well under it; a larger file is not one vramrun wrote.
const MaxRecordBytes = 16 << 20

// Read loads a run record. A run.json that is a symlink, a named pipe or
// larger than MaxRecordBytes is refused unread (a *safefs.Error).
func Read(dir string) (*Run, error) {
	data, err := safefs.ReadFile(filepath.Join(dir, FileName), MaxRecordBytes)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, FileName), err)
	}
	return &r, nil
}

// List reads the runs under runsDir, newest first. Folders without a
// readable record are left out. A runsDir that is a symlink is refused.
func List(runsDir string) ([]*Run, error) {
	if err := safefs.Check(runsDir, true); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var runs []*Run
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := Read(filepath.Join(runsDir, e.Name()))
		if err != nil {
			continue
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
	return runs, nil
}

// Prune deletes all but the newest keep run folders. Only folders that look
// like run folders (a run id name) are touched, and never one whose run is
// still going (another vramrun in the same project): a run that says
// "running" and was written to in the last day is left alone. A runsDir
// that is a symlink is refused: what it points at is not vramrun's.
func Prune(runsDir string, keep int) ([]string, error) {
	if err := safefs.Check(runsDir, true); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && looksLikeRunID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	var removed []string
	for i := keep; i < len(ids); i++ {
		dir := filepath.Join(runsDir, ids[i])
		if stillRunning(dir) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, err
		}
		removed = append(removed, ids[i])
	}
	return removed, nil
}

// stillRunning says whether the run in dir may still be going.
func stillRunning(dir string) bool {
	path := filepath.Join(dir, FileName)
	info, err := os.Lstat(path)
	if err != nil {
		// A folder without a record yet is a run being set up.
		return time.Since(dirTime(dir)) < 24*time.Hour
	}
	r, err := Read(dir)
	return err == nil && r.Outcome == OutcomeRunning && time.Since(info.ModTime()) < 24*time.Hour
}

func dirTime(dir string) time.Time {
	info, err := os.Stat(dir)
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

// looksLikeRunID matches NewRunID's shape: 20060102-150405.000-abcdef.
func looksLikeRunID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) != 8 || len(parts[1]) != 10 || parts[1][6] != '.' || len(parts[2]) != 6 {
		return false
	}
	for _, c := range parts[0] + parts[1][:6] + parts[1][7:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	_, err := hex.DecodeString(parts[2])
	return err == nil
}
