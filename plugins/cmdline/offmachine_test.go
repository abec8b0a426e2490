package cmdline

import "testing"

func TestOffMachine(t *testing.T) {
	for argv, want := range map[string]bool{
		"python3 train.py":                                 false,
		"torchrun --nproc-per-node gpu train.py":           false,
		"env A=1 uv run train.py":                          false,
		"srun python3 train.py":                            true,
		"srun -N 2 torchrun --nproc-per-node gpu train.py": true,
		"ray job submit --address=http://h:8265 -- python3 -m verl.trainer.main_ppo": true,
		"ray job submit -- litgpt finetune_lora m --devices auto":                    true,
		"srun nothere.py": true,
		"ray status":      false,
		"":                false,
	} {
		if got := OffMachine(w(argv)); got != want {
			t.Errorf("OffMachine(%q) = %v, want %v", argv, got, want)
		}
	}
}
