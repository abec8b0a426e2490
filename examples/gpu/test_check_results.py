"""Tests of check_results.py on recorded vramrun runs (testdata/README.md)."""

import io
import json
import os
import tempfile
import unittest

import check_results as cr

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata")
TORCH_FIXES = ["allocator", "mixed_precision", "batch_size"]


def recorded(name, exit_status, **kw):
    """check_scenario on one recording, as acceptance.sh calls it for torch."""
    kw.setdefault("expect_fixes", TORCH_FIXES)
    kw.setdefault("expect_effective", 64)
    return cr.check_scenario("torch", os.path.join(DATA, name, "events.jsonl"), os.path.join(DATA, name, "stdout.log"),
                             exit_status, seconds=7.5, **kw)


class TempFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class RecordedRuns(unittest.TestCase):
    def test_pass(self):
        row = recorded("pass", 0)
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["problems"], [])
        self.assertEqual(row["attempts"], 5)
        self.assertEqual(row["fixes"], ["allocator", "mixed_precision", "batch_size", "grad_checkpointing"])
        self.assertEqual(row["outcome"], "ok")
        self.assertEqual(row["effective_batch"], {"expected": 64, "final": 64, "micro": 32, "accumulation": 2,
                                                  "world": 1, "kept": True})
        self.assertEqual(set(row["peaks"]), {"1", "2", "3", "4", "5"})
        self.assertEqual(row["peak_bytes"], row["peaks"]["5"])
        self.assertGreater(row["peak_bytes"], 0)
        self.assertIn("--grad-checkpointing", row["final_argv"])

    def test_effective_batch_changed(self):
        row = recorded("batch_changed", 0)
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["effective_batch"]["kept"], False)
        self.assertEqual(row["effective_batch"]["final"], 70)
        self.assertEqual(row["problems"], ["effective batch changed: 64 -> 70 (35 x 2 x 1)"])

    def test_expected_effective_batch_from_the_first_start_line(self):
        row = recorded("batch_changed", 0, expect_effective=None)
        self.assertEqual(row["effective_batch"]["expected"], 64)
        self.assertIn("effective batch changed: 64 -> 70 (35 x 2 x 1)", row["problems"])

    def test_no_peak_recorded(self):
        row = recorded("no_peak", 0)
        self.assertEqual(row["result"], "FAIL")
        self.assertIsNone(row["peak_bytes"])
        self.assertEqual(row["problems"],
                         ["no peak VRAM recorded for attempt(s) 1, 2, 3, 4, 5: NVML did not measure the job"])
        self.assertTrue(row["effective_batch"]["kept"])

    def test_gave_up(self):
        row = recorded("gave_up", 1)
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["outcome"], "gave_up")
        self.assertEqual(row["attempts"], 7)
        self.assertEqual(row["effective_batch"]["final"], None)
        self.assertEqual(row["problems"], [
            "vramrun's outcome is 'gave_up', not 'ok'",
            "vramrun exited with status 1",
            "the job printed no done: line",
        ])

    def test_timeout(self):
        row = recorded("timeout", 124, timed_out=True)
        self.assertEqual(row["result"], "TIMEOUT")
        self.assertEqual(row["outcome"], "interrupted")
        self.assertEqual(row["problems"][0], "timed out: vramrun was ended before the scenario finished")
        self.assertIn("the job never ran out of memory: the cap did not bite at the first command's batch",
                      row["problems"])
        self.assertNotIn("vramrun exited with status 124", row["problems"])

    def test_expected_fix_missing(self):
        row = recorded("pass", 0, expect_fixes=["optimizer_8bit", "allocator"])
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], [
            "expected fix(es) not applied: optimizer_8bit (applied: allocator, mixed_precision, batch_size, "
            "grad_checkpointing)"])

    def test_a_non_zero_exit_fails_even_when_the_events_say_ok(self):
        row = recorded("pass", 3)
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], ["vramrun exited with status 3"])


