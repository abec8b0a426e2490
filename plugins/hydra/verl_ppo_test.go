package hydra

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

const ppoCmd = "python3 -m verl.trainer.main_ppo trainer.n_gpus_per_node=1 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=64"

func TestVerlPPOFrames(t *testing.T) {
	want := map[string]sdk.Phase{
		"compute_log_prob": sdk.PhaseEval, "compute_ref_log_prob": sdk.PhaseEval, "compute_values": sdk.PhaseEval,
		"update_actor": sdk.PhaseTrain, "update_policy": sdk.PhaseTrain, "update_critic": sdk.PhaseTrain,
	}
	got := plugintab.WantFrames(t, verlFrames(), want)
	// Names RL scripts also use: each counts in verl's own files only.
	for _, f := range verlFrames() {
		if f.Package != "verl" {
			t.Errorf("frame %q: package %q, want verl", f.Name, f.Package)
		}
	}
	// Shared by the updates and the passes, or verl's validation: never a
	// frame, so that neither update nor validation reads as the other.
	for _, name := range []string{"_forward_micro_batch", "_validate", "generate_sequences", "fit", "func"} {
		if _, ok := got[name]; ok {
			t.Errorf("frame %q declared", name)
		}
	}
	d, err := New().Describe(context.Background(), sdk.DescribeRequest{})
	if err != nil || len(d.Frames) != len(Frames()) {
		t.Errorf("Describe carries %d frames (%v), want %d", len(d.Frames), err, len(Frames()))
	}
}

func TestVerlPPOEvalBatchIsTheLargestNoGradPass(t *testing.T) {
	const rollout = " actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16"
	for args, want := range map[string]string{
		// The value pass's micro-batch is the critic's unless set.
		rollout + " critic.ppo_micro_batch_size_per_gpu=32":                                           `"eval_batch_size":32`,
		rollout + " critic.ppo_micro_batch_size_per_gpu=32 critic.forward_micro_batch_size_per_gpu=8": `"eval_batch_size":16`,
		// No critic under GRPO; no reference without a KL term.
		" algorithm.adv_estimator=grpo critic.ppo_micro_batch_size_per_gpu=32" + rollout:                        `"eval_batch_size":16`,
		rollout + " actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=64":                                 `"eval_batch_size":16`,
		rollout + " actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=64 algorithm.use_kl_in_reward=true": `"eval_batch_size":64`,
	} {
		got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(ppoCmd+args, nil)).Knobs)
		if !strings.Contains(got, want) || !strings.Contains(got, `"batch_size":64`) {
			t.Errorf("%s: knobs %s, want %s", args, got, want)
		}
	}
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), plugintab.Command(ppoCmd, nil)).Knobs); !strings.Contains(got, `"eval_batch_size":null`) {
		t.Errorf("no pass set, knobs %s", got)
	}
}

func TestVerlPPOEvalFixLowersTheNoGradPasses(t *testing.T) {
	cmd := ppoCmd + " actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=32 critic.ppo_micro_batch_size_per_gpu=16" +
		" actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4 actor_rollout_ref.actor.use_kl_loss=true"
	// The log-prob key in place; the value pass gets its own key, so that
	// the critic's update keeps 16; the reference's 4 is under 8 already.
	plugintab.WantApplied(t, New(), plugintab.Command(cmd, nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 8},
		strings.Replace(cmd, "log_prob_micro_batch_size_per_gpu=32", "log_prob_micro_batch_size_per_gpu=8", 1)+" critic.forward_micro_batch_size_per_gpu=8", nil,
		"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8 critic.forward_micro_batch_size_per_gpu=8"+
			" (verl PPO's log-prob and value passes, without gradients: the effective batch stays)")
	plugintab.WantRefused(t, New(), plugintab.Command(cmd, nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 32},
		"no log-prob or value micro-batch of verl PPO above 32 on the command line")
	// verl SFT's validation runs at its micro-batch, as before.
	sft := "torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=8"
	plugintab.WantApplied(t, New(), plugintab.Command(sft, nil), sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4},
		"torchrun --nproc_per_node=2 -m verl.trainer.fsdp_sft_trainer data.micro_batch_size_per_gpu=4", nil,
		"data.micro_batch_size_per_gpu=4 (data.train_batch_size stays: verl SFT derives the accumulation)")
}

