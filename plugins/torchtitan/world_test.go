package torchtitan

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
)

// TestRunTrainWorldIsNGPU: run_train.sh starts torchrun
// --nproc_per_node=${NGPU:-8}, whatever the GPUs the job sees: the
// accumulation derived from the global batch counts them all.
func TestRunTrainWorldIsNGPU(t *testing.T) {
	files := map[string]string{"llama3_8b.toml": llama3TOML}
	tests := []struct {
		argv  string
		env   []string
		gpus  int
		want  int
		accum string
	}{
		{"./run_train.sh --training.global_batch_size 128", nil, 2, 8, `"grad_accumulation":2`},
		{"./run_train.sh --training.global_batch_size 128", []string{"NGPU", ""}, 2, 8, `"grad_accumulation":2`},
		{"env NGPU=4 ./run_train.sh --training.global_batch_size 128", nil, 8, 4, `"grad_accumulation":4`},
		{"bash run_train.sh --training.global_batch_size 128", []string{"NGPU", "2"}, 8, 2, `"grad_accumulation":8`},
		{"srun -N 2 ./run_train.sh --training.global_batch_size 128", []string{"NGPU", "4"}, 8, 8, `"grad_accumulation":2`},
	}
	for _, tt := range tests {
		c := cmd(tt.argv, files, append([]string{"CONFIG_FILE", "llama3_8b.toml"}, tt.env...)...)
		c.GPUs = tt.gpus
		a := plugintab.Analyze(t, New(), c)
		if got := plugintab.KnobsText(a.Knobs); a.WorldSize != tt.want || a.Launcher != "torchrun" || !strings.Contains(got, tt.accum) || len(a.Notes) != 0 {
			t.Errorf("%s %v: world %d launcher %q knobs %s notes %q, want %d torchrun processes and %s", tt.argv, tt.env, a.WorldSize, a.Launcher, got, a.Notes, tt.want, tt.accum)
		}
	}
}