class EventFiles(TempFiles):
    def events(self, *events):
        return self.write("events.jsonl", "".join(json.dumps(e) + "\n" for e in events))

    def stdout(self, *lines):
        return self.write("stdout.log", "".join(line + "\n" for line in lines))

    def test_missing_events_file(self):
        row = cr.check_scenario("jax", os.path.join(self.dir.name, "nope.jsonl"), self.stdout(), 0)
        self.assertEqual(row["result"], "FAIL")
        self.assertTrue(row["problems"][0].startswith(os.path.join(self.dir.name, "nope.jsonl") +
                                                      ": cannot read the event stream"), row["problems"])
        self.assertIn("the job printed no done: line", row["problems"])

    def test_malformed_event_line_names_file_and_line(self):
        path = self.write("events.jsonl", '{"event": "run_started", "attempt": 0}\n{not json\n')
        with self.assertRaises(cr.InputError) as err:
            cr.read_events(path)
        self.assertTrue(str(err.exception).startswith(f"{path}:2: not a JSON object"), str(err.exception))

    def test_unknown_event_is_an_error(self):
        path = self.events({"event": "attempt_started", "attempt": 1}, {"event": "bogus", "attempt": 1})
        with self.assertRaises(cr.InputError) as err:
            cr.read_events(path)
        self.assertEqual(str(err.exception), f"{path}:2: not a vramrun event (event is 'bogus')")

    def test_event_without_attempt_is_an_error(self):
        path = self.events({"event": "run_ended", "outcome": "ok"})
        with self.assertRaises(cr.InputError) as err:
            cr.read_events(path)
        self.assertEqual(str(err.exception), f"{path}:1: run_ended event without an attempt number")

    def run_with(self, fixes, done, first="micro_batch=64 accumulation=1 world=1 effective_batch=64 precision=fp32 "
                 "checkpointing=false optimizer=adamw_torch eval_batch=256 allocator=none"):
        events = [{"event": "run_started", "attempt": 0, "run_id": "r"},
                  {"event": "attempt_started", "attempt": 1},
                  {"event": "oom", "attempt": 1, "diagnosis": {"oom": True}},
                  {"event": "attempt_ended", "attempt": 1, "peak_bytes": 10, "exit_status": 1}]
        for n, fix in enumerate(fixes, 2):
            events += [{"event": "fix", "attempt": n, "fix": fix, "env": {}},
                       {"event": "attempt_started", "attempt": n},
                       {"event": "attempt_ended", "attempt": n, "peak_bytes": 20, "exit_status": 0}]
        events.append({"event": "run_ended", "attempt": len(fixes) + 1, "outcome": "ok", "exit_status": 0})
        lines = ["start: " + first] if first else []
        return cr.check_scenario("hf", self.events(*events), self.stdout(*lines, "done: " + done), 0,
                                 expect_effective=64)

    def test_every_applied_fix_must_show_in_the_done_line(self):
        row = self.run_with(
            ["allocator", "mixed_precision", "grad_checkpointing", "optimizer_8bit", "batch_size", "eval_batch_size"],
            "micro_batch=64 accumulation=1 world=1 effective_batch=64 precision=fp32 checkpointing=false "
            "optimizer=adamw_torch eval_batch=256 allocator=none")
        self.assertEqual(row["problems"], [
            "allocator was applied but the job saw no allocator setting",
            "mixed_precision was applied but the job ran in fp32",
            "grad_checkpointing was applied but the job ran without it",
            "optimizer_8bit was applied but the job still used adamw_torch",
            "batch_size was applied but the micro-batch went 64 -> 64",
            "eval_batch_size was applied but the evaluation batch went 256 -> 256",
        ])

    def test_applied_fixes_that_took_effect_pass(self):
        row = self.run_with(
            ["allocator", "mixed_precision", "grad_checkpointing", "optimizer_8bit", "batch_size", "eval_batch_size"],
            "micro_batch=16 accumulation=2 world=2 effective_batch=64 precision=bf16 checkpointing=true "
            "optimizer=adafactor eval_batch=32 allocator=expandable_segments:True")
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["effective_batch"]["world"], 2)

    def test_without_a_start_line_the_comparisons_are_left_out(self):
        row = self.run_with(["batch_size", "optimizer_8bit"],
                            "micro_batch=64 accumulation=1 world=1 effective_batch=64 precision=fp32 "
                            "checkpointing=false optimizer=adamw_torch eval_batch=none allocator=none", first=None)
        self.assertEqual(row["result"], "PASS", row["problems"])

    def test_inconsistent_done_line(self):
        row = self.run_with([], "micro_batch=16 accumulation=2 world=1 effective_batch=64 precision=fp32")
        self.assertIn("the done: line is inconsistent: 16 x 2 x 1 is not 64", row["problems"])

    def test_done_line_without_the_batch_fields(self):
        row = self.run_with([], "precision=fp32")
        self.assertIn("the done: line lacks micro_batch, accumulation, world or effective_batch", row["problems"])

    def test_no_oom_means_the_cap_did_not_bite(self):
        path = self.events({"event": "run_started", "attempt": 0}, {"event": "attempt_started", "attempt": 1},
                           {"event": "attempt_ended", "attempt": 1, "peak_bytes": 5},
                           {"event": "run_ended", "attempt": 1, "outcome": "ok", "exit_status": 0})
        done = self.stdout("done: micro_batch=8 accumulation=1 world=1 effective_batch=8 precision=fp32")
        row = cr.check_scenario("x", path, done, 0, expect_effective=8)
        self.assertEqual(row["problems"],
                         ["the job never ran out of memory: the cap did not bite at the first command's batch"])
        row = cr.check_scenario("x", path, done, 0, expect_effective=8, expect_oom=False)
        self.assertEqual(row["result"], "PASS", row["problems"])

    def test_no_run_ended(self):
        path = self.events({"event": "run_started", "attempt": 0}, {"event": "attempt_started", "attempt": 1})
        row = cr.check_scenario("x", path, self.stdout(), 0, expect_oom=False)
        self.assertIn("the event stream has no run_ended event: vramrun did not finish", row["problems"])
        self.assertIn("no attempt_ended event: no peak VRAM recorded", row["problems"])


