package hydra

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// parallelWorld is how a Megatron-Core tool's data-parallel size comes
// about: the processes (torchrun's; under plain python, the ones the tool
// starts itself, devices x nodes, where it has such keys) over the
// model-parallel sizes, which Megatron-Core's microbatch calculator divides
// the global batch by. NeMo 1's MegatronTrainerBuilder and NeMo 2's Trainer
// pass trainer.devices to Lightning, whose DDP launcher starts that many
// processes (nemo/collections/nlp/modules/common/megatron/megatron_init.py
// for NeMo 1's sizes; NeMo 2's are MegatronStrategy's); Megatron-Bridge's
// recipe scripts start nothing (torchrun starts them) and their sizes are
// the model provider's (training/config.py, get_data_parallel_size).
type parallelWorld struct {
	devices, nodes string
	// modelParallel are the tensor, pipeline and context parallel keys, in
	// that order.
	modelParallel []string
}

var parallelWorlds = map[string]parallelWorld{
	"NeMo": {devices: "trainer.devices", nodes: "trainer.num_nodes",
		modelParallel: []string{"model.tensor_model_parallel_size", "model.pipeline_model_parallel_size", "model.context_parallel_size"}},
	"NeMo 2": {devices: "trainer.devices", nodes: "trainer.num_nodes",
		modelParallel: []string{"trainer.strategy.tensor_model_parallel_size", "trainer.strategy.pipeline_model_parallel_size",
			"trainer.strategy.context_parallel_size"}},
	"Megatron-Bridge": {modelParallel: []string{"model.tensor_model_parallel_size", "model.pipeline_model_parallel_size",
		"model.context_parallel_size"}},
}

// dataParallel is the tool's data-parallel size: the launcher's processes
// (torchrun's, or the tool's own devices x nodes under plain python) over
// the model-parallel sizes. It stands for the world size, since vramrun's
// effective batch is micro x accumulation x world, and the processes of
// one model replica share a micro-batch.
func (c *command) dataParallel(w parallelWorld, launched int) int {
	processes := launched
	if processes <= 1 && w.devices != "" {
		devices := c.vals.Count(w.devices)
		if n, every := cmdline.EveryGPU(c.vals[w.devices], c.cmd.GPUs); every {
			devices = n
		}
		processes = devices * c.vals.Count(w.nodes)
	}
	split := 1
	for _, key := range w.modelParallel {
		split *= c.parallelSize(key)
	}
	return max(processes/split, 1)
}

// parallelSize is a model-parallel key's size: the command's, else the
// script's shipped config's, else 1.
func (c *command) parallelSize(key string) int {
	if _, named := c.vals[key]; !named {
		if s, ok := c.shipped(); ok && s.parallel[key] > 1 {
			return s.parallel[key]
		}
	}
	return c.vals.Count(key)
}

// shippedConfig is what a script's own config sets, for a command that
// overrides none of it: NeMo 1's examples/nlp/language_modeling/conf/
// megatron_gpt_config.yaml (micro_batch_size 4, global_batch_size 8,
// trainer.precision bf16, 16 in its older releases: mixed either way), and
// the recipe behind Megatron-Bridge's examples/recipes/llama/
// pretrain_llama3_8b.py (recipes/llama/llama3.py's llama3_8b_pretrain_config
// over recipes/common.py's _pretrain_common: micro 1, global 512, context
// parallel 2, mixed_precision bf16_mixed, and Meta-Llama-3-8B's 32 layers).
type shippedConfig struct {
	config        string
	micro, global int
	// precision is the precision key's value as the config spells it.
	precision string
	// parallel are model-parallel sizes above 1, by key.
	parallel map[string]int
	// layers is the model's num_layers (0: unknown).
	layers int
}

var shippedConfigs = map[string]map[string]shippedConfig{
	"NeMo": {"megatron_gpt_pretraining.py": {config: "megatron_gpt_config.yaml", micro: 4, global: 8, precision: "bf16"}},
	"Megatron-Bridge": {"pretrain_llama3_8b.py": {config: "the llama3_8b recipe", micro: 1, global: 512, precision: "bf16_mixed",
		parallel: map[string]int{"model.context_parallel_size": 2}, layers: 32}},
}

