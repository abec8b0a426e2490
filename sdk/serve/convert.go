package serve

import (
	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/internal/pluginpb"
)

// The conversions between the sdk types and their wire messages. An empty
// slice or map comes back as nil, so that an answer compares the same
// whichever side of the wire it was made on once both are normalised that
// way.

func commandToPB(c sdk.Command) *pluginpb.Command {
	return &pluginpb.Command{Argv: c.Argv, Env: c.Env, Dir: c.Dir, Files: c.Files, Flags: c.Flags, Gpus: int64(c.GPUs)}
}

func commandFromPB(m *pluginpb.Command) sdk.Command {
	return sdk.Command{
		Argv:  nilIfEmpty(m.GetArgv()),
		Env:   nilIfEmptyMap(m.GetEnv()),
		Dir:   m.GetDir(),
		Files: filesFromPB(m.GetFiles()),
		Flags: nilIfEmptyMap(m.GetFlags()),
		GPUs:  int(max(m.GetGpus(), 0)),
	}
}

// filesFromPB keeps an empty file as an empty, non-nil content: it is still
// a file that takes the place of the disk.
func filesFromPB(files map[string][]byte) map[string][]byte {
	if len(files) == 0 {
		return nil
	}
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		if v == nil {
			v = []byte{}
		}
		out[k] = v
	}
	return out
}

func descriptionToPB(d sdk.DescribeResponse) *pluginpb.DescribeResponse {
	m := &pluginpb.DescribeResponse{Name: d.Name, Version: d.Version, Frameworks: d.Frameworks}
	for _, p := range d.Patterns {
		pm := &pluginpb.OOMPattern{Id: p.ID, Framework: p.Framework, Kind: string(p.Kind), Regexp: p.Regexp,
			Follow: p.Follow, Detail: p.Detail}
		if len(p.DTypeSizes) > 0 {
			pm.DtypeSizes = make(map[string]int64, len(p.DTypeSizes))
			for k, v := range p.DTypeSizes {
				pm.DtypeSizes[k] = int64(v)
			}
		}
		m.Patterns = append(m.Patterns, pm)
	}
	for _, f := range d.Frames {
		m.Frames = append(m.Frames, &pluginpb.Frame{Name: f.Name, Phase: string(f.Phase), Package: f.Package})
	}
	for _, r := range d.Rejections {
		m.Rejections = append(m.Rejections, &pluginpb.RejectionPattern{Id: r.ID, Regexp: r.Regexp})
	}
	for _, p := range d.Progress {
		m.Progress = append(m.Progress, &pluginpb.ProgressPattern{Id: p.ID, Regexp: p.Regexp, Unit: string(p.Unit),
			PerProcess: p.PerProcess, Summary: p.Summary})
	}
	return m
}

func descriptionFromPB(m *pluginpb.DescribeResponse) sdk.DescribeResponse {
	d := sdk.DescribeResponse{Name: m.GetName(), Version: m.GetVersion(), Frameworks: nilIfEmpty(m.GetFrameworks())}
	for _, pm := range m.GetPatterns() {
		p := sdk.OOMPattern{ID: pm.GetId(), Framework: pm.GetFramework(), Kind: sdk.OOMKind(pm.GetKind()),
			Regexp: pm.GetRegexp(), Follow: nilIfEmpty(pm.GetFollow()), Detail: pm.GetDetail()}
		if len(pm.GetDtypeSizes()) > 0 {
			p.DTypeSizes = make(map[string]int, len(pm.GetDtypeSizes()))
			for k, v := range pm.GetDtypeSizes() {
				p.DTypeSizes[k] = int(v)
			}
		}
		d.Patterns = append(d.Patterns, p)
	}
	for _, f := range m.GetFrames() {
		d.Frames = append(d.Frames, sdk.Frame{Name: f.GetName(), Phase: sdk.Phase(f.GetPhase()), Package: f.GetPackage()})
	}
	for _, r := range m.GetRejections() {
		d.Rejections = append(d.Rejections, sdk.RejectionPattern{ID: r.GetId(), Regexp: r.GetRegexp()})
	}
	for _, p := range m.GetProgress() {
		d.Progress = append(d.Progress, sdk.ProgressPattern{ID: p.GetId(), Regexp: p.GetRegexp(),
			Unit: sdk.ProgressUnit(p.GetUnit()), PerProcess: p.GetPerProcess(), Summary: p.GetSummary()})
	}
	return d
}

