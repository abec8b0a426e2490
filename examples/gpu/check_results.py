"""Checks one acceptance scenario from what vramrun and the job left behind.

Standard library only, so it runs on the GPU machine and in CI alike.

  check_results.py row --scenario NAME --events FILE --stdout FILE --exit-status N
                       [--expect-fixes a,b] [--expect-effective N] [--seconds S] [--timed-out]
      Reads vramrun's --events stream (one JSON object a line) and the job's
      captured stdout (the `start:` and `done:` lines the example scripts
      print) and prints one result row as JSON.
  check_results.py doctor --json FILE --exit-status N [--seconds S]
      Checks `vramrun doctor --json`: NVML works, a GPU is listed, no problems.
  check_results.py tune --json FILE --exit-status N --output-dir DIR [--scenario NAME]
                        [--seconds S] [--timed-out]
      Checks `vramrun tune --json`: a trial fit and won, with a speed and a
      peak VRAM figure, one ran out of memory, every trial kept the first
      one's effective batch and wrote to its scratch folder, and the job's own
      --output_dir DIR was never created.
  check_results.py skip --scenario NAME --reason TEXT
      A row for a scenario that was not run.
  check_results.py table RESULTS.jsonl
      The summary table (markdown) of the rows in a JSON-lines file; a
      scenario that appears more than once shows its last row.

A scenario passes when vramrun exited 0 with outcome "ok", the job ran out
of memory at least once (the cap bit), the expected fixes were applied, each
applied fix shows in the job's own done: line (precision, checkpointing,
optimizer, batch, allocator setting), the effective batch (micro x
accumulation x world) is the one the first command asked for, and every
attempt has a peak VRAM figure measured through NVML.
"""

import argparse
import json
import os
import sys

GIB = 1 << 30
EVENTS = ("run_started", "attempt_started", "oom", "fix", "attempt_ended", "run_ended")


class InputError(Exception):
    """A file that cannot be read as expected; str() is one line naming it."""


def parse_fields(text):
    """The key=value words of a start:/done: line, as a dict of strings."""
    fields = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key:
            fields[key] = value
    return fields


def read_stdout(path):
    """The fields of each start: and done: line of a job's captured stdout."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the job's output: {e.strerror}") from None
    starts, dones = [], []
    for line in lines:
        # A progress bar may share the line: take the text after the last \r.
        line = line.rsplit("\r", 1)[-1].strip()
        if line.startswith("start:"):
            starts.append(parse_fields(line[len("start:"):]))
        elif line.startswith("done:"):
            dones.append(parse_fields(line[len("done:"):]))
    return starts, dones


def read_events(path):
    """The events of a --events file, in order."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the event stream: {e.strerror}") from None
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        if not isinstance(event, dict) or event.get("event") not in EVENTS:
            raise InputError(f"{path}:{n}: not a vramrun event (event is {event.get('event') if isinstance(event, dict) else None!r})")
        if not isinstance(event.get("attempt"), int):
            raise InputError(f"{path}:{n}: {event['event']} event without an attempt number")
        events.append(event)
    return events


def summarize_events(events):
    """What the event stream says about the run."""
    s = {"attempts": 0, "fixes": [], "ooms": 0, "peaks": {}, "pre_steps": {}, "ended": None, "fix_env": {}}
    for e in events:
        kind = e["event"]
        if kind == "attempt_started":
            s["attempts"] += 1
        elif kind == "fix":
            s["fixes"].append(str(e.get("fix")))
            s["fix_env"] = e.get("env") or {}
        elif kind == "oom":
            s["ooms"] += 1
        elif kind == "attempt_ended":
            s["peaks"][e["attempt"]] = e.get("peak_bytes")
            if "pre_step_bytes" in e:  # vramrun from 2026-12 on
                s["pre_steps"][e["attempt"]] = e["pre_step_bytes"]
        elif kind == "run_ended":
            s["ended"] = e
    return s


def as_int(fields, key):
    try:
        return int(fields[key])
    except (KeyError, ValueError):
        return None


