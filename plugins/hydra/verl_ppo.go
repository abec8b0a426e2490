package hydra

import (
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/sdk"
)

// verlFrames are verl PPO's worker methods that tell the phase, read in
// volcengine/verl's verl/workers/fsdp_workers.py (commit 004c888001c8),
// verl/workers/actor/dp_actor.py and verl/workers/critic/dp_critic.py. A
// PPO iteration's no-gradient passes are its evaluation phase: the old
// log-prob recompute (ActorRolloutRefWorker.compute_log_prob, into
// DataParallelPPOActor.compute_log_prob), the reference policy's log-prob
// (compute_ref_log_prob, into the reference's compute_log_prob) and the
// critic's value pass (CriticWorker.compute_values, into
// DataParallelPPOCritic.compute_values). The updates (update_actor into
// update_policy, update_critic into the critic's update_critic) reach the
// model through _forward_micro_batch, never through these, so they stay
// training; verl's validation (RayPPOTrainer._validate) only generates
// (generate_sequences) and scores, and is neither.
//
// vramrun matches frame names over every plugin's declarations, whichever
// plugin claimed the command, and compute_log_prob and compute_values are
// what any RL trainer may call its passes, with or without gradients: each
// counts only in verl's own files, so that a user's script of the same
// names keeps its phase from its other frames.
func verlFrames() []sdk.Frame {
	eval := func(name string) sdk.Frame { return sdk.Frame{Name: name, Phase: sdk.PhaseEval, Package: "verl"} }
	train := func(name string) sdk.Frame { return sdk.Frame{Name: name, Phase: sdk.PhaseTrain, Package: "verl"} }
	return []sdk.Frame{
		eval("compute_log_prob"),
		eval("compute_ref_log_prob"),
		eval("compute_values"),
		train("update_actor"),
		train("update_policy"),
		train("update_critic"),
	}
}

// noGradPass is one of a tool's passes without gradients, which vramrun
// counts as its evaluation: the key of its per-GPU micro-batch, and the
// key the tool's config interpolates it from when the command leaves it
// (forward_micro_batch_size_per_gpu: ${critic.ppo_micro_batch_size_per_gpu}
// in verl's ppo_trainer.yaml). runs, where set, says whether the command's
// job runs the pass at all.
type noGradPass struct {
	key, from string
	runs      func(*command) bool
}

// evalPasses are the no-gradient passes of the tools that have them, each
// with the micro key verl's worker reads (fsdp_workers.py: compute_log_prob
// reads rollout.log_prob_micro_batch_size_per_gpu, compute_ref_log_prob
// ref.log_prob_micro_batch_size_per_gpu, compute_values
// critic.forward_micro_batch_size_per_gpu). The shipped config leaves them
// null; verl's _validate_config asks for the log-prob ones (the
// reference's with a reference policy) and the critic's micro-batch (with a
// critic), so a command that runs sets them. They split the iteration's
// batch and change no gradient, so no effective batch moves with them.
var evalPasses = map[string][]noGradPass{"verl PPO": {
	{key: "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu"},
	{key: "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", runs: (*command).usesReference},
	{key: "critic.forward_micro_batch_size_per_gpu", from: "critic.ppo_micro_batch_size_per_gpu", runs: (*command).usesCritic},
}}

// criticUpdate is a tool's second model trained each iteration alongside
// the one the batch keys name: verl PPO's critic, whose update splits its
// own mini-batch (ppo_mini_batch_size, interpolated from the actor's, x
// rollout_n, the actor's rollout.n, over the GPUs / ulysses_sequence_parallel_size,
// as CriticWorker.__init__ normalizes it) into ppo_micro_batch_size_per_gpu,
// which must divide it.
type criticUpdate struct {
	micro, mini, miniFrom, times, sp string
}

