package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vramrun/vramrun/profiles/safefs"
	"github.com/vramrun/vramrun/sdk"
)

// Fingerprint identifies a command for learned state: a changed launcher,
// script, knob value or config file content starts fresh.
type Fingerprint struct {
	Launcher  string `json:"launcher"`
	WorldSize int    `json:"world_size"`
	Script    string `json:"script"`
	// Knobs are the knob values as typed ("batch_size": "256").
	Knobs map[string]string `json:"knobs"`
	// ConfigHashes maps each config file the command names to the sha256
	// hex of its content.
	ConfigHashes map[string]string `json:"config_hashes"`
}

// Key is a stable sha256 hex of the fingerprint's canonical encoding (JSON
// with sorted map keys, empty and nil maps alike).
func (f Fingerprint) Key() string {
	canon := struct {
		Version int `json:"v"`
		Fingerprint
	}{1, f}
	canon.Knobs = nonNilMap(f.Knobs)
	canon.ConfigHashes = nonNilMap(f.ConfigHashes)
	// Marshalling strings, ints and string maps cannot fail.
	data, _ := json.Marshal(canon)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// UnknownGPU is the GPU model recorded when NVML is not available.
const UnknownGPU = "unknown GPU"

// GPUKey is the GPU a learned entry is for.
type GPUKey struct {
	// Model is NVML's name; "" is taken as UnknownGPU.
	Model      string `json:"model"`
	TotalBytes uint64 `json:"total_bytes"`
}

func (g GPUKey) normal() GPUKey {
	if g.Model == "" {
		g.Model = UnknownGPU
	}
	return g
}

// Learned is what fit: the fixes that made a command run on a GPU.
type Learned struct {
	// Fixes are the fixes applied, in order, with the planner's sizes.
	Fixes []sdk.Fix `json:"fixes"`
	// Argv is the final command that fit.
	Argv []string `json:"argv"`
	// Env holds the variables vramrun set.
	Env map[string]string `json:"env,omitempty"`
	// Summary is a few words for the user: "batch 24 x accumulation 4, bf16".
	Summary  string    `json:"summary"`
	Recorded time.Time `json:"recorded"`
	RunID    string    `json:"run_id"`
	// Facts are what attempts of this command on this GPU model measured,
	// across runs (the newest MaxFacts): the model the next run starts
	// from, not only the fixes that fit last.
	Facts []Fact `json:"facts,omitempty"`
}

// Fact is what one attempt (or `vramrun tune` trial) measured: the fixes
// it ran with, its micro-batch and accumulation (0 unknown), whether it
// fit or ran out of memory, its NVML peak, the usable memory (tune's
// trials) and its speed (0 unknown).
type Fact struct {
	Fixes     []sdk.Fix `json:"fixes"`
	Outcome   string    `json:"outcome"`
	Micro     int       `json:"micro_batch,omitempty"`
	Accum     int       `json:"grad_accumulation,omitempty"`
	PeakBytes int64     `json:"peak_bytes,omitempty"`
	// PreStepBytes is the level NVML saw the job hold once loaded, before
	// its first step (0 unknown).
	PreStepBytes int64     `json:"pre_step_bytes,omitempty"`
	UsableBytes  int64     `json:"usable_bytes,omitempty"`
	SamplesPerS  float64   `json:"samples_per_s,omitempty"`
	RunID        string    `json:"run_id"`
	Recorded     time.Time `json:"recorded"`
}

// MaxFacts is how many facts an entry keeps, newest last.
const MaxFacts = 64

// Fastest is the fitting configuration with the highest measured speed,
// each configuration (set of fixes) judged by its newest fact: one that
// fit once and ran out of memory later is not the fastest that fits.
func (l Learned) Fastest() (Fact, bool) {
	newest := map[string]Fact{}
	var order []string
	for _, f := range l.Facts {
		key := factKey(f.Fixes)
		if _, seen := newest[key]; !seen {
			order = append(order, key)
		}
		newest[key] = f
	}
	var best Fact
	for _, key := range order {
		f := newest[key]
		if f.Outcome == "ok" && len(f.Fixes) > 0 && f.SamplesPerS > best.SamplesPerS {
			best = f
		}
	}
	return best, best.SamplesPerS > 0
}

// SpeedOf is the newest measured speed of the configuration fixes (0 none).
func (l Learned) SpeedOf(fixes []sdk.Fix) float64 {
	key, speed := factKey(fixes), 0.0
	for _, f := range l.Facts {
		if factKey(f.Fixes) == key {
			speed = f.SamplesPerS
		}
	}
	return speed
}

// factKey names a configuration: its fixes as JSON, in order.
func factKey(fixes []sdk.Fix) string {
	data, _ := json.Marshal(fixes)
	return string(data)
}

// mergeFacts keeps the facts of other runs already stored, then the new
// entry's (a run's facts replace what that run stored before), the
// newest MaxFacts.
func mergeFacts(stored, fresh []Fact) []Fact {
	runs := map[string]bool{}
	for _, f := range fresh {
		runs[f.RunID] = true
	}
	var out []Fact
	for _, f := range stored {
		if !runs[f.RunID] {
			out = append(out, f)
		}
	}
	out = append(out, fresh...)
	return out[max(0, len(out)-MaxFacts):]
}

const (
	stateFileName    = "state.json"
	stateLockName    = "state.lock"
	stateFileVersion = 1
)

// stateFile is the format of state.json.
type stateFile struct {
	Version int                   `json:"version"`
	Entries map[string]stateEntry `json:"entries"`
}

// stateEntry keeps the fingerprint and GPU beside what fit, so a person
// reading state.json sees what each entry is for.
type stateEntry struct {
	Fingerprint Fingerprint `json:"fingerprint"`
	GPU         GPUKey      `json:"gpu"`
	Learned     Learned     `json:"learned"`
}

func entryKey(fp Fingerprint, gpu GPUKey) string {
	gpu = gpu.normal()
	return fp.Key() + "/" + gpu.Model + "/" + strconv.FormatUint(gpu.TotalBytes, 10)
}

// CorruptStateError reports a state.json that could not be read and was set
// aside. It is a warning, not a failure: Lookup answers "not found" and
// Record has recorded its entry in a fresh file. Callers tell it apart with
// errors.As and show it to the user.
type CorruptStateError struct {
	Path    string
	MovedTo string
	Cause   error
}

func (e *CorruptStateError) Error() string {
	return fmt.Sprintf("learned state %s was unreadable (%v); set it aside as %s and started afresh",
		e.Path, e.Cause, filepath.Base(e.MovedTo))
}

func (e *CorruptStateError) Unwrap() error { return e.Cause }

// errCorruptState marks a state.json that parses as nothing of ours.
var errCorruptState = errors.New("not a vramrun state file")

func (s *Store) statePath() string { return filepath.Join(s.Dir, stateFileName) }

// readState reads state.json without the lock: writers replace it by
// rename, so a reader sees a whole file. A missing file is empty state.
func (s *Store) readState() (stateFile, error) {
	empty := stateFile{Version: stateFileVersion, Entries: map[string]stateEntry{}}
	data, err := safefs.ReadFile(s.statePath(), MaxStateBytes)
	var refused *safefs.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return empty, nil
	case errors.As(err, &refused) && refused.TooLarge:
		return stateFile{}, fmt.Errorf("%w: it %s", errCorruptState, refused.Problem)
	case errors.As(err, &refused):
		return stateFile{}, err
	case err != nil:
		return stateFile{}, fmt.Errorf("reading learned state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return stateFile{}, fmt.Errorf("%w: %v", errCorruptState, err)
	}
	switch {
	case st.Version == 0:
		return stateFile{}, fmt.Errorf("%w: no version", errCorruptState)
	case st.Version > stateFileVersion:
		return stateFile{}, fmt.Errorf("learned state %s has version %d; this vramrun reads version %d (upgrade vramrun)",
			s.statePath(), st.Version, stateFileVersion)
	}
	if st.Entries == nil {
		st.Entries = map[string]stateEntry{}
	}
	return st, nil
}

// MaxStateBytes bounds state.json: one entry takes a few hundred bytes, so
// a larger file is not one vramrun wrote; it is set aside as corrupt.
const MaxStateBytes = 16 << 20

// locked runs fn holding the exclusive lock on state.lock, so that
// concurrent vramrun processes in one project take turns. The lock file is
// opened as safefs opens files: a symlink in its place is refused, never
// followed to create a file wherever it points.
func (s *Store) locked(fn func() error) error {
	lock, err := safefs.Open(filepath.Join(s.Dir, stateLockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("locking learned state: %w", err)
	}
	for {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		lock.Close()
		return fmt.Errorf("locking learned state: %w", err)
	}
	err = fn()
	// Closing the file releases the lock.
	if uerr := lock.Close(); err == nil && uerr != nil {
		err = fmt.Errorf("unlocking learned state: %w", uerr)
	}
	return err
}

// loadLocked reads state.json under the lock; a corrupt one is renamed to
// state.json.corrupt-<UTC time> and an empty state returned with the
// warning.
func (s *Store) loadLocked() (stateFile, *CorruptStateError, error) {
	st, err := s.readState()
	if err == nil || !errors.Is(err, errCorruptState) {
		return st, nil, err
	}
	aside := s.statePath() + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	for n := 2; ; n++ {
		if _, serr := os.Lstat(aside); errors.Is(serr, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%s-%d", s.statePath(), time.Now().UTC().Format("20060102T150405Z"), n)
	}
	if rerr := os.Rename(s.statePath(), aside); rerr != nil {
		return stateFile{}, nil, fmt.Errorf("setting aside unreadable learned state: %w", rerr)
	}
	warning := &CorruptStateError{Path: s.statePath(), MovedTo: aside, Cause: err}
	return stateFile{Version: stateFileVersion, Entries: map[string]stateEntry{}}, warning, nil
}

// Lookup finds what fit for the fingerprint on this GPU. A corrupt
// state.json is set aside and reported as a *CorruptStateError with found
// false.
func (s *Store) Lookup(fp Fingerprint, gpu GPUKey) (Learned, bool, error) {
	st, err := s.readState()
	if errors.Is(err, errCorruptState) {
		var warning *CorruptStateError
		err = s.locked(func() error {
			var lerr error
			st, warning, lerr = s.loadLocked()
			return lerr
		})
		if err == nil && warning != nil {
			return Learned{}, false, warning
		}
	}
	if err != nil {
		return Learned{}, false, err
	}
	e, ok := st.Entries[entryKey(fp, gpu)]
	return e.Learned, ok, nil
}

// Record stores what fit for the fingerprint on this GPU, replacing an
// earlier entry for both but keeping its facts of other runs (see
// mergeFacts). The read-modify-write runs under the lock and the
// file is replaced atomically, so concurrent runs lose no entry. A zero
// Recorded is set to now.
func (s *Store) Record(fp Fingerprint, gpu GPUKey, l Learned) error {
	if l.Recorded.IsZero() {
		l.Recorded = time.Now().UTC()
	}
	var warning *CorruptStateError
	err := s.locked(func() error {
		st, w, err := s.loadLocked()
		if err != nil {
			return err
		}
		warning = w
		key := entryKey(fp, gpu)
		l.Facts = mergeFacts(st.Entries[key].Learned.Facts, l.Facts)
		st.Entries[key] = stateEntry{Fingerprint: fp, GPU: gpu.normal(), Learned: l}
		data, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding learned state: %w", err)
		}
		return s.WriteFileAtomic(s.statePath(), append(data, '\n'))
	})
	if err != nil {
		return err
	}
	if warning != nil {
		return warning
	}
	return nil
}

// KnobNames are the knobs of sdk.Knobs by the names KnobStrings gives
// them, in the order vramrun shows them.
func KnobNames() []string {
	return []string{"batch_size", "grad_accumulation", "eval_batch_size", "precision", "grad_checkpointing", "optimizer", "offload"}
}

// KnobStrings are a command's knob values as typed ("batch_size": "256"),
// the known ones only: the fingerprint's Knobs.
func KnobStrings(k sdk.Knobs) map[string]string {
	out := map[string]string{}
	ints := map[string]*int{"batch_size": k.BatchSize, "grad_accumulation": k.GradAccumulation, "eval_batch_size": k.EvalBatchSize}
	for name, v := range ints {
		if v != nil {
			out[name] = strconv.Itoa(*v)
		}
	}
	for name, v := range map[string]*string{"precision": k.Precision, "optimizer": k.Optimizer} {
		if v != nil {
			out[name] = *v
		}
	}
	for name, v := range map[string]*bool{"grad_checkpointing": k.GradCheckpointing, "offload": k.Offload} {
		if v != nil {
			out[name] = strconv.FormatBool(*v)
		}
	}
	return out
}