def fix_effects(fixes, first, done):
    """Problems where an applied fix does not show in the job's done: line.

    first is the first attempt's start: line (the command as typed), done the
    last done: line; the comparisons that need first are left out without it.
    """
    problems = []
    applied = set(fixes)
    if "allocator" in applied and done.get("allocator", "none") == "none":
        problems.append("allocator was applied but the job saw no allocator setting")
    if "mixed_precision" in applied and done.get("precision") not in ("bf16", "fp16"):
        problems.append(f"mixed_precision was applied but the job ran in {done.get('precision', 'an unknown precision')}")
    if "grad_checkpointing" in applied and done.get("checkpointing") != "true":
        problems.append("grad_checkpointing was applied but the job ran without it")
    if first is None:
        return problems
    if "optimizer_8bit" in applied and done.get("optimizer") == first.get("optimizer"):
        problems.append(f"optimizer_8bit was applied but the job still used {done.get('optimizer')}")
    if "batch_size" in applied:
        was, now = as_int(first, "micro_batch"), as_int(done, "micro_batch")
        if was is not None and now is not None and now >= was:
            problems.append(f"batch_size was applied but the micro-batch went {was} -> {now}")
    if "eval_batch_size" in applied:
        was, now = as_int(first, "eval_batch"), as_int(done, "eval_batch")
        if was is not None and now is not None and now >= was:
            problems.append(f"eval_batch_size was applied but the evaluation batch went {was} -> {now}")
    return problems


def effective_batch(expected, first, done):
    """The effective-batch verdict: expected, final, kept and a problem."""
    if expected is None and first is not None:
        expected = as_int(first, "effective_batch")
    out = {"expected": expected, "final": None, "micro": None, "accumulation": None, "world": None, "kept": None}
    if done is None:
        return out, None
    micro, accum, world = as_int(done, "micro_batch"), as_int(done, "accumulation"), as_int(done, "world")
    final = as_int(done, "effective_batch")
    out.update(final=final, micro=micro, accumulation=accum, world=world)
    if None in (micro, accum, world, final):
        return out, "the done: line lacks micro_batch, accumulation, world or effective_batch"
    if micro * accum * world != final:
        return out, f"the done: line is inconsistent: {micro} x {accum} x {world} is not {final}"
    if expected is None:
        return out, "no expected effective batch (no --expect-effective and no start: line)"
    out["kept"] = final == expected
    if not out["kept"]:
        return out, f"effective batch changed: {expected} -> {final} ({micro} x {accum} x {world})"
    return out, None


def check_scenario(name, events_path, stdout_path, exit_status, expect_fixes=(), expect_effective=None,
                   seconds=None, timed_out=False, expect_oom=True):
    """One scenario's result row."""
    row = {"scenario": name, "result": "FAIL", "problems": [], "exit_status": exit_status, "outcome": None,
           "attempts": None, "fixes": [], "expected_fixes": list(expect_fixes), "effective_batch": None,
           "peak_bytes": None, "peaks": {}, "seconds": seconds, "final_argv": None}
    problems = row["problems"]
    if timed_out:
        problems.append("timed out: vramrun was ended before the scenario finished")

    try:
        summary = summarize_events(read_events(events_path))
    except InputError as e:
        problems.append(str(e))
        summary = None
    if summary is not None:
        ended = summary["ended"]
        row.update(attempts=summary["attempts"], fixes=summary["fixes"],
                   peaks={str(k): v for k, v in sorted(summary["peaks"].items())},
                   pre_steps={str(k): v for k, v in sorted(summary["pre_steps"].items())})
        if summary["peaks"]:
            row["peak_bytes"] = summary["peaks"][max(summary["peaks"])]
        if ended is None:
            problems.append("the event stream has no run_ended event: vramrun did not finish")
        else:
            row["outcome"], row["final_argv"] = ended.get("outcome"), ended.get("final_argv")
            if ended.get("outcome") != "ok":
                problems.append(f"vramrun's outcome is {ended.get('outcome')!r}, not 'ok'")
        if expect_oom and summary["ooms"] == 0:
            problems.append("the job never ran out of memory: the cap did not bite at the first command's batch")
        missing = [f for f in expect_fixes if f not in summary["fixes"]]
        if missing:
            applied = ", ".join(summary["fixes"]) or "none"
            problems.append(f"expected fix(es) not applied: {', '.join(missing)} (applied: {applied})")
        no_peak = [str(n) for n, peak in sorted(summary["peaks"].items()) if peak is None]
        if no_peak:
            problems.append(f"no peak VRAM recorded for attempt(s) {', '.join(no_peak)}: NVML did not measure the job")
        if summary["attempts"] and not summary["peaks"]:
            problems.append("no attempt_ended event: no peak VRAM recorded")
    if exit_status != 0 and not timed_out:
        problems.append(f"vramrun exited with status {exit_status}")

    try:
        starts, dones = read_stdout(stdout_path)
    except InputError as e:
        problems.append(str(e))
        starts, dones = [], []
    first = starts[0] if starts else None
    done = dones[-1] if dones else None
    row["effective_batch"], problem = effective_batch(expect_effective, first, done)
    if done is None:
        problems.append("the job printed no done: line")
    else:
        if problem:
            problems.append(problem)
        problems.extend(fix_effects(row["fixes"], first, done))

    if not problems:
        row["result"] = "PASS"
    elif timed_out:
        row["result"] = "TIMEOUT"
    return row


