package pytorch

import "github.com/vramrun/vramrun/sdk"

// Progress are the speed lines of the PyTorch scripts the plugin knows:
// timm's train.py log line ("Time: 0.318s,  805.13/s  (0.330s,  775.71/s)",
// the latest update's samples a second over all processes), and nanoGPT's
// "iter N: loss X, time Yms, mfu Z%" per optimizer step. A plain script's
// own tqdm bar is not declared: what one of its ticks is, a micro-batch or
// a step, only the script knows (name it under progress in vramrun.yaml).
func Progress() []sdk.ProgressPattern {
	return []sdk.ProgressPattern{
		{ID: "pytorch.timm_train", Regexp: `^Train: .*Time: *[0-9.]+s, *(?P<per_s>[0-9]+(?:\.[0-9]+)?)/s`, Unit: sdk.UnitSample},
		{ID: "pytorch.nanogpt_iter", Regexp: `^iter [0-9]+: loss [-0-9.naif]+, time (?P<ms_per>[0-9]+(?:\.[0-9]+)?)ms`, Unit: sdk.UnitStep},
	}
}
