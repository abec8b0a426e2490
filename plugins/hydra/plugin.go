// Package hydra is the built-in plugin for trainers configured with
// Hydra/OmegaConf dotted overrides (`key=value` words), where the global
// batch is the truth and the micro-batch per GPU is derived from nothing:
// verl's SFT and PPO trainers, NeMo 1 (Megatron GPT scripts), NeMo 2
// (`nemo llm ... --factory R`) and Megatron-Bridge recipes.
//
// Only the command line is read: these tools' defaults live in their
// packages and recipes, so a knob is known when the command overrides it,
// or from the config a tool ships (verl's trainer configs, NeMo 1's
// megatron_gpt_config.yaml, Megatron-Bridge's recipes; see
// shippedConfigs). A batch fix lowers only the micro key; the accumulation
// the tool derives keeps the global batch, and the new micro-batch divides
// the per-GPU share, as each tool asserts.
package hydra

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "hydra"

// tool is what vramrun knows of one Hydra-configured trainer: how to tell
// its command, its micro and global batch keys, and the settings of the
// fixes it has ("" for none).
type tool struct {
	name string
	// is says the command is this tool's.
	is            func(inv cmdline.Invocation) bool
	micro, global string
	// microDefault and globalDefault are the tool's own defaults, used
	// when the command does not override the key (0: unknown).
	microDefault, globalDefault int
	// checkpointing are the overrides that turn full activation
	// checkpointing on; checkpointingOn the key whose true says it is on.
	checkpointing   []string
	checkpointingOn string
	offload         []string
	// activationOffload are the overrides that offload activations.
	activationOffload []string
	precision         string
	// evalIsMicro says validation runs at the micro-batch too (verl SFT's
	// micro_batch_size_per_gpu is "also val batch size").
	evalIsMicro bool
}

// globalTimes is the key whose value multiplies a tool's global batch
// before the tool shares it out over the GPUs: verl PPO normalizes
// ppo_mini_batch_size x actor_rollout_ref.rollout.n (the responses per
// prompt) over the GPUs (verl/workers/fsdp_workers.py,
// ActorRolloutRefWorker.__init__), so with rollout.n=5 the actor steps
// over five times the typed mini-batch.
var globalTimes = map[string]string{"verl PPO": "actor_rollout_ref.rollout.n"}

// rayGPUsDefault is trainer.n_gpus_per_node's default for the tools whose
// Ray trainer starts a worker per GPU itself (verl/trainer/config/
// ppo_trainer.yaml: 8): a command that leaves it runs on that many, or
// waits for them.
var rayGPUsDefault = map[string]int{"verl PPO": 8}

func moduleIs(name string) func(cmdline.Invocation) bool {
	return func(inv cmdline.Invocation) bool { return inv.Module && inv.Script == name }
}

var tools = []tool{
	{name: "verl SFT", is: moduleIs("verl.trainer.fsdp_sft_trainer"), micro: "data.micro_batch_size_per_gpu", global: "data.train_batch_size",
		microDefault: 4, globalDefault: 256, evalIsMicro: true, // verl/trainer/config/sft_trainer.yaml
		checkpointing: []string{"model.enable_gradient_checkpointing=true"}, checkpointingOn: "model.enable_gradient_checkpointing",
		offload: []string{"model.fsdp_config.cpu_offload=true", "model.fsdp_config.offload_params=true"}},
	{name: "verl PPO", is: moduleIs("verl.trainer.main_ppo"), micro: "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
		global: "actor_rollout_ref.actor.ppo_mini_batch_size", globalDefault: 256, // verl/trainer/config/ppo_trainer.yaml
		checkpointing:     []string{"actor_rollout_ref.model.enable_gradient_checkpointing=true"},
		checkpointingOn:   "actor_rollout_ref.model.enable_gradient_checkpointing",
		offload:           []string{"actor_rollout_ref.actor.fsdp_config.param_offload=true", "actor_rollout_ref.actor.fsdp_config.optimizer_offload=true"},
		activationOffload: []string{"actor_rollout_ref.model.enable_activation_offload=true"}},
	// Megatron-Core's cpu_offloading moves activations (and, with
	// cpu_offloading_weights, the layers' weights) to the host, layer by
	// layer: an activation offload, not an optimizer-state one.
	{name: "NeMo 2", is: func(inv cmdline.Invocation) bool {
		return filepath.Base(inv.Script) == "nemo" && len(inv.Args) > 0 && inv.Args[0] == "llm"
	}, micro: "data.micro_batch_size", global: "data.global_batch_size",
		checkpointing:     []string{"model.config.recompute_granularity=full", "model.config.recompute_method=uniform", "model.config.recompute_num_layers=1"},
		activationOffload: []string{"model.config.cpu_offloading=True"}},
	// Megatron-Bridge validates at train.micro_batch_size too (training/
	// eval.py runs the global batch in micro-batches of it), and its
	// precision is a mixed_precision preset (training/mixed_precision.py).
	{name: "Megatron-Bridge", is: isBridge, micro: "train.micro_batch_size", global: "train.global_batch_size", evalIsMicro: true,
		checkpointing:     []string{"model.recompute_granularity=full", "model.recompute_method=uniform", "model.recompute_num_layers=1"},
		activationOffload: []string{"model.cpu_offloading=True"}, precision: "mixed_precision"},
	// NeMo 1's GPT pretraining validates at model.micro_batch_size too
	// (its validation data loader is built with it).
	{name: "NeMo", is: isNemo1, micro: "model.micro_batch_size", global: "model.global_batch_size", evalIsMicro: true,
		checkpointing: []string{"model.activations_checkpoint_granularity=full", "model.activations_checkpoint_method=uniform",
			"model.activations_checkpoint_num_layers=1"},
		activationOffload: []string{"model.cpu_offloading=True"}, precision: "trainer.precision"},
}

