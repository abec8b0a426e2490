package profiles

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

// valueKind is the type a scalar setting takes.
type valueKind int

const (
	kindInt valueKind = iota
	kindDuration
	kindBool
	kindString
	kindEnum
	kindLadder
)

// scalarKey describes one scalar key of vramrun.yaml: how to parse it
// from the text of a file, a variable or a flag, and where it goes in
// Settings. Parsed values travel as canonical strings (what format returns)
// so that every layer, viper included, holds the same representation.
type scalarKey struct {
	name string
	kind valueKind
	// min is the smallest allowed value of a kindInt key, max its largest
	// (0: none); percent says it may be written with a "%".
	min, max int
	percent  bool
	// least is the shortest allowed value of a kindDuration key: a grace of
	// nothing ends every job that prints an OOM text and survives it, a
	// poll interval of a millisecond takes a whole core.
	least time.Duration
	enum  []string
	// flag is the main command's flag for the key ("" when it has none).
	flag string
	// help is the flag's help text and the comment in vramrun.yaml.
	help string
	get  func(*Settings) any
	set  func(*Settings, any)
}

// scalarKeys lists the scalar keys in the order profile init writes them. Every
// one of them is also read from VRAMRUN_<KEY>.
func scalarKeys() []scalarKey {
	return []scalarKey{
		{name: "max_attempts", kind: kindInt, min: 1, flag: "max-attempts",
			help: "attempts in all, the first included",
			get:  func(s *Settings) any { return s.MaxAttempts },
			set:  func(s *Settings, v any) { s.MaxAttempts = v.(int) }},
		{name: "grace", kind: kindDuration, least: time.Second, flag: "grace",
			help: "silence after an OOM text before the job counts as hung",
			get:  func(s *Settings) any { return s.Grace },
			set:  func(s *Settings, v any) { s.Grace = v.(time.Duration) }},
		{name: "ladder", kind: kindLadder, flag: "ladder",
			help: "fix order, cheapest first; comma-separated fix ids on the command line",
			get:  func(s *Settings) any { return s.Ladder },
			set:  func(s *Settings, v any) { s.Ladder = v.([]sdk.FixID) }},
		{name: "learn", kind: kindBool, flag: "no-learn",
			help: "use and record learned state (what fit last time)",
			get:  func(s *Settings) any { return s.Learn },
			set:  func(s *Settings, v any) { s.Learn = v.(bool) }},
		{name: "resume", kind: kindBool, flag: "no-resume",
			help: "on a relaunch, resume from the newest checkpoint the run wrote",
			get:  func(s *Settings) any { return s.Resume },
			set:  func(s *Settings, v any) { s.Resume = v.(bool) }},
		{name: "learn_after", kind: kindDuration,
			help: "an attempt that exits 0, or runs this long without an OOM, is what fit",
			get:  func(s *Settings) any { return s.LearnAfter },
			set:  func(s *Settings, v any) { s.LearnAfter = v.(time.Duration) }},
		{name: "gpu_poll", kind: kindDuration, least: 50 * time.Millisecond, flag: "gpu-poll",
			help: "NVML sampling interval",
			get:  func(s *Settings) any { return s.GPUPoll },
			set:  func(s *Settings, v any) { s.GPUPoll = v.(time.Duration) }},
		{name: "events", kind: kindString, flag: "events",
			help: "a file for the JSON-lines event stream (empty: none)",
			get:  func(s *Settings) any { return s.Events },
			set:  func(s *Settings, v any) { s.Events = v.(string) }},
		{name: "pick_gpu", kind: kindBool, flag: "pick-gpu",
			help: "run on the visible GPU with the most free memory",
			get:  func(s *Settings) any { return s.PickGPU },
			set:  func(s *Settings, v any) { s.PickGPU = v.(bool) }},
		{name: "wait_free", kind: kindDuration, flag: "wait-free",
			help: "wait this long for memory held by other processes to be released",
			get:  func(s *Settings) any { return s.WaitFree },
			set:  func(s *Settings, v any) { s.WaitFree = v.(time.Duration) }},
		{name: "pty", kind: kindEnum, enum: []string{"auto", "always", "never"}, flag: "pty",
			help: "give the job a pseudo-terminal: auto, always, never",
			get:  func(s *Settings) any { return s.PTY },
			set:  func(s *Settings, v any) { s.PTY = v.(string) }},
		{name: "keep_effective_batch", kind: kindBool,
			help: "keep micro-batch x accumulation unchanged when the batch shrinks",
			get:  func(s *Settings) any { return s.KeepEffectiveBatch },
			set:  func(s *Settings, v any) { s.KeepEffectiveBatch = v.(bool) }},
		{name: "min_batch_size", kind: kindInt, min: 1,
			help: "the smallest micro-batch vramrun will try before giving up",
			get:  func(s *Settings) any { return s.MinBatchSize },
			set:  func(s *Settings, v any) { s.MinBatchSize = v.(int) }},
		{name: "memory_margin", kind: kindInt, min: 0, max: 50, percent: true,
			help: "percent of the usable GPU memory the planner's size estimates and grow-backs leave free",
			get:  func(s *Settings) any { return s.MemoryMargin },
			set:  func(s *Settings, v any) { s.MemoryMargin = v.(int) }},
		{name: "room_gain", kind: kindInt, min: 0, max: 1000, percent: true,
			help: "percent faster a larger micro-batch must be predicted before the end of a run names it",
			get:  func(s *Settings) any { return s.RoomGain },
			set:  func(s *Settings, v any) { s.RoomGain = v.(int) }},
		{name: "precision", kind: kindEnum, enum: []string{"auto", "bf16", "fp16"},
			help: "what mixed_precision switches to: auto | bf16 | fp16",
			get:  func(s *Settings) any { return s.Precision },
			set:  func(s *Settings, v any) { s.Precision = v.(string) }},
		{name: "probable_oom", kind: kindEnum, enum: []string{"report", "fix"},
			help: "a non-zero exit with VRAM at capacity but no OOM text: report | fix",
			get:  func(s *Settings) any { return s.ProbableOOM },
			set:  func(s *Settings, v any) { s.ProbableOOM = v.(string) }},
		{name: "keep_runs", kind: kindInt, min: 1,
			help: "run folders kept; older ones are pruned after each run",
			get:  func(s *Settings) any { return s.KeepRuns },
			set:  func(s *Settings, v any) { s.KeepRuns = v.(int) }},
	}
}

