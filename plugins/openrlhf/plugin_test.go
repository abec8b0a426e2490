package openrlhf

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func cmd(argv string) sdk.Command {
	return plugintab.Command(argv, nil, plugintab.Env("PATH", "/nonexistent-vramrun-test"))
}

const sft = "deepspeed --num_gpus 4 --module openrlhf.cli.train_sft --train.micro_batch_size 8 --train.batch_size 256 --ds.param_dtype bf16"

func TestRecognizeAndKnobs(t *testing.T) {
	if got := plugintab.Recognize(t, New(), cmd(sft)); got.Confidence != 95 || got.Reason != "openrlhf.cli.train_sft" {
		t.Errorf("recognize %+v", got)
	}
	if got := plugintab.Recognize(t, New(), cmd("python -m openrlhf.models")); got.Confidence != 0 {
		t.Errorf("a module that is not a trainer: %+v", got)
	}
	a := plugintab.Analyze(t, New(), cmd(sft))
	got := plugintab.KnobsText(a.Knobs)
	// 256 ÷ 8 ÷ 4 GPUs: accumulation 8, derived.
	for _, want := range []string{`"batch_size":8`, `"grad_accumulation":8`, `"precision":"bf16"`, `"grad_checkpointing":false`, `"offload":false`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s", got, want)
		}
	}
}

func TestFixesAreFlagsInTheCommandsSpelling(t *testing.T) {
	c := cmd(sft)
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 16},
		strings.Replace(sft, "--train.micro_batch_size 8", "--train.micro_batch_size 4", 1), nil,
		"--train.micro_batch_size 4 (train.batch_size stays; OpenRLHF derives the accumulation)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing}, sft+" --model.gradient_checkpointing_enable", nil,
		"--model.gradient_checkpointing_enable")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload}, sft+" --ds.adam_offload", nil, "--ds.adam_offload")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss}, sft+" --ds.use_liger_kernel", nil, "--ds.use_liger_kernel")
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16 (--ds.param_dtype)")
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixEvalBatchSize, BatchSize: 2}, "no evaluation batch flag vramrun knows for OpenRLHF")

	ppo := cmd("python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 2 --train.batch_size 128")
	plugintab.WantApplied(t, New(), ppo, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 2 --train.batch_size 128 --actor.gradient_checkpointing_enable", nil,
		"--actor.gradient_checkpointing_enable")

	old := cmd("deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --train_batch_size 64 --gradient_checkpointing")
	plugintab.WantApplied(t, New(), old, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 2, GradAccumulation: 32},
		"deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 2 --train_batch_size 64 --gradient_checkpointing", nil,
		"--micro_train_batch_size 2 (train_batch_size stays; OpenRLHF derives the accumulation)")
	plugintab.WantApplied(t, New(), old, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		"deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --train_batch_size 64 --gradient_checkpointing --bf16", nil, "--bf16")
	plugintab.WantRefused(t, New(), old, sdk.Fix{ID: sdk.FixGradCheckpointing}, "already on (--gradient_checkpointing)")
	// The older names' last releases have --use_liger_kernel (openrlhf/cli/train_sft.py at f2afba47),
	// earlier ones do not (006cd708): argparse's error is a declared rejection, and vramrun takes the
	// fix back there.
	plugintab.WantApplied(t, New(), old, sdk.Fix{ID: sdk.FixFusedLoss},
		"deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --train_batch_size 64 --gradient_checkpointing --use_liger_kernel", nil, "--use_liger_kernel")
	plugintab.WantRefused(t, New(), cmd("deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --use_liger_kernel"),
		sdk.Fix{ID: sdk.FixFusedLoss}, "already on (--use_liger_kernel)")
}

func TestApplyAgreesWithAnalyze(t *testing.T) {
	for _, argv := range []string{sft, "deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4", "python3 -m openrlhf.cli.train_dpo"} {
		c := cmd(argv)
		a, ok := load(c, nil)
		if !ok {
			t.Fatalf("%s: not loaded", argv)
		}
		plugintab.CheckFixes(t, New(), c, plugintab.PlanFix, a.Analyze().Unsupported)
	}
}

