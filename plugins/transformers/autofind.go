package transformers

// AutoFindField is TrainingArguments' switch for the Trainer's own batch
// search (accelerate's find_executable_batch_size around the training
// loop): after an OOM it retries at a smaller per-device batch, 0.9x a
// time since accelerate 1.9 (halved before), keeping the accumulation, and
// prints nothing, so the job never dies of the OOM and the effective batch
// shrinks without a word.
const AutoFindField = "auto_find_batch_size"

// AutoFindNote says what the Trainer's batch search does under vramrun;
// named is how the command spells the setting.
func AutoFindNote(named string) string {
	return named + " is on: after an OOM the Trainer retries at a smaller per-device batch itself (0.9x a time since accelerate 1.9, halved before) " +
		"with the accumulation as it was, so the effective batch shrinks without a word and vramrun sees no OOM to fix; " +
		"drop it to let vramrun keep the effective batch (vramrun tune's trials turn it off)"
}
