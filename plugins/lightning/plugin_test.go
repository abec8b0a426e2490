package lightning

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// mainPy is a LightningCLI script in the documentation's shape.
const mainPy = `import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI


class MNISTData(LightningDataModule):
    def __init__(self, data_dir: str = "./data", batch_size: int = 32,
                 val_batch_size: int = 64, num_workers: int = 4):
        super().__init__()


class LitModel(LightningModule):
    def __init__(self, lr: float = 0.1, batch_size: int = 8):
        super().__init__()


def cli_main():
    LightningCLI(LitModel, MNISTData)


if __name__ == "__main__":
    cli_main()
`

// bareCLIPy builds a LightningCLI from classes defined elsewhere: their
// defaults cannot be read.
const bareCLIPy = `from lightning.pytorch.cli import LightningCLI
from mypkg import Model, Data

LightningCLI(Model, Data)
`

const configYAML = `# MNIST baseline
trainer:
  max_epochs: 10 # enough
  precision: 32-true
model:
  lr: 0.01
data:
  batch_size: 64
  num_workers: 8
`

var ctx = context.Background()

// command builds a command whose files come from the overlay, run in
// /proj, with no Python on its PATH: the DeepSpeed probe cannot tell, and
// cpu_offload goes ahead (probe_test.go has the probe's answers).
func command(argv string, files map[string]string) sdk.Command {
	return plugintab.Command(argv, files, plugintab.Dir("/proj"), plugintab.Env("PATH", "/nonexistent"))
}

// apply is plugintab.Apply that also checks each copy lies directly in the
// copy folder.
func apply(t *testing.T, cmd sdk.Command, fix sdk.Fix) (sdk.ApplyResponse, error) {
	t.Helper()
	got, err := plugintab.Apply(t, New(), cmd, fix)
	for _, c := range got.Copies {
		if filepath.Dir(c.Path) != plugintab.CopyDir {
			t.Errorf("copy %s is outside the copy folder", c.Path)
		}
	}
	return got, err
}

