package hydra

import (
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// figure is a number as these tools print it: "%.3f", Python's repr of a
// float, tqdm's "{:.3g}" or "{:.4}", with an exponent where one is due
// ("5.07e-05", "1.23e+3").
const figure = `[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?`

// Progress are the speed lines of the tools the plugin knows, in the order
// vramrun prefers them. Each was read in the tool's source:
//
//   - verl's console logger (trainer.logger holds "console", as the shipped
//     sft_trainer.yaml and ppo_trainer.yaml have it): Tracking.log prints
//     concat_dict_to_str(data, step), "step:3 - train/loss:2.31 -
//     train/lr(1e-3):0.01 - train/time(s):1.234" (verl/utils/tracking.py,
//     verl/utils/logger/aggregate_logger.py: each value "%.3f" in older
//     releases, pprint.pformat in newer ones). Under Ray the line comes
//     prefixed "(TaskRunner pid=N) ", so nothing is anchored.
//   - verl SFT (verl/trainer/fsdp_sft_trainer.py): training_step's
//     "train/time(s)" is the time of one training step, one global batch
//     of data.train_batch_size over all ranks, that is one optimizer step.
//   - verl PPO (verl/trainer/ppo/ray_trainer.py fit, with
//     compute_throughout_metrics in verl/trainer/ppo/metric_utils.py):
//     "perf/throughput" is the batch's prompt and response tokens over
//     the whole iteration's time (rollout included) and the GPUs, that is
//     tokens a second per GPU. A PPO iteration is not one optimizer step
//     (it runs ppo_mini_batch_size steps for ppo_epochs), so its time and
//     its "Training Progress" bar are not declared.
//   - verl SFT's bar, tqdm(desc=f"Epoch {epoch + 1}/{total_epochs}"), one
//     tick per training step (fsdp_sft_trainer.py fit): for a run whose
//     console logger is off.
//   - NeMo's TimingCallback (nemo/utils/exp_manager.py) logs the time from
//     on_train_batch_start to on_train_batch_end as "train_step_timing in
//     s" with prog_bar=True; a Megatron training batch is one global batch
//     (the step runs every micro-batch), so it is one optimizer step. NeMo
//     1's CustomProgressBar (nemo/collections/nlp/parts/nlp_overrides.py)
//     and NeMo 2's MegatronProgressBar
//     (nemo/lightning/pytorch/callbacks/progress_bar.py) draw it in the
//     bar's postfix, "train_step_timing in s=3.130" (their bar_format drops
//     the s/it); NeMo 2's ProgressPrinter
//     (nemo/lightning/pytorch/callbacks/progress_printer.py, the default
//     with MegatronStrategy's replace_progress_bar) prints "Training epoch
//     0, iteration 5/99 | ... | train_step_timing in s: 2.505". NeMo 1's
//     exp_manager adds the callback (log_step_timing defaults to true);
//     NeMo 2's pretrain recipes add it, its finetune recipes only with
//     performance_mode: without it a NeMo 2 run prints no speed.
//   - Megatron-Bridge's training_log
//     (src/megatron/bridge/training/utils/train_utils.py), every
//     logger.log_interval iterations: " [date] iteration 5/ 100 | consumed
//     samples: 640 | elapsed time per iteration (ms): 1234.5 | ...", the
//     interval's mean time of one iteration, one optimizer step.
func Progress() []sdk.ProgressPattern {
	out := []sdk.ProgressPattern{
		{ID: Name + ".verl_train_time", Regexp: `step:[0-9]+ - .*train/time\(s\):(?P<s_per>` + figure + `)`, Unit: sdk.UnitStep},
		{ID: Name + ".verl_perf_throughput", Regexp: `step:[0-9]+ - .*perf/throughput:(?P<per_s>` + figure + `)`,
			Unit: sdk.UnitToken, PerProcess: true},
	}
	out = append(out, pyscript.Tqdm(Name+".verl_sft", `Epoch [0-9]+/[0-9]+: `, sdk.UnitStep)...)
	return append(out,
		sdk.ProgressPattern{ID: Name + ".nemo_train_step_timing", Regexp: `train_step_timing in s(?:=|: )(?P<s_per>` + figure + `)`,
			Unit: sdk.UnitStep},
		sdk.ProgressPattern{ID: Name + ".megatron_bridge_iteration",
			Regexp: ` iteration +[0-9]+/ *[0-9]+ \| consumed samples: +[0-9]+ \|.*? elapsed time per iteration \(ms\): (?P<ms_per>[0-9]+(?:\.[0-9]+)?)`,
			Unit:   sdk.UnitStep})
}
