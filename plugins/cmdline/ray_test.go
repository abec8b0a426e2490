package cmdline

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// TestParseRayJobSubmit: `ray job submit [options] [--] ENTRYPOINT` is a
// wrapper kept as typed in the prefix, whatever the entrypoint (Ray runs
// it on its cluster); click's options take a value with "=" or a space,
// except --no-wait, -v/--verbose and --help.
func TestParseRayJobSubmit(t *testing.T) {
	ray := []string{"ray job submit"}
	tests := []struct {
		name string
		argv []string
		want want
	}{
		{"OpenRLHF's documented command",
			[]string{"ray", "job", "submit", "--address=http://127.0.0.1:8265", `--runtime-env-json={"working_dir": "/openrlhf"}`, "--",
				"python3", "-m", "openrlhf.cli.train_ppo_ray", "--actor.num_nodes", "1"},
			want{Prefix: []string{"ray", "job", "submit", "--address=http://127.0.0.1:8265", `--runtime-env-json={"working_dir": "/openrlhf"}`, "--"},
				Wrappers: ray, Launcher: "python -m", LauncherArgs: w("-m"), Interpreter: "python3", Script: "openrlhf.cli.train_ppo_ray",
				Module: true, ScriptIndex: 8, WorldSize: 1}},
		{"verl's documented command, --no-wait",
			w("ray job submit --address=http://127.0.0.1:8265 --runtime-env=verl/trainer/runtime_env.yaml --no-wait -- python3 -m verl.trainer.main_ppo trainer.n_gpus_per_node=8"),
			want{Prefix: w("ray job submit --address=http://127.0.0.1:8265 --runtime-env=verl/trainer/runtime_env.yaml --no-wait --"),
				Wrappers: ray, Launcher: "python -m", LauncherArgs: w("-m"), Interpreter: "python3", Script: "verl.trainer.main_ppo",
				Module: true, ScriptIndex: 9, WorldSize: 1, Detached: "--no-wait"}},
		{"space-separated values, a count and --verify's value",
			w("ray job submit --address http://127.0.0.1:8265 --working-dir . --verify false --entrypoint-num-gpus 1 -vv -- torchrun --nproc-per-node 2 train.py --lr 1"),
			want{Prefix: w("ray job submit --address http://127.0.0.1:8265 --working-dir . --verify false --entrypoint-num-gpus 1 -vv --"),
				Wrappers: ray, Launcher: "torchrun", LauncherArgs: w("--nproc-per-node 2"), Script: "train.py", ScriptIndex: 16, WorldSize: 2}},
		{"no -- before an entrypoint without options",
			w("ray job submit --address http://127.0.0.1:8265 python3 train.py cfg.yaml"),
			want{Prefix: w("ray job submit --address http://127.0.0.1:8265"), Wrappers: ray, Launcher: "python", LauncherArgs: []string{},
				Interpreter: "python3", Script: "train.py", ScriptIndex: 6, WorldSize: 1}},
		{"no options at all",
			w("ray job submit ./train.sh"),
			want{Prefix: w("ray job submit"), Wrappers: ray, Launcher: "", LauncherArgs: []string{}, Script: "./train.sh", ScriptIndex: 3, WorldSize: 1}},
		{"wrappers inside and outside",
			w("env RAY_ADDRESS=http://h:8265 ray job submit --submission-id=run1 -- env A=1 python3 train.py --lr 1"),
			want{Prefix: w("env RAY_ADDRESS=http://h:8265 ray job submit --submission-id=run1 -- env A=1"), Wrappers: ray, Launcher: "python",
				LauncherArgs: []string{}, Interpreter: "python3", Script: "train.py", ScriptIndex: 10, WorldSize: 1,
				Env: map[string]string{"RAY_ADDRESS": "http://h:8265", "A": "1"}}},
		{"another ray command runs directly, as before",
			w("ray start --head --num-gpus 8"),
			want{Prefix: []string{}, Launcher: "", LauncherArgs: []string{}, Script: "ray", ScriptIndex: 0, WorldSize: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(tt.argv)
			if err != nil {
				t.Fatal(err)
			}
			if g := got(inv); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse(%q)\n got  %+v\n want %+v", tt.argv, g, tt.want)
			}
			checkInvocation(t, tt.argv, inv)
		})
	}
}