func analysisToPB(a sdk.AnalyzeResponse) *pluginpb.AnalyzeResponse {
	m := &pluginpb.AnalyzeResponse{Framework: a.Framework, Launcher: a.Launcher, Script: a.Script,
		WorldSize: int64(a.WorldSize), ConfigFiles: a.ConfigFiles, Notes: a.Notes, Knobs: &pluginpb.Knobs{
			BatchSize:         int64Ptr(a.Knobs.BatchSize),
			GradAccumulation:  int64Ptr(a.Knobs.GradAccumulation),
			EvalBatchSize:     int64Ptr(a.Knobs.EvalBatchSize),
			Precision:         a.Knobs.Precision,
			GradCheckpointing: a.Knobs.GradCheckpointing,
			Optimizer:         a.Knobs.Optimizer,
			Offload:           a.Knobs.Offload,
		}}
	if c := a.Checkpoints; c != nil {
		m.Checkpoints = &pluginpb.Checkpoints{Globs: c.Globs, Marker: c.Marker, Step: c.Step}
	}
	return m
}

func analysisFromPB(m *pluginpb.AnalyzeResponse) sdk.AnalyzeResponse {
	k := m.GetKnobs()
	if k == nil {
		k = &pluginpb.Knobs{}
	}
	a := sdk.AnalyzeResponse{Framework: m.GetFramework(), Launcher: m.GetLauncher(), Script: m.GetScript(),
		WorldSize: int(m.GetWorldSize()), ConfigFiles: nilIfEmpty(m.GetConfigFiles()), Notes: nilIfEmpty(m.GetNotes()), Knobs: sdk.Knobs{
			BatchSize:         intPtr(k.BatchSize),
			GradAccumulation:  intPtr(k.GradAccumulation),
			EvalBatchSize:     intPtr(k.EvalBatchSize),
			Precision:         k.Precision,
			GradCheckpointing: k.GradCheckpointing,
			Optimizer:         k.Optimizer,
			Offload:           k.Offload,
		}}
	if c := m.GetCheckpoints(); c != nil {
		a.Checkpoints = &sdk.Checkpoints{Globs: nilIfEmpty(c.GetGlobs()), Marker: c.GetMarker(), Step: c.GetStep()}
	}
	return a
}

func fixToPB(f sdk.Fix) *pluginpb.Fix {
	return &pluginpb.Fix{Id: string(f.ID), BatchSize: int64(f.BatchSize), GradAccumulation: int64(f.GradAccumulation),
		Precision: f.Precision, Checkpoint: f.Checkpoint, Scratch: f.Scratch}
}

func fixFromPB(m *pluginpb.Fix) sdk.Fix {
	return sdk.Fix{ID: sdk.FixID(m.GetId()), BatchSize: int(m.GetBatchSize()), GradAccumulation: int(m.GetGradAccumulation()),
		Precision: m.GetPrecision(), Checkpoint: m.GetCheckpoint(), Scratch: m.GetScratch()}
}

func appliedToPB(a sdk.ApplyResponse) *pluginpb.ApplyResponse {
	m := &pluginpb.ApplyResponse{Argv: a.Argv, Env: a.Env, Summary: a.Summary, Notes: a.Notes}
	for _, c := range a.Copies {
		m.Copies = append(m.Copies, &pluginpb.FileCopy{Original: c.Original, Path: c.Path, Content: c.Content})
	}
	return m
}

func appliedFromPB(m *pluginpb.ApplyResponse) sdk.ApplyResponse {
	a := sdk.ApplyResponse{Argv: nilIfEmpty(m.GetArgv()), Env: nilIfEmptyMap(m.GetEnv()), Summary: m.GetSummary(),
		Notes: nilIfEmpty(m.GetNotes())}
	for _, c := range m.GetCopies() {
		content := c.GetContent()
		if content == nil {
			content = []byte{}
		}
		a.Copies = append(a.Copies, sdk.FileCopy{Original: c.GetOriginal(), Path: c.GetPath(), Content: content})
	}
	return a
}

func int64Ptr(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func intPtr(v *int64) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