var criticUpdates = map[string]criticUpdate{"verl PPO": {
	micro: "critic.ppo_micro_batch_size_per_gpu", mini: "critic.ppo_mini_batch_size",
	miniFrom: "actor_rollout_ref.actor.ppo_mini_batch_size", times: "actor_rollout_ref.rollout.n",
	sp: "critic.ulysses_sequence_parallel_size",
}}

// usesCritic says verl PPO trains a critic: RayPPOTrainer's use_critic,
// true for algorithm.adv_estimator gae (the shipped default) only.
func (c *command) usesCritic() bool {
	est, set := c.vals["algorithm.adv_estimator"]
	return !set || strings.EqualFold(est, "gae")
}

// usesReference says verl PPO runs a reference policy: main_ppo.py's
// TaskRunner adds one for algorithm.use_kl_in_reward or
// actor_rollout_ref.actor.use_kl_loss (both False in the shipped config).
func (c *command) usesReference() bool {
	return c.vals.On("algorithm.use_kl_in_reward") || c.vals.On("actor_rollout_ref.actor.use_kl_loss")
}

// passMicro is the micro-batch a no-gradient pass runs at: the command's
// key, or the key it is interpolated from; nil when neither is set or the
// pass does not run.
func (c *command) passMicro(p noGradPass) *int {
	if p.runs != nil && !p.runs(c) {
		return nil
	}
	if n := cfgcli.Int(c.vals[p.key]); n != nil {
		return n
	}
	if p.from != "" {
		return cfgcli.Int(c.vals[p.from])
	}
	return nil
}

// evalBatch is the largest micro-batch of the tool's no-gradient passes.
func (c *command) evalBatch(passes []noGradPass) *int {
	var most *int
	for _, p := range passes {
		if n := c.passMicro(p); n != nil && *n > 0 && (most == nil || *n > *most) {
			most = n
		}
	}
	return most
}

// applyNoGrad lowers each no-gradient pass's micro-batch that is above the
// fix's to it, writing the pass's own key (the critic's value pass gets
// forward_micro_batch_size_per_gpu, so that its update keeps its micro-batch).
func (c *command) applyNoGrad(fix sdk.Fix, passes []noGradPass) (sdk.ApplyResponse, error) {
	args := c.inv.Args
	var set []string
	for _, p := range passes {
		n := c.passMicro(p)
		if n == nil || *n <= fix.BatchSize {
			continue
		}
		args = cfgcli.SetOverride(args, -1, p.key, strconv.Itoa(fix.BatchSize))
		set = append(set, p.key+"="+strconv.Itoa(fix.BatchSize))
	}
	if len(set) == 0 {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "no log-prob or value micro-batch of %s above %d on the command line", c.tool.name, fix.BatchSize)
	}
	summary := strings.Join(set, " ") + " (" + c.tool.name + "'s log-prob and value passes, without gradients: the effective batch stays)"
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(args), Summary: summary}, nil
}

// criticCut is the critic's micro-batch override that goes with the
// actor's cut from old to micro: the critic's own micro-batch by the same
// ratio, at least 1, lowered to a divisor of its normalized mini-batch so
// that CriticWorker's assertion holds. "" when the command trains no
// critic, does not set its micro-batch, or the cut leaves it as it is.
func (c *command) criticCut(old *int, micro, world int) string {
	u, ok := criticUpdates[c.tool.name]
	if !ok || old == nil || *old <= 0 || !c.usesCritic() {
		return ""
	}
	cur := cfgcli.Int(c.vals[u.micro])
	if cur == nil || *cur <= 1 {
		return ""
	}
	want := max(*cur*micro / *old, 1)
	mini := cfgcli.Int(c.vals[u.mini])
	if mini == nil {
		mini = c.vals.IntOr(u.miniFrom, c.tool.globalDefault)
	}
	if mini != nil {
		per := *mini * c.vals.Count(u.times) / max(world/c.vals.Count(u.sp), 1)
		for per > 0 && want > 1 && per%want != 0 {
			want--
		}
	}
	if want >= *cur {
		return ""
	}
	return u.micro + "=" + strconv.Itoa(want)
}
