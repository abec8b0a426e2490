package lightning

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// legacyCLIPy is a Lightning 1.x LightningCLI script: its import path was
// removed in 1.9.
const legacyCLIPy = `import pytorch_lightning as pl
from pytorch_lightning.utilities.cli import LightningCLI

LightningCLI(pl.LightningModule, pl.LightningDataModule)
`

// plCLIPy imports pytorch_lightning with nothing that tells its release.
const plCLIPy = `import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

LightningCLI(pl.LightningModule, pl.LightningDataModule)
`

// defaultsPy builds its LightningCLI with trainer_defaults given as
// written.
func defaultsPy(defaults string) string {
	return `import torch
from lightning.pytorch.cli import LightningCLI
from mypkg import Model, Data

def main():
    LightningCLI(Model, Data, trainer_defaults=` + defaults + `)
`
}

// versionPython writes a python and a python3 that answer an installed-version probe
// with version (exit 3, not installed, when version is "") and count their
// runs in the file "runs" next to them.
func versionPython(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho run >> \"${0%/*}/runs\"\n"
	if version == "" {
		script += "exit 3\n"
	} else {
		script += "printf '%s' " + version + "\n"
	}
	for _, name := range []string{"python", "python3"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const everyGPUNote = "trainer.devices unset: Lightning's default devices=auto starts one process per GPU the job sees (4)"

// TestUnsetDevicesCLI: with trainer.devices set nowhere (flags, config
// files, the script's trainer_defaults), a LightningCLI job under plain
// python runs Lightning 2's default, a process per GPU the job sees, and a
// note says so; anything that sets devices wins, an accelerator other than
// a GPU's is one process, and Lightning 1.x's default is one process.
func TestUnsetDevicesCLI(t *testing.T) {
	cfg := map[string]string{"main.py": mainPy, "devices.yaml": "trainer:\n  devices: [0, 1]\n", "null.yaml": "trainer:\n  devices: null\n"}
	tests := []struct {
		name   string
		argv   string
		files  map[string]string
		gpus   int
		python string // a version the job's python3 reports; "none": no python3
		world  int
		note   string // a note that must be there; "" for none about devices
	}{
		{"unset", "python main.py fit --data.batch_size 8", cfg, 4, "none", 4, everyGPUNote},
		{"unset, two nodes", "python main.py fit --data.batch_size 8 --trainer.num_nodes 2", cfg, 4, "none", 8, everyGPUNote},
		{"null in a config file is unset", "python main.py fit -c null.yaml --data.batch_size 8", cfg, 4, "none", 4, everyGPUNote},
		{"one GPU seen", "python main.py fit --data.batch_size 8", cfg, 1, "none", 1, ""},
		{"GPUs not counted", "python main.py fit --data.batch_size 8", cfg, 0, "none", 1,
			"trainer.devices unset: Lightning 2's default devices=auto starts a process per GPU, and vramrun cannot count the GPUs the job sees " +
				"(no NVML, or behind srun): the effective batch it reports is one process's"},
		{"a flag sets devices", "python main.py fit --trainer.devices 2 --data.batch_size 8", cfg, 4, "none", 2, ""},
		{"one device", "python main.py fit --trainer.devices=1 --data.batch_size 8", cfg, 4, "none", 1, ""},
		{"a config file sets devices", "python main.py fit -c devices.yaml --data.batch_size 8", cfg, 4, "none", 2, ""},
		{"CPU accelerator", "python main.py fit --trainer.accelerator cpu --data.batch_size 8", cfg, 4, "none", 1, ""},
		{"GPU accelerator", "python main.py fit --trainer.accelerator gpu --data.batch_size 8", cfg, 4, "none", 4, everyGPUNote},
		{"under torchrun the launcher's world", "torchrun --nproc_per_node 2 main.py fit --data.batch_size 8", cfg, 4, "none", 2, ""},
		{"trainer_defaults sets devices", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`{"devices": 2, "accelerator": "gpu"}`)}, 4, "none", 2, ""},
		{"a flag overrides trainer_defaults", "python main.py fit --trainer.devices 3 --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`{"devices": 2}`)}, 4, "none", 3, ""},
		{"trainer_defaults through a name and dict()", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": "defaults = dict(devices=[0, 1, 2], max_epochs=3)\n" + defaultsPy("defaults")}, 4, "none", 3, ""},
		{"trainer_defaults None", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`None`)}, 4, "none", 4, everyGPUNote},
		{"trainer_defaults without devices", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`{"max_epochs": 3}`)}, 4, "none", 4, everyGPUNote},
		{"trainer_defaults devices not a literal", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`{"devices": torch.cuda.device_count()}`)}, 4, "none", 4,
			everyGPUNote + "; the script's trainer_defaults set devices to torch.cuda.device_count(), which vramrun cannot read: it may set devices"},
		{"trainer_defaults not a dict", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": defaultsPy(`make_defaults()`)}, 4, "none", 4,
			everyGPUNote + "; the script's trainer_defaults=make_defaults() (line 6) is not a dict vramrun can read: it may set devices"},
		{"Lightning 1.x from the script's imports", "python main.py fit --data.batch_size 8",
			map[string]string{"main.py": legacyCLIPy}, 4, "none", 1,
			"trainer.devices and the accelerator unset with the script's pytorch_lightning.utilities.cli (Lightning 1.x): Lightning 1.x's defaults run one process, on the CPU"},
		{"Lightning 1.x with a GPU accelerator", "python main.py fit --trainer.accelerator=gpu --data.batch_size 8",
			map[string]string{"main.py": legacyCLIPy}, 4, "none", 4, everyGPUNote},
		{"1.x gpus", "python main.py fit --trainer.gpus 2 --data.batch_size 8", map[string]string{"main.py": legacyCLIPy}, 4, "none", 2, ""},
		{"pytorch_lightning 1.x installed", "python main.py fit --data.batch_size 8", map[string]string{"main.py": plCLIPy}, 4, "1.9.5", 1,
			"trainer.devices and the accelerator unset with pytorch_lightning 1.9.5: Lightning 1.x's defaults run one process, on the CPU"},
		{"pytorch_lightning 2.x installed", "python main.py fit --data.batch_size 8", map[string]string{"main.py": plCLIPy}, 4, "2.4.0", 4, everyGPUNote},
		{"pytorch_lightning not installed", "python main.py fit --data.batch_size 8", map[string]string{"main.py": plCLIPy}, 4, "", 4, everyGPUNote},
		{"pytorch_lightning's release unknown", "python main.py fit --data.batch_size 8", map[string]string{"main.py": plCLIPy}, 4, "none", 4, everyGPUNote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			if tt.python != "none" {
				cmd = plugintab.With(cmd, plugintab.Env("PATH", versionPython(t, tt.python)))
			}
			cmd.GPUs = tt.gpus
			a := plugintab.Analyze(t, New(), cmd)
			if a.WorldSize != tt.world {
				t.Errorf("world %d, want %d", a.WorldSize, tt.world)
			}
			if intp(a.Knobs.BatchSize) != 8 || intp(a.Knobs.GradAccumulation) != 1 {
				t.Errorf("batch %v accumulation %v, want 8 and 1", intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation))
			}
			checkDevicesNote(t, a.Notes, tt.note)
		})
	}
}

