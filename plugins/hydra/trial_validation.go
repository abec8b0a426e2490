package hydra

// nemo1ValidationOff keeps a NeMo 1 trial from validating. Lightning's own
// switch, trainer.limit_val_batches=0, is also what MegatronGPTModel sizes
// its validation split by (build_train_valid_test_datasets in
// nemo/collections/nlp/models/language_modeling/megatron_gpt_model.py asks
// Megatron-Core for (max_steps // val_check_interval + 1) x
// limit_val_batches global batches), and with a weighted blend
// (model.data.data_prefix=[1.0,path], the shipped megatron_gpt_config.yaml's
// format) both spellings of it end the job before its first step:
//
//   - 0 asks for no samples: the validation BlendedDataset is empty, which
//     Megatron-Core's older BlendedDataset refuses with its size check
//     ("index -1 is out of bounds for axis 0 with size 0") and, on newer
//     ones, NeMo's sampler ("no sample to consume: 0", data_samplers.py);
//   - a float up to 1.0, 0.0 too, asks for one epoch: 1 sample with the
//     legacy dataset, None with Megatron-Core's (the nlp collection of
//     NeMo 2.0), which Megatron-Core's BlendedMegatronDatasetBuilder refuses
//     for a weighted blend ("size_is_none => weights_are_none fails for
//     valid split").
//
// So limit_val_batches stays as configured (the datasets are the job's),
// and the validation moves past the trial:
//
//   - val_check_interval one no trial reaches (the split then holds
//     limit_val_batches global batches), with check_val_every_n_epoch null:
//     Lightning's fit loop refuses an interval beyond the epoch's batches
//     otherwise ("`val_check_interval` (N) must be less than or equal to
//     the number of the training batches"), and with null counts it over
//     the whole fit (loops/fit_loop.py, training_epoch_loop.py);
//   - num_sanity_val_steps 0: Lightning's sanity check runs 2 validation
//     batches before the first step otherwise (trainer.py's
//     _run_sanity_check; the shipped config leaves it unset).
//
// All forced (++): the shipped config has no check_val_every_n_epoch or
// num_sanity_val_steps. What stays: Lightning also validates when the
// training data runs out (NeMo's steps draw their own micro-batches, and
// _should_check_val_fx takes the last batch of such a loop as a validation
// point) or a callback stops the fit early; newer Megatron-Core releases
// size a weighted blend's training split to max_steps global batches, so a
// trial that runs the whole of such a job validates once, at its end.
var nemo1ValidationOff = []override{
	{key: "trainer.val_check_interval", value: "1000000000", force: true},
	{key: "trainer.check_val_every_n_epoch", value: "null", force: true},
	{key: "trainer.num_sanity_val_steps", value: "0", force: true},
}

// nemo2ValidationOff turns a NeMo 2 trial's validation off with Lightning's
// own switch, limit_val_batches 0 (trainer.py's enable_validation): no
// sanity check, no validation at the interval, at the end of the data or on
// an early stop, and no validation dataloader built (evaluation_loop.py's
// setup_data). NeMo 2's data modules take it: PreTrainingDataModule asks
// Megatron-Core for no validation samples (build in
// nemo/collections/llm/gpt/data/pre_training.py; the empty split is never
// loaded), MockDataModule and the finetune data modules size their
// validation sets apart from it. The int, not 0.0: older releases'
// PreTrainingDataModule took any float up to 1.0 for "one epoch" and
// asserted "When using a single data distribution, limit_val_batches <= 1.0
// is not supported" for paths given as one list (later ones leave 0.0 out,
// `limit_val_batches > 0.0`). Moving the interval past the trial, as for
// NeMo 1, would leave the validation at the end of the data, which a
// weighted PreTrainingDataModule sizes to max_steps global batches. Where
// Megatron-Core's BlendedDataset still checked its own size (older
// releases), an empty weighted blend fails ("index -1 is out of bounds for
// axis 0 with size 0"), and so would such a trial.
var nemo2ValidationOff = override{key: "trainer.limit_val_batches", value: "0"}
