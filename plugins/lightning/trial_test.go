package lightning

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestTrialRootsTheTrainerInTheScratchFolder(t *testing.T) {
	files := map[string]string{"main.py": mainPy, "config.yaml": configYAML}
	got := plugintab.MustApply(t, New(), plugintab.Command("python main.py fit --config config.yaml --trainer.logger=true", files),
		sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"})
	want := "python main.py fit --config config.yaml --trainer.logger=false --trainer.default_root_dir=/s --trainer.enable_checkpointing=false"
	if plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv\n got %s\nwant %s", plugintab.ArgvText(got.Argv), want)
	}
	for _, argv := range []string{
		"python main.py fit --trainer.callbacks+=ModelCheckpoint --trainer.callbacks.dirpath=ck",
		"python main.py fit --config cb.yaml",
	} {
		files := map[string]string{"main.py": mainPy, "cb.yaml": "trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"}
		if _, err := New().Apply(ctx, sdk.ApplyRequest{Command: plugintab.Command(argv, files), Fix: sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}}); err == nil {
			t.Errorf("%s: a command with callbacks takes the trial fix", argv)
		}
	}
}
