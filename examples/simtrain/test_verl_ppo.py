"""The simulated verl PPO trainer: `python -m verl.trainer.main_ppo`, the shipped ppo_trainer.yaml, verl's
config checks and batch normalization, Ray's task errors around a CUDA OOM, the console logger's
perf/throughput, checkpoints, validation and its dump, resume."""

import glob
import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest_util import TORCH2, done_line, run_module  # noqa: E402

MODULE = "verl.trainer.main_ppo"
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."
# The speed line as vramrun's hydra plugin reads it (plugins/hydra/progress.go).
FIGURE = r"[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"
THROUGHPUT = re.compile(r"step:([0-9]+) - .*perf/throughput:(?P<per_s>" + FIGURE + ")")
# What a one-GPU command needs: verl asks for the log-prob and critic micro-batches, and the rollout's
# tensor parallelism (2 in the shipped config) must divide the GPUs.
ONE_GPU = ("trainer.n_gpus_per_node=1", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
           "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16", "critic.ppo_micro_batch_size_per_gpu=16",
           "trainer.logger=[console]")


class PPORun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def run_ppo(self, *overrides, env=None, base=ONE_GPU):
        return run_module(MODULE, list(base) + list(overrides), self.tmp.name, env)

    def files(self):
        found = []
        for root, _, names in os.walk(self.tmp.name):
            found += [os.path.relpath(os.path.join(root, n), self.tmp.name) for n in names]
        return sorted(f for f in found if not f.startswith("outputs" + os.sep))


class TrainingTest(PPORun):
    def test_normalized_mini_batch_and_accumulation(self):
        # 256 prompts x rollout.n 2 = 512 sequences an iteration; mini-batch 128 x 2 = 256 a GPU, micro 32:
        # accumulation 8, two optimizer steps an iteration.
        code, out, err = self.run_ppo("data.train_batch_size=256", "actor_rollout_ref.rollout.n=2",
                                      "actor_rollout_ref.actor.ppo_mini_batch_size=128",
                                      "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=32",
                                      "trainer.total_training_steps=2", "trainer.val_before_train=false")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"], done["precision"], done["checkpointing"]),
                         ("32", "8", "256", "bf16", "true"))
        self.assertIn("(WorkerDict pid=", out)
        self.assertIn("step 4/4 loss", out)
        for line in ("[validate_config] All configuration checks passed successfully!",
                     "Size of train dataloader: 5, Size of val dataloader: 1", "Total training steps: 2",
                     "Training from scratch", "'Final validation metrics: None'"):
            self.assertRegex(out, r"\(TaskRunner pid=\d+\) " + re.escape(line) + "\n")
        # The console logger: one line an iteration, prefixed as Ray prints the TaskRunner's output.
        lines = [m for m in THROUGHPUT.finditer(out)]
        self.assertEqual([int(m.group(1)) for m in lines], [1, 2])
        self.assertRegex(out, r"\(TaskRunner pid=\d+\) step:1 - ")
        step = re.search(r"step:2 - .*", out).group(0)
        fields = dict(kv.split(":", 1) for kv in step.split(" - ")[1:])
        tokens, seconds = float(fields["perf/total_num_tokens"]), float(fields["timing_s/step"])
        self.assertEqual(tokens, 512 * (512 + 512) // 2)
        self.assertAlmostEqual(float(fields["perf/throughput"]), tokens / seconds, places=6)
        self.assertGreater(seconds, float(fields["timing_s/update_actor"]))
        self.assertIn("Training Progress: 100%|", err)

    def test_offload_checkpointing_and_the_shipped_defaults(self):
        code, out, err = self.run_ppo("data.train_batch_size=256", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
                                      "actor_rollout_ref.actor.fsdp_config.param_offload=true",
                                      "actor_rollout_ref.actor.fsdp_config.optimizer_offload=true",
                                      "actor_rollout_ref.model.enable_gradient_checkpointing=false",
                                      "trainer.total_training_steps=1", "trainer.val_before_train=false")
        self.assertEqual(code, 0, err)
        done = done_line(out)
        # the shipped ppo_mini_batch_size 256 over one GPU, micro 8
        self.assertEqual((done["accum"], done["effective"], done["optimizer"], done["checkpointing"]),
                         ("32", "256", "adamw+cpu_offload", "false"))


class ConfigCheckTest(PPORun):
    def test_log_prob_micro_batch_is_required(self):
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
                                      base=ONE_GPU[:2] + ONE_GPU[3:])
        self.assertEqual(code, 1)
        self.assertIn("ValueError: [actor_rollout_ref.rollout] Please set at least one of "
                      "'actor_rollout_ref.rollout.log_prob_micro_batch_size' or "
                      "'actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu'.\n", err)
        self.assertRegex(err, r"ray.exceptions.RayTaskError\(ValueError\): ray::TaskRunner.run\(\) \(pid=\d+, ")
        self.assertTrue(err.endswith("\n\n" + HYDRA_HINT + "\n"), err)

    def test_gpus_rollout_parallelism_and_divisibility(self):
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8", base=ONE_GPU[1:])
        self.assertIn("ValueError: Total available GPUs 1.0 is less than total desired GPUs 8\n", err)
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
                                      "actor_rollout_ref.rollout.tensor_model_parallel_size=2")
        self.assertIn("AssertionError: rollout world_size: 1 is not divisible by infer_tp: 2\n", err)
        # the worker's normalization: 256 x 1 / 1 GPU is not a multiple of 96
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=96")
        self.assertEqual(code, 1)
        self.assertIn("ray.exceptions.ActorDiedError: The actor died because of an error raised in its creation "
                      "task, ray::WorkerDict.__init__() (pid=", err)
        self.assertIn("AssertionError: normalized ppo_mini_batch_size 256 should be divisible by "
                      "ppo_micro_batch_size_per_gpu 96\n", err)
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8", "data.train_batch_size=3",
                                      "trainer.n_gpus_per_node=2", env={"SIMGPU_COUNT": "2"}, base=ONE_GPU[1:])
        self.assertIn("AssertionError: real_train_batch_size (3) must be divisible by total n_gpus (2).\n", err)
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8", "data.foo=1")
        self.assertIn("Could not override 'data.foo'.\nTo append to your config use +data.foo=1\n", err)


