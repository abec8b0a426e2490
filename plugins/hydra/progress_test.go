package hydra

import (
	"math"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestProgressReadsTheToolsLines: lines shaped as verl, NeMo and
// Megatron-Bridge print them (see Progress for the source of each).
func TestProgressReadsTheToolsLines(t *testing.T) {
	cases := []struct {
		line       string
		id         string
		rate       float64
		unit       sdk.ProgressUnit
		perProcess bool
	}{
		// verl SFT's console logger, values as pprint.pformat gives them and as "%.3f" (older verl).
		{"step:3 - train/loss:2.3104 - train/lr(1e-3):0.01 - train/time(s):0.8125", "hydra.verl_train_time", 1 / 0.8125, sdk.UnitStep, false},
		{"step:12 - train/loss:1.234 - train/lr(1e-3):0.010 - train/time(s):2.500", "hydra.verl_train_time", 0.4, sdk.UnitStep, false},
		{"step:7 - train/loss:2.1 - train/lr(1e-3):1e-05 - train/time(s):5e-01", "hydra.verl_train_time", 2, sdk.UnitStep, false},
		// verl PPO's, printed by the Ray TaskRunner actor.
		{"(TaskRunner pid=4242) step:1 - global_seqlen/min:484245 - actor/entropy:0.323 - actor/pg_loss:0.001 - perf/mfu/actor:0.343 - " +
			"critic/score/mean:0.558 - timing_s/gen:541.1881153844297 - timing_s/step:1163.9566092677414 - perf/total_num_tokens:2006947 - " +
			"perf/time_per_step:1163.9566092677414 - perf/throughput:215.52684", "hydra.verl_perf_throughput", 215.52684, sdk.UnitToken, true},
		// verl SFT's epoch bar, one tick a step.
		{"Epoch 1/4:  40%|████      | 2/5 [00:03<00:04,  1.60s/it]", "hydra.verl_sft.tqdm_period", 1 / 1.6, sdk.UnitStep, false},
		{"Epoch 2/4:  60%|██████    | 3/5 [00:03<00:02,  1.10it/s]", "hydra.verl_sft.tqdm_rate", 1.1, sdk.UnitStep, false},
		// NeMo 1's CustomProgressBar and NeMo 2's MegatronProgressBar: the TimingCallback in the postfix.
		{"Epoch 0: : 100%|██████████| 100/100 [10:48<00:00, reduced_train_loss=0.0172, global_step=99.00, consumed_samples=25600.0, train_step_timing in s=3.130]",
			"hydra.nemo_train_step_timing", 1 / 3.13, sdk.UnitStep, false},
		{"Epoch 0:  10%|█         | 2/20 [00:03<00:27, reduced_train_loss=2.490, global_step=1.000, consumed_samples=256.0, train_step_timing in s=1.23e+3]",
			"hydra.nemo_train_step_timing", 1 / 1230.0, sdk.UnitStep, false},
		// NeMo 2's ProgressPrinter.
		{"Training epoch 0, iteration 1/249 | lr: 3.922e-06 | global_batch_size: 8 | global_step: 1 | reduced_train_loss: 1.653 | train_step_timing in s: 2.505 | consumed_samples: 16",
			"hydra.nemo_train_step_timing", 1 / 2.505, sdk.UnitStep, false},
		// Megatron-Bridge's training_log.
		{" [2026-01-02 10:00:00] iteration        5/     100 | consumed samples:          640 | elapsed time per iteration (ms): 1234.5 | " +
			"throughput per GPU (TFLOP/s/GPU): 123.4 | learning rate: 3.000000E-04 | global batch size:   128 | lm loss: 2.310000E+00 | loss scale: 1.0 | " +
			"grad norm: 1.234 | number of skipped iterations:   0 | number of nan iterations:   0 |", "hydra.megatron_bridge_iteration", 1000 / 1234.5, sdk.UnitStep, false},
	}
	for _, c := range cases {
		p, v, ok := plugintab.ReadingOf(t, New(), c.line)
		if !ok {
			t.Errorf("nothing read from %q", c.line)
			continue
		}
		if p.ID != c.id || math.Abs(v-c.rate) > 1e-9*c.rate || p.Unit != c.unit || p.PerProcess != c.perProcess {
			t.Errorf("%q: %s read %g %s/s (per process %v), want %s, %g %s/s (per process %v)",
				c.line, p.ID, v, p.Unit, p.PerProcess, c.id, c.rate, c.unit, c.perProcess)
		}
	}
}

// TestProgressPassesOverOtherLines: what is not a training speed reads
// nothing.
func TestProgressPassesOverOtherLines(t *testing.T) {
	for _, line := range []string{
		// verl's validation before training, and SFT's validation loss.
		"step:0 - val-core/openai/gsm8k/acc/mean@1:0.508 - val-aux/openai/gsm8k/reward/mean@1:0.565",
		"step:5 - val/loss:2.0145",
		// verl PPO's bar ticks once an iteration, not once an optimizer step.
		"Training Progress:  10%|█         | 1/10 [19:23<2:54:30, 1163.96s/it]",
		// NeMo 2 without a TimingCallback (its finetune recipes without performance_mode).
		"Training epoch 0, iteration 1/249 | lr: 3.922e-06 | global_batch_size: 8 | global_step: 1 | reduced_train_loss: 1.653 | consumed_samples: 16",
		"Validation: iteration 1/2",
		// Lightning's own bar, which a Hydra command does not draw.
		"Epoch 0:  35%|███▌      | 7/20 [00:02<00:04,  2.91it/s, v_num=0]",
	} {
		if p, v, ok := plugintab.ReadingOf(t, New(), line); ok {
			t.Errorf("%s read %g from %q, want nothing", p.ID, v, line)
		}
	}
}