func TestTrialsSaveAndLogNothingOutsideTheScratchFolder(t *testing.T) {
	fix := sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"}
	plugintab.WantApplied(t, New(), cmd(sft+" --ckpt.output_dir out --ckpt.save_steps 100 --ckpt.load_enable --logger.wandb.key KEY --logger.tensorboard_dir tb --eval.steps=50"), fix,
		sft+" --ckpt.output_dir /s --ckpt.save_steps -1 --eval.steps=-1 --ckpt.path /s/checkpoints", nil,
		"--ckpt.output_dir /s --ckpt.path /s/checkpoints --ckpt.save_steps -1 --eval.steps -1")
	// A dotted flag of any section gives the generation away.
	plugintab.WantApplied(t, New(), cmd("python3 -m openrlhf.cli.train_ppo_ray --ckpt.path mine"), fix,
		"python3 -m openrlhf.cli.train_ppo_ray --ckpt.path /s/checkpoints --ckpt.output_dir /s --ckpt.save_steps -1 --eval.steps -1", nil,
		"--ckpt.output_dir /s --ckpt.path /s/checkpoints --ckpt.save_steps -1 --eval.steps -1")
	plugintab.WantApplied(t, New(), cmd("deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --save_path ./ckpt --use_wandb KEY --load_checkpoint --use_tensorboard logs --eval_steps 20"), fix,
		"deepspeed --module openrlhf.cli.train_sft --micro_train_batch_size 4 --save_path /s --eval_steps -1 --ckpt_path /s/checkpoints --save_steps -1", nil,
		"--save_path /s --ckpt_path /s/checkpoints --save_steps -1 --eval_steps -1")
}

// The FSDP2 generation of openrlhf/cli/train_sft.py, train_rm.py and
// train_dpo.py: --fsdp.* in place of --ds.*, launched by torchrun.
const fsdpSFT = "torchrun --nproc_per_node 4 -m openrlhf.cli.train_sft --train.micro_batch_size 8 --train.batch_size 256 --fsdp.tp_size 1"

func TestFSDPGenerationWritesItsOwnSection(t *testing.T) {
	c := cmd(fsdpSFT)
	a := plugintab.Analyze(t, New(), c)
	got := plugintab.KnobsText(a.Knobs)
	for _, want := range []string{`"batch_size":8`, `"grad_accumulation":8`, `"precision":"bf16"`, `"offload":false`} {
		if !strings.Contains(got, want) {
			t.Errorf("knobs %s lack %s", got, want)
		}
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 16},
		strings.Replace(fsdpSFT, "--train.micro_batch_size 8", "--train.micro_batch_size 4", 1), nil,
		"--train.micro_batch_size 4 (train.batch_size stays; OpenRLHF derives the accumulation)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing}, fsdpSFT+" --model.gradient_checkpointing_enable", nil,
		"--model.gradient_checkpointing_enable")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload}, fsdpSFT+" --fsdp.cpu_offload", nil, "--fsdp.cpu_offload")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss}, fsdpSFT+" --fsdp.use_liger_kernel", nil, "--fsdp.use_liger_kernel")
	// bf16 is --fsdp.param_dtype's default, as it is --ds.param_dtype's.
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16 (the default of --fsdp.param_dtype)")
	plugintab.WantRefused(t, New(), cmd(fsdpSFT+" --fsdp.param_dtype fp16"), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"},
		"already in fp16 (--fsdp.param_dtype)")
	plugintab.WantRefused(t, New(), cmd(fsdpSFT+" --fsdp.cpu_offload"), sdk.Fix{ID: sdk.FixCPUOffload}, "already on (--fsdp.cpu_offload)")
	plugintab.WantRefused(t, New(), cmd(sft), sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16 (--ds.param_dtype)")

	ppo := cmd("python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 2 --fsdp.cp_size 2")
	plugintab.WantApplied(t, New(), ppo, sdk.Fix{ID: sdk.FixGradCheckpointing},
		"python3 -m openrlhf.cli.train_ppo_ray --train.micro_batch_size 2 --fsdp.cp_size 2 --actor.gradient_checkpointing_enable", nil,
		"--actor.gradient_checkpointing_enable")
	plugintab.WantApplied(t, New(), cmd(fsdpSFT+" --ckpt.load_enable --logger.wandb.key K"), sdk.Fix{ID: sdk.FixTrial, Scratch: "/s"},
		fsdpSFT+" --ckpt.output_dir /s --ckpt.path /s/checkpoints --ckpt.save_steps -1 --eval.steps -1", nil,
		"--ckpt.output_dir /s --ckpt.path /s/checkpoints --ckpt.save_steps -1 --eval.steps -1")
}

