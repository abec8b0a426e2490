package pytorch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// timmWithOutput is timm's train.py with its checkpoint flags, as timm
// defines them.
var timmWithOutput = strings.Replace(timmTrain, "\n\ndef main():", `
group.add_argument('--resume', default='', type=str, metavar='PATH',
                   help='Resume full model and optimizer state from checkpoint (default: none)')
group.add_argument('--output', default='', type=str, metavar='PATH',
                   help='path to output folder (default: none, current dir)')
group.add_argument('--experiment', default='', type=str, metavar='NAME',
                   help='name of train experiment, name of sub-folder for output')


def main():`, 1)

// dsTrain is a DeepSpeed training script with its own save and load flags.
const dsTrain = `import argparse
import deepspeed

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--save_dir", type=str, default="ckpts")
parser.add_argument("--load_dir", type=str, default=None)
parser = deepspeed.add_config_arguments(parser)
args = parser.parse_args()
engine, optimizer, _, _ = deepspeed.initialize(args=args, model=model, model_parameters=model.parameters())
if args.load_dir:
    engine.load_checkpoint(args.load_dir)
for step, batch in enumerate(loader):
    engine.backward(engine(batch))
    engine.step()
    if step % 100 == 0:
        engine.save_checkpoint(args.save_dir)
`

func TestTimmCheckpointsAndResume(t *testing.T) {
	files := map[string]string{"train.py": timmWithOutput}
	for argv, want := range map[string][]string{
		"python train.py --data-dir d":                                {"output/train/*/last.pth.tar", "output/train/*/checkpoint-*.pth.tar"},
		"python train.py --data-dir d --output runs --experiment r50": {"runs/r50/last.pth.tar", "runs/r50/checkpoint-*.pth.tar"},
	} {
		a := plugintab.Analyze(t, New(), plugintab.Command(argv, files))
		if a.Checkpoints == nil || !reflect.DeepEqual(a.Checkpoints.Globs, want) {
			t.Errorf("%s: checkpoints %+v, want %q", argv, a.Checkpoints, want)
		}
	}
	cmd := plugintab.Command("python train.py --data-dir d -b 64", files)
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixResume, Checkpoint: "output/train/x/last.pth.tar"})
	if plugintab.ArgvText(got.Argv) != "python train.py --data-dir d -b 64 --resume output/train/x/last.pth.tar" || len(got.Notes) != 1 {
		t.Errorf("argv %q notes %q", plugintab.ArgvText(got.Argv), got.Notes)
	}
	// timm's train.py without its checkpoint flags (the cut-down one): no
	// checkpoints, and resume is turned down.
	plain := plugintab.Command("python train.py --data-dir d", map[string]string{"train.py": timmTrain})
	if a := plugintab.Analyze(t, New(), plain); a.Checkpoints != nil {
		t.Errorf("no --resume flag: checkpoints %+v", a.Checkpoints)
	}
	_, err := plugintab.Apply(t, New(), plain, sdk.Fix{ID: sdk.FixResume, Checkpoint: "x"})
	plugintab.WantUnsupported(t, err, sdk.FixResume, "vramrun does not know where train.py writes checkpoints, or how it resumes (name them under resume: in vramrun.yaml)")
}

func TestDeepSpeedCheckpointsAndResume(t *testing.T) {
	files := map[string]string{"ds_train.py": dsTrain}
	a := plugintab.Analyze(t, New(), plugintab.Command("deepspeed ds_train.py --save_dir out/ds", files))
	if a.Checkpoints == nil || !reflect.DeepEqual(a.Checkpoints.Globs, []string{"out/ds/latest"}) || a.Checkpoints.Marker != "" {
		t.Fatalf("checkpoints %+v, want DeepSpeed's latest file in the save dir", a.Checkpoints)
	}
	got := plugintab.MustApply(t, New(), plugintab.Command("deepspeed ds_train.py --save_dir out/ds", files),
		sdk.Fix{ID: sdk.FixResume, Checkpoint: "out/ds/latest"})
	if plugintab.ArgvText(got.Argv) != "deepspeed ds_train.py --save_dir out/ds --load_dir out/ds" {
		t.Errorf("argv %q, want the script's own load flag on the save dir", plugintab.ArgvText(got.Argv))
	}
	noLoad := strings.Replace(dsTrain, `parser.add_argument("--load_dir", type=str, default=None)`+"\n", "", 1)
	if a := plugintab.Analyze(t, New(), plugintab.Command("deepspeed ds_train.py", map[string]string{"ds_train.py": noLoad})); a.Checkpoints != nil {
		t.Errorf("a script without a load flag: checkpoints %+v, want none", a.Checkpoints)
	}
}