class OOMTest(PPORun):
    def test_actor_update_runs_out_and_the_task_errors_carry_it(self):
        flags = ("data.train_batch_size=256", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
                 "trainer.total_training_steps=1", "trainer.val_before_train=false")
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=128", *flags)
        self.assertEqual(code, 1)
        self.assertIsNotNone(TORCH2.search(err), err)
        self.assertIn("\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate ", err)
        self.assertIn("Error executing job with overrides: ['trainer.n_gpus_per_node=1', ", err)
        self.assertRegex(err, r"\nray.exceptions.RayTaskError\(OutOfMemoryError\): ray::TaskRunner.run\(\) \(pid=\d+, "
                              r"ip=127.0.0.1, actor_id=[0-9a-f]{32}, repr=<main_ppo.TaskRunner object at 0x[0-9a-f]+>\)\n")
        self.assertRegex(err, r"\nray.exceptions.RayTaskError\(OutOfMemoryError\): "
                              r"ray::WorkerDict.actor_rollout_update_actor\(\) \(pid=\d+, ")
        for frame in ("in update_actor\n    metrics = self.actor.update_policy(data=data)\n",
                      "verl/workers/actor/dp_actor.py\", line", "in update_policy\n"):
            self.assertIn(frame, err)
        self.assertNotIn("simgpu", err)
        self.assertTrue(err.endswith("\n\n" + HYDRA_HINT + "\n"))
        code, out, err = self.run_ppo("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=64", *flags)
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("64", "4", "256"))