func TestADottedCommandNamingNoBackendGetsNoBackendFlag(t *testing.T) {
	bare := "python3 -m openrlhf.cli.train_rm --train.micro_batch_size 2 --train.batch_size 64"
	c := cmd(bare)
	why := "give a --ds.* or --fsdp.* flag: OpenRLHF's DeepSpeed and FSDP releases spell this knob differently"
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixCPUOffload}, why)
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixFusedLoss}, why)
	plugintab.WantRefused(t, New(), c, sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, "already in bf16 (the default of OpenRLHF's dotted releases)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing}, bare+" --model.gradient_checkpointing_enable", nil,
		"--model.gradient_checkpointing_enable")
	for _, argv := range []string{fsdpSFT, bare, fsdpSFT + " --fsdp.cpu_offload --fsdp.use_liger_kernel"} {
		c := cmd(argv)
		a, ok := load(c, nil)
		if !ok {
			t.Fatalf("%s: not loaded", argv)
		}
		plugintab.CheckFixes(t, New(), c, plugintab.PlanFix, a.Analyze().Unsupported)
	}
}

// TestWorldCountsTheGPUs: deepspeed without --num_gpus, and torchrun
// --nproc-per-node gpu, start a process per GPU the job sees, and the
// accumulation OpenRLHF derives divides by them all.
func TestWorldCountsTheGPUs(t *testing.T) {
	for argv, want := range map[string]int{
		"deepspeed --module openrlhf.cli.train_sft --train.micro_batch_size 8 --train.batch_size 256":               4,
		"torchrun --nproc-per-node gpu -m openrlhf.cli.train_sft --train.micro_batch_size 8 --train.batch_size 256": 4,
	} {
		c := cmd(argv)
		c.GPUs = 4
		a := plugintab.Analyze(t, New(), c)
		if got := plugintab.KnobsText(a.Knobs); a.WorldSize != want || !strings.Contains(got, `"grad_accumulation":8`) {
			t.Errorf("%s (4 GPUs): world %d knobs %s, want %d and 256 / 8 / 4 = 8", argv, a.WorldSize, got, want)
		}
	}
}

// TestRayWorldIsTheActors: Ray starts a Ray trainer's actor processes
// itself, actor nodes × GPUs per node of them (1 × 8 when the command
// leaves them, openrlhf/cli/train_ppo_ray.py in every generation), and
// the processes of one model-parallel group share a micro-batch, so the
// accumulation OpenRLHF derives is train batch ÷ micro ÷ (world ÷ the
// model-parallel sizes); a defaulted count is said in a note.
func TestRayWorldIsTheActors(t *testing.T) {
	const ppo, grpo = "python3 -m openrlhf.cli.train_ppo_ray ", "python3 -m openrlhf.cli.train_grpo_ray "
	for _, tc := range []struct {
		name, argv  string
		world, accu int
		note        string // "" for no note
	}{
		{"legacy, both defaulted", ppo + "--micro_train_batch_size 4 --train_batch_size 128", 8, 4,
			"on --actor_num_nodes 1 × --actor_num_gpus_per_node 8 GPUs (OpenRLHF's default for --actor_num_nodes and --actor_num_gpus_per_node, " +
				"which the command does not give): vramrun counts 8 data-parallel processes; give them if the actor runs on other GPUs"},
		{"legacy, explicit", ppo + "--actor_num_nodes 2 --actor_num_gpus_per_node 4 --micro_train_batch_size 2 --train_batch_size 128", 8, 8, ""},
		{"legacy, nodes defaulted", ppo + "--actor_num_gpus_per_node=4 --micro_train_batch_size 4 --train_batch_size 128", 4, 8,
			"(OpenRLHF's default for --actor_num_nodes, which the command does not give): vramrun counts 4 data-parallel processes; give it if"},
		{"legacy, ring attention and tensor parallel", ppo + "--actor_num_nodes 1 --actor_num_gpus_per_node 8 --ring_attn_size 2 " +
			"--ds_tensor_parallel_size 2 --micro_train_batch_size 2 --train_batch_size 128", 2, 32, ""},
		{"legacy, GRPO", grpo + "--micro_train_batch_size 4 --train_batch_size 128", 8, 4, "--actor_num_gpus_per_node 8 GPUs"},
		{"dotted DeepSpeed, defaulted, ring attention", ppo + "--train.micro_batch_size 2 --train.batch_size 128 --ds.ring_attn_size 2", 4, 16,
			"vramrun counts 8 ÷ 2 (--ds.ring_attn_size 2) = 4 data-parallel processes"},
		{"dotted DeepSpeed, explicit, tensor parallel", ppo + "--actor.num_nodes 1 --actor.num_gpus_per_node 4 --ds.tensor_parallel_size 2 " +
			"--train.micro_batch_size 2 --train.batch_size 128", 2, 32, ""},
		{"FSDP, explicit, tp × cp (ep splits no batch)", ppo + "--actor.num_nodes 2 --actor.num_gpus_per_node 8 --fsdp.tp_size 2 --fsdp.cp_size 2 " +
			"--fsdp.ep_size 4 --train.micro_batch_size 2 --train.batch_size 128", 4, 16, ""},
		{"FSDP, defaulted", ppo + "--fsdp.cp_size 2 --train.micro_batch_size 1 --train.batch_size 64", 4, 16,
			"on --actor.num_nodes 1 × --actor.num_gpus_per_node 8 GPUs (OpenRLHF's default for --actor.num_nodes and --actor.num_gpus_per_node"},
		{"dotted, no backend section", ppo + "--actor.num_gpus_per_node 2 --train.micro_batch_size 2 --train.batch_size 64", 2, 16,
			"(OpenRLHF's default for --actor.num_nodes, which"},
		// Not Ray trainers: the launcher's processes, as before.
		{"SFT", "deepspeed --num_gpus 4 --module openrlhf.cli.train_sft --train.micro_batch_size 8 --train.batch_size 256 --ds.ring_attn_size 2", 4, 8, ""},
		{"PPO without Ray", "deepspeed --num_gpus 2 --module openrlhf.cli.train_ppo --micro_train_batch_size 4 --train_batch_size 64", 2, 8, ""},
	} {
		a := plugintab.Analyze(t, New(), cmd(tc.argv))
		knobs := plugintab.KnobsText(a.Knobs)
		if a.WorldSize != tc.world || !strings.Contains(knobs, `"grad_accumulation":`+strconv.Itoa(tc.accu)+",") {
			t.Errorf("%s: world %d, knobs %s; want world %d, accumulation %d", tc.name, a.WorldSize, knobs, tc.world, tc.accu)
		}
		notes := strings.Join(a.Notes, "\n")
		if tc.note == "" && strings.Contains(notes, "Ray") || !strings.Contains(notes, tc.note) {
			t.Errorf("%s: notes %q, want one with %q", tc.name, a.Notes, tc.note)
		}
	}
	// ES trains no actor group: no Ray world to count.
	if a := plugintab.Analyze(t, New(), cmd("python3 -m openrlhf.cli.train_es_ray --vllm_num_engines 4")); a.WorldSize != 1 || len(a.Notes) != 0 {
		t.Errorf("train_es_ray: world %d, notes %q; want 1 and none", a.WorldSize, a.Notes)
	}
}

