package hydra

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// isNemo1 says the command is one of NeMo 1's Megatron scripts: it
// overrides model.micro_batch_size (with Hydra's + or ++ too), or it is a
// script whose shipped config vramrun knows.
func isNemo1(inv cmdline.Invocation) bool {
	return isShippedScript("NeMo", inv) || argHas("model.micro_batch_size=")(inv)
}

// isBridge says the command is a Megatron-Bridge recipe script: it
// overrides train.micro_batch_size or train.global_batch_size (a command
// may leave the micro-batch to its recipe), or it is a recipe script
// vramrun knows.
func isBridge(inv cmdline.Invocation) bool {
	return isShippedScript("Megatron-Bridge", inv) || argHas("train.micro_batch_size=")(inv) ||
		argHas("train.global_batch_size=")(inv)
}

func isShippedScript(tool string, inv cmdline.Invocation) bool {
	_, ok := shippedConfigs[tool][filepath.Base(inv.Script)]
	return ok && !inv.Module
}

// numLayersKeys are where the Megatron-Core tools take the model's layer
// count from the command line.
var numLayersKeys = map[string]string{"NeMo 2": "model.config.num_layers", "Megatron-Bridge": "model.num_layers"}

// nemo2Layers are the layer counts of NeMo 2's recipe factories
// (nemo/collections/llm/gpt/model/llama.py and qwen2.py's configs).
var nemo2Layers = map[string]int{"llama3_8b": 32, "llama31_8b": 32, "llama32_1b": 16, "llama32_3b": 28,
	"llama3_70b": 80, "llama31_70b": 80, "qwen25_7b": 28}

// activationOffload is the CPU offloading of activations as the tool
// takes it. Megatron-Core's cpu_offloading moves cpu_offloading_num_layers
// layers to the host, and that is 0 unless set (TransformerConfig's
// default; it must stay below num_layers): NeMo 2 and Megatron-Bridge
// would offload nothing with cpu_offloading alone, so the fix offloads all
// layers but the last, as NeMo 1's megatron_gpt_config.yaml does with
// ${sum:${.num_layers},-1}. A command that names the count keeps its own.
func (c *command) activationOffload(id sdk.FixID) ([]string, error) {
	t := c.tool
	for _, kv := range t.activationOffload {
		key, _, _ := strings.Cut(kv, "=")
		if on, _ := cfgcli.Bool(c.vals[key]); on {
			return nil, sdk.Unsupported(id, "already on (%s)", key)
		}
	}
	layersKey, ok := numLayersKeys[t.name]
	if !ok {
		return t.activationOffload, nil
	}
	countKey := offloadKeys[t.name] + "_num_layers"
	if _, named := c.vals[countKey]; named {
		return t.activationOffload, nil
	}
	layers := c.layers(layersKey)
	if layers < 2 {
		return nil, sdk.Unsupported(id, "%s offloads %s layers, 0 unless set, and vramrun does not know the model's layer count: give %s=N",
			offloadKeys[t.name], countKey, layersKey)
	}
	return append(t.activationOffload[:len(t.activationOffload):len(t.activationOffload)], countKey+"="+strconv.Itoa(layers-1)), nil
}

// layers is the model's layer count: the command's key, else the recipe's
// (a Megatron-Bridge recipe script's, a NeMo 2 factory's); 0 when unknown.
func (c *command) layers(key string) int {
	if n := cfgcli.Int(c.vals[key]); n != nil {
		return *n
	}
	if s, ok := c.shipped(); ok {
		return s.layers
	}
	return nemo2Layers[c.nemo2Factory()]
}

// nemo2Factory is the recipe factory a `nemo llm` command names with
// -f/--factory, as NAME or NAME(arguments); "" for none.
func (c *command) nemo2Factory() string {
	if c.tool.name != "NeMo 2" {
		return ""
	}
	args := c.inv.Args
	for i, a := range args {
		flag, value, hasValue := strings.Cut(a, "=")
		if flag != "-f" && flag != "--factory" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		name, _, _ := strings.Cut(value, "(")
		return strings.TrimSpace(name)
	}
	return ""
}

// bridgeFrames are Megatron-Bridge's training and evaluation functions
// (megatron/bridge/training/train.py's train_step, eval.py's evaluate and
// evaluate_and_print_results): its loop is its own, not Lightning's, so an
// OOM in validation says so only by these.
func bridgeFrames() []sdk.Frame {
	const pkg = "megatron.bridge.training"
	return []sdk.Frame{
		{Name: "evaluate", Phase: sdk.PhaseEval, Package: pkg},
		{Name: "evaluate_and_print_results", Phase: sdk.PhaseEval, Package: pkg},
		{Name: "train_step", Phase: sdk.PhaseTrain, Package: pkg},
	}
}