def check_doctor(doctor_path, exit_status, seconds=None):
    """The row for `vramrun doctor --json`."""
    row = {"scenario": "doctor", "result": "FAIL", "problems": [], "exit_status": exit_status, "seconds": seconds,
           "gpus": [], "driver": None}
    try:
        with open(doctor_path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as e:
        row["problems"].append(f"{doctor_path}: cannot read the doctor report: {e.strerror}")
        return row
    except json.JSONDecodeError as e:
        row["problems"].append(f"{doctor_path}:{e.lineno}: not JSON ({e.msg})")
        return row
    nvml = report.get("nvml") or {}
    row["driver"] = nvml.get("driver")
    row["gpus"] = [f"{g.get('name')} ({g.get('memory_total_bytes', 0) / GIB:.1f} GiB, "
                   f"compute capability {g.get('compute_capability')})" for g in report.get("gpus") or []]
    if not nvml.get("available"):
        row["problems"].append(f"NVML is not available: {nvml.get('error') or 'no reason given'}")
    if not row["gpus"]:
        row["problems"].append("doctor lists no GPU")
    for p in report.get("problems") or []:
        row["problems"].append(f"doctor: {p.get('text', p) if isinstance(p, dict) else p}")
    if exit_status != 0 and not report.get("problems"):
        row["problems"].append(f"vramrun doctor exited with status {exit_status}")
    if not row["problems"]:
        row["result"] = "PASS"
    return row


OOM_RESULTS = ("oom", "hung")  # a trial's result when it ran out of memory (hung: after the OOM text)


def flag_value(argv, flag):
    """The value of flag in argv (`--flag value` or `--flag=value`), else None."""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1:]
    return None


def trial_batch(trial):
    """A trial's (micro-batch, accumulation); tune leaves out an accumulation of 0 (none in the command)."""
    micro, accum = trial.get("micro_batch"), trial.get("grad_accumulation") or 1
    return (micro if isinstance(micro, int) else None), (accum if isinstance(accum, int) else None)


def trial_words(trial, count):
    """The winner's configuration for the table: "trial 3 of 4: 16x4, mixed_precision, 470 samples/s"."""
    micro, accum = trial_batch(trial)
    words = [f"trial {trial.get('n')} of {count}: {micro}x{accum}"]
    for fix in ("grad_checkpointing", "optimizer_8bit"):
        if trial.get(fix):
            words.append(fix)
    words.extend(str(f) for f in trial.get("with") or [])
    per_s = (trial.get("speed") or {}).get("samples_per_s")
    if isinstance(per_s, (int, float)):
        words.append(f"{per_s:.0f} samples/s")
    return ", ".join(words)


