package cmdline

import (
	"reflect"
	"strings"
	"testing"
)

// splitArgv turns fuzz input into an argv: tokens separated by NUL, which
// no real argument can contain.
func splitArgv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// launcherOptionFor is an option of each launcher that takes a value, for
// the round trip of SetLauncherOption.
var launcherOptionFor = map[string]string{
	"torchrun": "--max-restarts", "accelerate": "--gradient_accumulation_steps", "deepspeed": "--master_port",
	"srun": "--ntasks", "python": "-X", "python -m": "-X", "bash": "-o", "sh": "-o", "dash": "-o", "zsh": "-o",
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"python run_clm.py --per_device_train_batch_size 8 --do_train",
		"accelerate launch --config_file cfg.yaml --mixed_precision bf16 run.py --x 1",
		"accelerate launch --multi_gpu --num_processes 2 -m mypkg.train --lr 1",
		"torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py --batch_size=16",
		"python -m torch.distributed.run --nproc_per_node 2 main.py fit --config config.yaml",
		"deepspeed --num_gpus=2 run_clm.py --deepspeed ds_config.json",
		"srun -lN2 --ntasks-per-node=4 -- python -uWignore -mpkg.train -b 64",
		"env -i A=1 nice -5 nohup uv --directory d run -m pkg --x",
		"timeout -s INT 2h stdbuf -oL time -p bash -x train.sh 8",
		"torchrun -m --nproc 4 -- mypkg.train",
		"./distributed_train.sh 8 --amp",
		"srun -n 2 env A=1 nice bash -x train.sh 8",
		"srun -N 2 srun -n 3 -- python3 -m pkg.train",
		"ray job submit --address=http://h:8265 --no-wait -- python3 -m pkg.train --lr 1",
		"ray job submit --working-dir . torchrun train.py cfg.yaml",
	} {
		f.Add(strings.ReplaceAll(seed, " ", "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := splitArgv(s)
		inv, err := Parse(argv)
		if err != nil {
			return
		}
		checkInvocation(t, argv, inv)
		name, ok := launcherOptionFor[inv.Launcher]
		if inv.table == nil {
			if out := inv.SetLauncherOption("--x", "7"); !reflect.DeepEqual(out, argv) {
				t.Fatalf("SetLauncherOption without launcher options changed %q to %q", argv, out)
			}
			return
		}
		if !ok {
			t.Fatalf("launcher %q has options but no test option", inv.Launcher)
		}
		out := inv.SetLauncherOption(name, "7")
		re, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) after SetLauncherOption(%s) on %q: %v", out, name, argv, err)
		}
		if re.Script != inv.Script || !reflect.DeepEqual(re.Args, inv.Args) || re.Launcher != inv.Launcher {
			t.Fatalf("SetLauncherOption(%s) on %q gave %q: script %q %q, want %q %q", name, argv, out, re.Script, re.Args, inv.Script, inv.Args)
		}
		if v, ok := re.LauncherOption(name); !ok || v != "7" {
			t.Fatalf("SetLauncherOption(%s) on %q gave %q: LauncherOption = %q, %v", name, argv, out, v, ok)
		}
	})
}