class StdoutParsing(TempFiles):
    def test_lines_after_a_carriage_return_and_other_output(self):
        path = self.write("out.log", "noise start: micro_batch=1\n"
                                     "progress 10%\rprogress 100%\rdone: micro_batch=4 accumulation=2 world=1\n"
                                     "  start: micro_batch=8 accumulation=1 world=1 effective_batch=8\n")
        starts, dones = cr.read_stdout(path)
        self.assertEqual(starts, [{"micro_batch": "8", "accumulation": "1", "world": "1", "effective_batch": "8"}])
        self.assertEqual(dones, [{"micro_batch": "4", "accumulation": "2", "world": "1"}])

    def test_parse_fields_ignores_words_without_a_value(self):
        self.assertEqual(cr.parse_fields("a=1 b c= =d e=f=g"), {"a": "1", "c": "", "e": "f=g"})


class Doctor(unittest.TestCase):
    def test_ok(self):
        row = cr.check_doctor(os.path.join(DATA, "doctor_ok.json"), 0, seconds=0.5)
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["gpus"], ["rehearsal (12.0 GiB, compute capability 8.0)"])
        self.assertEqual(row["driver"], "simulated")

    def test_no_nvml(self):
        row = cr.check_doctor(os.path.join(DATA, "doctor_no_nvml.json"), 1)
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], [
            "NVML is not available: NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver?)",
            "doctor lists no GPU",
            "doctor: NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver?)",
        ])

    def test_unreadable_report(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write("{\n  oops\n")
            f.flush()
            row = cr.check_doctor(f.name, 0)
        self.assertEqual(row["result"], "FAIL")
        self.assertTrue(row["problems"][0].startswith(f"{f.name}:2: not JSON"), row["problems"])


class Table(TempFiles):
    def test_table_of_recorded_rows(self):
        rows = [cr.check_doctor(os.path.join(DATA, "doctor_ok.json"), 0, seconds=0.4),
                recorded("no_peak", 0), recorded("pass", 0),
                dict(recorded("batch_changed", 0), scenario="lightning"),
                cr.skip_row("jax", "not run: 20s of ACCEPTANCE_BUDGET_S left")]
        text = cr.format_table(rows)
        lines = text.splitlines()
        self.assertEqual(lines[0], "| scenario | result | attempts | fixes | effective batch kept | peak VRAM | seconds |")
        self.assertEqual(lines[2], "| doctor | PASS | - | - | - | - | 0 |")
        peak = cr.human_bytes(rows[2]["peak_bytes"])
        # The later torch row replaces the earlier one, in the earlier one's place.
        self.assertEqual(lines[3], "| torch | PASS | 5 | allocator, mixed_precision, batch_size, grad_checkpointing | "
                                   f"yes (64 = 32x2) | {peak} | 8 |")
        self.assertTrue(lines[4].startswith("| lightning | FAIL | 5 | allocator, mixed_precision, batch_size, "
                                            "grad_checkpointing | no (64 -> 70 = 35x2) | "), lines[4])
        self.assertEqual(lines[5], "| jax | SKIP | - | none | - | - | - |")
        self.assertIn("- doctor: rehearsal (12.0 GiB, compute capability 8.0); driver simulated", lines)
        self.assertIn("- lightning: effective batch changed: 64 -> 70 (35 x 2 x 1)", lines)
        self.assertIn("- jax: not run: 20s of ACCEPTANCE_BUDGET_S left", lines)
        self.assertEqual(lines[-1], "2 passed, 1 failed, 1 skipped")

    def test_level_before_the_first_step_is_noted(self):
        row = dict(recorded("pass", 0), pre_steps={"1": 2 << 30, "2": None})
        lines = cr.format_table([row]).splitlines()
        self.assertIn("- torch: NVML level before the first step, by attempt: 1: 2.00 GiB, 2: not seen", lines)
        self.assertEqual(recorded("pass", 0)["pre_steps"], {}, "a recording from before the field notes nothing")

    def test_human_bytes(self):
        self.assertEqual(cr.human_bytes(None), "none")
        self.assertEqual(cr.human_bytes(3 << 29), "1.50 GiB")


class CommandLine(TempFiles):
    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        status = cr.main(list(argv), stdout=out, stderr=err)
        return status, out.getvalue(), err.getvalue()

    def test_row_then_table(self):
        status, out, err = self.run_main(
            "row", "--scenario", "torch", "--events", os.path.join(DATA, "pass", "events.jsonl"),
            "--stdout", os.path.join(DATA, "pass", "stdout.log"), "--exit-status", "0",
            "--expect-fixes", "allocator, batch_size", "--expect-effective", "64", "--seconds", "12.3")
        self.assertEqual((status, err), (0, ""))
        row = json.loads(out)
        self.assertEqual((row["result"], row["expected_fixes"], row["seconds"]), ("PASS", ["allocator", "batch_size"], 12.3))
        status, skip, _ = self.run_main("skip", "--scenario", "jax", "--reason", "not run: no GPU")
        self.assertEqual(status, 0)
        results = self.write("results.jsonl", out + skip)
        status, table, err = self.run_main("table", results)
        self.assertEqual((status, err), (0, ""))
        self.assertIn("| jax | SKIP |", table)
        self.assertTrue(table.endswith("1 passed, 0 failed, 1 skipped\n"))

    def test_doctor_command(self):
        status, out, _ = self.run_main("doctor", "--json", os.path.join(DATA, "doctor_no_nvml.json"),
                                       "--exit-status", "1")
        self.assertEqual(status, 0)
        self.assertEqual(json.loads(out)["result"], "FAIL")

    def test_bad_results_file_is_a_one_line_error(self):
        results = self.write("results.jsonl", '{"scenario": "a", "result": "PASS"}\n[1, 2]\n')
        status, out, err = self.run_main("table", results)
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(err, f"check_results: {results}:2: not a result row (no scenario or result)\n")

    def test_missing_results_file(self):
        status, _, err = self.run_main("table", os.path.join(self.dir.name, "none.jsonl"))
        self.assertEqual(status, 2)
        self.assertTrue(err.startswith("check_results: ") and "cannot read the results" in err, err)


RUN_ID = "20261203-120000.000-abcdef"


def tune_trial(n, micro, accum, result="ok", ckpt=False, with_=None, peak=7 << 30, per_s=800.0, chosen=False):
    """One trial as `vramrun tune --json` prints it."""
    scratch = f"/repo/examples/gpu/.vramrun/runs/{RUN_ID}/trials/trial-{n}"
    fits = result == "ok"
    speed = {"samples_per_s": per_s, "rate": per_s / (micro * accum), "unit": "step", "spread": 0.05, "readings": 5,
             "pattern": "transformers.tqdm_rate"} if fits and per_s is not None else None
    return {"n": n, "micro_batch": micro, "grad_accumulation": accum, "grad_checkpointing": ckpt, "with": with_,
            "why": "a reason", "argv": ["python3", "hf_trainer.py", "--output_dir", scratch,
                                        "--per_device_train_batch_size", str(micro),
                                        "--gradient_accumulation_steps", str(accum)],
            "result": result, "fits": fits, "peak_bytes": peak if fits else None, "speed": speed, "chosen": chosen}


class Tune(TempFiles):
    """check_tune on reports written to temp files, the job's --output_dir in the same temp folder."""

    def setUp(self):
        super().setUp()
        self.output_dir = os.path.join(self.dir.name, "hf-tune")

    def report(self, trials=None, winner=2, **over):
        if trials is None:
            trials = [tune_trial(1, 64, 1, result="oom"),
                      tune_trial(2, 32, 2, with_=["mixed_precision"], per_s=812.5, chosen=True),
                      tune_trial(3, 64, 1, ckpt=True, with_=["mixed_precision"], per_s=640.0)]
        report = {"run_id": RUN_ID, "trials": trials, "winner": winner,
                  "argv": ["python3", "hf_trainer.py", "--output_dir", self.output_dir, "--bf16"],
                  "env": {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}, "learned": False, "exit_status": 0}
        report.update(over)
        return self.write("tune.json", json.dumps(report, indent=2) + "\n")

    def check(self, path, exit_status=0, **kw):
        return cr.check_tune(path, exit_status, self.output_dir, seconds=61.2, **kw)

    def test_pass(self):
        row = self.check(self.report())
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["problems"], [])
        self.assertEqual((row["run_id"], row["attempts"], row["winner"]), (RUN_ID, 3, 2))
        self.assertEqual(row["fixes"], ["mixed_precision", "batch_size"])
        self.assertEqual(row["configuration"], "trial 2 of 3: 32x2, mixed_precision, 812 samples/s")
        self.assertEqual(row["effective_batch"], {"expected": 64, "final": 64, "micro": 32, "accumulation": 2,
                                                  "world": 1, "kept": True})
        self.assertEqual((row["peak_bytes"], row["samples_per_s"]), (7 << 30, 812.5))
        self.assertEqual([t["result"] for t in row["trials"]], ["oom", "ok", "ok"])
        self.assertEqual(row["final_argv"][-1], "--bf16")

    def test_winner_with_the_optimizer_8bit(self):
        trials = [tune_trial(1, 64, 1, result="oom"), tune_trial(2, 32, 2, per_s=500.0),
                  dict(tune_trial(3, 64, 1, per_s=700.0, chosen=True), optimizer_8bit=True)]
        row = self.check(self.report(trials=trials, winner=3))
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual(row["fixes"], ["optimizer_8bit"])
        self.assertEqual(row["configuration"], "trial 3 of 3: 64x1, optimizer_8bit, 700 samples/s")
        self.assertTrue(row["trials"][2]["optimizer_8bit"])

    def test_recorded_rehearsal_passes(self):
        # testdata/tune_pass: the real vramrun tune on a stand-in Trainer (testdata/README.md).
        row = cr.check_tune(os.path.join(DATA, "tune_pass", "stdout.log"), 0, self.output_dir)
        self.assertEqual(row["result"], "PASS", row["problems"])
        self.assertEqual((row["attempts"], row["winner"]), (4, 4))
        self.assertEqual(row["fixes"], ["mixed_precision", "grad_checkpointing"])
        self.assertTrue(row["effective_batch"]["kept"])

    def test_output_dir_created(self):
        os.makedirs(self.output_dir)
        row = self.check(self.report())
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], [f"tune created the job's --output_dir {self.output_dir}: its trials must "
                                           "write to scratch folders"])

    def test_no_winner(self):
        trials = [tune_trial(1, 64, 1, result="oom"), tune_trial(2, 32, 2, result="oom")]
        row = self.check(self.report(trials, winner=0, argv=None, exit_status=1), exit_status=1)
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], ["vramrun tune exited with status 1", "no trial fit (winner is 0)"])
        self.assertIsNone(row["peak_bytes"])

    def test_effective_batch_changed(self):
        trials = [tune_trial(1, 64, 1, result="oom"), tune_trial(2, 32, 1, chosen=True)]
        row = self.check(self.report(trials, winner=2))
        self.assertEqual(row["result"], "FAIL")
        self.assertEqual(row["problems"], ["trial 2 changed the effective batch: 64 -> 32 (32 x 1)"])
        self.assertEqual(row["effective_batch"]["kept"], False)
        self.assertEqual(cr.effective_text(row["effective_batch"]), "no (64 -> 32 = 32x1)")

    def test_an_accumulation_left_out_counts_as_one(self):
        first = tune_trial(1, 64, 1, result="oom")
        del first["grad_accumulation"]
        row = self.check(self.report([first, tune_trial(2, 16, 4, chosen=True)]))
        self.assertEqual(row["result"], "PASS", row["problems"])

    def test_no_oom_winner_without_speed_or_peak(self):
        trials = [tune_trial(1, 64, 1, peak=None, per_s=None, chosen=True)]
        row = self.check(self.report(trials, winner=1))
        self.assertEqual(row["problems"], [
            "no trial ran out of memory: the cap did not bite at the command's batch (results: ok)",
            "the winner, trial 1, has no speed in samples a second: tune read no progress line of the job",
            "no peak VRAM recorded for the winner, trial 1: NVML did not measure the job",
        ])

    def test_a_trial_that_writes_to_the_jobs_output_dir(self):
        trials = [tune_trial(1, 64, 1, result="oom"), tune_trial(2, 32, 2, chosen=True)]
        trials[1]["argv"][3] = self.output_dir
        row = self.check(self.report(trials))
        self.assertEqual(row["problems"], [f"trial 2 does not write to its scratch folder .../{RUN_ID}/trials/trial-2 "
                                           f"(its --output_dir is {self.output_dir})"])

    def test_timed_out_without_json(self):
        row = self.check(self.write("tune.json", ""), exit_status=124, timed_out=True)
        self.assertEqual(row["result"], "TIMEOUT")
        self.assertEqual(row["problems"], ["timed out: vramrun was ended before the scenario finished",
                                           f"{self.dir.name}/tune.json: tune printed no JSON"])

    def test_not_json(self):
        row = self.check(self.write("tune.json", '{"trials": [\n'))
        self.assertEqual(row["result"], "FAIL")
        self.assertTrue(row["problems"][0].startswith(f"{self.dir.name}/tune.json:2: not JSON"), row["problems"])
        row = self.check(self.write("tune.json", '{"trials": 3}'))
        self.assertEqual(row["problems"], [f"{self.dir.name}/tune.json: not tune's report (no list of trials)"])

    def test_table_row_and_command_line(self):
        out, err = io.StringIO(), io.StringIO()
        status = cr.main(["tune", "--json", self.report(), "--exit-status", "0", "--output-dir", self.output_dir,
                          "--seconds", "95"], stdout=out, stderr=err)
        self.assertEqual((status, err.getvalue()), (0, ""))
        row = json.loads(out.getvalue())
        self.assertEqual((row["scenario"], row["result"]), ("tune", "PASS"))
        lines = cr.format_table([row]).splitlines()
        self.assertEqual(lines[2], "| tune | PASS | 3 | trial 2 of 3: 32x2, mixed_precision, 812 samples/s | "
                                   "yes (64 = 32x2) | 7.00 GiB | 95 |")
        failed = self.check(self.report([tune_trial(1, 64, 1, result="oom")], winner=0))
        self.assertEqual(cr.format_table([failed]).splitlines()[2], "| tune | FAIL | 1 | none | - | none | 61 |")


if __name__ == "__main__":
    unittest.main()