def read_tune(path):
    """The report of `vramrun tune --json`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read tune's JSON: {e.strerror}") from None
    if not text.strip():
        raise InputError(f"{path}: tune printed no JSON")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(report, dict) or not isinstance(report.get("trials"), list) \
            or not all(isinstance(t, dict) for t in report["trials"]):
        raise InputError(f"{path}: not tune's report (no list of trials)")
    return report


def check_tune_trials(report, row, output_dir):
    """The problems of a parsed tune report; fills row's figures in as it goes."""
    problems = []
    trials, run_id = report["trials"], report.get("run_id")
    row["trials"] = [{k: t.get(k) for k in ("n", "micro_batch", "grad_accumulation", "grad_checkpointing",
                                             "optimizer_8bit", "with", "result", "fits", "peak_bytes", "chosen")}
                     for t in trials]
    for brief, t in zip(row["trials"], trials):
        brief["samples_per_s"] = (t.get("speed") or {}).get("samples_per_s")
    if not trials:
        return ["tune ran no trial"]
    if not any(t.get("result") in OOM_RESULTS for t in trials):
        results = ", ".join(str(t.get("result")) for t in trials)
        problems.append(f"no trial ran out of memory: the cap did not bite at the command's batch (results: {results})")

    micro, accum = trial_batch(trials[0])
    expected = micro * accum if None not in (micro, accum) else None
    kept = True if expected is not None else None  # None: the first trial's batch is unknown
    for t in trials:
        m, a = trial_batch(t)
        if None in (m, a):
            problems.append(f"trial {t.get('n')} has no micro_batch or grad_accumulation")
            kept = None if kept is None else False
        elif expected is not None and m * a != expected:
            problems.append(f"trial {t.get('n')} changed the effective batch: {expected} -> {m * a} ({m} x {a})")
            kept = False
        scratch = flag_value(t.get("argv") or [], "--output_dir")
        want = os.path.join(str(run_id), "trials", f"trial-{t.get('n')}")
        if scratch is None or os.path.normpath(scratch) == os.path.normpath(output_dir) \
                or not os.path.normpath(scratch).endswith(os.sep + want):
            problems.append(f"trial {t.get('n')} does not write to its scratch folder .../{want} "
                            f"(its --output_dir is {scratch})")

    winner = report.get("winner")
    best = next((t for t in trials if t.get("n") == winner), None) if isinstance(winner, int) and winner > 0 else None
    row["winner"] = winner
    if best is None:
        problems.append("no trial fit (winner is 0)" if winner == 0 else f"the winner {winner!r} is not one of the trials")
    else:
        m, a = trial_batch(best)
        row["effective_batch"] = {"expected": expected, "final": m * a if None not in (m, a) else None, "micro": m,
                                  "accumulation": a, "world": 1, "kept": kept}
        row["fixes"] = list(best.get("with") or [])
        if m != micro:
            row["fixes"].append("batch_size")
        for fix in ("grad_checkpointing", "optimizer_8bit"):
            if best.get(fix):
                row["fixes"].append(fix)
        row["configuration"] = trial_words(best, len(trials))
        row["peak_bytes"] = best.get("peak_bytes")
        row["samples_per_s"] = (best.get("speed") or {}).get("samples_per_s")
        if not best.get("fits") or not best.get("chosen"):
            problems.append(f"the winner, trial {winner}, is not marked fits and chosen")
        per_s = row["samples_per_s"]
        if not isinstance(per_s, (int, float)) or per_s <= 0:
            problems.append(f"the winner, trial {winner}, has no speed in samples a second: "
                            "tune read no progress line of the job")
        if row["peak_bytes"] is None:
            problems.append(f"no peak VRAM recorded for the winner, trial {winner}: NVML did not measure the job")
    return problems


def check_tune(json_path, exit_status, output_dir, seconds=None, timed_out=False, name="tune"):
    """The row for `vramrun tune --json`; output_dir is the job's own --output_dir, which tune must not create."""
    row = {"scenario": name, "result": "FAIL", "problems": [], "exit_status": exit_status, "seconds": seconds,
           "run_id": None, "attempts": None, "winner": None, "fixes": [], "configuration": None,
           "effective_batch": None, "peak_bytes": None, "samples_per_s": None, "trials": [], "final_argv": None,
           "output_dir": output_dir}
    problems = row["problems"]
    if timed_out:
        problems.append("timed out: vramrun was ended before the scenario finished")
    if exit_status != 0 and not timed_out:
        problems.append(f"vramrun tune exited with status {exit_status}")
    try:
        report = read_tune(json_path)
    except InputError as e:
        problems.append(str(e))
        report = None
    if report is not None:
        row.update(run_id=report.get("run_id"), attempts=len(report["trials"]), final_argv=report.get("argv"))
        problems.extend(check_tune_trials(report, row, output_dir))
    if os.path.lexists(output_dir):
        problems.append(f"tune created the job's --output_dir {output_dir}: its trials must write to scratch folders")
    if not problems:
        row["result"] = "PASS"
    elif timed_out:
        row["result"] = "TIMEOUT"
    return row


def skip_row(name, reason):
    return {"scenario": name, "result": "SKIP", "problems": [reason]}


def human_bytes(n):
    if n is None:
        return "none"
    return f"{n / GIB:.2f} GiB"


def effective_text(eb):
    if not eb or eb.get("kept") is None:
        if eb and eb.get("final") is not None:
            return f"? ({eb['final']})"
        return "-"
    shape = f"{eb['micro']}x{eb['accumulation']}" + (f"x{eb['world']}" if eb.get("world", 1) != 1 else "")
    if eb["kept"]:
        return f"yes ({eb['final']} = {shape})"
    return f"no ({eb['expected']} -> {eb['final']} = {shape})"