func TestParseRayJobSubmitErrors(t *testing.T) {
	tests := []struct {
		argv     string
		mentions string
	}{
		{"ray job submit --address", "--address needs a value"},
		{"ray job submit --address http://h:8265", "no entrypoint"},
		{"ray job submit --no-wait --", "no entrypoint"},
		// click reads every option on the line up to a "--" as ray's.
		{"ray job submit python3 -m pkg.train", "ray reads -m as an option of its own: write ray job submit [options] -- ENTRYPOINT"},
		{"ray job submit python3 train.py --lr 1", "ray reads --lr as an option"},
	}
	for _, tt := range tests {
		_, err := Parse(w(tt.argv))
		if err == nil || !strings.Contains(err.Error(), tt.mentions) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line mentioning %q", tt.argv, err, tt.mentions)
		}
	}
}

// TestRayJobSubmitGPUsUncounted: the job runs on the Ray cluster, so the
// GPUs vramrun sees give a per-GPU launcher no world, as under srun.
func TestRayJobSubmitGPUsUncounted(t *testing.T) {
	inv, err := ParseCommand(sdk.Command{Argv: w("ray job submit -- torchrun --nproc-per-node gpu train.py"), GPUs: 8})
	if err != nil {
		t.Fatal(err)
	}
	if inv.WorldSize != 0 || !inv.PerGPUUncounted() {
		t.Errorf("world %d, uncounted %v; want 0, true (the cluster's GPUs are not the 8 vramrun sees)", inv.WorldSize, inv.PerGPUUncounted())
	}
}

// TestRayJobSubmitEdits: an edit keeps `ray job submit ... --` in front;
// one that gives a bare entrypoint an option puts the "--" in that keeps
// it from ray's parser.
func TestRayJobSubmitEdits(t *testing.T) {
	tests := []struct {
		name, argv string
		edit       func(Invocation) []string
		want       string
	}{
		{"the prefix stays", "ray job submit --address=http://h:8265 -- python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 8",
			func(inv Invocation) []string { return inv.WithArgs(w("--train.micro_batch_size 4")) },
			"ray job submit --address=http://h:8265 -- python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 4"},
		{"a bare entrypoint given an option gets --", "ray job submit --address http://h:8265 python3 train.py cfg.yaml",
			func(inv Invocation) []string { return inv.WithArgs(w("cfg.yaml --batch-size 4")) },
			"ray job submit --address http://h:8265 -- python3 train.py cfg.yaml --batch-size 4"},
		{"a bare entrypoint given no option stays bare", "ray job submit python3 main.py a=1",
			func(inv Invocation) []string { return inv.WithArgs(w("a=1 b=2")) },
			"ray job submit python3 main.py a=1 b=2"},
		{"a launcher option behind a bare entrypoint", "ray job submit torchrun train.py",
			func(inv Invocation) []string { return inv.SetLauncherOption("--nproc-per-node", "2") },
			"ray job submit -- torchrun --nproc-per-node 2 train.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(w(tt.argv))
			if err != nil {
				t.Fatal(err)
			}
			out := tt.edit(inv)
			if strings.Join(out, " ") != tt.want {
				t.Errorf("got  %q\nwant %q", strings.Join(out, " "), tt.want)
			}
			if _, err := Parse(out); err != nil {
				t.Errorf("the edited command does not parse: %v", err)
			}
		})
	}
}

// TestUnwatchable: `ray job submit --no-wait` returns once the job is
// submitted, whatever its entrypoint and wherever click reads the flag; the
// entrypoint's own --no-wait (after the "--") is not ray's.
func TestUnwatchable(t *testing.T) {
	const why = "ray job submit --no-wait returns once the job is submitted, without waiting for it or streaming its logs, " +
		"so vramrun would see no OOM: drop --no-wait to run it under vramrun"
	tests := []struct {
		argv []string
		want string
	}{
		{w("ray job submit --no-wait -- python3 -m verl.trainer.main_ppo a=1"), why},
		{w("env A=1 ray job submit --address http://h:8265 --no-wait -- python3 train.py"), why},
		{w("ray job submit ./train.sh --no-wait"), why},                                  // click takes it after the entrypoint too
		{[]string{"ray", "job", "submit", "--no-wait", "--", "python3", "-c", "x"}, why}, // no script found: still refused
		{w("ray job submit -- python3 train.py --no-wait"), ""},
		{w("ray job submit -- python3 train.py"), ""},
		{w("ray job stop --no-wait raysubmit_1"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Unwatchable(tt.argv); got != tt.want {
			t.Errorf("Unwatchable(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}
