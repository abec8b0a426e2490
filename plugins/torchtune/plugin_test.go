package torchtune

import (
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// fullYAML is recipes/configs/llama3_1/8B_full_single_device.yaml, cut down.
const fullYAML = `output_dir: /tmp/torchtune/llama3_1_8B/full_single_device
batch_size: 2
epochs: 1
optimizer:
  _component_: bitsandbytes.optim.PagedAdamW8bit
  lr: 2e-5
gradient_accumulation_steps: 1
dtype: bf16
enable_activation_checkpointing: True
enable_activation_offloading: False
`

func cmd(argv string, files map[string]string, env ...string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Env(append([]string{"PATH", "/nonexistent-vramrun-test"}, env...)...))
}

func TestRecognizeAndKnobs(t *testing.T) {
	files := map[string]string{"my.yaml": fullYAML}
	if got := plugintab.Recognize(t, New(), cmd("tune run --nproc_per_node 4 full_finetune_distributed --config my.yaml", files)); got.Confidence != 95 ||
		got.Reason != "tune run full_finetune_distributed" {
		t.Errorf("recognize %+v", got)
	}
	a := plugintab.Analyze(t, New(), cmd("tune run --nproc_per_node 4 full_finetune_distributed --config my.yaml batch_size=4 ~gradient_accumulation_steps", files))
	got := plugintab.KnobsText(a.Knobs)
	for _, want := range []string{`"batch_size":4`, `"grad_accumulation":1`, `"eval_batch_size":4`, `"precision":"bf16"`, `"grad_checkpointing":true`, `"offload":false`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s", got, want)
		}
	}
	if a.WorldSize != 4 {
		t.Errorf("world %d, want 4", a.WorldSize)
	}
	reg := plugintab.Analyze(t, New(), cmd("tune run full_finetune_single_device --config llama3_1/8B_full_single_device", nil))
	if reg.Knobs.BatchSize != nil || len(reg.Notes) != 1 || !strings.Contains(reg.Notes[0], "registry name") {
		t.Errorf("registry config: knobs %s notes %q", plugintab.KnobsText(reg.Knobs), reg.Notes)
	}
}

func TestFixesAreOverrides(t *testing.T) {
	files := map[string]string{"my.yaml": fullYAML}
	c := cmd("tune run --nproc_per_node 2 full_finetune_distributed --config my.yaml batch_size=4", files, "PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:64")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 2},
		"tune run --nproc_per_node 2 full_finetune_distributed --config my.yaml batch_size=2 gradient_accumulation_steps=2", nil,
		"batch_size=2, gradient_accumulation_steps=2")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload},
		"tune run --nproc_per_node 2 full_finetune_distributed --config my.yaml batch_size=4 fsdp_cpu_offload=True", nil, "fsdp_cpu_offload=True")
	_, err := plugintab.Apply(t, New(), cmd("tune run full_finetune_single_device --config my.yaml", files), sdk.Fix{ID: sdk.FixAllocator})
	plugintab.WantUnsupported(t, err, sdk.FixAllocator, "already in force: torchtune sets PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True itself when it is unset")
}

func TestModelFixes(t *testing.T) {
	files := map[string]string{"my.yaml": fullYAML, "chunked.yaml": fullYAML + "loss:\n  _component_: torchtune.modules.loss.LinearCrossEntropyLoss\n",
		"plain.yaml": fullYAML + "loss:\n  _component_: torch.nn.CrossEntropyLoss\n"}
	c := cmd("tune run full_finetune_single_device --config my.yaml", files)
	plugintab.WantApplied(t, New(), cmd("tune run full_finetune_single_device --config plain.yaml", files), sdk.Fix{ID: sdk.FixFusedLoss},
		"tune run full_finetune_single_device --config plain.yaml loss._component_=torchtune.modules.loss.LinearCrossEntropyLoss", nil,
		"loss._component_=torchtune.modules.loss.LinearCrossEntropyLoss")
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss},
		"already on as far as vramrun can tell: torchtune's configs use LinearCrossEntropyLoss (name loss=... to say otherwise)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixActivationOffload},
		"tune run full_finetune_single_device --config my.yaml enable_activation_offloading=True", nil, "enable_activation_offloading=True")
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixEvalAccumulation}, "torchtune's recipes keep no predictions during validation")
	plugintab.WantRefused(t, New(), cmd("tune run full_finetune_single_device --config chunked.yaml", files), sdk.Fix{ID: sdk.FixFusedLoss},
		"already on (loss torchtune.modules.loss.LinearCrossEntropyLoss)")
	// An override that assigns the parent swaps the component.
	plugintab.WantApplied(t, New(), cmd("tune run full_finetune_single_device --config chunked.yaml loss=torch.nn.CrossEntropyLoss", files),
		sdk.Fix{ID: sdk.FixFusedLoss},
		"tune run full_finetune_single_device --config chunked.yaml loss=torch.nn.CrossEntropyLoss loss._component_=torchtune.modules.loss.LinearCrossEntropyLoss", nil,
		"loss._component_=torchtune.modules.loss.LinearCrossEntropyLoss")
	plugintab.WantRefused(t, New(), cmd("tune run full_finetune_single_device --config my.yaml enable_activation_offloading=True", files),
		sdk.Fix{ID: sdk.FixActivationOffload}, "already on (enable_activation_offloading)")
}

