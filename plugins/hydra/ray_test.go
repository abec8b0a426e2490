package hydra

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestVerlPPOUnderRayJobSubmit: verl's documented launch, `ray job submit
// [ray options] -- python3 -m verl.trainer.main_ppo key=value...`, is
// verl PPO behind a wrapper: recognised, its world its own
// trainer.n_gpus_per_node x trainer.nnodes, and the batch fix's
// overrides follow ray's part kept as typed.
func TestVerlPPOUnderRayJobSubmit(t *testing.T) {
	const prefix = "ray job submit --address=http://127.0.0.1:8265 --runtime-env=verl/trainer/runtime_env.yaml -- "
	const ppo = "python3 -m verl.trainer.main_ppo trainer.n_gpus_per_node=4 trainer.nnodes=2 " +
		"actor_rollout_ref.actor.ppo_mini_batch_size=256 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8"
	c := plugintab.Command(prefix+ppo, nil)
	if got := plugintab.Recognize(t, New(), c); got.Confidence == 0 || got.Reason != "verl PPO (Hydra overrides)" {
		t.Errorf("recognize %+v", got)
	}
	a := plugintab.Analyze(t, New(), c)
	if a.WorldSize != 8 || a.Knobs.GradAccumulation == nil || *a.Knobs.GradAccumulation != 4 {
		t.Errorf("world %d accumulation %v, want 4 x 2 = 8 and 256 / 8 / 8 = 4", a.WorldSize, a.Knobs.GradAccumulation)
	}
	got := plugintab.MustApply(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4})
	if want := prefix + strings.Replace(ppo, "ppo_micro_batch_size_per_gpu=8", "ppo_micro_batch_size_per_gpu=4", 1); plugintab.ArgvText(got.Argv) != want {
		t.Errorf("argv %s\nwant %s", plugintab.ArgvText(got.Argv), want)
	}
}
