package host_test

import (
	"context"
	"math"
	"testing"

	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestBuiltinProgressPatternsReadTheirFrameworksLines: each built-in reads
// its framework's own progress lines (as the frameworks print them) and
// nothing from lines that are not progress.
func TestBuiltinProgressPatternsReadTheirFrameworksLines(t *testing.T) {
	progress := map[string][]sdk.ProgressPattern{}
	for _, fw := range host.Builtins() {
		d, err := fw.Describe(context.Background(), sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		progress[d.Name] = d.Progress
	}
	cases := []struct {
		plugin, line string
		rate         float64
		unit         sdk.ProgressUnit
	}{
		{"transformers", " 35%|███▌      | 7/20 [00:02<00:04,  2.91it/s]", 2.91, sdk.UnitStep},
		{"transformers", " 35%|███▌      | 7/20 [00:14<00:26,  2.00s/it, loss=2.1]", 0.5, sdk.UnitStep},
		{"transformers", "[2026-01-02 10:00:00,000] [INFO] [timer.py:260:stop] epoch=0/micro_step=20/global_step=10, RunningAvgSamplesPerSec=41.5, CurrSamplesPerSec=42.25, MemAllocated=3.1GB, MaxMemAllocated=9.8GB", 42.25, sdk.UnitSample},
		{"transformers", "{'train_runtime': 12.3456, 'train_samples_per_second': 41.2, 'train_steps_per_second': 1.62, 'train_loss': 1.23, 'epoch': 1.0}", 41.2, sdk.UnitSample},
		{"trl", " 50%|█████     | 5/10 [00:01<00:01,  3.50it/s]", 3.5, sdk.UnitStep},
		{"axolotl", " 50%|█████     | 5/10 [00:01<00:01,  3.50it/s]", 3.5, sdk.UnitStep},
		{"llamafactory", " 50%|█████     | 5/10 [00:01<00:01,  3.50it/s]", 3.5, sdk.UnitStep},
		{"lightning", "Epoch 0:  35%|███▌      | 7/20 [00:02<00:04,  2.91it/s, v_num=0, train_loss=2.31]", 2.91, sdk.UnitMicroBatch},
		{"pytorch", "Train: 0 [  10/20 ( 55%)]  Loss: 1.234 (1.300)  Time: 0.318s,  805.13/s  (0.330s,  775.71/s)  LR: 1.000e-03  Data: 0.010 (0.012)", 805.13, sdk.UnitSample},
		{"pytorch", "iter 10: loss 4.2173, time 312.50ms, mfu 31.20%", 3.2, sdk.UnitStep},
		{"torchtune", "Step 10 | loss:2.3100 lr:2e-05 tokens_per_second_per_gpu:1234.5 peak_memory_alloc:9.1", 1234.5, sdk.UnitToken},
		{"torchtitan", "\x1b[31mstep:  10  \x1b[32mloss:  2.3100  \x1b[38;2;180;60;0mgrad_norm:  1.0000  \x1b[36mmemory: 12.34GiB(15.50%)  \x1b[34mtps: 12,345  \x1b[36mtflops: 123.45  \x1b[35mmfu: 12.48%\x1b[39m", 12345, sdk.UnitToken},
		{"litgpt", "Epoch 1 | iter 12 step 3 | loss train: 2.105, val: n/a | iter time: 250.00 ms (step)", 4, sdk.UnitMicroBatch},
		{"tensorflow", "20/20 ━━━━━━━━━━━━━━━━━━━━ 1s 50ms/step - loss: 2.3100", 20, sdk.UnitMicroBatch},
		{"tensorflow", "\x1b[1m20/20\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m40s\x1b[0m 2s/step - loss: 2.31", 0.5, sdk.UnitMicroBatch},
	}
	for _, c := range cases {
		p, v, ok := plugintab.Reading(t, progress[c.plugin], c.line)
		if !ok {
			t.Errorf("%s reads nothing from %q", c.plugin, c.line)
			continue
		}
		if math.Abs(v-c.rate) > 1e-9 || p.Unit != c.unit {
			t.Errorf("%s reads %g %s/s (%s) from %q, want %g %s/s", c.plugin, v, p.Unit, p.ID, c.line, c.rate, c.unit)
		}
	}
	quiet := []struct{ plugin, line string }{
		// An evaluation bar is Lightning's, not its training bar.
		{"lightning", "Validation DataLoader 0:  50%|█████     | 4/8 [00:00<00:00, 12.00it/s]"},
		// A plain script's own bar: what one tick is, only the script knows.
		{"pytorch", "train:  35%|###5      | 7/20 [00:00<00:00, 95.1it/s, loss=2.31]"},
		{"transformers", "{'loss': 2.31, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.5}"},
		{"pytorch", "iteration 10 took 312ms"},
	}
	for _, c := range quiet {
		if p, v, ok := plugintab.Reading(t, progress[c.plugin], c.line); ok {
			t.Errorf("%s reads %g from %q with %s, want nothing", c.plugin, v, c.line, p.ID)
		}
	}
}