func TestActivationOffloadNeedsCheckpointing(t *testing.T) {
	files := map[string]string{"my.yaml": fullYAML}
	plugintab.WantRefused(t, New(), cmd("tune run full_finetune_single_device --config my.yaml enable_activation_checkpointing=False", files),
		sdk.Fix{ID: sdk.FixActivationOffload}, "enable_activation_offloading needs enable_activation_checkpointing, which is off")
}

// TestSelectiveBecomesFull: in the distributed recipes ac_mode selective
// checkpoints some layers; the fix makes it full, by the same key.
func TestSelectiveBecomesFull(t *testing.T) {
	yaml := strings.Replace(fullYAML, "enable_activation_checkpointing: True\n", "enable_activation_checkpointing: False\nac_mode: selective\nac_option: 2\n", 1)
	files := map[string]string{"sel.yaml": yaml}
	c := cmd("tune run --nproc_per_node 2 full_finetune_distributed --config sel.yaml", files)
	if got := plugintab.KnobsText(plugintab.Analyze(t, New(), c).Knobs); !strings.Contains(got, `"grad_checkpointing":false`) {
		t.Errorf("knobs %s, want checkpointing not (fully) on", got)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"tune run --nproc_per_node 2 full_finetune_distributed --config sel.yaml ac_mode=full", nil, "ac_mode=full")
	plugintab.WantRefused(t, New(), cmd("tune run --nproc_per_node 2 full_finetune_distributed --config sel.yaml ac_mode=full", files),
		sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on (ac_mode full)")
	// Both set: the recipe applies neither; the fix turns the old switch off.
	both := cmd("tune run --nproc_per_node 2 full_finetune_distributed --config sel.yaml enable_activation_checkpointing=True", files)
	plugintab.WantApplied(t, New(), both, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"tune run --nproc_per_node 2 full_finetune_distributed --config sel.yaml enable_activation_checkpointing=False ac_mode=full", nil,
		"enable_activation_checkpointing=False, ac_mode=full")
}

// trialYAML writes under output_dir, as torchtune's configs do, reports to
// W&B, validates every 10 steps and resumes.
const trialYAML = `output_dir: /tmp/torchtune/llama3_1_8B/full
batch_size: 2
checkpointer:
  _component_: torchtune.training.FullModelHFCheckpointer
  checkpoint_dir: /tmp/Meta-Llama-3.1-8B-Instruct/
  output_dir: ${output_dir}
resume_from_checkpoint: True
run_val_every_n_steps: 10
metric_logger:
  _component_: torchtune.training.metric_logging.WandBLogger
  project: my-project
  log_dir: ${output_dir}/logs
`

// TestTrialWritesUnderTheScratchFolder: output_dir is the scratch folder
// (the user's override replaced in place), W&B becomes the DiskLogger,
// validation is off and the run starts afresh; what interpolates
// output_dir is left to follow it.
func TestTrialWritesUnderTheScratchFolder(t *testing.T) {
	files := map[string]string{"my.yaml": trialYAML,
		"stdout.yaml": "output_dir: out\ncheckpointer:\n  output_dir: /ckpt\nmetric_logger:\n  _component_: torchtune.training.metric_logging.StdoutLogger\nprofiler:\n  enabled: True\n  output_dir: /prof\n"}
	trial := sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}
	plugintab.WantApplied(t, New(), cmd("tune run full_finetune_single_device --config my.yaml output_dir=mine batch_size=8", files), trial,
		"tune run full_finetune_single_device --config my.yaml output_dir=/s batch_size=8 metric_logger._component_=torchtune.training.metric_logging.DiskLogger run_val_every_n_steps=null resume_from_checkpoint=False", nil,
		"output_dir=/s, metric_logger._component_=torchtune.training.metric_logging.DiskLogger, run_val_every_n_steps=null, resume_from_checkpoint=False")
	// StdoutLogger writes nothing (its lines are the speed readings) and
	// stays; paths of their own go to the scratch folder.
	plugintab.WantApplied(t, New(), cmd("tune run --nproc_per_node 2 full_finetune_distributed --config stdout.yaml", files), trial,
		"tune run --nproc_per_node 2 full_finetune_distributed --config stdout.yaml output_dir=/s checkpointer.output_dir=/s profiler.output_dir=/s/profiling_outputs", nil,
		"output_dir=/s, checkpointer.output_dir=/s, profiler.output_dir=/s/profiling_outputs")
	// A registry config is not read: every path is set, and the parent
	// assignment that swapped in W&B is the override edited.
	plugintab.WantApplied(t, New(), cmd("tune run full_finetune_single_device --config llama3_1/8B_full_single_device metric_logger=torchtune.training.metric_logging.WandBLogger", nil), trial,
		"tune run full_finetune_single_device --config llama3_1/8B_full_single_device metric_logger=torchtune.training.metric_logging.DiskLogger output_dir=/s checkpointer.output_dir=/s metric_logger.log_dir=/s/logs", nil,
		"output_dir=/s, checkpointer.output_dir=/s, metric_logger=torchtune.training.metric_logging.DiskLogger, metric_logger.log_dir=/s/logs")
}

