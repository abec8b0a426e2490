package hydra

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// lightningWorld is how a tool started by plain python finds its
// processes: Lightning's DDP launcher starts devices x nodes of them
// itself (NeMo 1's MegatronTrainerBuilder passes cfg.trainer to
// Lightning's Trainer), and Megatron's data-parallel size is that over
// the model-parallel sizes (nemo/collections/nlp/modules/common/megatron/
// megatron_init.py), which the microbatch calculator divides the global
// batch by.
type lightningWorld struct {
	devices, nodes string
	modelParallel  []string
}

var lightningWorlds = map[string]lightningWorld{"NeMo": {devices: "trainer.devices", nodes: "trainer.num_nodes",
	modelParallel: []string{"model.tensor_model_parallel_size", "model.pipeline_model_parallel_size", "model.context_parallel_size"}}}

// dataParallel is the tool's data-parallel size: the launcher's processes
// (torchrun's, or Lightning's devices x nodes under plain python) over the
// model-parallel sizes. It stands for the world size, since vramrun's
// effective batch is micro x accumulation x world, and the processes of
// one model replica share a micro-batch.
func (c *command) dataParallel(w lightningWorld, launched int) int {
	processes := launched
	if processes <= 1 {
		processes = c.vals.Count(w.devices) * c.vals.Count(w.nodes)
	}
	split := 1
	for _, key := range w.modelParallel {
		split *= c.vals.Count(key)
	}
	return max(processes/split, 1)
}

// shippedConfig is what a NeMo 1 example script's own Hydra config sets,
// for a command that overrides none of it: examples/nlp/language_modeling/
// conf/megatron_gpt_config.yaml (micro_batch_size 4, global_batch_size 8,
// trainer.precision bf16, 16 in its older releases: mixed either way).
type shippedConfig struct {
	config        string
	micro, global int
	precision     string
}

var shippedConfigs = map[string]shippedConfig{
	"megatron_gpt_pretraining.py": {config: "megatron_gpt_config.yaml", micro: 4, global: 8, precision: "bf16"},
}

// shipped is the script's shipped config, when the command reads it:
// --config-name, --config-path or --config-dir may point elsewhere.
func (c *command) shipped() (shippedConfig, bool) {
	if c.tool.name != "NeMo" {
		return shippedConfig{}, false
	}
	s, ok := shippedConfigs[filepath.Base(c.inv.Script)]
	for _, a := range c.inv.Args {
		flag, _, _ := strings.Cut(a, "=")
		switch flag {
		case "--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd":
			return shippedConfig{}, false
		}
	}
	return s, ok
}

// nemoPrecisions are NeMo 1's trainer.precision values and what each
// trains at: MegatronTrainerBuilder._plugins takes 16, '16', 'bf16',
// '16-mixed' and 'bf16-mixed' to a mixed-precision plugin; the rest go to
// Lightning's Trainer as they are, which refuses 'fp16' and 'fp32'.
var nemoPrecisions = map[string]string{"16": "fp16", "16-mixed": "fp16", "16-true": "fp16", "bf16": "bf16",
	"bf16-mixed": "bf16", "bf16-true": "bf16", "32": "fp32", "32-true": "fp32"}

// precisionSpelling is how a tool's precision key spells a mixed
// precision the planner names.
var precisionSpelling = map[string]map[string]string{"NeMo": {"fp16": "16", "bf16": "bf16"}}

// precisionNow is the precision the command trains at (bf16, fp16, fp32)
// and the words that say so; "" when unknown.
func (c *command) precisionNow() (string, string) {
	key := c.tool.precision
	if key == "" {
		return "", ""
	}
	if v, named := c.vals[key]; named {
		return nemoPrecisions[v], key + "=" + v
	}
	if s, ok := c.shipped(); ok {
		return s.precision, s.config + "'s trainer.precision: " + s.precision
	}
	return "", ""
}

