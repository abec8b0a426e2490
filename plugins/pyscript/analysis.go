package pyscript

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// Analysis is a built-in plugin's reading of a command: the answer Analyze
// gives, and the fixes the command cannot take, each with the reason Apply
// turns it down with.
type Analysis struct {
	sdk.AnalyzeResponse
	Unsupported map[sdk.FixID]string
}

// LauncherNotes are the notes on how the command's launcher and vramrun go
// together, for AnalyzeResponse.Notes; every built-in plugin that claims a
// command gives these same notes. torchrun started with restarts of its
// own (--max_restarts N > 0, or PET_MAX_RESTARTS) restarts the failed
// workers unchanged (the same batch, so the same OOM), printing nothing of
// the restart itself at its default log level; when the new workers stay
// silent past --grace after the OOM text (CUDA start-up, a slow
// rendezvous), vramrun takes that for a hang and ends torchrun. A launcher
// that starts a process per GPU, where vramrun cannot count the GPUs the
// job sees, makes every effective batch vramrun reports one process's. A
// `ray job submit --no-wait` returns without the job's output, which
// vramrun refuses to run (the note says so in a plan); one that names its
// --submission-id has each relaunch submitted under an id of its own.
func (s *Script) LauncherNotes() []string { return s.launcherNotes(s.Inv.Launcher) }

// LaunchedNotes are the LauncherNotes of the launcher a CLI runs in its own
// place (cmdline.Launched), the per-GPU one naming it as who ("tune run's
// torchrun").
func LaunchedNotes(cmd sdk.Command, inv cmdline.Invocation, who string) []string {
	return (&Script{Cmd: cmd, Inv: inv}).launcherNotes(who)
}

func (s *Script) launcherNotes(who string) []string {
	var notes []string
	if n, source := s.Inv.TorchrunRestarts(s.Cmd.Env); n > 0 {
		notes = append(notes, fmt.Sprintf("torchrun restarts failed workers itself (%s); vramrun relaunches with a fix instead, "+
			"and may end torchrun during one of its restarts: pass --max_restarts 0 to let vramrun alone decide", source))
	}
	if s.Inv.PerGPUUncounted() {
		notes = append(notes, PerGPUNoteIn(who, s.Inv))
	}
	if why := s.Inv.Unwatched(); why != "" {
		notes = append(notes, why)
	}
	if ray, ok := s.Inv.RaySubmit(); ok && ray.RelaunchNote() != "" {
		notes = append(notes, ray.RelaunchNote())
	}
	return notes
}

// PerGPUNote says that what ("torchrun", "axolotl train's accelerate
// launch") starts a process per GPU that vramrun could not count.
func PerGPUNote(what string) string { return perGPUNote(what, "no NVML, or behind srun") }

func perGPUNote(what, why string) string {
	return what + " starts a process per GPU, and vramrun cannot count the GPUs the job sees (" + why +
		"): the effective batch it reports is one process's"
}

// PerGPUNoteIn is PerGPUNote for a command behind inv's wrappers: behind
// ray job submit, the job runs on the Ray cluster's GPUs, which vramrun
// does not see.
func PerGPUNoteIn(what string, inv cmdline.Invocation) string {
	if !slices.Contains(inv.Wrappers, "ray job submit") {
		return PerGPUNote(what)
	}
	return perGPUNote(what, "behind ray job submit, it runs on the Ray cluster's")
}

// Lacks turns down each of ids the analysis has no word on yet, with
// reason(id): for the fixes a framework has no option for.
func (a *Analysis) Lacks(reason func(id sdk.FixID) string, ids ...sdk.FixID) {
	if a.Unsupported == nil {
		a.Unsupported = map[sdk.FixID]string{}
	}
	for _, id := range ids {
		if _, ok := a.Unsupported[id]; !ok {
			a.Unsupported[id] = reason(id)
		}
	}
}

// ModelFixes are the fixes that live in a trainer's model or loss code
// (fused loss, activation offload) or in its evaluation loop (evaluation
// accumulation): a plugin whose framework has no option for them turns
// them down with Lacks.
func ModelFixes() []sdk.FixID {
	return []sdk.FixID{sdk.FixFusedLoss, sdk.FixActivationOffload, sdk.FixEvalAccumulation}
}

// FixWords names a fix in a few words, for reasons: "fused-loss".
func FixWords(id sdk.FixID) string {
	switch id {
	case sdk.FixFusedLoss:
		return "fused-loss"
	case sdk.FixActivationOffload:
		return "activation-offload"
	case sdk.FixEvalAccumulation:
		return "evaluation-accumulation"
	}
	return strings.ReplaceAll(string(id), "_", "-")
}