// Keys of section 5 that are not scalars.
const (
	keyFlags    = "flags"
	keyEnv      = "env"
	keyPlugins  = "plugins"
	keyProfiles = "profiles"
	// keyResume is a scalar (true or false) or a mapping (the project's
	// checkpoints and resume flag, which turns resuming on).
	keyResume = "resume"
)

// Keys lists every key of vramrun.yaml, in profile init's order (profiles:
// excluded, it holds variants rather than a setting).
func Keys() []string {
	var out []string
	for _, k := range scalarKeys() {
		out = append(out, k.name)
	}
	return append(out, keyFlags, keyEnv, keyPlugins, keyProgress)
}

// EnvVar is the environment variable that sets key: VRAMRUN_ + the key in
// upper case.
func EnvVar(key string) string { return "VRAMRUN_" + strings.ToUpper(key) }

func findScalarKey(name string) (scalarKey, bool) {
	for _, k := range scalarKeys() {
		if k.name == name {
			return k, true
		}
	}
	return scalarKey{}, false
}

// parse reads one value as written in a file, a variable or a flag. The
// error text names the value, not the place: callers add the file and line,
// the variable or the flag in front.
func (k scalarKey) parse(text string) (any, error) {
	text = strings.TrimSpace(text)
	switch k.kind {
	case kindInt:
		digits := text
		if k.percent {
			digits = strings.TrimSpace(strings.TrimSuffix(text, "%"))
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		if n < k.min {
			return nil, fmt.Errorf("%d is too small (the least is %d)", n, k.min)
		}
		if k.max > 0 && n > k.max {
			return nil, fmt.Errorf("%d is too large (the most is %d)", n, k.max)
		}
		return n, nil
	case kindDuration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (write e.g. 500ms, 10s, 5m)", text)
		}
		if d < 0 {
			return nil, fmt.Errorf("%q is negative", text)
		}
		if d < k.least {
			return nil, fmt.Errorf("%q is too short (the least is %s)", text, formatDuration(k.least))
		}
		return d, nil
	case kindBool:
		switch strings.ToLower(text) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", text)
	case kindEnum:
		for _, e := range k.enum {
			if text == e {
				return text, nil
			}
		}
		return nil, fmt.Errorf("%q is not one of %s", text, strings.Join(k.enum, ", "))
	case kindLadder:
		return parseLadderList(text)
	}
	return text, nil
}

// parseLadderList reads a comma-separated ladder ("allocator,batch_size");
// brackets around it, as a string-slice flag prints them, are allowed.
func parseLadderList(text string) ([]sdk.FixID, error) {
	text = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(text), "["), "]")
	ladder := []sdk.FixID{}
	if strings.TrimSpace(text) == "" {
		return ladder, nil
	}
	for _, part := range strings.Split(text, ",") {
		id, err := sdk.ParseFixID(part)
		if err != nil {
			return nil, err
		}
		ladder = append(ladder, id)
	}
	return ladder, nil
}

// format writes a parsed value back as text that parse accepts.
func format(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return formatDuration(x)
	case []sdk.FixID:
		parts := make([]string, len(x))
		for i, id := range x {
			parts[i] = string(id)
		}
		return strings.Join(parts, ",")
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// formatDuration writes 5m rather than time.Duration's 5m0s, as a user
// would write it in vramrun.yaml.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
