package pytorch

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// The cases the table tests found wrong once; each stays fixed.

func TestAllocatorApplyAgreesWithAnalyze(t *testing.T) {
	script := plugintab.Files("train.py", "import torch\n")
	for env, want := range map[string]string{
		"expandable_segments:True": "expandable_segments is already on",
		"backend:cudaMallocAsync":  "cudaMallocAsync backend",
		"garbage":                  "cannot be parsed",
	} {
		cmd := plugintab.Command("python train.py", script)
		cmd.Env["PYTORCH_CUDA_ALLOC_CONF"] = env
		_, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixAllocator})
		plugintab.WantUnsupported(t, err, sdk.FixAllocator, want)
	}
}

func TestAllocatorOnROCmKeepsTheHIPKeys(t *testing.T) {
	cmd := plugintab.Command("python train.py", plugintab.Files("train.py", "import torch\n"))
	cmd.Env["HIP_VISIBLE_DEVICES"] = "0"
	cmd.Env["PYTORCH_HIP_ALLOC_CONF"] = "max_split_size_mb:64"
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixAllocator})
	for _, name := range []string{"PYTORCH_HIP_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"} {
		if got.Env[name] != "max_split_size_mb:64,expandable_segments:True" {
			t.Errorf("%s = %q", name, got.Env[name])
		}
	}
	cmd.Env["PYTORCH_HIP_ALLOC_CONF"] = "expandable_segments:True"
	_, err := plugintab.Apply(t, New(), cmd, sdk.Fix{ID: sdk.FixAllocator})
	plugintab.WantUnsupported(t, err, sdk.FixAllocator, "already on")
}

func TestNanoGPTOverrideBeforeAConfigMovesAfterIt(t *testing.T) {
	src := "batch_size = 12\ngradient_accumulation_steps = 40\nexec(open('configurator.py').read())\n"
	cmd := plugintab.Command("python train.py --batch_size=4 config/train_gpt2.py",
		plugintab.Files("train.py", src, "config/train_gpt2.py", "batch_size = 12\ngradient_accumulation_steps = 40\n"))
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 6, GradAccumulation: 80})
	want := "python train.py config/train_gpt2.py --batch_size=6 --gradient_accumulation_steps=80"
	if plugintab.ArgvText(got.Argv) != want {
		t.Fatalf("Apply = %q, want %q (the config file would undo an override before it)", plugintab.ArgvText(got.Argv), want)
	}
}

func TestSwitchesGoBeforeADoubleDash(t *testing.T) {
	src := "import torch, argparse\np = argparse.ArgumentParser()\np.add_argument('-b', type=int, default=8)\n" +
		"p.add_argument('--grad-checkpointing', action='store_true')\n"
	got := plugintab.MustApply(t, New(), plugintab.Command("python train.py -b 8 -- extra", plugintab.Files("train.py", src)), sdk.Fix{ID: sdk.FixGradCheckpointing})
	if want := "python train.py -b 8 --grad-checkpointing -- extra"; plugintab.ArgvText(got.Argv) != want {
		t.Fatalf("Apply = %q, want %q", plugintab.ArgvText(got.Argv), want)
	}
}