// TestUnderRayJobSubmit: OpenRLHF's documented launch, `ray job submit
// [ray options] -- python3 -m openrlhf.cli.train_ppo_ray ...`, is the
// trainer behind a wrapper: recognised, its Ray world counted from its
// flags, and each fix rewrites the trainer's flags with ray's part kept as
// typed.
func TestUnderRayJobSubmit(t *testing.T) {
	const prefix = `ray job submit --address=http://127.0.0.1:8265 --runtime-env-json={"working_dir":"/openrlhf"} -- `
	const trainer = "python3 -m openrlhf.cli.train_ppo_ray --actor.num_nodes 1 --actor.num_gpus_per_node 4 --train.micro_batch_size 8 --train.batch_size 128 --ds.param_dtype bf16"
	c := cmd(prefix + trainer)
	if got := plugintab.Recognize(t, New(), c); got.Confidence != 95 || got.Reason != "openrlhf.cli.train_ppo_ray" {
		t.Errorf("recognize %+v", got)
	}
	a := plugintab.Analyze(t, New(), c)
	if knobs := plugintab.KnobsText(a.Knobs); a.WorldSize != 4 || a.Launcher != "python -m" || !strings.Contains(knobs, `"grad_accumulation":4,`) {
		t.Errorf("world %d, launcher %q, knobs %s; want 4 actor processes, python -m, 128 / 8 / 4 = 4", a.WorldSize, a.Launcher, knobs)
	}
	if len(a.Notes) != 0 {
		t.Errorf("notes %q, want none", a.Notes)
	}
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 4, GradAccumulation: 8},
		prefix+strings.Replace(trainer, "--train.micro_batch_size 8", "--train.micro_batch_size 4", 1), nil,
		"--train.micro_batch_size 4 (train.batch_size stays; OpenRLHF derives the accumulation)")
	plugintab.WantApplied(t, New(), c, sdk.Fix{ID: sdk.FixGradCheckpointing}, prefix+trainer+" --actor.gradient_checkpointing_enable", nil,
		"--actor.gradient_checkpointing_enable")
	// --no-wait: vramrun refuses to run it; a plan says why.
	a = plugintab.Analyze(t, New(), cmd("ray job submit --no-wait -- "+trainer))
	if notes := strings.Join(a.Notes, "\n"); !strings.Contains(notes, "ray job submit --no-wait returns once the job is submitted") {
		t.Errorf("--no-wait: notes %q, want the one that says vramrun would see no OOM", a.Notes)
	}
}
