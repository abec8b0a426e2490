package pytorch

import (
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
)

// restartsNote is the note on torchrun's own restarts, as the user reads
// it, for a given source of the restart count.
func restartsNote(source string) []string {
	return []string{"torchrun restarts failed workers itself (" + source + "); vramrun relaunches with a fix instead, " +
		"and may end torchrun during one of its restarts: pass --max_restarts 0 to let vramrun alone decide"}
}

// TestTorchrunRestartsNote: a command whose torchrun restarts its workers
// itself gets a note saying how that and vramrun's relaunches go together;
// any other command gets none.
func TestTorchrunRestartsNote(t *testing.T) {
	vision := visionFiles()
	nano := plugintab.Files("train.py", nanoTrainNoTorch(), "config/train_gpt2.py", gpt2Config)
	tests := []struct {
		name  string
		argv  string
		files map[string]string
		env   []string
		want  []string
	}{
		{"torchrun --max_restarts", "torchrun --nproc_per_node=8 --max_restarts 3 train.py --batch-size 32", vision, nil,
			restartsNote("--max_restarts 3")},
		{"python -m torch.distributed.run --max-restarts=", "python3 -m torch.distributed.run --nproc_per_node 2 --max-restarts=1 train.py",
			vision, nil, restartsNote("--max-restarts=1")},
		{"nanoGPT under torchrun", "torchrun --standalone --nproc_per_node=4 --max_restarts 2 train.py config/train_gpt2.py", nano, nil,
			restartsNote("--max_restarts 2")},
		{"PET_MAX_RESTARTS in the environment", "torchrun --nproc_per_node=8 train.py", vision, []string{"PET_MAX_RESTARTS", "5"},
			restartsNote("PET_MAX_RESTARTS=5")},
		{"--max_restarts 0", "torchrun --nproc_per_node=8 --max_restarts 0 train.py", vision, nil, nil},
		{"torchrun's default", visionTorchrun, vision, nil, nil},
		{"no torchrun", "python train.py --max_restarts 3", vision, []string{"PET_MAX_RESTARTS", "5"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := plugintab.Command(tt.argv, tt.files, plugintab.Env(tt.env...))
			if got := plugintab.Analyze(t, New(), cmd).Notes; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Notes = %q, want %q", got, tt.want)
			}
		})
	}
}