func intp(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func strp(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestAnalyzeCLI(t *testing.T) {
	tests := []struct {
		name                   string
		argv                   string
		files                  map[string]string
		launcher               string
		world                  int
		batch, accum, eval     any
		precision              any
		offload                bool
		configs                []string
		unsupported, supported []sdk.FixID
	}{{
		name:     "batch from the config file",
		argv:     "python main.py fit --config config.yaml",
		files:    map[string]string{"main.py": mainPy, "config.yaml": configYAML},
		launcher: "python", world: 1, batch: 64, accum: 1, eval: 64, precision: "fp32",
		configs:     []string{"config.yaml"},
		supported:   []sdk.FixID{sdk.FixBatchSize, sdk.FixMixedPrecision, sdk.FixEvalBatchSize, sdk.FixCPUOffload, sdk.FixAllocator},
		unsupported: []sdk.FixID{sdk.FixGradCheckpointing, sdk.FixOptimizer8bit},
	}, {
		name:     "flags in both forms",
		argv:     "python main.py fit --trainer.precision=bf16-mixed --data.batch_size=16 --model.lr 0.1",
		files:    map[string]string{"main.py": mainPy},
		launcher: "python", world: 1, batch: 16, accum: 1, eval: 64, precision: "bf16",
		unsupported: []sdk.FixID{sdk.FixMixedPrecision},
		supported:   []sdk.FixID{sdk.FixBatchSize},
	}, {
		name:     "torchrun as a python module",
		argv:     "python -m torch.distributed.run --nproc_per_node 2 main.py fit --config config.yaml",
		files:    map[string]string{"main.py": mainPy, "config.yaml": configYAML},
		launcher: "torchrun", world: 2, batch: 64, accum: 1, eval: 64, precision: "fp32",
		configs: []string{"config.yaml"},
	}, {
		name: "later config files override earlier ones",
		argv: "torchrun --nproc_per_node=4 main.py fit -c a.yaml -c b.yaml",
		files: map[string]string{"main.py": mainPy,
			"a.yaml": "trainer:\n  accumulate_grad_batches: 2\n  precision: 16-mixed\ndata:\n  batch_size: 64\n",
			"b.yaml": "data:\n  batch_size: 32\n  val_batch_size: 16\n"},
		launcher: "torchrun", world: 4, batch: 32, accum: 2, eval: 16, precision: "fp16",
		configs:     []string{"a.yaml", "b.yaml"},
		unsupported: []sdk.FixID{sdk.FixMixedPrecision},
	}, {
		name:     "a flag before a config file is overridden by it",
		argv:     "python main.py fit --data.batch_size 8 --config config.yaml",
		files:    map[string]string{"main.py": mainPy, "config.yaml": configYAML},
		launcher: "python", world: 1, batch: 64, accum: 1, eval: 64, precision: "fp32",
		configs: []string{"config.yaml"},
	}, {
		name:     "a config before the subcommand holds the subcommand's settings",
		argv:     "python main.py --config config.yaml fit --trainer.devices 2",
		files:    map[string]string{"main.py": mainPy, "config.yaml": "fit:\n  data:\n    batch_size: 24\n  trainer:\n    strategy: deepspeed_stage_2_offload\ntest:\n  data:\n    batch_size: 512\n"},
		launcher: "python", world: 2, batch: 24, accum: 1, eval: 64, precision: "fp32", offload: true,
		configs:     []string{"config.yaml"},
		unsupported: []sdk.FixID{sdk.FixCPUOffload},
	}, {
		name:     "class_path data module, devices as a list",
		argv:     "python main.py fit -c config.yaml",
		files:    map[string]string{"main.py": bareCLIPy, "config.yaml": "trainer:\n  devices: [0, 1, 2]\n  num_nodes: 2\ndata:\n  class_path: mypkg.Data\n  init_args:\n    batch_size: 48\n"},
		launcher: "python", world: 6, batch: 48, accum: 1, eval: nil, precision: "fp32",
		configs:     []string{"config.yaml"},
		unsupported: []sdk.FixID{sdk.FixEvalBatchSize},
	}, {
		name:     "no batch size anywhere",
		argv:     "python main.py fit --trainer.max_steps 10",
		files:    map[string]string{"main.py": bareCLIPy},
		launcher: "python", world: 1, batch: nil, accum: 1, eval: nil, precision: "fp32",
		unsupported: []sdk.FixID{sdk.FixBatchSize, sdk.FixEvalBatchSize},
	}, {
		name:     "test run: the data batch is the evaluation batch",
		argv:     "python main.py test --data.batch_size 128 --ckpt_path best.ckpt",
		files:    map[string]string{"main.py": bareCLIPy},
		launcher: "python", world: 1, batch: 128, accum: 1, eval: 128, precision: "fp32",
	}, {
		name:     "JSON config",
		argv:     "python main.py fit --config cfg.json --trainer.strategy=deepspeed_stage_3",
		files:    map[string]string{"main.py": mainPy, "cfg.json": `{"trainer": {"accumulate_grad_batches": 4, "precision": "64-true"}, "data": {"batch_size": 8}}`},
		launcher: "python", world: 1, batch: 8, accum: 4, eval: 64, precision: nil,
		configs:     []string{"cfg.json"},
		unsupported: []sdk.FixID{sdk.FixMixedPrecision},
		supported:   []sdk.FixID{sdk.FixCPUOffload},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			a := plugintab.Analyze(t, New(), cmd)
			if a.Framework != "lightning" || a.Launcher != tt.launcher || a.Script != "main.py" || a.WorldSize != tt.world {
				t.Errorf("framework %q launcher %q script %q world %d, want lightning %q main.py %d",
					a.Framework, a.Launcher, a.Script, a.WorldSize, tt.launcher, tt.world)
			}
			k := a.Knobs
			if intp(k.BatchSize) != tt.batch || intp(k.GradAccumulation) != tt.accum || intp(k.EvalBatchSize) != tt.eval || strp(k.Precision) != tt.precision {
				t.Errorf("knobs batch %v accum %v eval %v precision %v, want %v %v %v %v",
					intp(k.BatchSize), intp(k.GradAccumulation), intp(k.EvalBatchSize), strp(k.Precision), tt.batch, tt.accum, tt.eval, tt.precision)
			}
			if k.Offload == nil || *k.Offload != tt.offload {
				t.Errorf("offload %v, want %v", k.Offload, tt.offload)
			}
			if !reflect.DeepEqual(a.ConfigFiles, tt.configs) {
				t.Errorf("config files %q, want %q", a.ConfigFiles, tt.configs)
			}
			refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
			for _, f := range tt.unsupported {
				if _, no := refused[f]; !no {
					t.Errorf("%s applies, want it turned down with a reason", f)
				}
			}
			for _, f := range tt.supported {
				if reason, no := refused[f]; no {
					t.Errorf("%s turned down: %s", f, reason)
				}
			}
		})
	}
}

func TestApplyCLI(t *testing.T) {
	twoConfigs := map[string]string{"main.py": mainPy,
		"a.yaml": "trainer:\n  accumulate_grad_batches: 2\ndata:\n  batch_size: 64\n",
		"b.yaml": "data:\n  batch_size: 32 # wins\n"}
	tests := []struct {
		name    string
		argv    string
		files   map[string]string
		fix     sdk.Fix
		want    string            // the new argv
		copies  map[string]string // original -> content
		summary string
	}{{
		name:  "batch only in the config: the copy gets batch and accumulation",
		argv:  "python main.py fit --config config.yaml",
		files: map[string]string{"main.py": mainPy, "config.yaml": configYAML},
		fix:   sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4},
		want:  "python main.py fit --config /copies/config.yaml",
		copies: map[string]string{"config.yaml": strings.Replace(strings.Replace(configYAML,
			"  batch_size: 64", "  batch_size: 16", 1), "trainer:\n", "trainer:\n  accumulate_grad_batches: 4\n", 1)},
		summary: "config.yaml (copy): data.batch_size 64 -> 16, trainer.accumulate_grad_batches 1 -> 4",
	}, {
		name:    "batch on the command line: flags edited in the user's form",
		argv:    "python main.py fit --trainer.precision=bf16-mixed --data.batch_size=16 --model.lr 0.1",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 2},
		want:    "python main.py fit --trainer.precision=bf16-mixed --data.batch_size=8 --model.lr 0.1 --trainer.accumulate_grad_batches 2",
		summary: "--data.batch_size 16 -> 8, --trainer.accumulate_grad_batches 1 -> 2",
	}, {
		name:    "equals form kept for added flags",
		argv:    "python main.py fit --data.batch_size=16 -- extra",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 4},
		want:    "python main.py fit --data.batch_size=4 --trainer.accumulate_grad_batches=4 -- extra",
		summary: "--data.batch_size 16 -> 4, --trainer.accumulate_grad_batches 1 -> 4",
	}, {
		name:  "batch from the later file, accumulation from the earlier: both copied",
		argv:  "torchrun --nproc_per_node 2 main.py fit -c a.yaml -c b.yaml",
		files: twoConfigs,
		fix:   sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4},
		want:  "torchrun --nproc_per_node 2 main.py fit -c /copies/a.yaml -c /copies/b.yaml",
		copies: map[string]string{"a.yaml": "trainer:\n  accumulate_grad_batches: 4\ndata:\n  batch_size: 64\n",
			"b.yaml": "data:\n  batch_size: 16 # wins\n"},
		summary: "b.yaml (copy): data.batch_size 32 -> 16; a.yaml (copy): trainer.accumulate_grad_batches 2 -> 4",
	}, {
		name:    "accumulation on the command line stays there",
		argv:    "python main.py fit -c=config.yaml --trainer.accumulate_grad_batches 2",
		files:   map[string]string{"main.py": mainPy, "config.yaml": "data:\n  batch_size: 64\n"},
		fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 4},
		want:    "python main.py fit -c=/copies/config.yaml --trainer.accumulate_grad_batches 4",
		copies:  map[string]string{"config.yaml": "data:\n  batch_size: 32\n"},
		summary: "--trainer.accumulate_grad_batches 2 -> 4; config.yaml (copy): data.batch_size 64 -> 32",
	}, {
		name:    "batch from the DataModule's default: added as a flag",
		argv:    "python main.py fit",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 2},
		want:    "python main.py fit --data.batch_size 16 --trainer.accumulate_grad_batches 2",
		summary: "--data.batch_size 32 -> 16, --trainer.accumulate_grad_batches 1 -> 2",
	}, {
		name:    "a config before the subcommand is edited under it",
		argv:    "python main.py --config config.yaml fit",
		files:   map[string]string{"main.py": mainPy, "config.yaml": "fit:\n  data:\n    batch_size: 24\n"},
		fix:     sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 12, GradAccumulation: 2},
		want:    "python main.py --config /copies/config.yaml fit",
		copies:  map[string]string{"config.yaml": "fit:\n  trainer:\n    accumulate_grad_batches: 2\n  data:\n    batch_size: 12\n"},
		summary: "config.yaml (copy): fit.data.batch_size 24 -> 12, fit.trainer.accumulate_grad_batches 1 -> 2",
	}, {
		name:    "mixed precision added as a flag that overrides the config",
		argv:    "python main.py fit --config config.yaml",
		files:   map[string]string{"main.py": mainPy, "config.yaml": configYAML},
		fix:     sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		want:    "python main.py fit --config config.yaml --trainer.precision bf16-mixed",
		summary: "--trainer.precision 32-true -> bf16-mixed",
	}, {
		name:    "fp16 set in place",
		argv:    "python main.py fit --trainer.precision 32",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "fp16"},
		want:    "python main.py fit --trainer.precision 16-mixed",
		summary: "--trainer.precision 32 -> 16-mixed",
	}, {
		name:    "eval batch only",
		argv:    "python main.py fit --data.batch_size 64 --data.val_batch_size 128",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 32},
		want:    "python main.py fit --data.batch_size 64 --data.val_batch_size 32",
		summary: "--data.val_batch_size 128 -> 32",
	}, {
		name:    "cpu offload",
		argv:    "python main.py fit --data.batch_size 4 --trainer.strategy ddp",
		files:   map[string]string{"main.py": mainPy},
		fix:     sdk.Fix{ID: sdk.FixCPUOffload},
		want:    "python main.py fit --data.batch_size 4 --trainer.strategy deepspeed_stage_2_offload",
		summary: "--trainer.strategy ddp -> deepspeed_stage_2_offload (needs DeepSpeed installed)",
	}, {
		name:    "cpu offload keeps stage 3",
		argv:    "python main.py fit -c config.yaml",
		files:   map[string]string{"main.py": mainPy, "config.yaml": "trainer:\n  strategy: deepspeed_stage_3\n"},
		fix:     sdk.Fix{ID: sdk.FixCPUOffload},
		want:    "python main.py fit -c config.yaml --trainer.strategy deepspeed_stage_3_offload",
		summary: "--trainer.strategy deepspeed_stage_3 -> deepspeed_stage_3_offload (needs DeepSpeed installed)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(t, command(tt.argv, tt.files), tt.fix)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Argv, " ") != tt.want {
				t.Errorf("argv\n%s\nwant\n%s", strings.Join(got.Argv, " "), tt.want)
			}
			if got.Summary != tt.summary {
				t.Errorf("summary %q, want %q", got.Summary, tt.summary)
			}
			if len(got.Env) != 0 {
				t.Errorf("env %v, want none", got.Env)
			}
			copies := map[string]string{}
			for _, c := range got.Copies {
				copies[c.Original] = string(c.Content)
				if c.Path != filepath.Join("/copies", filepath.Base(c.Original)) {
					t.Errorf("copy of %s at %s", c.Original, c.Path)
				}
			}
			if len(copies) != len(tt.copies) {
				t.Errorf("copies of %v, want %d", keys(copies), len(tt.copies))
			}
			for orig, want := range tt.copies {
				if copies[orig] != want {
					t.Errorf("copy of %s:\n%s\nwant\n%s", orig, copies[orig], want)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// After a fix the command names the copy; analysing it again finds the new
// values there, so the planner's next step starts from them.
func TestApplyThenAnalyze(t *testing.T) {
	cmd := command("python main.py fit --config config.yaml", map[string]string{"main.py": mainPy, "config.yaml": configYAML})
	got, err := apply(t, cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4})
	if err != nil {
		t.Fatal(err)
	}
	next := cmd.Clone()
	next.Argv = got.Argv
	for _, c := range got.Copies {
		next.Files[c.Path] = c.Content
	}
	a := plugintab.Analyze(t, New(), next)
	if intp(a.Knobs.BatchSize) != 16 || intp(a.Knobs.GradAccumulation) != 4 {
		t.Errorf("after the fix: batch %v accum %v, want 16 4", intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation))
	}
	if string(cmd.Files["config.yaml"]) != configYAML {
		t.Error("the user's config changed")
	}
}