func TestTrialRefusesCustomRecipes(t *testing.T) {
	files := map[string]string{"my.yaml": trialYAML}
	for _, recipe := range []string{"my_recipe.py", "recipes.my_recipe"} {
		plugintab.WantRefused(t, New(), cmd("tune run "+recipe+" --config my.yaml", files), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"},
			recipe+" is a custom recipe, so where it writes is its own: point its output_dir, checkpointer and metric logger at a scratch folder and pass --trust-trials")
	}
}

// TestProgressReadsTheRecipesBar: the tqdm bar of a recipe, one tick an
// optimizer step, is read where the metric logger prints nothing.
func TestProgressReadsTheRecipesBar(t *testing.T) {
	line := "1|5|Loss: 2.3100:  10%|█         | 5/50 [00:10<01:30,  2.00s/it]"
	p, v, ok := plugintab.ReadingOf(t, New(), line)
	if !ok || v != 0.5 || p.Unit != sdk.UnitStep {
		t.Fatalf("%s reads %g per %s, %v; want 0.5 steps a second", p.ID, v, p.Unit, ok)
	}
}

// loraYAML is recipes/configs/llama3_1/8B_lora_single_device.yaml's
// optimizer: torch.optim.AdamW with fused: True, which PagedAdamW8bit
// does not take.
const loraYAML = `batch_size: 2
optimizer:
  _component_: torch.optim.AdamW
  fused: True
  weight_decay: 0.01
  lr: 3e-4
`

// TestOptimizer8bitDropsWhatItDoesNotTake: the 8-bit fix swaps the
// optimizer's component and removes the arguments PagedAdamW8bit's
// constructor does not take, from the file with ~key and from the
// command's own overrides, keeping lr and weight_decay.
func TestOptimizer8bitDropsWhatItDoesNotTake(t *testing.T) {
	files := map[string]string{"lora.yaml": loraYAML}
	plugintab.WantApplied(t, New(), cmd("tune run lora_finetune_single_device --config lora.yaml optimizer.foreach=True optimizer.lr=1e-4", files),
		sdk.Fix{ID: sdk.FixOptimizer8bit},
		"tune run lora_finetune_single_device --config lora.yaml optimizer.lr=1e-4 optimizer._component_=bitsandbytes.optim.PagedAdamW8bit ~optimizer.fused", nil,
		"optimizer._component_=bitsandbytes.optim.PagedAdamW8bit, ~optimizer.foreach (PagedAdamW8bit takes no foreach), ~optimizer.fused (PagedAdamW8bit takes no fused)")
	// A user's ~optimizer.fused stays, and nothing else is removed.
	plugintab.WantApplied(t, New(), cmd("tune run lora_finetune_single_device --config lora.yaml ~optimizer.fused", files),
		sdk.Fix{ID: sdk.FixOptimizer8bit},
		"tune run lora_finetune_single_device --config lora.yaml ~optimizer.fused optimizer._component_=bitsandbytes.optim.PagedAdamW8bit", nil,
		"optimizer._component_=bitsandbytes.optim.PagedAdamW8bit")
}