// checkDevicesNote wants note among notes, or, when note is "", no note
// about devices.
func checkDevicesNote(t *testing.T, notes []string, note string) {
	t.Helper()
	for _, n := range notes {
		if strings.Contains(n, "devices") {
			if n != note {
				t.Errorf("note %q, want %q", n, note)
			}
			return
		}
	}
	if note != "" {
		t.Errorf("notes %q, want %q", notes, note)
	}
}

// TestUnsetDevicesProbesOnlyWhenItCounts: the job's Python is asked for
// Lightning's release only when the answer changes the count (more than
// one GPU seen, nothing set), once per interpreter, and never by Apply.
func TestUnsetDevicesProbesOnlyWhenItCounts(t *testing.T) {
	dir := versionPython(t, "2.4.0")
	files := map[string]string{"main.py": plCLIPy}
	p := New()
	for _, tt := range []struct {
		argv string
		gpus int
	}{{"python main.py fit --data.batch_size 8", 1}, {"python main.py fit --trainer.devices 2 --data.batch_size 8", 4},
		{"python main.py fit --trainer.accelerator gpu --data.batch_size 8", 4}} {
		cmd := plugintab.Command(tt.argv, files, plugintab.Dir(t.TempDir()), plugintab.Env("PATH", dir))
		cmd.GPUs = tt.gpus
		plugintab.Analyze(t, p, cmd)
	}
	if n := len(runs(t, dir)); n != 0 {
		t.Fatalf("the probe ran %d times where its answer could not change the count", n)
	}
	cmd := plugintab.Command("python main.py fit --data.batch_size 8", files, plugintab.Dir(t.TempDir()), plugintab.Env("PATH", dir))
	cmd.GPUs = 4
	for range 2 {
		if a := plugintab.Analyze(t, p, cmd); a.WorldSize != 4 {
			t.Errorf("world %d, want 4", a.WorldSize)
		}
	}
	plugintab.MustApply(t, p, cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 2})
	if n := len(runs(t, dir)); n != 1 {
		t.Errorf("the probe ran %d times, want 1", n)
	}
}