class PassMemoryTest(PPORun):
    """The log-prob, reference, value and critic-update passes each run out of memory by their own micro key
    (README.md, "verl PPO"), through the worker's frames, and fit below it; the actor's update is untouched."""

    BASE = ("trainer.n_gpus_per_node=1", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
            "trainer.logger=[console]", "data.train_batch_size=256", "trainer.total_training_steps=1",
            "trainer.val_before_train=false", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=32")

    def passes(self, log_prob=16, critic=16, *more):
        return self.run_ppo("actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=%d" % log_prob,
                            "critic.ppo_micro_batch_size_per_gpu=%d" % critic, *more, base=self.BASE)

    def assert_oom(self, err, task, frames):
        self.assertIn("\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate ", err)
        self.assertRegex(err, r"\nray.exceptions.RayTaskError\(OutOfMemoryError\): ray::WorkerDict.%s\(\) \(pid=\d+, "
                              % re.escape(task))
        for frame in frames:
            self.assertIn(frame, err)
        self.assertNotIn("simgpu", err)
        self.assertNotIn("in update_actor", err)

    def assert_fits(self, code, out, err):
        self.assertEqual(code, 0, err)
        done = done_line(out)
        self.assertEqual((done["micro"], done["accum"], done["effective"]), ("32", "8", "256"))

    def test_old_log_prob_recompute(self):
        code, out, err = self.passes(128)
        self.assertEqual(code, 1)
        self.assert_oom(err, "actor_rollout_compute_log_prob", (
            "in compute_log_prob\n    output, entropys = self.actor.compute_log_prob(data=data, calculate_entropy=True)\n",
            "verl/workers/actor/dp_actor.py\", line", "in _forward_micro_batch\n"))
        # the logits of 128 sequences (128 x SIMGPU_ACT / 2 = 25 GiB, with the allocator's 15 %)
        self.assertIn("Tried to allocate 28.75 GiB.", err)
        self.assert_fits(*self.passes(64))

    def test_reference_log_prob(self):
        kl = "actor_rollout_ref.actor.use_kl_loss=true"
        code, out, err = self.passes(16, 16, kl, "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=128")
        self.assertEqual(code, 1)
        self.assert_oom(err, "ref_compute_ref_log_prob", (
            "in compute_ref_log_prob\n    output, _ = self.ref_policy.compute_log_prob(data=data, calculate_entropy=False)\n",
            "in compute_log_prob\n"))
        self.assert_fits(*self.passes(16, 16, kl, "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=64"))

    def test_value_pass_follows_the_critic_micro_batch_unless_set(self):
        # 512 sequences a value micro-batch: 512 x SIMGPU_ACT / 8 = 25 GiB of hidden states
        more = ("data.train_batch_size=512", "actor_rollout_ref.actor.ppo_mini_batch_size=512")
        code, out, err = self.passes(16, 16, "critic.forward_micro_batch_size_per_gpu=512", *more)
        self.assertEqual(code, 1)
        self.assert_oom(err, "critic_compute_values", (
            "in compute_values\n    values = self.critic.compute_values(data=data)\n",
            "verl/workers/critic/dp_critic.py\", line", "in _forward_micro_batch\n"))
        code, out, err = self.passes(16, 512, "critic.ppo_mini_batch_size=512", *more)
        self.assertIn("ray::WorkerDict.critic_compute_values()", err)
        code, out, err = self.passes(16, 16, "critic.forward_micro_batch_size_per_gpu=256", *more)
        self.assertEqual(code, 0, err)

    def test_critic_update(self):
        off = "critic.model.enable_gradient_checkpointing=false"
        code, out, err = self.passes(16, 128, off)
        self.assertEqual(code, 1)
        self.assert_oom(err, "critic_update_critic", (
            "in update_critic\n    metrics = self.critic.update_critic(data=data)\n",
            "verl/workers/critic/dp_critic.py\", line", "in update_critic\n    loss.backward()\n"))
        self.assert_fits(*self.passes(16, 64, off))
        # checkpointing (the shipped default) keeps 0.35 of the activations: 128 fits
        self.assert_fits(*self.passes(16, 128))
        code, out, err = self.passes(16, 96, off)
        self.assertIn("AssertionError: normalized ppo_mini_batch_size 256 should be divisible by "
                      "ppo_micro_batch_size_per_gpu 96\n", err)


class OutputsTest(PPORun):
    def test_checkpoints_validation_and_dumps(self):
        code, out, err = self.run_ppo("data.train_batch_size=256", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=64",
                                      "trainer.total_training_steps=3", "trainer.save_freq=2", "trainer.test_freq=2",
                                      "trainer.validation_data_dir=val", "trainer.rollout_data_dir=roll",
                                      "trainer.project_name=p")
        self.assertEqual(code, 0, err)
        shards = ["extra_state_world_size_1_rank_0.pt", os.path.join("huggingface", "config.json"),
                  "model_world_size_1_rank_0.pt", "optim_world_size_1_rank_0.pt"]
        # save_freq 2: steps 2 and 3 (the last); nothing is saved with save_freq -1
        folders = [os.path.join("checkpoints", "p", "gsm8k", "global_step_%d" % n) for n in (2, 3)]
        want = [os.path.join(f, role, s) for f in folders for role in ("actor", "critic") for s in shards]
        want += [os.path.join(f, "data.pt") for f in folders]
        want += [os.path.join("checkpoints", "p", "gsm8k", "latest_checkpointed_iteration.txt")]
        # validation before training (step 0), at test_freq and at the last step; a rollout dump every step
        want += [os.path.join("val", "%d.jsonl" % n) for n in (0, 2, 3)] + [os.path.join("roll", "%d.jsonl" % n)
                                                                            for n in (1, 2, 3)]
        self.assertEqual(self.files(), sorted(want))
        self.assertIn("local_global_step_folder: checkpoints/p/gsm8k/global_step_2\n", out)
        self.assertRegex(out, r"\(TaskRunner pid=\d+\) step:0 - val-core/openai/gsm8k/reward/mean@1:")
        with open(os.path.join(self.tmp.name, "val", "2.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual((len(rows), rows[0]["step"]), (64, 2))
        self.assertEqual(len(glob.glob(os.path.join(self.tmp.name, "outputs", "*", "*", ".hydra", "overrides.yaml"))), 1)

    def test_resume_auto_and_disable(self):
        run = ("data.train_batch_size=256", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=64",
               "trainer.save_freq=1", "trainer.val_before_train=false", "trainer.default_local_dir=ck")
        code, out, err = self.run_ppo("trainer.total_training_steps=2", *run)
        self.assertEqual(code, 0, err)
        code, out, err = self.run_ppo("trainer.total_training_steps=3", "trainer.del_local_ckpt_after_load=true", *run)
        self.assertEqual(code, 0, err)
        self.assertIn("Setting global step to 2\n", out)
        self.assertIn("resumed at step 2 of 3\n", out)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "ck", "global_step_2", "actor")))
        self.assertNotIn("step:2 - ", out)
        self.assertIn("step:3 - ", out)
        code, out, err = self.run_ppo("trainer.total_training_steps=1", "trainer.resume_mode=disable", *run)
        self.assertEqual(code, 0, err)
        self.assertNotIn("resumed at", out)
        self.assertNotIn("Training from scratch", out)


if __name__ == "__main__":
    unittest.main()
