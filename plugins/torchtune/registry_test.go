package torchtune

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// registryLoRA is recipes/configs/llama3_1/8B_lora_single_device.yaml,
// cut down: AdamW with fused, as the shipped LoRA configs have it.
const registryLoRA = `output_dir: /tmp/torchtune/llama3_1_8B/lora_single_device
batch_size: 2
optimizer:
  _component_: torch.optim.AdamW
  fused: True
  weight_decay: 0.01
  lr: 3e-4
checkpointer:
  output_dir: ${output_dir}
metric_logger:
  _component_: torchtune.training.metric_logging.DiskLogger
  log_dir: ${output_dir}/logs
gradient_accumulation_steps: 8
dtype: bf16
enable_activation_checkpointing: True
`

// install lays out torchtune's recipes package in a new site folder, with
// configs at their paths under recipes/configs, and writes a python3
// whose probes answer as the job's Python would there: the package's
// folder for where recipes is, and success for any import. It returns
// the folder to put on PATH and the recipes folder.
func install(t *testing.T, configs map[string]string) (bin, recipes string) {
	t.Helper()
	site, bin := t.TempDir(), t.TempDir()
	recipes = filepath.Join(site, "recipes")
	for rel, text := range configs {
		p := filepath.Join(recipes, "configs", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePython(t, bin, "printf '%s' '"+recipes+"'\n")
	return bin, recipes
}

func writePython(t *testing.T, bin, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func onPath(argv, bin string) sdk.Command {
	return plugintab.Command(argv, nil, plugintab.Env("PATH", bin))
}

// TestRegistryConfigIsRead: a registry name is the installed
// recipes/configs/NAME.yaml, read as a config file is, with the command's
// overrides on top; its knobs are known, no note asks for batch_size, and
// the installed file is the command's config (a new torchtune's makes it
// another command for learned state).
func TestRegistryConfigIsRead(t *testing.T) {
	bin, recipes := install(t, map[string]string{"llama3_1/8B_lora_single_device.yaml": registryLoRA})
	a := plugintab.Analyze(t, New(), onPath("tune run lora_finetune_single_device --config llama3_1/8B_lora_single_device gradient_accumulation_steps=2", bin))
	got := plugintab.KnobsText(a.Knobs)
	for _, want := range []string{`"batch_size":2`, `"grad_accumulation":2`, `"precision":"bf16"`, `"grad_checkpointing":true`, `"optimizer":"torch.optim.AdamW"`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s", got, want)
		}
	}
	if len(a.Notes) != 0 {
		t.Errorf("notes %q, want none", a.Notes)
	}
	if want := filepath.Join(recipes, "configs", "llama3_1", "8B_lora_single_device.yaml"); !slices.Equal(a.ConfigFiles, []string{want}) {
		t.Errorf("config files %q, want %s", a.ConfigFiles, want)
	}
	// What the config already puts under output_dir follows the trial's.
	plugintab.WantApplied(t, New(), onPath("tune run lora_finetune_single_device --config llama3_1/8B_lora_single_device", bin), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"},
		"tune run lora_finetune_single_device --config llama3_1/8B_lora_single_device output_dir=/s", nil, "output_dir=/s")
}

// TestOptimizer8bitFromARegistryConfig: the shipped LoRA config's
// optimizer has fused: True, which PagedAdamW8bit does not take; read
// from the install, the fix removes it (~optimizer.fused), so the job
// does not fail on it.
func TestOptimizer8bitFromARegistryConfig(t *testing.T) {
	bin, _ := install(t, map[string]string{"llama3_1/8B_lora_single_device.yaml": registryLoRA})
	plugintab.WantApplied(t, New(), onPath("tune run lora_finetune_single_device --config llama3_1/8B_lora_single_device batch_size=8", bin),
		sdk.Fix{ID: sdk.FixOptimizer8bit},
		"tune run lora_finetune_single_device --config llama3_1/8B_lora_single_device batch_size=8 optimizer._component_=bitsandbytes.optim.PagedAdamW8bit ~optimizer.fused", nil,
		"optimizer._component_=bitsandbytes.optim.PagedAdamW8bit, ~optimizer.fused (PagedAdamW8bit takes no fused)")
}

// TestRegistryFileNotNamedAfterTheConfig: the registry's few configs
// whose file is not NAME.yaml are read from their file.
func TestRegistryFileNotNamedAfterTheConfig(t *testing.T) {
	bin, _ := install(t, map[string]string{"dev/7B_full_early_exit.yaml": "batch_size: 8\n"})
	a := plugintab.Analyze(t, New(), onPath("tune run dev/early_exit_finetune_distributed --config llama2/7B_full_early_exit", bin))
	if a.Knobs.BatchSize == nil || *a.Knobs.BatchSize != 8 || len(a.Notes) != 0 {
		t.Errorf("knobs %s notes %q, want batch_size 8 read", plugintab.KnobsText(a.Knobs), a.Notes)
	}
}

// TestRegistryConfigNotRead: where the job's Python cannot tell, has no
// recipes package or no such config, the config is not read, as before:
// knobs unknown but for the overrides, and the note says why.
func TestRegistryConfigNotRead(t *testing.T) {
	missing, recipes := install(t, map[string]string{"llama3_1/8B_full.yaml": "batch_size: 2\n"})
	noTorchtune := t.TempDir()
	writePython(t, noTorchtune, "exit 3\n")
	argv := "tune run full_finetune_single_device --config llama3_1/8B_full_single_device"
	for bin, why := range map[string]string{
		"/nonexistent-vramrun-test": "no python3 or python found on the job's PATH to check for recipes",
		noTorchtune:                 "recipes is not installed in python3, where torchtune installs its configs",
		missing:                     "the installed torchtune has no " + filepath.Join(recipes, "configs", "llama3_1", "8B_full_single_device.yaml"),
	} {
		a := plugintab.Analyze(t, New(), onPath(argv, bin))
		want := "the config llama3_1/8B_full_single_device is a registry name vramrun could not read (" + why +
			"): give batch_size=N on the command line (or tune cp it to a file) so that a batch fix can be sized"
		if a.Knobs.BatchSize != nil || a.Knobs.Precision != nil || !slices.Equal(a.Notes, []string{want}) || a.ConfigFiles != nil {
			t.Errorf("PATH %s: knobs %s notes %q config files %q, want the note %q", bin, plugintab.KnobsText(a.Knobs), a.Notes, a.ConfigFiles, want)
		}
		if b := plugintab.Analyze(t, New(), onPath(argv+" batch_size=4", bin)); b.Knobs.BatchSize == nil || *b.Knobs.BatchSize != 4 || len(b.Notes) != 0 {
			t.Errorf("PATH %s: with batch_size=4 knobs %s notes %q", bin, plugintab.KnobsText(b.Knobs), b.Notes)
		}
	}
}