// configFlags are the flags with which a command reads a config other than
// the shipped one: Hydra's for NeMo 1, the recipe scripts' YAML of
// overrides for Megatron-Bridge.
var configFlags = map[string][]string{
	"NeMo":            {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd"},
	"Megatron-Bridge": {"--config-file"},
}

// shipped is the script's shipped config, when the command reads it.
func (c *command) shipped() (shippedConfig, bool) {
	s, ok := shippedConfigs[c.tool.name][filepath.Base(c.inv.Script)]
	if !ok || c.inv.Module {
		return shippedConfig{}, false
	}
	for _, a := range c.inv.Args {
		flag, _, _ := strings.Cut(a, "=")
		for _, f := range configFlags[c.tool.name] {
			if flag == f {
				return shippedConfig{}, false
			}
		}
	}
	return s, true
}

// precisions are each tool's spellings of its precision key's values and
// what each trains at ("" when unknown). NeMo 1: MegatronTrainerBuilder.
// _plugins takes 16, '16', 'bf16', '16-mixed' and 'bf16-mixed' to a
// mixed-precision plugin; the rest go to Lightning's Trainer as they are,
// which refuses 'fp16' and 'fp32'. Megatron-Bridge: training/
// mixed_precision.py's presets (bf16_mixed, fp16_mixed, and the FP8 ones
// over either; newer releases take hyphens for underscores), null for none.
func precisionOf(tool, value string) string {
	switch tool {
	case "NeMo":
		return map[string]string{"16": "fp16", "16-mixed": "fp16", "16-true": "fp16", "bf16": "bf16",
			"bf16-mixed": "bf16", "bf16-true": "bf16", "32": "fp32", "32-true": "fp32"}[value]
	case "Megatron-Bridge":
		v := strings.ReplaceAll(strings.ToLower(value), "-", "_")
		switch {
		case isNone(v):
			return "fp32"
		case strings.HasPrefix(v, "bf16_"):
			return "bf16"
		case strings.HasPrefix(v, "fp16_"):
			return "fp16"
		}
	}
	return ""
}

// precisionSpelling is how a tool's precision key spells a mixed
// precision the planner names.
var precisionSpelling = map[string]map[string]string{"NeMo": {"fp16": "16", "bf16": "bf16"},
	"Megatron-Bridge": {"fp16": "fp16_mixed", "bf16": "bf16_mixed"}}

// precisionNow is the precision the command trains at (bf16, fp16, fp32)
// and the words that say so; "" when unknown.
func (c *command) precisionNow() (string, string) {
	key := c.tool.precision
	if key == "" {
		return "", ""
	}
	if v, named := c.vals[key]; named {
		return precisionOf(c.tool.name, v), key + "=" + v
	}
	if s, ok := c.shipped(); ok && s.precision != "" {
		return precisionOf(c.tool.name, s.precision), s.config + "'s " + key + ": " + s.precision
	}
	return "", ""
}

// recomputeKeys are the Megatron-Core tools' activation recomputation
// switches (NeMo 1 maps activations_checkpoint_granularity to
// TransformerConfig.recompute_granularity), and offloadKeys their CPU
// offloading of activations (TransformerConfig.cpu_offloading; weights
// go too with cpu_offloading_weights). Megatron-Core's TransformerConfig
// refuses the two together ("CPU offloading does not work when activation
// recomputation is enabled", any granularity), and offloading with
// pipeline parallelism ("Currently there is no support for Pipeline
// parallelism with CPU offloading").
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
	const refuses = "Megatron-Core refuses CPU offloading with "
	pipeline := ""
	if w := parallelWorlds[c.tool.name]; len(w.modelParallel) > 1 {
		pipeline = w.modelParallel[1]
	}
	switch {
	case id == sdk.FixGradCheckpointing && c.recompute() == "full":
		return "already on (" + recompute + "=full)"
	case id == sdk.FixGradCheckpointing && c.vals.On(offload):
		return refuses + "activation recomputation (" + offload + "=" + c.vals[offload] + ")"
	case id == sdk.FixActivationOffload && c.recompute() != "":
		return refuses + "activation recomputation (" + recompute + "=" + c.recompute() + ")"
	case id == sdk.FixActivationOffload && pipeline != "" && c.parallelSize(pipeline) > 1:
		return refuses + "pipeline parallelism (" + pipeline + "=" + strconv.Itoa(c.parallelSize(pipeline)) + ")"
	}
	return ""
}

// knobsFromMegatron fills what the Megatron-Core keys say: recomputation
// on or off where the command names it, the precision, and
// Megatron-Bridge's optimizer offload where the command names it (on
// when all of the state goes).
func (c *command) knobsFromMegatron(a *sdk.AnalyzeResponse) {
	if key := recomputeKeys[c.tool.name]; key != "" {
		if _, named := c.vals[key]; named {
			a.Knobs.GradCheckpointing = sdk.Bool(c.recompute() == "full")
		}
	}
	if p, _ := c.precisionNow(); p != "" {
		a.Knobs.Precision = sdk.Str(p)
	}
	if _, named := c.vals["optimizer.optimizer_cpu_offload"]; named && c.tool.name == "Megatron-Bridge" {
		a.Knobs.Offload = sdk.Bool(c.vals.On("optimizer.optimizer_cpu_offload") && c.offloadFraction() >= 1)
	}
}

// precisionFix is the mixed-precision override, or why there is none.
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

// hydraKey is an override word's key without Hydra's +, ++ or ~.
func hydraKey(word string) (string, bool) {
	k, _, ok := strings.Cut(word, "=")
	if !ok || strings.HasPrefix(word, "-") {
		return "", false
	}
	return strings.TrimLeft(k, "+~"), true
}
