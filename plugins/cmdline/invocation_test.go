package cmdline

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// want is what a test expects Parse to find; Args is implied by
// ScriptIndex.
type want struct {
	Prefix       []string
	Wrappers     []string
	Launcher     string
	LauncherArgs []string
	Interpreter  string
	Script       string
	Module       bool
	ScriptIndex  int
	WorldSize    int
	Env          map[string]string
	Detached     string
}

func got(inv Invocation) want {
	return want{inv.Prefix, inv.Wrappers, inv.Launcher, inv.LauncherArgs, inv.Interpreter, inv.Script,
		inv.Module, inv.ScriptIndex, inv.WorldSize, inv.Env, inv.Detached}
}

// w splits a command line written with single spaces.
func w(s string) []string { return strings.Fields(s) }

func TestParseDocumentedCommands(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want want
	}{
		{"HF examples run_clm",
			w("python run_clm.py --model_name_or_path gpt2 --dataset_name wikitext --per_device_train_batch_size 8 --do_train --output_dir /tmp/test-clm"),
			want{Prefix: []string{}, Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "run_clm.py", ScriptIndex: 1, WorldSize: 1}},
		{"accelerate with config and precision",
			w("accelerate launch --config_file cfg.yaml --mixed_precision bf16 run_glue_no_trainer.py --model_name_or_path bert-base-cased --task_name mrpc"),
			want{Prefix: []string{}, Launcher: "accelerate", LauncherArgs: w("--config_file cfg.yaml --mixed_precision bf16"), Script: "run_glue_no_trainer.py", ScriptIndex: 6, WorldSize: 1}},
		{"accelerate module",
			w("accelerate launch --multi_gpu --num_processes 2 -m mypkg.train --lr 1"),
			want{Prefix: []string{}, Launcher: "accelerate", LauncherArgs: w("--multi_gpu --num_processes 2 -m"), Script: "mypkg.train", Module: true, ScriptIndex: 6, WorldSize: 2}},
		{"accelerate --multi_gpu alone leaves the world open",
			w("accelerate launch --multi_gpu train.py"),
			want{Prefix: []string{}, Launcher: "accelerate", LauncherArgs: w("--multi_gpu"), Script: "train.py", ScriptIndex: 3, WorldSize: 0}},
		{"accelerate-launch with dashed spelling",
			w("accelerate-launch --num-processes=4 --use_deepspeed train.py"),
			want{Prefix: []string{}, Launcher: "accelerate", LauncherArgs: w("--num-processes=4 --use_deepspeed"), Script: "train.py", ScriptIndex: 3, WorldSize: 4}},
		{"nanoGPT torchrun",
			w("torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py --batch_size=16"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--standalone --nproc_per_node=8"), Script: "train.py", ScriptIndex: 3, WorldSize: 8}},
		{"torchrun multi-node",
			w("torchrun --nnodes=2 --nproc-per-node=4 --rdzv-backend=c10d --rdzv-endpoint=host:29400 train.py"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--nnodes=2 --nproc-per-node=4 --rdzv-backend=c10d --rdzv-endpoint=host:29400"), Script: "train.py", ScriptIndex: 5, WorldSize: 8}},
		{"torchrun abbreviated --standalone and gpu count",
			w("torchrun --stand --nproc-per-node gpu train.py --lr 1"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--stand --nproc-per-node gpu"), Script: "train.py", ScriptIndex: 4, WorldSize: 0}},
		{"torchrun node range",
			w("torchrun --nnodes 1:2 --nproc-per-node 4 train.py"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--nnodes 1:2 --nproc-per-node 4"), Script: "train.py", ScriptIndex: 5, WorldSize: 0}},
		{"torchrun module after --",
			w("torchrun -m --nproc_per_node 4 -- mypkg.train --lr 1"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("-m --nproc_per_node 4 --"), Script: "mypkg.train", Module: true, ScriptIndex: 5, WorldSize: 4}},
		{"python -m torch.distributed.run (LightningCLI)",
			w("python -m torch.distributed.run --nproc_per_node 2 main.py fit --config config.yaml"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--nproc_per_node 2"), Interpreter: "python", Script: "main.py", ScriptIndex: 5, WorldSize: 2}},
		{"python -m torch.distributed.launch",
			w("python3 -m torch.distributed.launch --nproc_per_node=2 --use_env train.py --lr 1"),
			want{Prefix: []string{}, Launcher: "torchrun", LauncherArgs: w("--nproc_per_node=2 --use_env"), Interpreter: "python3", Script: "train.py", ScriptIndex: 5, WorldSize: 2}},
		{"python -m accelerate.commands.launch",
			w("python -m accelerate.commands.launch --num_processes 2 train.py"),
			want{Prefix: []string{}, Launcher: "accelerate", LauncherArgs: w("--num_processes 2"), Interpreter: "python", Script: "train.py", ScriptIndex: 5, WorldSize: 2}},
		{"deepspeed HF example",
			w("deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json --per_device_train_batch_size 4"),
			want{Prefix: []string{}, Launcher: "deepspeed", LauncherArgs: w("--num_gpus=2"), Script: "run_clm.py", ScriptIndex: 2, WorldSize: 2}},
		{"deepspeed without --num_gpus uses every GPU",
			w("deepspeed --no_local_rank --master_port 29501 train.py --deepspeed_config ds.json"),
			want{Prefix: []string{}, Launcher: "deepspeed", LauncherArgs: w("--no_local_rank --master_port 29501"), Script: "train.py", ScriptIndex: 4, WorldSize: 0}},
		{"deepspeed include list",
			w("deepspeed --include localhost:0,1 train.py"),
			want{Prefix: []string{}, Launcher: "deepspeed", LauncherArgs: w("--include localhost:0,1"), Script: "train.py", ScriptIndex: 3, WorldSize: 2}},
		{"deepspeed module over nodes",
			w("deepspeed --num_gpus 4 --num_nodes 2 --module pkg.train"),
			want{Prefix: []string{}, Launcher: "deepspeed", LauncherArgs: w("--num_gpus 4 --num_nodes 2 --module"), Script: "pkg.train", Module: true, ScriptIndex: 6, WorldSize: 8}},
		// srun starts the tasks; python is only what each task runs.
		{"srun python",
			w("srun -N2 --ntasks-per-node=4 --gres=gpu:4 python train.py -b 64"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-N2 --ntasks-per-node=4 --gres=gpu:4"), Interpreter: "python", Script: "train.py", ScriptIndex: 5, WorldSize: 8}},
		{"srun python3 (the plan of the issue)",
			w("srun -n 2 python3 train.py"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-n 2"), Interpreter: "python3", Script: "train.py", ScriptIndex: 4, WorldSize: 2}},
		{"srun python with interpreter options after --",
			w("srun -l -n 2 -- python3 -u -X dev train.py --lr 1"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-l -n 2 --"), Interpreter: "python3", Script: "train.py", ScriptIndex: 9, WorldSize: 2}},
		{"srun python -m",
			w("srun --ntasks=4 python -m pkg.train --lr 1"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("--ntasks=4"), Interpreter: "python", Script: "pkg.train", Module: true, ScriptIndex: 4, WorldSize: 4}},
		{"srun bash script",
			w("srun -n 2 bash -x train.sh 8"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-n 2"), Script: "train.sh", ScriptIndex: 5, WorldSize: 2}},
		{"srun env nice python",
			w("srun -n 2 env A=1 nice -n 5 python train.py"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-n 2"), Interpreter: "python", Script: "train.py", ScriptIndex: 9, WorldSize: 2, Env: map[string]string{"A": "1"}}},
		{"srun uv run a .py file",
			w("srun -n 2 uv run train.py"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-n 2"), Script: "train.py", ScriptIndex: 5, WorldSize: 2}},
		{"srun behind wrappers",
			w("env A=1 nohup srun -n 3 python train.py"),
			want{Prefix: w("env A=1 nohup"), Launcher: "srun", LauncherArgs: w("-n 3"), Interpreter: "python", Script: "train.py", ScriptIndex: 7, WorldSize: 3, Env: map[string]string{"A": "1"}}},
		{"srun in srun: the inner one launches",
			w("srun -N 2 srun -n 3 python train.py"),
			want{Prefix: w("srun -N 2"), Wrappers: []string{"srun"}, Launcher: "srun", LauncherArgs: w("-n 3"), Interpreter: "python", Script: "train.py", ScriptIndex: 7, WorldSize: 6}},
		// A launcher that starts processes itself stays the launcher: its
		// options are what fixes edit.
		{"srun accelerate",
			w("srun -N 2 accelerate launch --num_processes 8 train.py"),
			want{Prefix: w("srun -N 2"), Wrappers: []string{"srun"}, Launcher: "accelerate", LauncherArgs: w("--num_processes 8"), Script: "train.py", ScriptIndex: 7, WorldSize: 16}},
		{"srun python -m torch.distributed.run",
			w("srun -n 2 python -m torch.distributed.run --nproc_per_node 2 train.py"),
			want{Prefix: w("srun -n 2"), Wrappers: []string{"srun"}, Launcher: "torchrun", LauncherArgs: w("--nproc_per_node 2"), Interpreter: "python", Script: "train.py", ScriptIndex: 8, WorldSize: 4}},
		{"srun torchrun",
			w("srun --mpi=pmix -n 2 torchrun --nnodes 2 --nproc-per-node 4 train.py --lr 1"),
			want{Prefix: w("srun --mpi=pmix -n 2"), Wrappers: []string{"srun"}, Launcher: "torchrun", LauncherArgs: w("--nnodes 2 --nproc-per-node 4"), Script: "train.py", ScriptIndex: 9, WorldSize: 16}},
		{"srun runs the script itself",
			w("srun ./train.sh --x 1"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: []string{}, Script: "./train.sh", ScriptIndex: 1, WorldSize: 1}},
		{"srun combined short options and --",
			w("srun -lN2 -n4 -- ./train.sh"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("-lN2 -n4 --"), Script: "./train.sh", ScriptIndex: 4, WorldSize: 4}},
		{"srun optional-value option does not take the program",
			w("srun --exclusive -n 2 python train.py"),
			want{Prefix: []string{}, Launcher: "srun", LauncherArgs: w("--exclusive -n 2"), Interpreter: "python", Script: "train.py", ScriptIndex: 5, WorldSize: 2}},
		{"timm distributed_train.sh",
			w("./distributed_train.sh 8 --data-dir /data --model resnet50 -b 64 --amp"),
			want{Prefix: []string{}, Launcher: "", LauncherArgs: []string{}, Script: "./distributed_train.sh", ScriptIndex: 0, WorldSize: 1}},
		{"timm train.py",
			w("python train.py --data-dir /imagenet --model resnet50 -b 128 --grad-accum-steps 2 --amp --amp-dtype bfloat16"),
			want{Prefix: []string{}, Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "train.py", ScriptIndex: 1, WorldSize: 1}},
		{"env and uv run python",
			w("env CUDA_VISIBLE_DEVICES=0 uv run python train.py --lr 1e-3 -b 32"),
			want{Prefix: w("env CUDA_VISIBLE_DEVICES=0 uv run"), Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "train.py", ScriptIndex: 5, WorldSize: 1, Env: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}}},
		{"interpreter options",
			w("python -u -W ignore train.py --epochs 3"),
			want{Prefix: []string{}, Launcher: "python", LauncherArgs: w("-u -W ignore"), Interpreter: "python", Script: "train.py", ScriptIndex: 4, WorldSize: 1}},
		{"interpreter options attached and combined",
			w("/opt/venv/bin/python3.11 -X dev -uWignore -OO train.py"),
			want{Prefix: []string{}, Launcher: "python", LauncherArgs: w("-X dev -uWignore -OO"), Interpreter: "/opt/venv/bin/python3.11", Script: "train.py", ScriptIndex: 5, WorldSize: 1}},
		{"python -m module",
			w("python3 -m mypkg.train --bsz 8"),
			want{Prefix: []string{}, Launcher: "python -m", LauncherArgs: w("-m"), Interpreter: "python3", Script: "mypkg.train", Module: true, ScriptIndex: 2, WorldSize: 1}},
		{"python -m attached to its flag",
			w("python -mpkg.train --x"),
			want{Prefix: []string{}, Launcher: "python -m", LauncherArgs: []string{}, Interpreter: "python", Script: "pkg.train", Module: true, ScriptIndex: 1, WorldSize: 1}},
		{"python -um",
			w("python -um pkg.train"),
			want{Prefix: []string{}, Launcher: "python -m", LauncherArgs: w("-um"), Interpreter: "python", Script: "pkg.train", Module: true, ScriptIndex: 2, WorldSize: 1}},
		{"nested env srun uv torchrun",
			w("env A=1 srun -n 2 uv run torchrun --nproc-per-node 2 train.py --lr 1"),
			want{Prefix: w("env A=1 srun -n 2 uv run"), Wrappers: []string{"srun"}, Launcher: "torchrun", LauncherArgs: w("--nproc-per-node 2"), Script: "train.py", ScriptIndex: 10, WorldSize: 4, Env: map[string]string{"A": "1"}}},
		{"uv run a .py file",
			w("uv run --with rich --python 3.11 --frozen train.py --lr 1"),
			want{Prefix: w("uv run --with rich --python 3.11 --frozen"), Launcher: "python", LauncherArgs: []string{}, Script: "train.py", ScriptIndex: 7, WorldSize: 1}},
		{"uv run -m",
			w("uv --directory proj run -m mypkg.train --lr 1"),
			want{Prefix: w("uv --directory proj run -m"), Launcher: "python -m", LauncherArgs: []string{}, Script: "mypkg.train", Module: true, ScriptIndex: 5, WorldSize: 1}},
		{"uv run accelerate",
			w("uv run --no-project accelerate launch --num_processes=2 train.py"),
			want{Prefix: w("uv run --no-project"), Launcher: "accelerate", LauncherArgs: w("--num_processes=2"), Script: "train.py", ScriptIndex: 6, WorldSize: 2}},
		{"env options and assignments",
			w("env -i -u HOME PATH=/usr/bin A=x=y python train.py"),
			want{Prefix: w("env -i -u HOME PATH=/usr/bin A=x=y"), Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "train.py", ScriptIndex: 7, WorldSize: 1, Env: map[string]string{"PATH": "/usr/bin", "A": "x=y"}}},
		{"nice and nohup",
			w("nice -n 10 nohup python train.py"),
			want{Prefix: w("nice -n 10 nohup"), Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "train.py", ScriptIndex: 5, WorldSize: 1}},
		{"old nice form, time, stdbuf, timeout",
			w("nice -5 time -p stdbuf -oL timeout -s INT 2h python train.py"),
			want{Prefix: w("nice -5 time -p stdbuf -oL timeout -s INT 2h"), Launcher: "python", LauncherArgs: []string{}, Interpreter: "python", Script: "train.py", ScriptIndex: 11, WorldSize: 1}},
		{"bash script",
			w("bash -x train.sh 8"),
			want{Prefix: []string{}, Launcher: "bash", LauncherArgs: w("-x"), Script: "train.sh", ScriptIndex: 2, WorldSize: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(tt.argv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if g := got(inv); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.argv, g, tt.want)
			}
			if wantArgs := tt.argv[tt.want.ScriptIndex+1:]; !reflect.DeepEqual(inv.Args, wantArgs) {
				t.Errorf("Args = %q, want %q", inv.Args, wantArgs)
			}
			if back := inv.WithArgs(inv.Args); !reflect.DeepEqual(back, tt.argv) {
				t.Errorf("WithArgs(Args) = %q, want the argv back", back)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		argv     []string
		mentions string
	}{
		{nil, "empty command"},
		{w("torchrun --nproc-per-node"), "--nproc-per-node needs a value"},
		{w("torchrun --standalone"), "no training script"},
		{w("accelerate launch --num_processes 2"), "no training script"},
		{w("accelerate config"), "accelerate launch"},
		{w("deepspeed --num_gpus"), "--num_gpus needs a value"},
		{[]string{"python", "-c", "print(1)"}, "python -c has no script"},
		{w("python -u"), "no script"},
		{w("python -m"), "-m needs a module name"},
		{w("python -W"), "-W needs a value"},
		{w("python - arg"), "standard input"},
		{w("env A=1"), "env: no program"},
		{w("srun -n"), "-n needs a value"},
		{w("srun -N 2"), "srun: no program"},
		{w("uv pip install torch"), "uv run"},
		{w("uv run --python"), "--python needs a value"},
		{[]string{"bash", "-c", "python train.py"}, "bash -c has no script"},
		{w("timeout 5"), "timeout: no program"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.argv)
		if err == nil {
			t.Errorf("Parse(%q): no error, want one mentioning %q", tt.argv, tt.mentions)
			continue
		}
		if !strings.Contains(err.Error(), tt.mentions) {
			t.Errorf("Parse(%q) = %q, want it to mention %q", tt.argv, err, tt.mentions)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error has more than one line: %q", tt.argv, err)
		}
	}
}

func TestWithArgsReplacesOnlyTheScriptArgs(t *testing.T) {
	argv := []string{"env", "A=1 2", "torchrun", "--nproc_per_node=2", "train.py", "--lr", "1"}
	inv, err := Parse(argv)
	if err != nil {
		t.Fatal(err)
	}
	out := inv.WithArgs([]string{"--lr", "2", "--bf16"})
	want := []string{"env", "A=1 2", "torchrun", "--nproc_per_node=2", "train.py", "--lr", "2", "--bf16"}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("WithArgs = %q, want %q", out, want)
	}
	out[0] = "changed"
	if argv[0] != "env" || inv.Argv()[0] != "env" {
		t.Error("WithArgs shares memory with the parsed argv")
	}
}

func TestSetLauncherOption(t *testing.T) {
	tests := []struct {
		name        string
		argv        string
		option, val string
		want        string
	}{
		{"replace spaced value", "accelerate launch --mixed_precision bf16 train.py --lr 1",
			"--mixed_precision", "fp16", "accelerate launch --mixed_precision fp16 train.py --lr 1"},
		{"replace equals value in the user's spelling", "accelerate launch --mixed-precision=bf16 train.py",
			"--mixed_precision", "no", "accelerate launch --mixed-precision=no train.py"},
		{"insert before the script", "accelerate launch --multi_gpu train.py --lr 1",
			"--gradient_accumulation_steps", "4", "accelerate launch --multi_gpu --gradient_accumulation_steps 4 train.py --lr 1"},
		{"insert before the module", "accelerate launch -m pkg.train",
			"--mixed_precision", "bf16", "accelerate launch -m --mixed_precision bf16 pkg.train"},
		{"last occurrence wins", "torchrun --nproc-per-node 2 --nproc_per_node=4 train.py",
			"--nproc-per-node", "8", "torchrun --nproc-per-node 2 --nproc_per_node=8 train.py"},
		{"insert before --", "torchrun --standalone -- train.py --x",
			"--nproc-per-node", "2", "torchrun --standalone --nproc-per-node 2 -- train.py --x"},
		{"value-less flag absent", "accelerate launch train.py",
			"--use_deepspeed", "", "accelerate launch --use_deepspeed train.py"},
		{"value-less flag present", "accelerate launch --use_deepspeed train.py",
			"--use_deepspeed", "", "accelerate launch --use_deepspeed train.py"},
		{"python interpreter option before -m", "python -u -m pkg.train --x 1",
			"-X", "dev", "python -u -X dev -m pkg.train --x 1"},
		{"python -m torch.distributed.run", "python -m torch.distributed.run --nproc_per_node 2 main.py fit",
			"--nnodes", "2", "python -m torch.distributed.run --nproc_per_node 2 --nnodes 2 main.py fit"},
		{"srun attached short value by long name", "srun -n4 ./train.sh",
			"--ntasks", "8", "srun -n8 ./train.sh"},
		{"srun value inside a cluster", "srun -lN2 ./train.sh",
			"-N", "4", "srun -lN4 ./train.sh"},
		{"srun optional value", "srun --exclusive ./train.sh",
			"--exclusive", "user", "srun --exclusive=user ./train.sh"},
		{"srun python: insert before the program", "srun -l python3 -u train.py --x",
			"--ntasks", "2", "srun -l --ntasks 2 python3 -u train.py --x"},
		{"srun python: insert before --", "srun -l -- python3 train.py",
			"--ntasks", "2", "srun -l --ntasks 2 -- python3 train.py"},
		{"srun python: replace", "srun -n 4 python3 train.py",
			"-n", "8", "srun -n 8 python3 train.py"},
		{"wrapped launcher keeps its prefix", "env A=1 srun -n 2 deepspeed --num_gpus 2 train.py --x",
			"--num_gpus", "4", "env A=1 srun -n 2 deepspeed --num_gpus 4 train.py --x"},
		{"script run directly: unchanged", "./train.sh --x 1",
			"--x", "2", "./train.sh --x 1"},
		{"uv run file: unchanged", "uv run train.py",
			"--mixed_precision", "bf16", "uv run train.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := w(tt.argv)
			inv, err := Parse(argv)
			if err != nil {
				t.Fatal(err)
			}
			out := inv.SetLauncherOption(tt.option, tt.val)
			if !reflect.DeepEqual(out, w(tt.want)) {
				t.Errorf("SetLauncherOption(%q, %q) = %q, want %q", tt.option, tt.val, out, w(tt.want))
			}
			if !reflect.DeepEqual(argv, w(tt.argv)) {
				t.Errorf("the input argv was changed: %q", argv)
			}
			re, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse of the result: %v", err)
			}
			if re.Script != inv.Script || !reflect.DeepEqual(re.Args, inv.Args) {
				t.Errorf("after the edit the script is %q %q, want %q %q", re.Script, re.Args, inv.Script, inv.Args)
			}
			if inv.table != nil {
				if v, ok := re.LauncherOption(tt.option); !ok || (inv.table.arityOf(inv.table.key(tt.option)) != noValue && v != tt.val) {
					t.Errorf("LauncherOption(%q) after setting = %q, %v; want %q, true", tt.option, v, ok, tt.val)
				}
			}
		})
	}
}

func TestLauncherOption(t *testing.T) {
	tests := []struct {
		argv, option string
		value        string
		ok           bool
	}{
		{"accelerate launch --mixed-precision bf16 train.py", "--mixed_precision", "bf16", true},
		{"accelerate launch --mixed_precision=fp16 train.py --mixed_precision no", "--mixed-precision", "fp16", true},
		{"accelerate launch --multi_gpu train.py", "--multi_gpu", "", true},
		{"accelerate launch train.py --multi_gpu", "--multi_gpu", "", false},
		{"torchrun --nproc_per_node=8 train.py", "--nproc-per-node", "8", true},
		{"torchrun --nproc 4 train.py", "--nproc-per-node", "4", true},
		{"srun -N2 -n8 python train.py", "--ntasks", "8", true},                 // srun starts the tasks: its options are the launcher's
		{"srun -N2 -n8 python -u train.py", "-u", "", false},                    // ... and python's are not
		{"srun -N2 torchrun --nproc-per-node 4 train.py", "--nodes", "", false}, // srun wraps torchrun
		{"srun -N2 torchrun --nproc-per-node 4 train.py", "--nproc-per-node", "4", true},
		{"srun -N2 -n8 ./train.sh", "--ntasks", "8", true},
		{"srun -N2 -n8 ./train.sh", "-n", "8", true},
		{"srun --ntasks=8 ./train.sh", "-n", "8", true},
		{"srun -kn4 ./train.sh", "-k", "n4", true}, // -k's value is optional: the rest of its token
		{"srun -kn4 ./train.sh", "-n", "", false},
		{"srun -k -n4 ./train.sh", "--no-kill", "", false}, // -k has no long alias here
		{"srun -k -n4 ./train.sh", "-k", "", true},
		{"python -W ignore -X dev train.py", "-X", "dev", true},
		{"python -u train.py", "-u", "", true},
		{"deepspeed --num_gpus 2 train.py", "--num-gpus", "", false}, // deepspeed has only the underscore spelling
		{"./train.py --x 1", "--x", "", false},
	}
	for _, tt := range tests {
		inv, err := Parse(w(tt.argv))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := inv.LauncherOption(tt.option)
		if v != tt.value || ok != tt.ok {
			t.Errorf("%s: LauncherOption(%q) = %q, %v; want %q, %v", tt.argv, tt.option, v, ok, tt.value, tt.ok)
		}
	}
}

// TestParseCommandCountsTheGPUsSeen: a launcher that starts a process per
// GPU takes its world from the GPUs the job sees; unknown stays 0, and so
// does a launcher under srun, which runs where vramrun does not look.
func TestParseCommandCountsTheGPUsSeen(t *testing.T) {
	for argv, want := range map[string][2]int{
		"torchrun --nproc-per-node gpu train.py":                    {0, 4},
		"torchrun --nproc_per_node=auto --nnodes 2 train.py":        {0, 8},
		"python -m torch.distributed.run --nproc_per_node gpu x.py": {0, 4},
		"torchrun --nproc_per_node 2 train.py":                      {2, 2},
		"torchrun train.py":                                         {1, 1},
		"deepspeed train.py --deepspeed ds.json":                    {0, 4},
		"deepspeed --num_nodes 2 train.py":                          {0, 8},
		"deepspeed --num_gpus 2 train.py":                           {2, 2},
		"deepspeed --include localhost:0,1 train.py":                {2, 2},
		"srun --ntasks 2 torchrun --nproc-per-node gpu train.py":    {0, 0},
		"accelerate launch --multi_gpu train.py":                    {0, 0},
		"python train.py":                                           {1, 1},
	} {
		for i, gpus := range []int{0, 4} {
			inv, err := ParseCommand(sdk.Command{Argv: strings.Fields(argv), GPUs: gpus})
			if err != nil || inv.WorldSize != want[i] {
				t.Errorf("%s with %d GPUs seen: world %d (%v), want %d", argv, gpus, inv.WorldSize, err, want[i])
			}
		}
	}
}

func TestPerGPUUncounted(t *testing.T) {
	for argv, want := range map[string][2]bool{
		"torchrun --nproc-per-node gpu train.py":                 {true, false},
		"srun --ntasks 2 torchrun --nproc-per-node gpu train.py": {true, true},
		"deepspeed --num_gpus 2 train.py":                        {false, false},
		"accelerate launch --multi_gpu train.py":                 {false, false},
	} {
		for i, gpus := range []int{0, 4} {
			inv, _ := ParseCommand(sdk.Command{Argv: strings.Fields(argv), GPUs: gpus})
			if inv.PerGPUUncounted() != want[i] {
				t.Errorf("%s with %d GPUs seen: uncounted %v, want %v", argv, gpus, inv.PerGPUUncounted(), want[i])
			}
		}
	}
}

// TestAccelerateWorld: without --num_processes accelerate launch starts its
// config's num_processes (the named file, else the default config), and
// with no config file at all one process per GPU it sees.
func TestAccelerateWorld(t *testing.T) {
	cfg := "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_processes: 8\n"
	tests := []struct {
		argv  string
		files map[string][]byte
		gpus  int
		want  int
	}{
		{"accelerate launch --config_file c.yaml train.py", map[string][]byte{"c.yaml": []byte(cfg)}, 0, 8},
		{"accelerate launch --num_processes 2 --config_file c.yaml train.py", map[string][]byte{"c.yaml": []byte(cfg)}, 4, 2},
		{"accelerate launch train.py", map[string][]byte{"/hf/accelerate/default_config.yaml": []byte(cfg)}, 4, 8},
		{"accelerate launch train.py", nil, 4, 4},
		{"accelerate launch train.py", nil, 0, 0},
		{"accelerate launch --multi_gpu train.py", nil, 0, 0},
		{"accelerate launch --cpu train.py", nil, 4, 1},
		// distributed_type NO is accelerate's simple launcher: one process.
		{"accelerate launch --config_file c.yaml train.py", map[string][]byte{"c.yaml": []byte("distributed_type: 'NO'\nnum_processes: 2\n")}, 4, 1},
		{"accelerate launch --multi_gpu --config_file c.yaml train.py", map[string][]byte{"c.yaml": []byte("distributed_type: 'NO'\nnum_processes: 2\n")}, 4, 2},
		// A config accelerate would refuse, or one without the key: unknown, as before.
		{"accelerate launch --config_file c.yaml train.py", map[string][]byte{"c.yaml": []byte("mixed_precision: bf16\n")}, 4, 1},
		{"accelerate launch --config_file gone.yaml train.py", nil, 4, 1},
	}
	for _, tt := range tests {
		cmd := sdk.Command{Argv: strings.Fields(tt.argv), Env: map[string]string{"HF_HOME": "/hf"}, Files: tt.files, GPUs: tt.gpus}
		inv, err := ParseCommand(cmd)
		if err != nil || inv.WorldSize != tt.want {
			t.Errorf("%s (%d GPUs seen, files %v): world %d (%v), want %d", tt.argv, tt.gpus, len(tt.files), inv.WorldSize, err, tt.want)
		}
	}
}

func TestEveryGPU(t *testing.T) {
	for _, tt := range []struct {
		devices string
		gpus    int
		n       int
		ok      bool
	}{{"auto", 4, 4, true}, {" -1 ", 2, 2, true}, {"auto", 0, 1, true}, {"2", 4, 0, false}, {"", 4, 0, false}, {"gpu", 4, 0, false}} {
		if n, ok := EveryGPU(tt.devices, tt.gpus); n != tt.n || ok != tt.ok {
			t.Errorf("EveryGPU(%q, %d) = %d, %v; want %d, %v", tt.devices, tt.gpus, n, ok, tt.n, tt.ok)
		}
	}
}