func TestVerlPPOBatchFixCutsTheCriticToo(t *testing.T) {
	const both = " (actor_rollout_ref.actor.ppo_mini_batch_size stays: verl PPO derives the accumulation; the critic's update micro-batch comes down by the same ratio, to a divisor of its mini-batch)"
	for _, c := range []struct {
		args           string
		micro          int
		critic, suffix string
	}{
		// 32 x 32/64; the shipped mini-batch 256 over one GPU takes 16.
		{" critic.ppo_micro_batch_size_per_gpu=32", 32, "critic.ppo_micro_batch_size_per_gpu=16", both},
		// 48 x 40/64 = 30, and 192 x 1 / 2 GPUs = 96 is split by 24, not 30.
		{" trainer.n_gpus_per_node=2 critic.ppo_mini_batch_size=192 critic.ppo_micro_batch_size_per_gpu=48", 40, "critic.ppo_micro_batch_size_per_gpu=24", both},
		// mini-batch x rollout.n: 64 x 3 = 192 over one GPU; 12 x 16/64 = 3 divides it.
		{" actor_rollout_ref.actor.ppo_mini_batch_size=64 actor_rollout_ref.rollout.n=3 critic.ppo_micro_batch_size_per_gpu=12", 16, "critic.ppo_micro_batch_size_per_gpu=3", both},
		// At least 1.
		{" critic.ppo_micro_batch_size_per_gpu=2", 8, "critic.ppo_micro_batch_size_per_gpu=1", both},
	} {
		cmd := ppoCmd + c.args
		got := plugintab.MustApply(t, New(), plugintab.Command(cmd, nil), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: c.micro})
		text := plugintab.ArgvText(got.Argv)
		actor := "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=" + strconv.Itoa(c.micro)
		if !strings.Contains(text, actor) || !strings.Contains(text, c.critic) || strings.Count(text, "critic.ppo_micro_batch_size_per_gpu=") != 1 {
			t.Errorf("%s: argv %s, want %s and %s", c.args, text, actor, c.critic)
		}
		if got.Summary != actor+" "+c.critic+c.suffix {
			t.Errorf("%s: summary %q", c.args, got.Summary)
		}
	}
	// No critic under GRPO, none set, or one the cut leaves as it is.
	for _, args := range []string{" algorithm.adv_estimator=grpo critic.ppo_micro_batch_size_per_gpu=32", "", " critic.ppo_micro_batch_size_per_gpu=1"} {
		got := plugintab.MustApply(t, New(), plugintab.Command(ppoCmd+args, nil), sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32})
		if want := ppoCmd[:strings.LastIndex(ppoCmd, "=")+1] + "32" + args; plugintab.ArgvText(got.Argv) != want {
			t.Errorf("%q: argv %s, want %s", args, plugintab.ArgvText(got.Argv), want)
		}
	}
}

// TestVerlPPOWorldDefaultsToTheConfigs: without trainer.n_gpus_per_node
// verl's Ray trainer asks for ppo_trainer.yaml's 8 GPUs a node.
func TestVerlPPOWorldDefaultsToTheConfigs(t *testing.T) {
	const base = "python3 -m verl.trainer.main_ppo actor_rollout_ref.actor.ppo_mini_batch_size=256 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8"
	for args, want := range map[string]int{"": 8, " trainer.nnodes=2": 16, " trainer.n_gpus_per_node=2": 2} {
		a := plugintab.Analyze(t, New(), plugintab.Command(base+args, nil))
		if a.WorldSize != want || a.Knobs.GradAccumulation == nil || *a.Knobs.GradAccumulation != 256/want/8 {
			t.Errorf("%q: world %d accumulation %v, want %d and %d", args, a.WorldSize, a.Knobs.GradAccumulation, want, 256/want/8)
		}
	}
}