// checkInvocation checks what holds for every command Parse accepts.
func checkInvocation(t *testing.T, argv []string, inv Invocation) {
	t.Helper()
	if back := inv.WithArgs(inv.Args); !reflect.DeepEqual(back, argv) {
		t.Fatalf("WithArgs(Args) = %q, want %q", back, argv)
	}
	if inv.ScriptIndex < 0 || inv.ScriptIndex >= len(argv) {
		t.Fatalf("ScriptIndex %d out of %q", inv.ScriptIndex, argv)
	}
	if !reflect.DeepEqual(inv.Args, argv[inv.ScriptIndex+1:]) {
		t.Fatalf("Args = %q, not what follows the script in %q", inv.Args, argv)
	}
	if tok := argv[inv.ScriptIndex]; tok != inv.Script && !(inv.Module && strings.HasSuffix(tok, inv.Script)) {
		t.Fatalf("Script %q is not argv[%d] = %q", inv.Script, inv.ScriptIndex, tok)
	}
	if len(inv.Prefix) > inv.ScriptIndex || !reflect.DeepEqual(inv.Prefix, argv[:len(inv.Prefix)]) {
		t.Fatalf("Prefix %q does not begin %q", inv.Prefix, argv)
	}
	// LauncherArgs follow the Prefix and end before the script: just
	// before it, or (srun's) before the program srun runs.
	end := inv.optsAt + len(inv.LauncherArgs)
	if inv.optsAt < len(inv.Prefix) || end > inv.ScriptIndex || !reflect.DeepEqual(inv.LauncherArgs, argv[inv.optsAt:end]) {
		t.Fatalf("LauncherArgs %q are not between the prefix %q and the script in %q", inv.LauncherArgs, inv.Prefix, argv)
	}
	if inv.Launcher != "srun" && end != inv.ScriptIndex {
		t.Fatalf("LauncherArgs %q of %s do not end just before the script in %q", inv.LauncherArgs, inv.Launcher, argv)
	}
	if inv.WorldSize < 0 {
		t.Fatalf("WorldSize %d", inv.WorldSize)
	}
}

func FuzzFlags(f *testing.F) {
	f.Add("--bs\x0032\x00--lr\x001", byte(0))
	f.Add("-b32\x00--amp\x00--\x00--bs\x004", byte(1))
	f.Add("--bs=3\x00--bs\x00-b", byte(2))
	f.Add("--bf16\x00True\x00--no_fp16\x00--fp16=1", byte(3))
	f.Fuzz(func(t *testing.T, s string, style byte) {
		args := splitArgv(s)
		names := []string{"--bs", "-b"}
		st := Style(style%4) + Space
		out := SetFlag(args, names, "7", st)
		if fl, ok := FindFlag(out, names...); !ok || fl.Value != "7" {
			t.Fatalf("SetFlag(%q, 7, %v) = %q; FindFlag = %+v, %v", args, st, out, fl, ok)
		}
		if fl, ok := FindFlag(RemoveFlag(args, names...), names...); ok {
			t.Fatalf("RemoveFlag(%q) left %+v", args, fl)
		}
		for _, v := range []bool{true, false} {
			out := SetHFBool(args, "bf16", v)
			if got, present := HFBool(out, "bf16"); !present || got != v {
				t.Fatalf("SetHFBool(%q, bf16, %v) = %q; HFBool = %v, %v", args, v, out, got, present)
			}
			if fp, _ := HFBool(out, "fp16"); v && fp {
				t.Fatalf("SetHFBool(%q, bf16, true) = %q leaves fp16 on", args, out)
			}
		}
	})
}

func FuzzArgparseDefs(f *testing.F) {
	f.Add([]byte("p.add_argument('-b', '--batch-size', type=int, default=128,\n help='x (y, z)')\n"))
	f.Add([]byte("x = 5 * 8\ny: int = -3\nimport a.b as c\ntry: from d import e\nexcept: pass\n"))
	f.Add([]byte("s = r'''\\'''\nadd_argument(\"--a\", default=f\"{x}\", dest='q')\n\\\n"))
	f.Add([]byte("d = {'devices': [0, 1], **b}\nL.Trainer(devices=d, x=dict(a=1, *z), **kw)\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := strings.Count(string(src), "\n") + 1
		for _, d := range ArgparseDefs(src) {
			if d.Dest == "" && len(d.Names) == 0 {
				t.Fatalf("empty definition from %q", src)
			}
			if d.Line < 1 || d.Line > lines {
				t.Fatalf("line %d outside 1..%d", d.Line, lines)
			}
		}
		for name := range PythonGlobals(src) {
			if name == "" || pythonKeywords[name] {
				t.Fatalf("global named %q", name)
			}
		}
		for _, m := range Imports(src) {
			if m == "" || strings.Contains(m, ".") {
				t.Fatalf("import %q is not a top-level name", m)
			}
		}
		for _, c := range PythonCalls(src, "") {
			if c.Callee == "" || c.Line < 1 || c.Line > lines {
				t.Fatalf("call %+v: no callee, or line outside 1..%d", c, lines)
			}
		}
	})
}