func TestApplyCLIUnsupported(t *testing.T) {
	tests := []struct {
		name   string
		argv   string
		env    map[string]string
		fix    sdk.Fix
		reason string
	}{
		{"already bf16", "python main.py fit --trainer.precision bf16-mixed", nil, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16"},
		{"true half", "python main.py fit --trainer.precision=16-true", nil, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in fp16"},
		{"offload on", "python main.py fit --trainer.strategy deepspeed_stage_3_offload", nil, sdk.Fix{ID: sdk.FixCPUOffload}, "already on"},
		{"fsdp", "python main.py fit --trainer.strategy fsdp", nil, sdk.Fix{ID: sdk.FixCPUOffload}, "only through DeepSpeed"},
		{"8-bit optimizer", "python main.py fit", nil, sdk.Fix{ID: sdk.FixOptimizer8bit}, "configure_optimizers; name a flag under flags.optimizer_8bit"},
		{"checkpointing", "python main.py fit", nil, sdk.Fix{ID: sdk.FixGradCheckpointing}, "flags.grad_checkpointing"},
		{"no eval batch", "python main.py fit --data.batch_size 8", nil, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 4}, "flags.eval_batch_size"},
		{"allocator on", "python main.py fit", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128, expandable_segments:True"}, sdk.Fix{ID: sdk.FixAllocator}, "already on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, map[string]string{"main.py": bareCLIPy})
			for k, v := range tt.env {
				cmd.Env[k] = v
			}
			refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
			if !strings.Contains(refused[tt.fix.ID], tt.reason) {
				t.Errorf("Apply of every fix: %s: %q, want it to say %q", tt.fix.ID, refused[tt.fix.ID], tt.reason)
			}
			_, err := apply(t, cmd, tt.fix)
			var unsup *sdk.UnsupportedError
			if !errors.As(err, &unsup) || unsup.Fix != tt.fix.ID || !strings.Contains(unsup.Reason, tt.reason) {
				t.Errorf("Apply: %v, want an unsupported %s saying %q", err, tt.fix.ID, tt.reason)
			}
		})
	}
}

