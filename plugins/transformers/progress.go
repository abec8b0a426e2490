package transformers

import (
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Progress are the lines with which the Trainer tells its speed, in the
// order vramrun prefers them: DeepSpeed's throughput timer under it (every
// steps_per_print optimizer steps, samples of all processes), the
// Trainer's bar (one tick per optimizer step), and the run's last log,
// whose train_samples_per_second averages the warm-up in. The tools built
// on the Trainer (axolotl, LLaMA-Factory, TRL, Unsloth) print the same.
func Progress(framework string) []sdk.ProgressPattern {
	out := []sdk.ProgressPattern{{ID: framework + ".deepspeed_throughput",
		Regexp: `CurrSamplesPerSec=(?P<per_s>[0-9]+(?:\.[0-9]+)?)`, Unit: sdk.UnitSample}}
	out = append(out, pyscript.Tqdm(framework, "", sdk.UnitStep)...)
	return append(out, sdk.ProgressPattern{ID: framework + ".train_samples_per_second",
		Regexp: `'train_samples_per_second': (?P<per_s>[0-9]+(?:\.[0-9]+)?)`, Unit: sdk.UnitSample, Summary: true})
}
