package openrlhf

import (
	"math"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestProgressReadsTheTrainingBar: the "Train step of epoch N" bar of the
// SFT, DPO, RM and KTO trainers ticks once a micro-batch.
func TestProgressReadsTheTrainingBar(t *testing.T) {
	for line, want := range map[string]float64{
		"Train step of epoch 0:  12%|█▏        | 30/250 [00:45<05:30,  1.50s/it, gpt_loss=1.23, loss_mean=1.25, lr=1e-05]": 1 / 1.5,
		"Train step of epoch 1:  50%|█████     | 125/250 [01:00<01:00,  2.08it/s, loss=0.693, acc=0.5, chosen_reward=0.1]": 2.08,
	} {
		p, v, ok := plugintab.ReadingOf(t, New(), line)
		if !ok {
			t.Errorf("nothing read from %q", line)
			continue
		}
		if math.Abs(v-want) > 1e-9*want || p.Unit != sdk.UnitMicroBatch {
			t.Errorf("%q: %s read %g %s/s, want %g micro-batches/s", line, p.ID, v, p.Unit, want)
		}
	}
	for _, line := range []string{
		"Train epoch:   0%|          | 0/1 [00:00<?, ?it/s]",
		"Eval stage of steps 100: 100%|██████████| 10/10 [00:02<00:00,  4.50it/s, eval gpt_loss=1.2]",
		"Eval stage of global_step 100: 100%|██████████| 10/10 [00:02<00:00,  4.50it/s]",
		// The Ray PPO trainers' bars.
		"Episode [1/1]:  10%|█         | 1/10 [01:00<09:00, 60.00s/it]",
		"Train epoch [1/1]:  50%|█████     | 8/16 [00:10<00:10,  1.25s/it, policy_loss=0.1]",
	} {
		if p, v, ok := plugintab.ReadingOf(t, New(), line); ok {
			t.Errorf("%s read %g from %q, want nothing", p.ID, v, line)
		}
	}
}