def format_table(rows):
    """The markdown summary of rows, the last row of each scenario, in first-seen order."""
    latest, order = {}, []
    for r in rows:
        if r["scenario"] not in latest:
            order.append(r["scenario"])
        latest[r["scenario"]] = r
    out = ["| scenario | result | attempts | fixes | effective batch kept | peak VRAM | seconds |",
           "|---|---|---|---|---|---|---|"]
    notes = []
    for name in order:
        r = latest[name]
        seconds = r.get("seconds")
        secs = f"{seconds:.0f}" if isinstance(seconds, (int, float)) else "-"
        if name == "doctor":
            out.append(f"| doctor | {r['result']} | - | - | - | - | {secs} |")
            if r.get("gpus"):
                notes.append(f"- doctor: {'; '.join(r['gpus'])}; driver {r.get('driver') or 'unknown'}")
        else:
            attempts = r.get("attempts")
            # A tune row names the winning trial's configuration instead.
            fixes = r.get("configuration") or ", ".join(r.get("fixes") or []) or "none"
            peak = human_bytes(r.get("peak_bytes")) if r.get("attempts") else "-"
            out.append(f"| {name} | {r['result']} | {attempts if attempts is not None else '-'} | {fixes} | "
                       f"{effective_text(r.get('effective_batch'))} | {peak} | {secs} |")
        if r.get("pre_steps"):
            # What the real GPU says of the plateau rule (launcher/gpu/prestep.go): not a check.
            levels = ", ".join(f"{n}: {human_bytes(v) if v is not None else 'not seen'}" for n, v in r["pre_steps"].items())
            notes.append(f"- {name}: NVML level before the first step, by attempt: {levels}")
        for p in r.get("problems") or []:
            notes.append(f"- {name}: {p}")
    passed = sum(1 for n in order if latest[n]["result"] == "PASS")
    failed = sum(1 for n in order if latest[n]["result"] in ("FAIL", "TIMEOUT"))
    skipped = sum(1 for n in order if latest[n]["result"] == "SKIP")
    text = "\n".join(out) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text + f"\n{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "") + "\n"


def read_rows(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the results: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict) or "scenario" not in row or "result" not in row:
            raise InputError(f"{path}:{n}: not a result row (no scenario or result)")
        rows.append(row)
    return rows


def fix_list(text):
    return [f.strip() for f in text.split(",") if f.strip()]


def build_parser():
    p = argparse.ArgumentParser(prog="check_results.py", description="Check vramrun acceptance scenarios.")
    sub = p.add_subparsers(dest="command", required=True)
    row = sub.add_parser("row", help="check one scenario; print its row as JSON")
    row.add_argument("--scenario", required=True)
    row.add_argument("--events", required=True, help="vramrun's --events file")
    row.add_argument("--stdout", required=True, help="the job's captured stdout")
    row.add_argument("--exit-status", type=int, required=True, help="vramrun's exit status")
    row.add_argument("--expect-fixes", type=fix_list, default=[], help="fix ids that must be applied, comma-separated")
    row.add_argument("--expect-effective", type=int, help="the effective batch of the first command")
    row.add_argument("--no-expect-oom", dest="expect_oom", action="store_false",
                     help="do not require an out-of-memory error")
    row.add_argument("--seconds", type=float)
    row.add_argument("--timed-out", action="store_true", help="the scenario's timeout ended it")
    doc = sub.add_parser("doctor", help="check vramrun doctor --json; print its row as JSON")
    doc.add_argument("--json", required=True, dest="path")
    doc.add_argument("--exit-status", type=int, required=True)
    doc.add_argument("--seconds", type=float)
    tune = sub.add_parser("tune", help="check vramrun tune --json; print its row as JSON")
    tune.add_argument("--scenario", default="tune")
    tune.add_argument("--json", required=True, dest="path", help="what vramrun tune --json printed")
    tune.add_argument("--exit-status", type=int, required=True)
    tune.add_argument("--output-dir", required=True, help="the job's --output_dir, which tune must not create")
    tune.add_argument("--seconds", type=float)
    tune.add_argument("--timed-out", action="store_true", help="the scenario's timeout ended it")
    skip = sub.add_parser("skip", help="print the row of a scenario that was not run")
    skip.add_argument("--scenario", required=True)
    skip.add_argument("--reason", required=True)
    table = sub.add_parser("table", help="print the summary table of a results file")
    table.add_argument("results")
    return p


def main(argv=None, stdout=sys.stdout, stderr=sys.stderr):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "row":
            row = check_scenario(args.scenario, args.events, args.stdout, args.exit_status, args.expect_fixes,
                                 args.expect_effective, args.seconds, args.timed_out, args.expect_oom)
        elif args.command == "doctor":
            row = check_doctor(args.path, args.exit_status, args.seconds)
        elif args.command == "tune":
            row = check_tune(args.path, args.exit_status, args.output_dir, args.seconds, args.timed_out, args.scenario)
        elif args.command == "skip":
            row = skip_row(args.scenario, args.reason)
        else:
            stdout.write(format_table(read_rows(args.results)))
            return 0
    except InputError as e:
        stderr.write(f"check_results: {e}\n")
        return 2
    stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
