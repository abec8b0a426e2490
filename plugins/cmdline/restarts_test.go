package cmdline

import "testing"

func TestTorchrunRestarts(t *testing.T) {
	tests := []struct {
		name, argv string
		env        map[string]string
		n          int
		source     string
	}{
		{"underscore spelling", "torchrun --nproc_per_node 2 --max_restarts 3 train.py", nil, 3, "--max_restarts 3"},
		{"dashed, attached", "torchrun --max-restarts=2 train.py --max_restarts 9", nil, 2, "--max-restarts=2"},
		{"a unique prefix, as argparse allows", "torchrun --max_r 4 train.py", nil, 4, "--max_r 4"},
		{"the last one typed wins", "torchrun --max_restarts 3 --max-restarts 0 train.py", nil, 0, "--max-restarts 0"},
		{"python -m torch.distributed.run", "python3 -m torch.distributed.run --max_restarts 1 train.py", nil, 1, "--max_restarts 1"},
		{"python -m torch.distributed.launch", "python -m torch.distributed.launch --use_env --max_restarts 5 train.py", nil, 5, "--max_restarts 5"},
		{"under srun", "srun -N 2 torchrun --nnodes 2 --max_restarts 2 train.py", nil, 2, "--max_restarts 2"},
		{"none typed: torchrun's default", "torchrun --nproc_per_node 2 train.py", nil, 0, ""},
		{"PET_MAX_RESTARTS in the job's environment", "torchrun train.py", map[string]string{"PET_MAX_RESTARTS": "3"}, 3, "PET_MAX_RESTARTS=3"},
		{"an env wrapper's PET_MAX_RESTARTS comes first", "env PET_MAX_RESTARTS=1 torchrun train.py", map[string]string{"PET_MAX_RESTARTS": "3"}, 1, "PET_MAX_RESTARTS=1"},
		{"the option beats PET_MAX_RESTARTS", "torchrun --max_restarts 0 train.py", map[string]string{"PET_MAX_RESTARTS": "3"}, 0, "--max_restarts 0"},
		{"not a number", "torchrun --max_restarts many train.py", nil, 0, "--max_restarts many"},
		{"negative", "torchrun --max_restarts -1 train.py", nil, 0, "--max_restarts -1"},
		{"the script's own flag is not torchrun's", "python train.py --max_restarts 3", nil, 0, ""},
		{"accelerate's --max_restarts is not torchrun's", "accelerate launch --max_restarts 3 train.py", nil, 0, ""},
		{"PET_MAX_RESTARTS means nothing without torchrun", "python train.py", map[string]string{"PET_MAX_RESTARTS": "3"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(w(tt.argv))
			if err != nil {
				t.Fatal(err)
			}
			n, source := inv.TorchrunRestarts(tt.env)
			if n != tt.n || source != tt.source {
				t.Errorf("TorchrunRestarts(%q) = %d, %q; want %d, %q", tt.argv, n, source, tt.n, tt.source)
			}
		})
	}
}
