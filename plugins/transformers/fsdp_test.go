package transformers

import (
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

// TestFSDPOffloadThroughTheLauncher: with accelerate's FSDP (from its
// config file or --use_fsdp), cpu_offload is the launcher's
// --fsdp_offload_params, which wins over the file.
func TestFSDPOffloadThroughTheLauncher(t *testing.T) {
	files := map[string]string{"run_clm.py": runCLM, "fsdp.yaml": "distributed_type: FSDP\nfsdp_config:\n  fsdp_offload_params: false\nmixed_precision: bf16\n"}
	c := command("accelerate launch --config_file fsdp.yaml run_clm.py --output_dir out", files)
	a := plugintab.Analyze(t, New(), c)
	if a.Knobs.Offload == nil || *a.Knobs.Offload {
		t.Errorf("offload %v, want known and off", a.Knobs.Offload)
	}
	got := plugintab.MustApply(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload})
	if plugintab.ArgvText(got.Argv) != "accelerate launch --config_file fsdp.yaml --fsdp_offload_params true run_clm.py --output_dir out" {
		t.Errorf("argv %q", plugintab.ArgvText(got.Argv))
	}
	on := command("accelerate launch --use_fsdp --fsdp_offload_params true run_clm.py --output_dir out", files)
	_, err := plugintab.Apply(t, New(), on, sdk.Fix{ID: sdk.FixCPUOffload})
	plugintab.WantUnsupported(t, err, sdk.FixCPUOffload, "already on (accelerate launch --fsdp_offload_params)")
}
