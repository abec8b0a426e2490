package pytorch

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Checkpoints of argparse scripts, where vramrun knows their layout:
//
//   - timm's train.py: its CheckpointSaver writes last.pth.tar and
//     checkpoint-<epoch>.pth.tar in <--output or ./output/train>/<--experiment
//     or a timestamped name>, and --resume PATH resumes from one;
//   - a DeepSpeed script (it calls the engine's save_checkpoint): DeepSpeed
//     writes <save dir>/<tag>/ and then <save dir>/latest naming the tag, and
//     load_checkpoint(dir) reads latest; the script's own load flag (--load,
//     --load_dir, ...) takes the folder. Without such a flag there is no way
//     to resume from the command line.

var (
	timmResume    = [][]string{{"--resume"}}
	timmOutput    = [][]string{{"--output"}}
	timmExp       = [][]string{{"--experiment"}}
	dsSaveFlags   = [][]string{{"--save"}, {"--save_dir", "--save-dir"}, {"--checkpoint_dir", "--checkpoint-dir"}, {"--output_dir", "--output-dir"}}
	dsLoadFlags   = [][]string{{"--load"}, {"--load_dir", "--load-dir"}, {"--resume_dir", "--resume-dir"}, {"--load_checkpoint_dir"}}
	dsLatestTag   = "latest"
	timmLastFiles = []string{"last.pth.tar", "checkpoint-*.pth.tar"}
)

// isTimm says the script is timm's train.py or shaped like it.
func isTimm(s *pyscript.Script) bool {
	return s.ImportsAny("timm") && s.Find(timmResume...).Defined && s.Find(timmOutput...).Defined
}

// isDeepSpeedSaver says the script saves DeepSpeed checkpoints.
func isDeepSpeedSaver(s *pyscript.Script) bool {
	return s.ImportsAny("deepspeed") && strings.Contains(string(s.Source), ".save_checkpoint(")
}

// argparseCheckpoints is where the script's checkpoints go; nil when vramrun
// does not know its layout or it cannot resume from the command line.
func argparseCheckpoints(s *pyscript.Script) *sdk.Checkpoints {
	switch {
	case isTimm(s):
		base := "output/train"
		if o := s.Find(timmOutput...); o.Known && o.Value != "" {
			base = o.Value
		}
		exp := "*"
		if o := s.Find(timmExp...); o.Known && o.Value != "" {
			exp = o.Value
		}
		var globs []string
		for _, f := range timmLastFiles {
			globs = append(globs, filepath.Join(base, exp, f))
		}
		return &sdk.Checkpoints{Globs: globs}
	case isDeepSpeedSaver(s):
		save, load := s.Find(dsSaveFlags...), s.Find(dsLoadFlags...)
		if !save.Known || save.Value == "" || !load.Defined {
			return nil
		}
		return &sdk.Checkpoints{Globs: []string{filepath.Join(save.Value, dsLatestTag)}}
	}
	return nil
}

// resumeArgparse points the script at the checkpoint: timm's --resume
// takes the file, a DeepSpeed script's load flag the folder of latest.
func resumeArgparse(s *pyscript.Script, fix sdk.Fix, args []string) ([]string, string, []string, error) {
	switch {
	case argparseCheckpoints(s) == nil:
		return nil, "", nil, sdk.Unsupported(fix.ID, "vramrun does not know where %s writes checkpoints, or how it resumes (name them under resume: in vramrun.yaml)", scriptName(s))
	case isTimm(s):
		o := s.Find(timmResume...)
		return o.Set(args, fix.Checkpoint), o.LongName() + " " + fix.Checkpoint,
			[]string{"timm checkpoints are saved once an epoch: the epoch that ran out of memory starts again"}, nil
	}
	o := s.Find(dsLoadFlags...)
	dir := filepath.Dir(fix.Checkpoint)
	return o.Set(args, dir), o.LongName() + " " + dir + " (DeepSpeed's latest: " + fix.Checkpoint + ")", nil, nil
}