func TestApplyAllocator(t *testing.T) {
	cmd := command("python main.py fit", map[string]string{"main.py": bareCLIPy})
	cmd.Env["PYTORCH_CUDA_ALLOC_CONF"] = "max_split_size_mb:128"
	got, err := apply(t, cmd, sdk.Fix{ID: sdk.FixAllocator})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True",
		"PYTORCH_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"}
	if !reflect.DeepEqual(got.Env, want) || !reflect.DeepEqual(got.Argv, cmd.Argv) {
		t.Errorf("env %v argv %v, want %v and the argv unchanged", got.Env, got.Argv, want)
	}
}

// The profile's flags: mapping names a project's own settings: a dotted
// one is also found in the config files, and templates apply fixes the
// plugin has no flag for.
func TestProfileFlags(t *testing.T) {
	cmd := command("python main.py fit -c config.yaml", map[string]string{"main.py": bareCLIPy,
		"config.yaml": "data:\n  bs: 40\n  eval_bs: 80\n"})
	cmd.Flags = map[string]string{"batch_size": "--data.bs", "eval_batch_size": "--data.eval_bs",
		"grad_checkpointing": "--model.checkpointing true", "optimizer_8bit": "--optimizer bnb.optim.AdamW8bit"}
	a := plugintab.Analyze(t, New(), cmd)
	if intp(a.Knobs.BatchSize) != 40 || intp(a.Knobs.EvalBatchSize) != 80 {
		t.Errorf("batch %v eval %v, want 40 80", intp(a.Knobs.BatchSize), intp(a.Knobs.EvalBatchSize))
	}
	refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
	for _, f := range []sdk.FixID{sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixBatchSize, sdk.FixEvalBatchSize} {
		if reason, no := refused[f]; no {
			t.Errorf("%s turned down: %s", f, reason)
		}
	}
	got, err := apply(t, cmd, sdk.Fix{ID: sdk.FixGradCheckpointing})
	if err != nil || strings.Join(got.Argv, " ") != "python main.py fit -c config.yaml --model.checkpointing true" {
		t.Errorf("grad_checkpointing: %v %q", err, got.Argv)
	}
	got, err = apply(t, cmd, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 20})
	if err != nil || len(got.Copies) != 1 || string(got.Copies[0].Content) != "data:\n  bs: 40\n  eval_bs: 20\n" {
		t.Errorf("eval_batch_size: %v %+v", err, got.Copies)
	}
}