// TestUnsetDevicesKeepsTheEffectiveBatch: the batch fix on a command
// whose devices are Lightning's default keeps the micro-batch ×
// accumulation, which the world (4 processes) multiplies.
func TestUnsetDevicesKeepsTheEffectiveBatch(t *testing.T) {
	cmd := command("python main.py fit --data.batch_size 32", map[string]string{"main.py": mainPy})
	cmd.GPUs = 4
	a := plugintab.Analyze(t, New(), cmd)
	if a.WorldSize*intp(a.Knobs.BatchSize).(int)*intp(a.Knobs.GradAccumulation).(int) != 128 {
		t.Fatalf("world %d batch %v accumulation %v, want an effective batch of 128", a.WorldSize, intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation))
	}
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 8, GradAccumulation: 4})
	if plugintab.ArgvText(got.Argv) != "python main.py fit --data.batch_size 8 --trainer.accumulate_grad_batches 4" {
		t.Errorf("argv %s", plugintab.ArgvText(got.Argv))
	}
	cmd.Argv = got.Argv
	if a := plugintab.Analyze(t, New(), cmd); a.WorldSize*intp(a.Knobs.BatchSize).(int)*intp(a.Knobs.GradAccumulation).(int) != 128 {
		t.Errorf("after the fix: world %d batch %v accumulation %v, want an effective batch of 128", a.WorldSize, intp(a.Knobs.BatchSize), intp(a.Knobs.GradAccumulation))
	}
}

// TestTrainerDefaultsOtherKeys: trainer_defaults also gives the other
// Trainer settings below the command's own (accumulation, precision); the
// batch fix writes its accumulation as a flag, over the script's.
func TestTrainerDefaultsOtherKeys(t *testing.T) {
	cmd := command("python main.py fit --data.batch_size 32", map[string]string{"main.py": defaultsPy(`{"accumulate_grad_batches": 2, "precision": "bf16-mixed"}`)})
	a := plugintab.Analyze(t, New(), cmd)
	if intp(a.Knobs.GradAccumulation) != 2 || strp(a.Knobs.Precision) != "bf16" {
		t.Errorf("accumulation %v precision %v, want 2 and bf16", intp(a.Knobs.GradAccumulation), strp(a.Knobs.Precision))
	}
	got := plugintab.MustApply(t, New(), cmd, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 16, GradAccumulation: 4})
	if plugintab.ArgvText(got.Argv) != "python main.py fit --data.batch_size 16 --trainer.accumulate_grad_batches 4" ||
		got.Summary != "--data.batch_size 32 -> 16, --trainer.accumulate_grad_batches 2 -> 4" {
		t.Errorf("argv %s summary %q", plugintab.ArgvText(got.Argv), got.Summary)
	}
}