// argHas says a python script's arguments hold an override starting so,
// in any of Hydra's spellings (key=, +key=, ++key=).
func argHas(prefix string) func(cmdline.Invocation) bool {
	return func(inv cmdline.Invocation) bool {
		if !strings.HasSuffix(inv.Script, ".py") && !inv.Module {
			return false
		}
		for _, a := range inv.Args {
			if strings.HasPrefix(strings.TrimLeft(a, "+"), prefix) {
				return true
			}
		}
		return false
	}
}

// Frames are the functions whose frames tell an OOM's phase: verl PPO's
// worker methods and Megatron-Bridge's training loop (their own loops, not
// Lightning's).
func Frames() []sdk.Frame { return append(verlFrames(), bridgeFrames()...) }

// New returns the plugin; the OOM texts are PyTorch's, the speed lines
// the tools' own (Progress).
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name}, Frames: Frames(), Progress: Progress(),
		Rejections: rejections()}, 90,
		"a Hydra-configured trainer vramrun knows", load)
}

type command struct {
	cmd  sdk.Command
	inv  cmdline.Invocation
	tool tool
	vals cfgcli.Values
}

// Why says what gave the command away.
func (c *command) Why() string { return c.tool.name + " (Hydra overrides)" }

func load(cmd sdk.Command, _ *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		return nil, false
	}
	for _, t := range tools {
		if !t.is(inv) {
			continue
		}
		c := &command{cmd: cmd, inv: inv, tool: t, vals: cfgcli.Values{}}
		for _, a := range inv.Args {
			if k, ok := hydraKey(a); ok {
				_, v, _ := strings.Cut(a, "=")
				c.vals[k] = cfgcli.Scalar(v)
			}
		}
		return c, true
	}
	return nil, false
}

// micro is the micro-batch the command trains at: its key, or the tool's
// default (a NeMo 1 script's shipped config's, a Megatron-Bridge recipe's);
// nil when unknown.
func (c *command) micro() *int {
	s, _ := c.shipped()
	return c.keyOr(c.tool.micro, max(c.tool.microDefault, s.micro))
}

// global is the global batch: its key, or the tool's default.
func (c *command) global() *int {
	s, _ := c.shipped()
	return c.keyOr(c.tool.global, max(c.tool.globalDefault, s.global))
}

// keyOr is key's whole number, else the tool's default def (0: none, nil).
func (c *command) keyOr(key string, def int) *int {
	if n := cfgcli.Int(c.vals[key]); n != nil || def == 0 {
		return n
	}
	return sdk.Int(def)
}

// Analyze reads the knobs the command gives; every fix is the apply's to
// take or turn down.
func (c *command) Analyze() pyscript.Analysis {
	return pyscript.Analysis{AnalyzeResponse: c.analysis(), Unsupported: map[sdk.FixID]string{}}
}

func (c *command) analysis() sdk.AnalyzeResponse {
	t, v := c.tool, c.vals
	a := sdk.AnalyzeResponse{Framework: Name, Launcher: c.inv.Launcher, Script: c.inv.Script, WorldSize: max(c.inv.WorldSize, 1)}
	if n := c.keyOr("trainer.n_gpus_per_node", rayGPUsDefault[t.name]); n != nil && *n > 0 {
		// verl's Ray trainers start their own workers.
		a.WorldSize = *n * v.Count("trainer.nnodes")
	}
	if w, ok := parallelWorlds[t.name]; ok {
		a.WorldSize = c.dataParallel(w, c.inv.WorldSize)
	}
	c.knobsFromMegatron(&a)
	micro := c.micro()
	a.Knobs.BatchSize = micro
	if t.evalIsMicro {
		a.Knobs.EvalBatchSize = micro
	}
	if passes, ok := evalPasses[t.name]; ok {
		a.Knobs.EvalBatchSize = c.evalBatch(passes)
	}
	if n := c.bridgeEvalMicro(); n != nil {
		a.Knobs.EvalBatchSize = n
	}
	global := c.global()
	if global != nil && micro != nil && *micro > 0 {
		g := *global
		if key, ok := globalTimes[t.name]; ok {
			g *= v.Count(key)
		}
		// What the tool derives per GPU; the global batch is the truth.
		a.Knobs.GradAccumulation = sdk.Int(max(g/a.WorldSize / *micro, 1))
	}
	if micro == nil {
		a.Notes = append(a.Notes, fmt.Sprintf("%s's %s comes from its config, which vramrun does not read: give %s=N on the command line so that a batch fix can be sized", t.name, t.micro, t.micro))
	}
	if t.checkpointingOn != "" {
		if on, known := cfgcli.Bool(v[t.checkpointingOn]); known {
			a.Knobs.GradCheckpointing = sdk.Bool(on)
		}
	}
	return a
}