// recomputeKeys are the Megatron-Core tools' activation recomputation
// switches (NeMo 1 maps activations_checkpoint_granularity to
// TransformerConfig.recompute_granularity), and offloadKeys their CPU
// offloading of activations (TransformerConfig.cpu_offloading; weights
// go too with cpu_offloading_weights). Megatron-Core's TransformerConfig
// refuses the two together ("CPU offloading does not work when activation
// recomputation is enabled", any granularity).
var (
	recomputeKeys = map[string]string{"NeMo": "model.activations_checkpoint_granularity",
		"NeMo 2": "model.config.recompute_granularity", "Megatron-Bridge": "model.recompute_granularity"}
	offloadKeys = map[string]string{"NeMo": "model.cpu_offloading", "NeMo 2": "model.config.cpu_offloading",
		"Megatron-Bridge": "model.cpu_offloading"}
)

// recompute is the command's recomputation granularity ("" for none).
func (c *command) recompute() string {
	v := c.vals[recomputeKeys[c.tool.name]]
	if isNone(v) {
		return ""
	}
	return v
}

// mcoreConflict says why fix cannot join what the command has on, for
// the Megatron-Core tools ("" when it can).
func (c *command) mcoreConflict(id sdk.FixID) string {
	recompute, offload := recomputeKeys[c.tool.name], offloadKeys[c.tool.name]
	if recompute == "" {
		return ""
	}
	const refuses = "Megatron-Core refuses CPU offloading with activation recomputation (%s=%s)"
	switch {
	case id == sdk.FixGradCheckpointing && c.recompute() == "full":
		return "already on (" + recompute + "=full)"
	case id == sdk.FixGradCheckpointing && c.vals.On(offload):
		return strings.Replace(refuses, "%s=%s", offload+"="+c.vals[offload], 1)
	case id == sdk.FixActivationOffload && c.recompute() != "":
		return strings.Replace(refuses, "%s=%s", recompute+"="+c.recompute(), 1)
	}
	return ""
}

// knobsFromMegatron fills what the Megatron-Core keys say: recomputation
// on or off where the command names it, and the precision.
func (c *command) knobsFromMegatron(a *sdk.AnalyzeResponse) {
	if key := recomputeKeys[c.tool.name]; key != "" {
		if _, named := c.vals[key]; named {
			a.Knobs.GradCheckpointing = sdk.Bool(c.recompute() == "full")
		}
	}
	if p, _ := c.precisionNow(); p != "" {
		a.Knobs.Precision = sdk.Str(p)
	}
}

// precisionFix is the mixed_precision override, or why there is none.
func (c *command) precisionFix(fix sdk.Fix) ([]string, error) {
	t := c.tool
	if t.precision == "" {
		return nil, sdk.Unsupported(fix.ID, "%s sets its precision in its config or recipe, not with one override vramrun knows", t.name)
	}
	if now, from := c.precisionNow(); now == "bf16" || now == "fp16" {
		return nil, sdk.Unsupported(fix.ID, "already on (%s)", from)
	}
	value := fix.Precision
	if spelled, ok := precisionSpelling[t.name][value]; ok {
		value = spelled
	}
	return []string{t.precision + "=" + value}, nil
}

// isNemo1 says the command is one of NeMo 1's Megatron scripts: it
// overrides model.micro_batch_size (with Hydra's + or ++ too), or it is a
// script whose shipped config vramrun knows.
func isNemo1(inv cmdline.Invocation) bool {
	if _, ok := shippedConfigs[filepath.Base(inv.Script)]; ok && !inv.Module {
		return true
	}
	return argHas("model.micro_batch_size=")(inv)
}

// hydraKey is an override word's key without Hydra's +, ++ or ~.
func hydraKey(word string) (string, bool) {
	k, _, ok := strings.Cut(word, "=")
	if !ok || strings.HasPrefix(word, "-") {
		return "", false
	}
	return strings.TrimLeft(k, "+~"), true
}