func TestRecognize(t *testing.T) {
	tests := []struct {
		name  string
		argv  string
		files map[string]string
		conf  int
	}{
		{"imports lightning", "python main.py fit", map[string]string{"main.py": mainPy}, 80},
		{"Lightning around a Hugging Face model", "python main.py fit", map[string]string{"main.py": "from transformers import AutoModel\nimport lightning as L\n"}, 85},
		{"Hugging Face Trainer script that also imports lightning", "python run.py --output_dir o", map[string]string{"run.py": "from transformers import Trainer, TrainingArguments\nimport lightning\n"}, 80},
		{"imports pytorch_lightning", "python train.py --batch_size 8", map[string]string{"train.py": "import pytorch_lightning as pl\n"}, 80},
		{"LightningCLI flags, script unreadable", "torchrun --nproc_per_node 2 main.py fit --trainer.max_steps 5", nil, 70},
		{"subcommand and config", "python main.py fit -c cfg.yaml", nil, 70},
		{"subcommand alone", "python main.py fit", nil, 50},
		{"plain torch script", "python train.py --batch-size 8", map[string]string{"train.py": "import torch\n"}, 0},
		{"a fit positional later on", "python train.py --mode x fit", map[string]string{"train.py": "import torch\n"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := New().Recognize(ctx, sdk.RecognizeRequest{Command: command(tt.argv, tt.files)})
			if err != nil || rec.Confidence != tt.conf {
				t.Errorf("confidence %d (%s), err %v; want %d", rec.Confidence, rec.Reason, err, tt.conf)
			}
			if tt.conf > 0 && (rec.Framework != "lightning" || rec.Reason == "") {
				t.Errorf("framework %q reason %q", rec.Framework, rec.Reason)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	d, err := New().Describe(ctx, sdk.DescribeRequest{})
	if err != nil || d.Name != "lightning" || !reflect.DeepEqual(d.Frameworks, []string{"lightning"}) || len(d.Frames) == 0 {
		t.Errorf("%+v %v", d, err)
	}
}

func TestBadConfig(t *testing.T) {
	cmd := command("python main.py fit --config config.yaml --data.batch_size 8", map[string]string{"main.py": mainPy, "config.yaml": "data: [1, 2\n"})
	a := plugintab.Analyze(t, New(), cmd)
	if intp(a.Knobs.BatchSize) != 8 {
		t.Errorf("batch %v, want 8 from the flag", intp(a.Knobs.BatchSize))
	}
	cmd = command("python main.py fit --config missing.yaml", map[string]string{"main.py": bareCLIPy})
	cmd.Dir = t.TempDir()
	plugintab.Analyze(t, New(), cmd)
	if r := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)[sdk.FixBatchSize]; !strings.Contains(r, "cannot read missing.yaml") {
		t.Errorf("batch_size reason %q, want it to name the unreadable file", r)
	}
}

// TestCheckpointsAndResumeCLI: a fit command's checkpoints are
// ModelCheckpoint's (under default_root_dir, or its dirpath); it resumes
// with --ckpt_path; other subcommands and plain scripts do not resume.
func TestCheckpointsAndResumeCLI(t *testing.T) {
	files := map[string]string{"main.py": mainPy, "cfg.yaml": "trainer:\n  default_root_dir: runs\n"}
	for argv, want := range map[string][]string{
		"python main.py fit":             {"lightning_logs/version_*/checkpoints/*.ckpt", "checkpoints/*.ckpt"},
		"python main.py fit -c cfg.yaml": {"runs/lightning_logs/version_*/checkpoints/*.ckpt", "runs/checkpoints/*.ckpt"},
		"python main.py fit --trainer.callbacks+=ModelCheckpoint --trainer.callbacks.dirpath=ck": {"ck/*.ckpt",
			"lightning_logs/version_*/checkpoints/*.ckpt", "checkpoints/*.ckpt"},
		"python main.py fit --trainer.enable_checkpointing false": nil,
		"python main.py validate":                                 nil,
	} {
		a := plugintab.Analyze(t, New(), plugintab.Command(argv, files))
		var got []string
		if a.Checkpoints != nil {
			got = a.Checkpoints.Globs
			if a.Checkpoints.Step != stepInName || a.Checkpoints.Marker != "" {
				t.Errorf("%s: checkpoints %+v", argv, a.Checkpoints)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: globs %q, want %q", argv, got, want)
		}
	}
	ckpt := "lightning_logs/version_0/checkpoints/last.ckpt"
	got := plugintab.MustApply(t, New(), plugintab.Command("python main.py fit --data.batch_size 16", files), sdk.Fix{ID: sdk.FixResume, Checkpoint: ckpt})
	if plugintab.ArgvText(got.Argv) != "python main.py fit --data.batch_size 16 --ckpt_path "+ckpt || got.Summary != "--ckpt_path "+ckpt {
		t.Errorf("argv %q summary %q", plugintab.ArgvText(got.Argv), got.Summary)
	}
	_, err := plugintab.Apply(t, New(), plugintab.Command("python main.py validate", files), sdk.Fix{ID: sdk.FixResume, Checkpoint: ckpt})
	plugintab.WantUnsupported(t, err, sdk.FixResume, "only LightningCLI's fit resumes (--ckpt_path)")
}

// TestDevicesAutoIsEveryGPUSeen: Trainer(devices="auto") and -1, and
// Lightning 2's default when devices is unset, start a process per GPU the
// job sees; without a count of those, one (world_test.go has the unset
// cases).
func TestDevicesAutoIsEveryGPUSeen(t *testing.T) {
	for argv, want := range map[string][2]int{
		"python main.py fit --trainer.devices auto --data.batch_size 8":                        {1, 4},
		"python main.py fit --trainer.devices=-1 --trainer.num_nodes 2 --data.batch_size 8":    {2, 8},
		"python main.py fit --trainer.devices 2 --data.batch_size 8":                           {2, 2},
		"python main.py fit --data.batch_size 8":                                               {1, 4},
		"torchrun --nproc_per_node gpu main.py fit --trainer.devices auto --data.batch_size 8": {1, 4},
	} {
		for i, gpus := range []int{0, 4} {
			cmd := command(argv, map[string]string{"main.py": mainPy})
			cmd.GPUs = gpus
			if a := plugintab.Analyze(t, New(), cmd); a.WorldSize != want[i] {
				t.Errorf("%s with %d GPUs seen: world %d, want %d", argv, gpus, a.WorldSize, want[i])
			}
		}
	}
}