// Apply writes the fix as the tool takes it.
func (c *command) Apply(_ context.Context, fix sdk.Fix, _ pyscript.Analysis) (sdk.ApplyResponse, error) {
	t := c.tool
	switch fix.ID {
	case sdk.FixAllocator:
		return pytorch.AllocatorFix(c.cmd.Argv, c.cmd.Env)
	case sdk.FixTrial:
		return c.trial(fix)
	case sdk.FixEvalBatchSize:
		if passes, ok := evalPasses[t.name]; ok {
			return c.applyNoGrad(fix, passes)
		}
		if t.name == "Megatron-Bridge" && c.bridgeEvalBatches() {
			return c.bridgeEvalBatch(fix)
		}
	}
	add, err := c.overrides(fix)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	if len(add) == 0 {
		return sdk.ApplyResponse{}, sdk.Unsupported(fix.ID, "no %s override vramrun knows for %s", fix.ID, t.name)
	}
	args := c.inv.Args
	for _, kv := range add {
		key, value, _ := strings.Cut(kv, "=")
		args = cfgcli.SetOverride(args, -1, key, value)
	}
	summary := strings.Join(add, " ")
	if fix.ID == sdk.FixBatchSize || fix.ID == sdk.FixEvalBatchSize {
		summary += " (" + t.global + " stays: " + t.name + " derives the accumulation"
		if len(add) > 1 {
			summary += "; the critic's update micro-batch comes down by the same ratio, to a divisor of its mini-batch"
		}
		if fix.ID == sdk.FixEvalBatchSize && c.shareDivisor(fix.BatchSize) != fix.BatchSize {
			summary += "; " + strconv.Itoa(c.shareDivisor(fix.BatchSize)) + ", not " + strconv.Itoa(fix.BatchSize) +
				": it must divide each GPU's share of the global batch"
		}
		summary += ")"
	}
	return sdk.ApplyResponse{Argv: c.inv.WithArgs(args), Summary: summary}, nil
}

// shareDivisor is the largest micro-batch up to n that divides each GPU's
// share of the global batch (n itself when the share is unknown).
func (c *command) shareDivisor(n int) int {
	g := c.global()
	if g == nil {
		return n
	}
	share := *g
	if key, ok := globalTimes[c.tool.name]; ok {
		share *= c.vals.Count(key)
	}
	return divisorUpTo(share/c.analysis().WorldSize, n)
}

// overrides are the key=value words of fix, or why the tool has none.
func (c *command) overrides(fix sdk.Fix) ([]string, error) {
	t := c.tool
	if why := c.mcoreConflict(fix.ID); why != "" {
		return nil, sdk.Unsupported(fix.ID, "%s", why)
	}
	switch fix.ID {
	case sdk.FixBatchSize:
		add := []string{t.micro + "=" + strconv.Itoa(fix.BatchSize)}
		if cut := c.criticCut(c.micro(), fix.BatchSize, c.analysis().WorldSize); cut != "" {
			add = append(add, cut)
		}
		return add, nil
	case sdk.FixEvalBatchSize:
		if !t.evalIsMicro {
			return nil, sdk.Unsupported(fix.ID, "no evaluation batch override vramrun knows for %s", t.name)
		}
		// The same key: training's micro-batch comes down with it, and the
		// global batch stays, so it must divide each GPU's share of it, as
		// the tool asserts (Megatron-Core's "global batch size (256) is not
		// divisible by micro batch size (102) times data parallel size (1)").
		return []string{t.micro + "=" + strconv.Itoa(c.shareDivisor(fix.BatchSize))}, nil
	case sdk.FixGradCheckpointing:
		if on, _ := cfgcli.Bool(c.vals[t.checkpointingOn]); on && t.checkpointingOn != "" {
			return nil, sdk.Unsupported(fix.ID, "already on (%s)", t.checkpointingOn)
		}
		return t.checkpointing, nil
	case sdk.FixCPUOffload:
		if t.name == "Megatron-Bridge" {
			return c.bridgeOptimizerOffloadFix(fix.ID)
		}
		return t.offload, nil
	case sdk.FixActivationOffload:
		return c.activationOffload(fix.ID)
	case sdk.FixMixedPrecision:
		return c.precisionFix(fix)
	}
	return nil, sdk.Unsupported(fix.ID, "no %s override vramrun knows for %s", fix.ID, t.name)
}