// TestLegacyCLIPrecisionNames: a Lightning 1.x CLI gets the short
// precision aliases 1.x takes.
func TestLegacyCLIPrecisionNames(t *testing.T) {
	got := plugintab.MustApply(t, New(), command("python main.py fit --data.batch_size 8", map[string]string{"main.py": legacyCLIPy}),
		sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"})
	if !strings.HasSuffix(plugintab.ArgvText(got.Argv), "--trainer.precision bf16") {
		t.Errorf("argv %s, want --trainer.precision bf16", plugintab.ArgvText(got.Argv))
	}
}

const plainNote = "devices in the script's Trainer unset: Lightning's default devices=auto starts one process per GPU the job sees (4)"

// TestUnsetDevicesPlain: a plain script's Trainer(...) without devices
// runs Lightning's default too; a literal, or args.NAME of its own flag,
// sets it; 1.x's from_argparse_args takes the typed --devices/--gpus.
func TestUnsetDevicesPlain(t *testing.T) {
	script := func(trainer string) map[string]string {
		return map[string]string{"train.py": `import argparse
import lightning as L

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=64)
parser.add_argument("--devices", default=1)
parser.add_argument("--nodes", type=int, default=None)
args = parser.parse_args()
trainer = L.Trainer(` + trainer + `)
`}
	}
	tests := []struct {
		name  string
		argv  string
		files map[string]string
		world int
		note  string
	}{
		{"unset", "python train.py", map[string]string{"train.py": trainPy}, 4, plainNote},
		{"a literal", "python train.py", script(`devices=2, max_epochs=3`), 2, ""},
		{"a list", "python train.py", script(`devices=[0, 1, 2]`), 3, ""},
		{"the script's flag, its default", "python train.py", script(`devices=args.devices`), 1, ""},
		{"the script's flag, typed", "python train.py --devices 3", script(`devices=args.devices`), 3, ""},
		{"the script's flag, None", "python train.py", script(`devices=args.nodes`), 4, plainNote},
		{"the CPU", "python train.py", script(`accelerator="cpu"`), 1, ""},
		{"two nodes", "python train.py", script(`num_nodes=2`), 8, plainNote},
		{"not readable", "python train.py", script(`devices=pick(args)`), 4,
			plainNote + "; the script's Trainer sets devices to pick(args) (line 9), which vramrun cannot read: it may set devices"},
		{"unpacked arguments", "python train.py", script(`**vars(args)`), 4,
			plainNote + "; the script's Trainer (line 9) takes arguments it unpacks, which vramrun cannot read: it may set devices"},
		{"1.x from_argparse_args, gpus typed", "python train.py --gpus 2", map[string]string{"train.py": legacyPy}, 2, ""},
		{"1.x from_argparse_args, nothing typed", "python train.py", map[string]string{"train.py": legacyPy}, 1,
			"devices in the script's Trainer and the accelerator unset with the script's add_argparse_args (Lightning 1.x): " +
				"Lightning 1.x's defaults run one process, on the CPU"},
		{"no Trainer in the script", "python train.py", map[string]string{"train.py": intPrecisionPy}, 1, ""},
		{"under torchrun", "torchrun --nproc_per_node 2 train.py", map[string]string{"train.py": trainPy}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(tt.argv, tt.files)
			cmd.GPUs = 4
			a := plugintab.Analyze(t, New(), cmd)
			if a.WorldSize != tt.world {
				t.Errorf("world %d, want %d", a.WorldSize, tt.world)
			}
			checkDevicesNote(t, a.Notes, tt.note)
		})
	}
}
